/* `shopflow bench --sweep`: the capacity of an architecture. On one fresh
 * stack, open-loop PlaceOrder steps at rising rates (doubling, then
 * bisecting) until the knee, which the program finds: the first rate whose
 * accepted share falls under 99 % or whose p99 accept latency passes a
 * threshold. The highest rate under the knee is the maximum sustainable
 * rate; then one step each at 50 %, 80 % and 95 % of it. A failing
 * search step is run once more at the same rate and counts as failed only
 * when it fails again, so one noisy second on a shared machine does not
 * set the knee. Every step also
 * records the CPU seconds of each process (proc_cpu.h) and, from order_db,
 * the confirmations (CONFIRMED/s, accept->CONFIRMED lag), so capacity, CPU
 * per order and confirmation come from the same run. Optionally with the
 * coupon service down for the whole sweep. */
#ifndef SHOP_SWEEP_H
#define SHOP_SWEEP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "bench/harness/proc_cpu.h"

#define SHOP_SWEEP_MAX_STEPS 24
#define SHOP_SWEEP_MAX_SERIES 4

typedef struct shop_sweep_config {
    double start_rate;      /* first step, orders/s (default 100) */
    int64_t step_ms;        /* load per step (default 4000) */
    int64_t drain_ms;       /* after a step, wait up to this for PENDING to clear (3000) */
    int64_t knee_p99_us;    /* knee: p99 accept latency above this (100 ms) ... */
    double knee_accept_pct; /* ... or accepted share below this (99) */
    double resolution;      /* bisect until (above - below) / above < this (0.1) */
    int clients;            /* load generator threads (64) */
    int64_t deadline_ms;    /* per PlaceOrder (1000) */
    int64_t users;          /* fixture users = order budget of one stack (300000) */
    const char *log_dir;    /* daemon logs in LOG_DIR/sweep-<arch>-<condition>/ */
    int progress;           /* a line per step on stderr */
} shop_sweep_config;

shop_sweep_config shop_sweep_defaults(void);

enum { SHOP_STEP_SEARCH, SHOP_STEP_AT50, SHOP_STEP_AT80, SHOP_STEP_AT95 };

typedef struct shop_sweep_step {
    int role; /* SHOP_STEP_* */
    double rate;
    int64_t offered, accepted;
    int64_t p50_us, p99_us; /* accept latency of accepted PlaceOrder */
    int below_knee;         /* accepted share and p99 within the limits */
    char why[120];          /* when not: which limit it passed */
    double cpu_s[SHOP_CPU_PARTS];
    /* from order_db, for the orders accepted in the step */
    double confirmed_per_s;         /* confirmations during the step (/ step seconds) */
    int64_t confirmed;              /* ... of the step's orders, after the drain */
    int64_t lag_p50_us, lag_p99_us; /* accept -> CONFIRMED of those, -1 none */
    int64_t pending_after;          /* PENDING orders left after the drain */
} shop_sweep_step;

typedef struct shop_sweep_series {
    char arch[16];      /* "sync", "async" */
    char condition[16]; /* "no-fault", "coupon-down" */
    shop_sweep_step steps[SHOP_SWEEP_MAX_STEPS];
    size_t n_steps;
    double max_rate; /* highest rate below the knee; 0: none was */
    char knee[200];  /* why the lowest rate that failed twice failed */
    char note[200];
} shop_sweep_series;

typedef struct shop_sweep_report {
    shop_sweep_config cfg;
    shop_sweep_series series[SHOP_SWEEP_MAX_SERIES];
    size_t n;
    char started_at[32];
    int64_t elapsed_ms;
} shop_sweep_report;

/* One architecture ("sync" or "async") under one condition (coupon_down 0
 * or 1) on a fresh stack. Returns RPC_OK, or the failure + err when the run
 * could not be carried out. */
rpc_status shop_sweep_run(const shop_sweep_config *cfg, const char *arch, int coupon_down,
                          shop_sweep_series *out, shop_error *err);

/* The step at 50/80/95 % (SHOP_STEP_AT*), NULL when there is none. */
const shop_sweep_step *shop_sweep_at(const shop_sweep_series *s, int role);

/* CPU ms per accepted order of one step and part (0 without orders). */
double shop_sweep_cpu_ms_per_order(const shop_sweep_step *st, int part);

/* The summary and every step, as text. */
void shop_sweep_print(const shop_sweep_report *r, FILE *out);

/* DIR/index.html with the latency-vs-load, throughput and CPU charts
 * (gnuplot SVG, also inlined), DIR/sweep.json, the data files. */
rpc_status shop_sweep_write_report(const shop_sweep_report *r, const char *dir, shop_error *err);

#endif
