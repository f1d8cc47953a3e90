/* One architecture's bench run, start to finish: fresh stack with fixtures
 * sized to the load, link proxies where the plan needs them, open-loop
 * PlaceOrder (+ PayOrder) through the typed stubs while the fault schedule
 * runs, heal, wait (bounded) until every invariant holds and nothing is
 * PENDING, then the final check and the accept-to-confirm lag from
 * order_db's timeline. */
#include "bench/harness/shop_bench.h"
#include "bench/harness/bench_links.h"
#include "bench/harness/bench_orders.h"
#include "bench/harness/order_timeline.h"
#include "bench/harness/report_page.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "rpc/rpc.h"
#include "services/pg/shop_pg.h"

shop_bench_config shop_bench_defaults(void)
{
    shop_bench_config c = {
        .rate = 100,
        .duration_ms = 45000,
        .clients = 16,
        .deadline_ms = 1000,
        .pay_share = 0.5,
        .converge_timeout_ms = 45000,
        .goods = 50,
        .progress = 1,
    };
    return c;
}

typedef struct progress_ctx {
    const char *arch;
    bench_links *links;
    int tty;
    int64_t last_line_ms;
} progress_ctx;

static void on_progress(void *arg, const shop_load_progress *p)
{
    progress_ctx *pc = arg;
    char active[160];
    bench_links_active(pc->links, active, sizeof active);
    if (!pc->tty && p->elapsed_ms - pc->last_line_ms < 5000)
        return;
    pc->last_line_ms = p->elapsed_ms;
    fprintf(stderr, "%s[%s] %5.1f/%.0fs  done %lld  accepted %5.1f%%  p99 %.1f ms  %s%s%s",
            pc->tty ? "\r\033[K" : "", pc->arch, (double)p->elapsed_ms / 1000.0,
            (double)p->duration_ms / 1000.0, (long long)p->done,
            p->done ? 100.0 * (double)p->ok / (double)p->done : 0.0, (double)p->p99_us / 1000.0,
            active[0] ? "| " : "", active, pc->tty ? "" : "\n");
}

/* Polls the checker until everything holds and nothing is PENDING, or the
 * bound passes. Leaves the last check in out->check. */
static void wait_consistent(const shop_bench_config *cfg, const char *conn[3],
                            shop_arch_result *out, int64_t healed_ms)
{
    shop_check_input in = {conn[0], conn[1], conn[2], out->load.acked, out->load.n_acked, 0};
    /* Orders past their window need one close scan after healing. */
    in.pending_grace_ms = cfg->close_interval_ms > 0 ? 2 * cfg->close_interval_ms : 5000;
    out->consistency_ms = -1;
    for (;;) {
        shop_check_report rep;
        rpc_status st = shop_check_run(&in, &rep, NULL); /* a failed read is retried */
        int64_t now = shop_now_ms();
        if (st == RPC_OK) {
            if (out->checked)
                shop_check_report_free(&out->check);
            out->check = rep;
            out->checked = 1;
            if (shop_check_total(&rep) == 0 && rep.by_status[0] == 0 &&
                (!cfg->wait_closed || rep.by_status[1] == 0)) {
                out->consistency_ms = now - healed_ms;
                return;
            }
        }
        if (now - healed_ms > cfg->converge_timeout_ms) {
            if (out->checked && shop_check_total(&out->check) == 0)
                snprintf(out->note, sizeof out->note,
                         "not converged: %zu orders still PENDING, %zu CONFIRMED (left to the "
                         "pay-window close scan)",
                         out->check.by_status[0], out->check.by_status[1]);
            return;
        }
        shop_sleep_ms(200);
    }
}

/* accept -> CONFIRMED for every order that got there, from order_db. */
static void confirm_lag(const char *order_conn, shop_arch_result *out)
{
    out->confirm_lag = calloc(1, sizeof *out->confirm_lag);
    PGconn *c = PQconnectdb(order_conn);
    if (!out->confirm_lag || PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return;
    }
    PGresult *r = PQexecParams(c,
                               "SELECT (extract(epoch FROM confirmed_at - created_at) * 1e6)"
                               "::bigint FROM orders WHERE confirmed_at IS NOT NULL",
                               0, NULL, NULL, NULL, NULL, 0);
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
        shop_hist_record(out->confirm_lag, strtoll(PQgetvalue(r, i, 0), NULL, 10));
    PQclear(r);
    PQfinish(c);
}

/* The lag per second of the load, for the report's lag-over-time chart. */
static void lag_series(const char *order_conn, int64_t load_wall_ms, shop_arch_result *out)
{
    size_t n = out->load.n_seconds;
    out->lag_p50_us = calloc(n ? n : 1, sizeof *out->lag_p50_us);
    out->lag_p99_us = calloc(n ? n : 1, sizeof *out->lag_p99_us);
    shop_error err = {0};
    if (!out->lag_p50_us || !out->lag_p99_us ||
        shop_timeline_lag_series(order_conn, load_wall_ms, n, out->lag_p50_us, out->lag_p99_us,
                                 &err) != RPC_OK) {
        free(out->lag_p50_us);
        free(out->lag_p99_us);
        out->lag_p50_us = out->lag_p99_us = NULL;
    }
}

static rpc_status start_stack(const shop_bench_config *cfg, const char *arch, shop_stack *st,
                              char *log_dir, size_t log_len, shop_error *err)
{
    int64_t total = (int64_t)(cfg->rate * (double)cfg->duration_ms / 1000.0) + 1;
    /* "async-nats": the async architecture with JetStream for mq-broker;
     * "async-txmsg": with order.placed as a transactional message (the
     * order service's --publish, through the environment it inherits) */
    int nats = strcmp(arch, "async-nats") == 0, txmsg = strcmp(arch, "async-txmsg") == 0;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "bench_%s_",
             nats    ? "async_nats"
             : txmsg ? "async_txmsg"
                     : arch);
    setenv("SHOP_ORDER_PUBLISH", txmsg ? "txmsg" : "outbox", 1);
    shop_stack_opts o = shop_stack_defaults();
    o.arch = nats || txmsg ? "async" : arch;
    o.mq = nats ? "nats" : NULL;
    o.hosts = cfg->hosts;
    o.db = cfg->db;
    o.goods = cfg->goods;
    o.stock = total / cfg->goods + 10;
    o.users = total + 10;
    o.db_prefix = prefix;
    o.pay_window_ms = cfg->pay_window_ms;
    o.close_interval_ms = cfg->close_interval_ms;
    o.member_timeout_ms = cfg->member_timeout_ms;
    log_dir[0] = '\0';
    if (cfg->log_dir) {
        snprintf(log_dir, log_len, "%s/%s", cfg->log_dir, arch);
        if (bench_make_dirs(log_dir) != 0)
            return shop_error_errno(err, errno, "cannot create %s", log_dir);
        o.log_dir = log_dir;
    }
    return shop_stack_start(st, &o, err);
}

static int wait_connected(rpc_channel *ch, int timeout_ms)
{
    int64_t until = shop_now_ms() + timeout_ms;
    while (rpc_channel_connected(ch) == 0 && shop_now_ms() < until)
        shop_sleep_ms(10);
    return rpc_channel_connected(ch) > 0 ? 0 : -1;
}

rpc_status shop_bench_run_arch(const shop_bench_config *cfg, const char *arch,
                               shop_arch_result *out, shop_error *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->arch, sizeof out->arch, "%s", arch);
    out->consistency_ms = -1;
    shop_stack *st = calloc(1, sizeof *st);
    bench_links links;
    int links_ready = 0;
    rpc_status rc;
    rpc_channel *ch = NULL;
    char log_dir[512], conn[3][SHOP_PG_CONNLEN];
    if (!st) {
        rc = shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
        goto done;
    }
    if ((rc = start_stack(cfg, arch, st, log_dir, sizeof log_dir, err)) != RPC_OK)
        goto done;
    for (int i = 0; i < 3; i++)
        if ((rc = shop_pg_conninfo(shop_stack_pg_url(st, &st->procs[i]), st->procs[i].db, conn[i],
                                   sizeof conn[i], err)) != RPC_OK)
            goto done;
    if ((rc = bench_links_setup(&links, st, &cfg->plan, err)) != RPC_OK)
        goto done;
    links_ready = 1;
    rpc_error rerr;
    rpc_channel_opts copts = {.default_timeout_ms = cfg->deadline_ms};
    if (rpc_channel_open(&ch, links.order_url, &copts, &rerr) != RPC_OK ||
        wait_connected(ch, 5000) != 0) {
        rc = shop_error_set(err, RPC_UNAVAILABLE, "cannot reach the order service at %s",
                            links.order_url);
        goto done;
    }
    bench_orders t = {.ch = ch,
                      .tag = arch,
                      .goods = cfg->goods,
                      .pay_share = cfg->pay_share,
                      .deadline_ms = cfg->deadline_ms};
    progress_ctx pc = {.arch = arch, .links = &links, .tty = isatty(2)};
    shop_load_config lc = {.rate = cfg->rate,
                           .duration_ms = cfg->duration_ms,
                           .clients = cfg->clients,
                           .deadline_ms = cfg->deadline_ms,
                           .fn = bench_orders_place,
                           .followup = bench_orders_pay,
                           .ctx = &t,
                           .progress = cfg->progress ? on_progress : NULL,
                           .progress_ctx = &pc};
    int64_t load_wall_ms = shop_wall_ms();
    if ((rc = bench_links_start(&links, err)) != RPC_OK ||
        (rc = shop_load_run(&lc, &out->load, err)) != RPC_OK)
        goto done;
    if (cfg->progress)
        fprintf(stderr, "%s[%s] load done, healing and waiting for consistency...\n",
                pc.tty ? "\r\033[K" : "", arch);
    shop_error heal_err = {0};
    if (bench_links_heal(&links, &heal_err) != RPC_OK)
        snprintf(out->note, sizeof out->note, "heal: %s", heal_err.message);
    int64_t healed = shop_now_ms();
    out->pay_ok = atomic_load(&t.pay_ok);
    out->pay_failed = atomic_load(&t.pay_failed);
    const char *conns[3] = {conn[0], conn[1], conn[2]};
    wait_consistent(cfg, conns, out, healed);
    confirm_lag(conn[0], out);
    lag_series(conn[0], load_wall_ms, out);
    if (links.note[0] && !out->note[0])
        snprintf(out->note, sizeof out->note, "%s", links.note);
    if (log_dir[0] && !out->note[0])
        snprintf(out->note, sizeof out->note, "daemon logs in %s", log_dir);
    rc = RPC_OK;
done:
    if (ch)
        rpc_channel_close(ch);
    if (st && st->procs[0].name[0])
        shop_stack_stop(st);
    if (links_ready)
        bench_links_free(&links);
    free(st);
    return rc;
}
