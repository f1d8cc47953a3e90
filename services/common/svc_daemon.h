/* The skeleton every shop daemon shares: common flags (with environment
 * fallbacks), the database (created and migrated at start), a connection pool
 * sized to the RPC worker pool, and a SIGTERM/SIGINT drain.
 *
 *   shop_daemon d;
 *   shop_daemon_defaults(&d, "shop-stock", "stock", "tcp://127.0.0.1:7302");
 *   ... getopt_long with SHOP_DAEMON_LONGOPTS, passing each option to
 *       shop_daemon_flag() first ...
 *   shop_daemon_open(&d, stock_logic_prepare, 0)   -> d.pool, d.server
 *   register handlers on d.server
 *   return shop_daemon_serve(&d);                  -> 0 after a drain */
#ifndef SHOP_SVC_DAEMON_H
#define SHOP_SVC_DAEMON_H

#include <getopt.h>
#include <stdio.h>

#include "rpc/rpc.h"
#include "services/common/svc_pool.h"

/* Option values for getopt_long; daemons number their own from 0x200. */
enum {
    SHOP_OPT_LISTEN = 'l',
    SHOP_OPT_WORKERS = 'w',
    SHOP_OPT_HELP = 'h',
    SHOP_OPT_PG = 0x100,
    SHOP_OPT_DB,
    SHOP_OPT_DRAIN,
    SHOP_OPT_QUEUE,
    SHOP_OPT_METRICS,
};

#define SHOP_DAEMON_SHORTOPTS "hl:w:"
#define SHOP_DAEMON_LONGOPTS                                                                       \
    {"help", no_argument, NULL, SHOP_OPT_HELP},                                                    \
        {"listen", required_argument, NULL, SHOP_OPT_LISTEN},                                      \
        {"workers", required_argument, NULL, SHOP_OPT_WORKERS},                                    \
        {"pg", required_argument, NULL, SHOP_OPT_PG},                                              \
        {"db", required_argument, NULL, SHOP_OPT_DB},                                              \
        {"drain-ms", required_argument, NULL, SHOP_OPT_DRAIN},                                     \
        {"metrics-url", required_argument, NULL, SHOP_OPT_METRICS},                                \
    {                                                                                              \
        "queue", required_argument, NULL, SHOP_OPT_QUEUE                                           \
    }

typedef struct shop_daemon {
    const char *prog;    /* "shop-stock" */
    const char *service; /* "stock": database stock_db, migrations services/stock/sql */
    const char *env;     /* environment prefix, "SHOP_STOCK" */
    /* values given on the command line (NULL: environment, then default) */
    const char *cli_listen, *cli_workers, *cli_pg, *cli_db, *cli_drain, *cli_queue, *cli_metrics;
    const char *default_listen;
    const char *default_metrics; /* "http://127.0.0.1:9302", or NULL: off */
    /* resolved by shop_daemon_open */
    char listen[512];
    char dbname[128];
    char conninfo[1024];
    int workers;
    int queue;
    int drain_ms;
    shop_pool *pool;
    rpc_server *server;
    char metrics_url[256];                 /* "" or "none": no endpoint */
    struct shop_metrics *metrics;          /* services/common/svc_metrics.h */
    struct rpc_metrics_http *metrics_http; /* serving metrics_url */
    const char *arch;                      /* "sync" or "async", for labels */
    const struct shop_daemon_spec *spec;   /* set by shop_daemon_main */
    void *state;                           /* the daemon's own state */
} shop_daemon;

void shop_daemon_defaults(shop_daemon *d, const char *prog, const char *service,
                          const char *env_prefix, const char *default_listen);

/* Takes a common option; returns 1 when it was one, 0 otherwise. */
int shop_daemon_flag(shop_daemon *d, int opt, const char *arg);

/* Prints the common options' help (with their environment variables). */
void shop_daemon_usage(const shop_daemon *d, FILE *out);

/* The value of a daemon-specific flag: `cli`, else $<PREFIX>_<suffix>, else def. */
int shop_daemon_i64(const shop_daemon *d, const char *name, const char *suffix, const char *cli,
                    int64_t def, int64_t min, int64_t max, int64_t *out);
const char *shop_daemon_str(const shop_daemon *d, const char *suffix, const char *cli,
                            const char *def);

/* Resolves the flags, creates and migrates the database, opens a pool of
 * workers + extra_conns connections (each set up by `setup`) and creates the
 * RPC server. Returns 0, or -1 after printing why. */
int shop_daemon_open(shop_daemon *d, shop_pool_setup_fn setup, int extra_conns);

/* Listens, starts, logs the address, waits for SIGTERM/SIGINT, then drains
 * (new calls UNAVAILABLE, running calls finish within drain_ms) and frees the
 * server. `stop_hook` (may be NULL) runs after the drain, before the pool is
 * closed, to stop the daemon's own threads. Returns the exit code. */
int shop_daemon_serve(shop_daemon *d, void (*stop_hook)(void *arg), void *arg);

/* A whole daemon described as data, for shop_daemon_main. */
typedef struct shop_daemon_spec {
    const char *prog;            /* "shop-stock" */
    const char *service;         /* "stock" */
    const char *env;             /* "SHOP_STOCK" */
    const char *default_listen;  /* "tcp://127.0.0.1:7302" */
    const char *default_metrics; /* "http://127.0.0.1:9302" (GET /metrics) */
    const char *about;           /* one paragraph for --help */
    shop_pool_setup_fn setup;    /* prepares statements on each connection */
    int extra_conns;             /* pool connections beyond one per worker */
    /* daemon-specific options (may be NULL): a {0}-terminated table, a
     * function taking them (returns 1 when consumed) and their help */
    const struct option *extra_opts;
    int (*extra_flag)(int opt, const char *arg);
    void (*extra_usage)(FILE *out, const char *env); /* env: the prefix above */
    /* registers handlers and starts the daemon's threads; 0 or -1 */
    int (*start)(shop_daemon *d);
    /* stops the daemon's threads after the drain (may be NULL) */
    void (*stop)(shop_daemon *d);
} shop_daemon_spec;

/* Parses flags, opens, starts, serves until SIGTERM/SIGINT and drains.
 * Returns the process exit code (0 after a drain, 2 on bad flags). */
int shop_daemon_main(const shop_daemon_spec *spec, int argc, char **argv);

/* A pooled connection for a handler, waiting at most the call's remaining
 * deadline, also for a database being failed over or restarted (the pool
 * redials; a multi-host URL finds the new primary); NULL after failing the
 * call with UNAVAILABLE. */
PGconn *shop_daemon_conn(shop_daemon *d, rpc_ctx *ctx);

/* After a handler's transaction failed with `st`: 1 when it should run it
 * again on a fresh connection, i.e. the database was lost (UNAVAILABLE)
 * and the deadline leaves time after a short pause (taken here); at most
 * 10 s in all (*until: 0 before the first call). The services' writes are
 * de-duplicated, so a retry after a commit whose answer was lost does
 * nothing twice. */
int shop_daemon_db_retry(rpc_ctx *ctx, rpc_status st, int64_t *until);

#endif
