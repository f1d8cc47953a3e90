/* The daemon skeleton: flags, database, pool, server, drain. */
#include "services/common/svc_daemon.h"

#include "base/clock.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "services/common/svc_flags.h"
#include "services/common/svc_metrics.h"
#include "services/common/svc_signal.h"
#include "services/pg/shop_pg.h"
#include "base/version.h"

void shop_daemon_defaults(shop_daemon *d, const char *prog, const char *service,
                          const char *env_prefix, const char *default_listen)
{
    memset(d, 0, sizeof *d);
    d->prog = prog;
    d->service = service;
    d->env = env_prefix;
    d->default_listen = default_listen;
}

int shop_daemon_flag(shop_daemon *d, int opt, const char *arg)
{
    switch (opt) {
    case SHOP_OPT_LISTEN:
        d->cli_listen = arg;
        return 1;
    case SHOP_OPT_WORKERS:
        d->cli_workers = arg;
        return 1;
    case SHOP_OPT_PG:
        d->cli_pg = arg;
        return 1;
    case SHOP_OPT_DB:
        d->cli_db = arg;
        return 1;
    case SHOP_OPT_DRAIN:
        d->cli_drain = arg;
        return 1;
    case SHOP_OPT_QUEUE:
        d->cli_queue = arg;
        return 1;
    case SHOP_OPT_METRICS:
        d->cli_metrics = arg;
        return 1;
    default:
        return 0;
    }
}

void shop_daemon_usage(const shop_daemon *d, FILE *out)
{
    const char *e = d->env;
    fprintf(out,
            "  -l, --listen URL     where to serve RPC (comma-separated list allowed)\n"
            "                       [$%s_LISTEN, default %s]\n"
            "  -w, --workers N      handler threads; the database pool has as many\n"
            "                       connections [$%s_WORKERS, default 8]\n"
            "      --queue N        calls waiting for a worker before RESOURCE_EXHAUSTED\n"
            "                       [$%s_QUEUE, default 256]\n"
            "      --pg URL         PostgreSQL server [$SHOPFLOW_PG, default the private\n"
            "                       cluster under var/pg]\n"
            "      --db NAME        database [$%s_DB, default %s_db]; created and migrated\n"
            "                       from services/%s/sql at start\n"
            "      --drain-ms MS    on SIGTERM, how long running calls may finish\n"
            "                       [$%s_DRAIN_MS, default 5000]\n"
            "      --metrics-url URL  serve GET /metrics (Prometheus text) there, loopback\n"
            "                       only; none: off [$%s_METRICS_URL, default %s]\n"
            "  -h, --help           this help\n"
            "      --version        print the version\n",
            e, d->default_listen, e, e, e, d->service, d->service, e, e,
            d->default_metrics != NULL ? d->default_metrics : "none");
}

int shop_daemon_i64(const shop_daemon *d, const char *name, const char *suffix, const char *cli,
                    int64_t def, int64_t min, int64_t max, int64_t *out)
{
    char env[128];
    snprintf(env, sizeof env, "%s_%s", d->env, suffix);
    return shop_flag_i64(d->prog, name, cli, env, def, min, max, out);
}

const char *shop_daemon_str(const shop_daemon *d, const char *suffix, const char *cli,
                            const char *def)
{
    char env[128];
    snprintf(env, sizeof env, "%s_%s", d->env, suffix);
    return shop_flag_str(cli, env, def);
}

static int resolve(shop_daemon *d)
{
    int64_t workers, queue, drain;
    if (shop_daemon_i64(d, "--workers", "WORKERS", d->cli_workers, 8, 1, 256, &workers) != 0 ||
        shop_daemon_i64(d, "--queue", "QUEUE", d->cli_queue, 256, 1, 100000, &queue) != 0 ||
        shop_daemon_i64(d, "--drain-ms", "DRAIN_MS", d->cli_drain, 5000, 0, 600000, &drain) != 0)
        return -1;
    d->workers = (int)workers;
    d->queue = (int)queue;
    d->drain_ms = (int)drain;
    snprintf(d->listen, sizeof d->listen, "%s",
             shop_daemon_str(d, "LISTEN", d->cli_listen, d->default_listen));
    char def_db[64];
    snprintf(def_db, sizeof def_db, "%s_db", d->service);
    snprintf(d->dbname, sizeof d->dbname, "%s", shop_daemon_str(d, "DB", d->cli_db, def_db));
    return 0;
}

int shop_daemon_open(shop_daemon *d, shop_pool_setup_fn setup, int extra_conns)
{
    if (resolve(d) != 0)
        return -1;
    const char *base = shop_flag_str(d->cli_pg, "SHOPFLOW_PG", NULL);
    char sql_dir[512];
    shop_error err = {0};
    shop_pg_sql_dir(d->service, sql_dir, sizeof sql_dir);
    if (shop_pg_ensure_database(base, d->dbname, sql_dir, &err) != 0 ||
        shop_pg_conninfo(base, d->dbname, d->conninfo, sizeof d->conninfo, &err) != 0) {
        shop_log_error("database unavailable db=%s error=\"%s\" hint=\"is PostgreSQL up? "
                       "(shopflow db start)\"",
                       d->dbname, err.message);
        return -1;
    }
    if (shop_pool_open(d->conninfo, d->workers + extra_conns, setup, &d->pool, &err) != RPC_OK) {
        shop_log_error("database pool failed db=%s error=\"%s\"", d->dbname, err.message);
        return -1;
    }
    rpc_server_opts so = {.workers = d->workers, .queue_depth = d->queue, .name = d->prog};
    rpc_error rerr;
    if (rpc_server_new(&d->server, &so, &rerr) != RPC_OK) {
        shop_log_error("rpc server failed error=\"%s\"", rerr.message);
        shop_pool_close(d->pool);
        d->pool = NULL;
        return -1;
    }
    if (svc_metrics_open(d) != 0) {
        rpc_server_free(d->server);
        d->server = NULL;
        shop_pool_close(d->pool);
        d->pool = NULL;
        return -1;
    }
    return 0;
}

/* Listens on every URL of a comma-separated list. */
static int listen_all(shop_daemon *d, rpc_error *err)
{
    char urls[sizeof d->listen];
    snprintf(urls, sizeof urls, "%s", d->listen);
    char *save = NULL;
    for (char *u = strtok_r(urls, ",", &save); u != NULL; u = strtok_r(NULL, ",", &save))
        if (rpc_server_listen(d->server, u, err) != RPC_OK)
            return -1;
    return 0;
}

int shop_daemon_serve(shop_daemon *d, void (*stop_hook)(void *arg), void *arg)
{
    rpc_error err;
    int code = 0;
    if (listen_all(d, &err) != 0 || rpc_server_start(d->server, &err) != RPC_OK) {
        shop_log_error("cannot serve listen=%s status=%s error=\"%s\"", d->listen,
                       rpc_status_name(err.code), err.message);
        code = 1;
    } else {
        svc_metrics_start(d);
        shop_log_info("ready listen=%s db=%s workers=%d pid=%d metrics=%s", d->listen, d->dbname,
                      d->workers, (int)getpid(), d->metrics_http != NULL ? d->metrics_url : "none");
        int sig = shop_signals_wait(-1);
        shop_log_info("draining signal=%d drain_ms=%d", sig, d->drain_ms);
        rpc_server_shutdown(d->server, d->drain_ms);
        rpc_server_log_stats(d->server);
    }
    svc_metrics_close(d); /* its collectors read the server and the pool */
    if (stop_hook != NULL)
        stop_hook(arg);
    rpc_server_free(d->server);
    d->server = NULL;
    shop_pool_close(d->pool);
    d->pool = NULL;
    if (code == 0)
        shop_log_info("stopped");
    return code;
}

/* Between two tries at a lost database, and at most this long in all (a
 * call without a deadline would otherwise wait for ever). */
#define DB_RETRY_PAUSE_MS 100
#define DB_RETRY_MAX_MS 10000

/* Whether there is time for another try after a pause (taken here). */
static int pause_for_retry(rpc_ctx *ctx, int64_t until)
{
    if (rpc_ctx_remaining_ms(ctx) < DB_RETRY_PAUSE_MS + 50 ||
        shop_now_ms() + DB_RETRY_PAUSE_MS > until)
        return 0;
    shop_sleep_ms(DB_RETRY_PAUSE_MS);
    return 1;
}

PGconn *shop_daemon_conn(shop_daemon *d, rpc_ctx *ctx)
{
    int64_t until = shop_now_ms() + DB_RETRY_MAX_MS;
    for (;;) {
        int64_t left = rpc_ctx_remaining_ms(ctx);
        int wait = left > 10000 ? 10000 : left < 1 ? 1 : (int)left;
        shop_error err = {0};
        PGconn *c = NULL;
        rpc_status st = shop_pool_acquire(d->pool, wait, &c, &err);
        if (st == RPC_OK)
            return c;
        /* no server takes the connection: a failover or a restart under way */
        if (st != RPC_UNAVAILABLE || !pause_for_retry(ctx, until)) {
            rpc_ctx_fail(ctx, RPC_UNAVAILABLE, "%s", err.message);
            return NULL;
        }
    }
}

int shop_daemon_db_retry(rpc_ctx *ctx, rpc_status st, int64_t *until)
{
    if (*until == 0)
        *until = shop_now_ms() + DB_RETRY_MAX_MS;
    return st == RPC_UNAVAILABLE && pause_for_retry(ctx, *until);
}

static void stop_cb(void *arg)
{
    shop_daemon *d = arg;
    const shop_daemon_spec *spec = d->spec;
    if (spec->stop != NULL)
        spec->stop(d);
}

/* The common options followed by the daemon's own. */
static struct option *all_options(const shop_daemon_spec *spec)
{
    static const struct option common[] = {SHOP_DAEMON_LONGOPTS};
    size_t nc = sizeof common / sizeof common[0], ne = 0;
    while (spec->extra_opts != NULL && spec->extra_opts[ne].name != NULL)
        ne++;
    struct option *all = calloc(nc + ne + 1, sizeof *all);
    if (all == NULL)
        return NULL;
    memcpy(all, common, sizeof common);
    if (ne > 0)
        memcpy(all + nc, spec->extra_opts, ne * sizeof *all);
    return all;
}

int shop_daemon_main(const shop_daemon_spec *spec, int argc, char **argv)
{
    if (shop_version_asked(argc, argv, spec->prog))
        return 0;
    static shop_daemon d;
    shop_daemon_defaults(&d, spec->prog, spec->service, spec->env, spec->default_listen);
    d.spec = spec;
    d.default_metrics = spec->default_metrics;
    struct option *opts = all_options(spec);
    if (opts == NULL)
        return 1;
    int c;
    while ((c = getopt_long(argc, argv, SHOP_DAEMON_SHORTOPTS, opts, NULL)) != -1) {
        if (shop_daemon_flag(&d, c, optarg) ||
            (spec->extra_flag != NULL && spec->extra_flag(c, optarg)))
            continue;
        FILE *out = c == SHOP_OPT_HELP ? stdout : stderr;
        fprintf(out, "usage: %s [OPTIONS]\n\n%s\n\n", spec->prog, spec->about);
        shop_daemon_usage(&d, out);
        if (spec->extra_usage != NULL)
            spec->extra_usage(out, spec->env);
        free(opts);
        return c == SHOP_OPT_HELP ? 0 : 2;
    }
    free(opts);
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", spec->prog, argv[optind]);
        return 2;
    }
    shop_log_init(spec->prog);
    shop_signals_block();
    if (shop_daemon_open(&d, spec->setup, spec->extra_conns) != 0)
        return 1;
    if (spec->start(&d) != 0) {
        svc_metrics_close(&d);
        rpc_server_free(d.server);
        shop_pool_close(d.pool);
        return 1;
    }
    return shop_daemon_serve(&d, stop_cb, &d);
}
