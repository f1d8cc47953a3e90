/* The results of a bench run, one column per architecture, and the three
 * ways they are written: a side-by-side terminal table, a JSON file with
 * every figure, and an HTML report with gnuplot charts (latency and
 * throughput over time with the fault windows shaded, latency CDFs). */
#ifndef SHOP_REPORT_H
#define SHOP_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "bench/harness/shop_check.h"
#include "bench/harness/shop_fault.h"
#include "base/hist.h"
#include "bench/harness/shop_load.h"

typedef struct shop_arch_result {
    char arch[16];          /* "sync", "async", "async-nats" (async on JetStream) or
                               "async-txmsg" (order.placed as a transactional message) */
    shop_load_result load;  /* PlaceOrder outcomes and latencies */
    shop_hist *confirm_lag; /* accept -> CONFIRMED, us (NULL when unknown) */
    /* accept -> CONFIRMED p50/p99 (us) of the orders accepted in each second
     * of the load (load.n_seconds entries, -1: none confirmed; NULL: unknown) */
    int64_t *lag_p50_us, *lag_p99_us;
    int64_t pay_ok, pay_failed;
    int64_t consistency_ms; /* heal -> all invariants hold; -1 = never within the bound */
    int checked;            /* 1 when `check` holds the final invariant check */
    shop_check_report check;
    char note[256]; /* anything the reader must know (e.g. "async not built") */
} shop_arch_result;

#define SHOP_REPORT_MAX_ARCH 4

typedef struct shop_bench_report {
    shop_arch_result arch[SHOP_REPORT_MAX_ARCH];
    size_t n_arch;
    double rate;
    int64_t duration_ms;
    int clients;
    int64_t deadline_ms;
    double pay_share;
    shop_fault_plan faults;
    char started_at[32]; /* UTC, ISO 8601 */
} shop_bench_report;

/* The side-by-side table. */
void shop_report_print_table(const shop_bench_report *r, FILE *out);

/* Every figure as JSON (schema in bench/harness/README.md). Returns RPC_OK,
 * or the failure + err naming the file. */
rpc_status shop_report_write_json(const shop_bench_report *r, const char *path, shop_error *err);

/* DIR/index.html + DIR/<chart>.svg (gnuplot) + DIR/report.json + the data files.
 * Returns RPC_OK, or the failure + err (the HTML is still written when only
 * gnuplot failed, and err says so). */
rpc_status shop_report_write_html(const shop_bench_report *r, const char *dir, shop_error *err);

/* Accepted share in percent (0 when nothing was offered). */
double shop_report_accepted_pct(const shop_arch_result *a);

/* Accepted requests per second over the scheduled duration. */
double shop_report_throughput(const shop_arch_result *a, int64_t duration_ms);

/* The window [from, to) in ms during which fault i is in effect (a kill
 * lasts until its restart, a partition until its heal, or until `end_ms`).
 * Returns 0 if it has none. */
int shop_report_fault_window(const shop_fault_plan *p, size_t i, int64_t end_ms, int64_t *from,
                             int64_t *to);

void shop_arch_result_free(shop_arch_result *a);

#endif
