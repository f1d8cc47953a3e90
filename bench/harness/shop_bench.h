/* `shopflow bench` as a library: for one architecture, start a fresh stack,
 * place link proxies where the fault plan needs them, drive open-loop
 * PlaceOrder (+ PayOrder) load while the fault schedule runs, heal, wait for
 * convergence, check the invariants and measure. */
#ifndef SHOP_BENCH_H
#define SHOP_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "bench/harness/shop_fault.h"
#include "bench/harness/shop_report.h"

typedef struct shop_bench_config {
    double rate;                 /* PlaceOrder per second */
    int64_t duration_ms;         /* of the load */
    int clients;                 /* concurrent client threads */
    int64_t deadline_ms;         /* per PlaceOrder, from its scheduled start */
    double pay_share;            /* share of accepted orders that are paid (0..1) */
    shop_fault_plan plan;        /* times from the start of the load */
    int64_t converge_timeout_ms; /* bound on waiting for consistency after healing */
    int64_t goods;               /* distinct goods ordered */
    int64_t pay_window_ms;       /* 0: the services' default */
    int64_t close_interval_ms;   /* 0: default */
    int64_t member_timeout_ms;   /* 0: default */
    const char *log_dir;         /* daemon logs go to LOG_DIR/<arch>/ */
    int progress;                /* print a progress line on stderr */
    int wait_closed;             /* convergence also waits for unpaid orders to close */
    const char *hosts;           /* "netns": every daemon on its own host; NULL: loopback */
    const char *db;              /* with hosts "netns": "ha" (NULL) or "local" (shop_stack.h) */
} shop_bench_config;

shop_bench_config shop_bench_defaults(void);

/* Runs everything for `arch` ("sync", "async", or "async-nats": async with
 * a JetStream cluster in mq-broker's place) and fills `out` (free it
 * with shop_arch_result_free). Returns RPC_OK, or the failure with err when
 * the run could not be carried out (RPC_UNAVAILABLE: the stack did not start
 * or the order service cannot be reached, ...); a run whose invariants fail
 * still returns RPC_OK: the failure is in out->check. */
rpc_status shop_bench_run_arch(const shop_bench_config *cfg, const char *arch,
                               shop_arch_result *out, shop_error *err);

/* Runs every architecture of the comma-separated list `archs` in turn into
 * `r` (which it initialises; free with shop_bench_report_free). When
 * `skip_unbuilt` is set, an architecture the stack cannot start because it
 * is not built yet is left out with a line on stderr instead of failing.
 * Returns RPC_OK when at least one architecture ran, else the failure + err
 * (RPC_INVALID_ARGUMENT for an unknown architecture). */
rpc_status shop_bench_compare(const shop_bench_config *cfg, const char *archs, int skip_unbuilt,
                              shop_bench_report *r, shop_error *err);

void shop_bench_report_free(shop_bench_report *r);

/* Total violations of an architecture's final check (-1 if not checked). */
int64_t shop_bench_violations(const shop_arch_result *a);

#endif
