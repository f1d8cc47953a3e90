/* rpc-bench internals: a call function per system under test, and the
 * closed-loop load that drives it from N caller threads. */
#ifndef SHOP_BENCH_RPC_BENCH_H
#define SHOP_BENCH_RPC_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/hist.h"

/* One call of `len` payload bytes; returns 0 when the echo came back intact. */
typedef int (*bench_call_fn)(void *target, int caller, const uint8_t *payload, size_t len);

typedef struct bench_result {
    uint64_t calls;
    uint64_t errors;
    double seconds;
    shop_hist *lat_us; /* every call's latency (base/hist.h), made by bench_run */
} bench_result;

/* Runs `callers` threads calling for `ms`, appending to `r`. */
void bench_run(bench_call_fn fn, void *target, int callers, size_t payload, int ms,
               bench_result *r);
/* Percentile q (0..1) of the latencies in microseconds. */
int64_t bench_percentile(const bench_result *r, double q);
void bench_result_free(bench_result *r);

/* Raw nng REQ/REP echo: a server (async contexts echoing in the callback)
 * and a client with one context per caller. */
int raw_server_main(const char *tcp_url, const char *ipc_url);
void *raw_client_open(const char *url, int callers);
int raw_client_call(void *target, int caller, const uint8_t *payload, size_t len);
void raw_client_close(void *target);

#endif
