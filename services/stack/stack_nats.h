/* The stack's async architecture on NATS JetStream (`shopflow up --arch
 * async --mq nats`): a loopback nats-server cluster (services/stack/
 * nats_cluster.h, three nodes by default) takes mq-broker's place; the
 * services and mq-delayd get its nats:// URL. The stack's "broker" stands
 * for the cluster: killing or pausing it acts on the node that leads the
 * stream of STACK_NATS_LEADER_TOPIC (the order.placed events, the stream
 * every order goes through), restarting it starts every stopped node. */
#ifndef SHOP_STACK_NATS_H
#define SHOP_STACK_NATS_H

#include "base/error.h"
#include "services/stack/shop_stack.h"

#define STACK_NATS_LEADER_TOPIC "order.placed"

/* 1 when the stack's messaging runs on JetStream. */
int stack_nats_on(const shop_stack *st);

/* Makes the cluster (fresh data unless keep_data) in <var>/stack/<prefix>nats,
 * each node on its own host in multi-host mode, starts it and points the
 * broker's URL at it. */
rpc_status stack_nats_start(shop_stack *st, shop_error *err);

/* Signals the leading node: SIGKILL (reaped, the node stays down until
 * restarted), SIGSTOP; SIGCONT resumes every paused node. 0, or -1 when no
 * node runs. */
int stack_nats_signal(shop_stack *st, int sig);

/* Starts every stopped node again and waits until the cluster is healthy. */
rpc_status stack_nats_restart(shop_stack *st, shop_error *err);

/* How many nodes the cluster has (0 without JetStream); in multi-host mode
 * node i runs on host "nats-n<i>". */
int stack_nats_nodes(const shop_stack *st);

/* How many nodes run. */
int stack_nats_running(const shop_stack *st);

/* Stops every node (SIGTERM) and frees the cluster; its data stays. */
void stack_nats_stop(shop_stack *st);

#endif
