/* A loopback nats-server cluster with JetStream, as child processes: for
 * the cluster tests, `shopflow up --mq nats` and the benchmarks.
 *
 *   nats_cluster c;
 *   nats_cluster_init(&c, "/tmp/x", 3, &err);   // ports, configs, store dirs
 *   nats_cluster_start(&c, &err);                // all nodes, waits for /healthz
 *   mq_producer_open(c.url, ...);                // nats://127.0.0.1:p0,...
 *   nats_cluster_leader(&c, "orders", &i, &err); // the node leading a topic's stream
 *   nats_cluster_node_stop(&c, i, SIGKILL, &err);
 *   nats_cluster_node_start(&c, i, &err);
 *   nats_cluster_stop(&c);                       // SIGTERM to all, reaped
 *
 * Node i is server "n<i>" with its own client, cluster-route and monitor
 * ports on 127.0.0.1 and its store in <dir>/n<i>/; configs and logs are
 * <dir>/n<i>.conf and <dir>/n<i>.log. A single node runs without the
 * cluster block (JetStream standalone, R1 streams). The binary is
 * $NATS_SERVER when set (and only that one), else nats-server from
 * /usr/sbin, /usr/bin or PATH (scripts/deps.sh installs Debian's);
 * FAILED_PRECONDITION without one. */
#ifndef SHOP_STACK_NATS_CLUSTER_H
#define SHOP_STACK_NATS_CLUSTER_H

#include <sys/types.h>

#include "base/error.h"

#define NATS_CLUSTER_MAX 5

typedef struct nats_node {
    char name[8];
    char addr[20];           /* where it listens: 127.0.0.1, or its host's (nats_cluster_place) */
    int (*enter)(void *arg); /* run in the child before exec (its host), NULL: none */
    void *enter_arg;
    int client_port, cluster_port, monitor_port;
    char store[520], conf[520], log[520];
    pid_t pid; /* 0 when not running */
} nats_node;

typedef struct nats_cluster {
    int n;
    char dir[480];
    char bin[256];
    char url[NATS_CLUSTER_MAX * 32]; /* nats://<addr>:<client port>,... */
    nats_node nodes[NATS_CLUSTER_MAX];
    /* Per start; 0: 60000. A first start is healthy in ~1 s; a start of a
     * whole cluster that holds streams takes 6-20 s here (every stream and
     * consumer elects a leader, 2.9's election timeout is 4-9 s). */
    int ready_timeout_ms;
    /* Sent to the nodes when the spawning thread ends (shop_spawn_opts), so
     * that a test or bench that dies leaves no server behind; 0 (the
     * default, for `shopflow up`): they outlive it. Set after init. */
    int death_signal;
} nats_cluster;

/* Picks free ports, writes the configs under `dir` (made if missing) for n
 * nodes (0: 3); nothing is started. */
rpc_status nats_cluster_init(nats_cluster *c, const char *dir, int n, shop_error *err);

/* Puts node i on another host (multi-host mode): it listens on `addr` and
 * `enter(arg)` runs in its process before exec (e.g.
 * shop_hosts_enter_child); the configs and the URL are rewritten. Call
 * between init and start. */
rpc_status nats_cluster_place(nats_cluster *c, int i, const char *addr, int (*enter)(void *),
                              void *arg, shop_error *err);

/* Starts every node that is not running and waits until all are healthy
 * (JetStream up and, in a cluster, a meta leader elected). */
rpc_status nats_cluster_start(nats_cluster *c, shop_error *err);

/* Sends sig (SIGTERM: a clean stop, SIGKILL: a crash) to every running node
 * and reaps them; the store dirs stay (a start again finds the data). */
void nats_cluster_stop(nats_cluster *c);

/* One node: start (and wait until healthy), stop with a signal that ends
 * it (reaped; a node paused with SIGSTOP is resumed to receive it), or both
 * (SIGTERM, then start). */
rpc_status nats_cluster_node_start(nats_cluster *c, int i, shop_error *err);
rpc_status nats_cluster_node_stop(nats_cluster *c, int i, int sig, shop_error *err);
rpc_status nats_cluster_node_restart(nats_cluster *c, int i, shop_error *err);

/* Whether node i answers /healthz with status ok. */
int nats_cluster_node_healthy(const nats_cluster *c, int i);

/* The index of the node leading `topic`'s stream (UNAVAILABLE while there is
 * none, NOT_FOUND without the stream). */
rpc_status nats_cluster_leader(const nats_cluster *c, const char *topic, int *node,
                               shop_error *err);

/* Stops everything and deletes `dir`. */
void nats_cluster_destroy(nats_cluster *c);

#endif
