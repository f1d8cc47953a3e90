/* The whole shop as child processes: the private PostgreSQL (or SHOPFLOW_PG),
 * fresh databases with fixtures, and the three daemons on loopback ports.
 * `shopflow up` runs it until Ctrl-C; the benchmark uses it to kill, pause
 * and restart single services while it measures.
 *
 *   shop_stack st;
 *   shop_stack_opts o = shop_stack_defaults();
 *   o.goods = 100; o.stock = 1000; o.users = 1000;
 *   if (shop_stack_start(&st, &o, &err) != RPC_OK) ...
 *   shop_stack_find(&st, "order")->url      -> "tcp://127.0.0.1:41234"
 *   shop_stack_kill(&st, "coupon");  shop_stack_restart(&st, "coupon", &err);
 *   shop_stack_stop(&st); */
#ifndef SHOP_STACK_H
#define SHOP_STACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

enum { SHOP_STACK_ORDER, SHOP_STACK_STOCK, SHOP_STACK_COUPON, SHOP_STACK_NPROCS };
/* --arch async adds the messaging processes, "broker" and "delayd". */
enum { SHOP_STACK_BROKER, SHOP_STACK_DELAYD, SHOP_STACK_NMQ };

typedef struct shop_stack_opts {
    const char *arch;       /* "sync" or "async" */
    const char *mq;         /* async: "broker" (mq-broker, the default) or "nats" (JetStream) */
    int nats_nodes;         /* mq "nats": cluster size; 0: 3 (R3 streams) */
    const char *hosts;      /* "local" (all on loopback, the default) or "netns": every
                               daemon on its own host (services/stack/stack_hosts.h) */
    const char *db;         /* hosts "netns": "ha" (the default: each database a primary and a
                               synchronous standby under pg_auto_failover, on hosts of their
                               own) or "local" (the private cluster, over its Unix socket) */
    int64_t goods;          /* goods 1..goods ... */
    int64_t stock;          /* ... with this many units each */
    int64_t price_cents;    /* ... at this unit price */
    int64_t users;          /* one coupon per user: coupon_id = user_id = 1..users */
    int64_t discount_cents; /* each coupon's value */
    int keep_data;          /* 1: keep the databases (and skip fixtures) */
    const char *db_prefix;  /* databases <prefix>order_db ...; "" for the real ones */
    const char *bin_dir;    /* NULL: $SHOP_BIN_DIR, else the folder of this program */
    const char *log_dir;    /* NULL: daemons log to this process's stderr */
    int port_base;          /* order, stock, coupon on base, base+1, base+2; 0: free ports
                               (metrics endpoints from base+6 on) */
    int workers;            /* per daemon; 0: the daemons' default */
    int64_t pay_window_ms;  /* 0: default (30 min) */
    int64_t close_interval_ms;
    int64_t member_timeout_ms;
    int ready_timeout_ms; /* per daemon start; default 15000 */
} shop_stack_opts;

typedef struct shop_stack_proc {
    char name[16]; /* "order", "stock", "coupon" */
    pid_t pid;     /* 0 when not running */
    int port;
    char url[64];         /* tcp://127.0.0.1:port */
    char metrics_url[64]; /* http://127.0.0.1:port, its GET /metrics */
    char db[128];         /* its database */
    char pg_url[512];     /* its server when not the stack's (multi-host formations) */
    char log_path[512];   /* "" when logging to stderr */
    int paused;
    int last_status; /* as from waitpid, once reaped */
} shop_stack_proc;

typedef struct shop_stack {
    shop_stack_opts opts;
    char bin_dir[512];
    char pg_url[1024]; /* the server's base URL */
    shop_stack_proc procs[SHOP_STACK_NPROCS];
    shop_stack_proc mq[SHOP_STACK_NMQ]; /* async only: mq-broker, mq-delayd */
    char mq_pub_url[64];                /* the broker's deliveries */
    char mq_dir[512], delay_dir[512];   /* their data */
    struct nats_cluster *nats;          /* mq "nats": the cluster in mq-broker's place */
    struct shop_hosts *hosts;           /* hosts "netns": the daemons' hosts */
    struct shop_pg_ha *pg_ha;           /* db "ha": the formations (stack_db_ha.h) */
} shop_stack;

shop_stack_opts shop_stack_defaults(void);

/* Starts PostgreSQL if needed, recreates the databases with fixtures (unless
 * keep_data), spawns the daemons and waits until each accepts connections.
 * On failure stops what it started and returns -1 with `err` filled. */
rpc_status shop_stack_start(shop_stack *st, const shop_stack_opts *opts, shop_error *err);

/* By name ("order", "stock", "coupon"; async: "broker", "delayd"), NULL if
 * unknown. With mq "nats", "broker" is the JetStream cluster: kill and pause
 * act on the node leading the order.placed stream, restart starts every
 * stopped node (services/stack/stack_nats.h). */
shop_stack_proc *shop_stack_find(shop_stack *st, const char *name);

/* SIGKILL and reap. */
int shop_stack_kill(shop_stack *st, const char *name);

/* SIGSTOP / SIGCONT. */
int shop_stack_pause(shop_stack *st, const char *name);
int shop_stack_resume(shop_stack *st, const char *name);

/* Starts a stopped (killed or exited) daemon again on the same port and
 * database, waiting until it accepts connections. */
rpc_status shop_stack_restart(shop_stack *st, const char *name, shop_error *err);

/* Where the stack keeps the data of `what` ("mq", "delayd", "nats",
 * "pg-ha"): <var>/stack/<db_prefix><what>, beside the private cluster. */
void shop_stack_data_dir(const shop_stack *st, const char *what, char *out, size_t len);

/* The PostgreSQL URL of a service's database: its formation's multi-host
 * URL in multi-host mode, else the stack's server. */
const char *shop_stack_pg_url(const shop_stack *st, const shop_stack_proc *p);

typedef struct shop_stack_db_loss {
    char lost_host[24];   /* the primary's host, now gone */
    char new_primary[24]; /* the node the monitor promoted */
    int64_t outage_ms;    /* from the kill to the first write that succeeded */
} shop_stack_db_loss;

/* Multi-host mode with db "ha": kills every process on the host of
 * `service`'s database primary (kill -9 of the machine), then waits until
 * the formation takes a write again (the monitor promotes the standby) and
 * says how long that took. */
rpc_status shop_stack_lose_db(shop_stack *st, const char *service, shop_stack_db_loss *out,
                              shop_error *err);

/* Reaps daemons that exited on their own; returns how many are running. */
int shop_stack_poll(shop_stack *st);

/* SIGTERM to every daemon (resuming paused ones), waits for the drains,
 * SIGKILL after a timeout. Returns 0 when all exited 0. */
int shop_stack_stop(shop_stack *st);

#endif
