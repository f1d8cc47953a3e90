/* Open-loop load: request i is due at start + i / rate. Workers take the
 * next index, sleep until it is due (if they are early) and measure from
 * the due time. Outcomes are booked under one mutex: at the rates a 2-core
 * machine sustains here (thousands per second) it is never contended enough
 * to matter next to an RPC. */
#include "bench/harness/shop_load.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"

#define MAX_DURATION_MS (900 * 1000)

typedef struct load_run {
    const shop_load_config *cfg;
    shop_load_result *res;
    shop_hist *second_hist; /* one per scheduled second */
    int64_t start_ns;
    uint64_t total; /* requests to schedule */
    atomic_uint_fast64_t next;
    pthread_mutex_t mu;
    int64_t done;
    size_t acked_cap;
    int finished;
    pthread_cond_t finished_cv;
} load_run;

typedef struct worker_arg {
    load_run *run;
    int client;
} worker_arg;

static void sleep_until_ns(int64_t due_ns)
{
    /* shop_now_ns is CLOCK_MONOTONIC: sleep to an absolute time on it. */
    struct timespec ts = {(time_t)(due_ns / 1000000000), (long)(due_ns % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static void book(load_run *run, uint64_t seq, int code, int64_t latency_us, int64_t order_id)
{
    shop_load_result *r = run->res;
    if (code < 0 || code >= SHOP_LOAD_CODES)
        code = 2; /* UNKNOWN */
    size_t sec = (size_t)((double)seq / run->cfg->rate);
    if (sec >= r->n_seconds)
        sec = r->n_seconds - 1;
    pthread_mutex_lock(&run->mu);
    r->by_code[code]++;
    r->seconds[sec].by_code[code]++;
    shop_hist_record(r->latency_all, latency_us);
    shop_hist_record(&run->second_hist[sec], latency_us);
    if (code == 0) {
        r->ok++;
        shop_hist_record(r->latency_ok, latency_us);
        if (r->n_acked == run->acked_cap) {
            size_t cap = run->acked_cap ? run->acked_cap * 2 : 4096;
            int64_t *grown = realloc(r->acked, cap * sizeof *grown);
            if (grown) {
                r->acked = grown;
                run->acked_cap = cap;
            }
        }
        if (r->n_acked < run->acked_cap)
            r->acked[r->n_acked++] = order_id;
    } else {
        r->failed++;
    }
    run->done++;
    pthread_mutex_unlock(&run->mu);
}

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    load_run *run = wa->run;
    const shop_load_config *cfg = run->cfg;
    for (;;) {
        uint64_t seq = atomic_fetch_add(&run->next, 1);
        if (seq >= run->total)
            break;
        int64_t due = run->start_ns + (int64_t)((double)seq * 1e9 / cfg->rate);
        if (shop_now_ns() < due)
            sleep_until_ns(due);
        int64_t late_ms = (shop_now_ns() - due) / 1000000;
        int64_t order_id = 0;
        int code;
        if (late_ms >= cfg->deadline_ms)
            code = 4; /* DEADLINE_EXCEEDED: it waited its whole deadline for a client */
        else
            code = cfg->fn(cfg->ctx, wa->client, seq, cfg->deadline_ms - late_ms, &order_id);
        book(run, seq, code, (shop_now_ns() - due) / 1000, order_id);
        if (code == 0 && cfg->followup != NULL)
            cfg->followup(cfg->ctx, wa->client, seq, order_id);
    }
    return NULL;
}

static void *progress_main(void *arg)
{
    load_run *run = arg;
    const shop_load_config *cfg = run->cfg;
    pthread_mutex_lock(&run->mu);
    while (!run->finished) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 500000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&run->finished_cv, &run->mu, &ts);
        if (run->finished)
            break;
        shop_load_progress p = {
            .elapsed_ms = (shop_now_ns() - run->start_ns) / 1000000,
            .duration_ms = cfg->duration_ms,
            .done = run->done,
            .ok = run->res->ok,
            .failed = run->res->failed,
            .p99_us = shop_hist_percentile(run->res->latency_all, 99),
        };
        pthread_mutex_unlock(&run->mu);
        cfg->progress(cfg->progress_ctx, &p);
        pthread_mutex_lock(&run->mu);
    }
    pthread_mutex_unlock(&run->mu);
    return NULL;
}

static void finish_seconds(load_run *run)
{
    shop_load_result *r = run->res;
    for (size_t s = 0; s < r->n_seconds; s++) {
        shop_hist *h = &run->second_hist[s];
        r->seconds[s].p50_us = shop_hist_percentile(h, 50);
        r->seconds[s].p99_us = shop_hist_percentile(h, 99);
        r->seconds[s].max_us = h->count ? h->max : 0;
    }
}

static rpc_status check_config(const shop_load_config *cfg, shop_error *err)
{
    if (!cfg->fn || cfg->rate <= 0 || cfg->rate > 1e6)
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "load: rate must be in (0, 1000000] requests/s");
    if (cfg->duration_ms < 100 || cfg->duration_ms > MAX_DURATION_MS)
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "load: duration must be from 100 ms to %d s", MAX_DURATION_MS / 1000);
    if (cfg->clients < 1 || cfg->clients > 1024)
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "load: clients must be from 1 to 1024");
    if (cfg->deadline_ms < 1)
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "load: deadline must be positive");
    return RPC_OK;
}

rpc_status shop_load_run(const shop_load_config *cfg, shop_load_result *out, shop_error *err)
{
    memset(out, 0, sizeof *out);
    rpc_status st = check_config(cfg, err);
    if (st != RPC_OK)
        return st;
    load_run run = {.cfg = cfg, .res = out};
    run.total = (uint64_t)(cfg->rate * (double)cfg->duration_ms / 1000.0);
    if (run.total == 0)
        run.total = 1;
    out->n_seconds = (size_t)((double)(run.total - 1) / cfg->rate) + 1;
    out->seconds = calloc(out->n_seconds, sizeof *out->seconds);
    run.second_hist = calloc(out->n_seconds, sizeof *run.second_hist);
    out->latency_all = calloc(1, sizeof *out->latency_all);
    out->latency_ok = calloc(1, sizeof *out->latency_ok);
    pthread_t *threads = calloc((size_t)cfg->clients, sizeof *threads);
    worker_arg *args = calloc((size_t)cfg->clients, sizeof *args);
    if (!out->seconds || !run.second_hist || !out->latency_all || !out->latency_ok || !threads ||
        !args) {
        st = shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "load: out of memory");
        goto fail;
    }
    for (uint64_t i = 0; i < run.total; i++)
        out->seconds[(size_t)((double)i / cfg->rate)].offered++;
    out->offered = (int64_t)run.total;
    atomic_init(&run.next, 0);
    pthread_mutex_init(&run.mu, NULL);
    pthread_cond_init(&run.finished_cv, NULL);
    run.start_ns = shop_now_ns();
    pthread_t progress;
    int has_progress = cfg->progress && pthread_create(&progress, NULL, progress_main, &run) == 0;
    int started = 0;
    for (; started < cfg->clients; started++) {
        args[started] = (worker_arg){&run, started};
        if (pthread_create(&threads[started], NULL, worker_main, &args[started]) != 0)
            break;
    }
    if (started == 0) /* cannot run at all: do it on this thread */
        worker_main(&(worker_arg){&run, 0});
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    out->elapsed_ms = (shop_now_ns() - run.start_ns) / 1000000;
    pthread_mutex_lock(&run.mu);
    run.finished = 1;
    pthread_cond_signal(&run.finished_cv);
    pthread_mutex_unlock(&run.mu);
    if (has_progress)
        pthread_join(progress, NULL);
    pthread_cond_destroy(&run.finished_cv);
    pthread_mutex_destroy(&run.mu);
    finish_seconds(&run);
    free(run.second_hist);
    free(threads);
    free(args);
    return RPC_OK;
fail:
    free(run.second_hist);
    free(threads);
    free(args);
    shop_load_result_free(out);
    return st;
}

void shop_load_result_free(shop_load_result *r)
{
    free(r->latency_all);
    free(r->latency_ok);
    free(r->seconds);
    free(r->acked);
    memset(r, 0, sizeof *r);
}
