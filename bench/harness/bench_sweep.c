/* The capacity sweep of one architecture on one fresh stack: doubling steps
 * until the first that fails, bisection between the last good and the
 * first bad rate, then the steps at 50/80/95 % of the maximum. Each step is
 * open-loop load (shop_load.h), CPU snapshots of every process around it,
 * a bounded drain of PENDING orders, and order_db's account of the step's
 * confirmations. */
#include "bench/harness/shop_sweep.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/status.h"
#include "bench/harness/bench_orders.h"
#include "bench/harness/order_timeline.h"
#include "bench/harness/report_page.h"
#include "bench/harness/shop_load.h"
#include "rpc/rpc.h"
#include "services/pg/shop_pg.h"
#include "services/stack/shop_stack.h"

shop_sweep_config shop_sweep_defaults(void)
{
    shop_sweep_config c = {
        .start_rate = 100,
        .step_ms = 4000,
        .drain_ms = 3000,
        .knee_p99_us = 100000,
        .knee_accept_pct = 99,
        .resolution = 0.1,
        .clients = 64,
        .deadline_ms = 1000,
        .users = 300000,
        .progress = 1,
    };
    return c;
}

typedef struct sweep_ctx {
    const shop_sweep_config *cfg;
    shop_sweep_series *out;
    shop_stack *st;
    bench_orders orders;
    char order_conn[SHOP_PG_CONNLEN];
    char db_prefix[48];
    int pg_pid;
    int coupon_down;
} sweep_ctx;

/* Waits up to `bound_ms` for no order to be PENDING. With the coupon
 * service down nothing confirms: one look, no wait. */
static void wait_drained(sweep_ctx *x, int64_t bound_ms, int64_t *pending)
{
    int64_t until = shop_now_ms() + (x->coupon_down ? 0 : bound_ms);
    for (;;) {
        if (shop_timeline_pending(x->order_conn, pending, NULL) == RPC_OK && *pending == 0)
            return;
        if (shop_now_ms() >= until)
            return;
        shop_sleep_ms(100);
    }
}

static int most_common_failure(const shop_load_result *lr)
{
    int best = 1;
    for (int c = 1; c < SHOP_LOAD_CODES; c++)
        if (lr->by_code[c] > lr->by_code[best])
            best = c;
    return best;
}

/* One step at `rate`; the result is appended to the series. */
static rpc_status run_step(sweep_ctx *x, double rate, int role, shop_sweep_step **res,
                           shop_error *err)
{
    const shop_sweep_config *cfg = x->cfg;
    shop_sweep_series *s = x->out;
    if (s->n_steps == SHOP_SWEEP_MAX_STEPS)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "sweep: more than %d steps",
                              SHOP_SWEEP_MAX_STEPS);
    int64_t planned = (int64_t)(rate * (double)cfg->step_ms / 1000.0);
    if ((int64_t)x->orders.seq_base + planned > cfg->users)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED,
                              "sweep: the %lld fixture users are used up (raise --users or "
                              "shorten the steps)",
                              (long long)cfg->users);
    shop_sweep_step *step = &s->steps[s->n_steps];
    memset(step, 0, sizeof *step);
    step->role = role;
    step->rate = rate;
    shop_load_config lc = {.rate = rate,
                           .duration_ms = cfg->step_ms,
                           .clients = cfg->clients,
                           .deadline_ms = cfg->deadline_ms,
                           .fn = bench_orders_place,
                           .ctx = &x->orders};
    shop_load_result lr;
    shop_cpu_snapshot before, after;
    shop_cpu_snapshot_take(&before, x->st, x->pg_pid, x->db_prefix);
    int64_t from_wall = shop_wall_ms();
    rpc_status rc = shop_load_run(&lc, &lr, err);
    if (rc != RPC_OK)
        return rc;
    int64_t to_wall = shop_wall_ms();
    wait_drained(x, cfg->drain_ms, &step->pending_after);
    shop_cpu_snapshot_take(&after, x->st, x->pg_pid, x->db_prefix);
    shop_cpu_seconds(&before, &after, step->cpu_s);
    x->orders.seq_base += (uint64_t)lr.offered;
    step->offered = lr.offered;
    step->accepted = lr.ok;
    step->p50_us = shop_hist_percentile(lr.latency_ok, 50);
    step->p99_us = shop_hist_percentile(lr.latency_ok, 99);
    double pct = lr.offered ? 100.0 * (double)lr.ok / (double)lr.offered : 0;
    step->below_knee = pct >= cfg->knee_accept_pct && lr.ok > 0 && step->p99_us <= cfg->knee_p99_us;
    if (!step->below_knee && lr.ok == 0)
        snprintf(step->why, sizeof step->why, "no order accepted, %lld of %lld %s",
                 (long long)lr.by_code[most_common_failure(&lr)], (long long)lr.offered,
                 rpc_status_name(most_common_failure(&lr)));
    else if (!step->below_knee)
        snprintf(step->why, sizeof step->why,
                 "accepted %.1f%% (limit %.0f%%), p99 %.1f ms (limit %.0f ms)", pct,
                 cfg->knee_accept_pct, (double)step->p99_us / 1000.0,
                 (double)cfg->knee_p99_us / 1000.0);
    shop_timeline_window w;
    if (shop_timeline_window_read(x->order_conn, from_wall, to_wall, &w, NULL) == RPC_OK) {
        step->confirmed = w.confirmed;
        step->confirmed_per_s = (double)w.confirmed_in * 1000.0 / (double)(to_wall - from_wall);
        step->lag_p50_us = w.lag_p50_us;
        step->lag_p99_us = w.lag_p99_us;
    } else {
        step->lag_p50_us = step->lag_p99_us = -1;
    }
    shop_load_result_free(&lr);
    s->n_steps++;
    if (cfg->progress)
        fprintf(stderr,
                "[sweep %s %s] %7.0f/s  accepted %5.1f%%  p50 %7.2f ms  p99 %8.2f ms  "
                "confirmed/s %7.1f  pending %lld  %s\n",
                s->arch, s->condition, rate, pct, (double)step->p50_us / 1000.0,
                (double)step->p99_us / 1000.0, step->confirmed_per_s,
                (long long)step->pending_after, step->below_knee ? "ok" : "KNEE");
    if (res)
        *res = step;
    return RPC_OK;
}

static int latency_only(const shop_sweep_config *cfg, const shop_sweep_step *st)
{
    return st->offered > 0 &&
           100.0 * (double)st->accepted / (double)st->offered >= cfg->knee_accept_pct;
}

/* Doubling, then bisection; the knee is where the program's limits say. */
static rpc_status search(sweep_ctx *x, shop_error *err)
{
    const shop_sweep_config *cfg = x->cfg;
    double below = 0, above = 0, rate = cfg->start_rate;
    for (;;) {
        /* this step, its repeat and the three below the maximum must fit */
        double orders = rate * (double)cfg->step_ms / 1000.0 * (2 + 0.5 + 0.8 + 0.95);
        if (above == 0 && (double)x->orders.seq_base + orders > (double)cfg->users) {
            snprintf(x->out->note, sizeof x->out->note,
                     "no knee below %.0f/s: the %lld fixture users would run out (raise --users)",
                     rate, (long long)cfg->users);
            break;
        }
        shop_sweep_step *step;
        rpc_status rc = run_step(x, rate, SHOP_STEP_SEARCH, &step, err);
        /* Once more when only the latency limit was passed: a knee must
         * repeat. Refused orders are no noise, and overloading the stack
         * again would leave it worse for the steps after. */
        int repeated = rc == RPC_OK && !step->below_knee && latency_only(cfg, step);
        if (repeated)
            rc = run_step(x, rate, SHOP_STEP_SEARCH, &step, err);
        if (rc != RPC_OK)
            return rc;
        if (step->below_knee) {
            below = rate;
        } else {
            above = rate;
            snprintf(x->out->knee, sizeof x->out->knee, "at %.0f/s%s: %s", rate,
                     repeated ? ", twice" : "", step->why);
        }
        if (above == 0) {
            rate *= 2;
            continue;
        }
        if (below == 0 && rate <= cfg->start_rate / 4)
            break; /* not even a quarter of the first rate: no capacity here */
        if (below > 0 && (above - below) / above < cfg->resolution)
            break;
        rate = below > 0 ? (below + above) / 2 : rate / 2;
    }
    x->out->max_rate = below;
    return RPC_OK;
}

static rpc_status start_stack(sweep_ctx *x, const char *arch, int coupon_down, shop_error *err)
{
    const shop_sweep_config *cfg = x->cfg;
    shop_stack_opts o = shop_stack_defaults();
    o.arch = arch;
    o.goods = 50;
    o.stock = cfg->users; /* per goods: never the limit */
    o.users = cfg->users;
    snprintf(x->db_prefix, sizeof x->db_prefix, "sweep_%s_", arch);
    o.db_prefix = x->db_prefix;
    static char log_dir[600];
    if (cfg->log_dir) {
        snprintf(log_dir, sizeof log_dir, "%s/sweep-%s-%s", cfg->log_dir, arch,
                 coupon_down ? "coupon-down" : "no-fault");
        if (bench_make_dirs(log_dir) != 0)
            return shop_error_errno(err, errno, "cannot create %s", log_dir);
        o.log_dir = log_dir;
    }
    return shop_stack_start(x->st, &o, err);
}

rpc_status shop_sweep_run(const shop_sweep_config *cfg, const char *arch, int coupon_down,
                          shop_sweep_series *out, shop_error *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->arch, sizeof out->arch, "%s", arch);
    snprintf(out->condition, sizeof out->condition, "%s", coupon_down ? "coupon-down" : "no-fault");
    if (strcmp(arch, "sync") != 0 && strcmp(arch, "async") != 0)
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "sweep: architecture '%s' (sync or async)",
                              arch);
    sweep_ctx x = {.cfg = cfg, .out = out, .coupon_down = coupon_down};
    rpc_channel *ch = NULL;
    rpc_status rc;
    x.st = calloc(1, sizeof *x.st);
    if (x.st == NULL)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    if (cfg->progress)
        fprintf(stderr, "[sweep %s %s] starting a fresh stack (%lld users)...\n", arch,
                out->condition, (long long)cfg->users);
    if ((rc = start_stack(&x, arch, coupon_down, err)) != RPC_OK ||
        (rc = shop_pg_conninfo(x.st->pg_url, x.st->procs[SHOP_STACK_ORDER].db, x.order_conn,
                               sizeof x.order_conn, err)) != RPC_OK)
        goto done;
    shop_pg_status pgs;
    x.pg_pid = shop_pg_get_status(&pgs, NULL) == RPC_OK && !pgs.external ? pgs.pid : 0;
    if (x.pg_pid == 0)
        snprintf(out->note, sizeof out->note,
                 "PostgreSQL is external (SHOPFLOW_PG): its CPU is not measured");
    if (coupon_down && shop_stack_kill(x.st, "coupon") != 0) {
        rc = shop_error_set(err, RPC_INTERNAL, "sweep: cannot kill the coupon service");
        goto done;
    }
    rpc_error rerr;
    rpc_channel_opts copts = {.default_timeout_ms = cfg->deadline_ms};
    if (rpc_channel_open(&ch, x.st->procs[SHOP_STACK_ORDER].url, &copts, &rerr) != RPC_OK) {
        rc = shop_error_set(err, RPC_UNAVAILABLE, "sweep: cannot reach the order service: %s",
                            rerr.message);
        goto done;
    }
    for (int64_t until = shop_now_ms() + 5000;
         rpc_channel_connected(ch) <= 0 && shop_now_ms() < until;)
        shop_sleep_ms(10);
    char tag[48];
    snprintf(tag, sizeof tag, "sweep-%s-%s", arch, out->condition);
    x.orders = (bench_orders){.ch = ch, .tag = tag, .goods = 50, .deadline_ms = cfg->deadline_ms};
    if ((rc = search(&x, err)) != RPC_OK)
        goto done;
    static const double shares[] = {0.5, 0.8, 0.95};
    for (int i = 0; i < 3 && out->max_rate > 0; i++) {
        /* from an empty backlog (bounded): async may accept faster than it
         * confirms, and these steps' lag should be their own orders' */
        int64_t pending;
        wait_drained(&x, 10 * cfg->drain_ms, &pending);
        if ((rc = run_step(&x, out->max_rate * shares[i], SHOP_STEP_AT50 + i, NULL, err)) != RPC_OK)
            goto done;
    }
    rc = RPC_OK;
done:
    if (ch)
        rpc_channel_close(ch);
    if (x.st->procs[0].name[0])
        shop_stack_stop(x.st);
    free(x.st);
    return rc;
}

const shop_sweep_step *shop_sweep_at(const shop_sweep_series *s, int role)
{
    for (size_t i = 0; i < s->n_steps; i++)
        if (s->steps[i].role == role)
            return &s->steps[i];
    return NULL;
}

double shop_sweep_cpu_ms_per_order(const shop_sweep_step *st, int part)
{
    return st->accepted > 0 ? st->cpu_s[part] * 1000.0 / (double)st->accepted : 0;
}
