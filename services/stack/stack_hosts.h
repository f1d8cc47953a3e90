/* The stack in multi-host mode (`shopflow up --hosts netns`): every daemon
 * on its own host, a network namespace of services/hosts with its own
 * address on a private bridge; the daemons listen on and dial those
 * addresses, so a host's link can be cut (partition) or slowed (bandwidth)
 * while the processes run on. Each service's database is a pg_auto_failover
 * formation of two nodes on hosts of their own (stack_db_ha.h), unless
 * --db local keeps the private cluster, reached over its Unix socket. */
#ifndef SHOP_STACK_HOSTS_H
#define SHOP_STACK_HOSTS_H

#include "base/error.h"
#include "services/hosts/hosts.h"
#include "services/stack/shop_stack.h"

/* 1 when the stack runs in multi-host mode. */
int stack_hosts_on(const shop_stack *st);

/* Makes one host per daemon (order, stock, coupon; async: broker, delayd)
 * and points every URL of the stack at its host's address. Call after the
 * ports are chosen, before anything is spawned. */
rpc_status stack_hosts_setup(shop_stack *st, shop_error *err);

/* The host a daemon runs on, NULL when not in multi-host mode. */
shop_host *stack_hosts_of(shop_stack *st, const shop_stack_proc *p);

/* The address the daemon listens on: its host's, or NULL for 127.0.0.1. */
const char *stack_hosts_addr(const shop_stack *st, const shop_stack_proc *p);

/* Removes the hosts (after the daemons stopped). */
void stack_hosts_destroy(shop_stack *st);

#endif
