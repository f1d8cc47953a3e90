/* Latency samples of one benchmark phase: per-thread arrays merged at the
 * end, exact percentiles by sorting (a few hundred thousand samples at most,
 * so no histogram is needed). */
#ifndef SHOP_BENCH_ORDER_STATS_H
#define SHOP_BENCH_ORDER_STATS_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_samples {
    int64_t *us;
    size_t n, cap;
    int64_t errors;
    int64_t by_status[17]; /* non-OK outcomes by gRPC code */
} bench_samples;

void bench_samples_add(bench_samples *s, int64_t us);
/* Appends all of `from` to `into` (and adds its error counts). */
void bench_samples_merge(bench_samples *into, const bench_samples *from);
/* Sorts and returns the p-th percentile (0..100); 0 when empty. */
int64_t bench_samples_pct(bench_samples *s, double p);
void bench_samples_free(bench_samples *s);

#endif
