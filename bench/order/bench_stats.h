/* Latency samples of one benchmark phase: per-thread histograms (the
 * project's one, base/hist.h) merged at the end. */
#ifndef SHOP_BENCH_ORDER_STATS_H
#define SHOP_BENCH_ORDER_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "base/hist.h"

typedef struct bench_samples {
    shop_hist *hist; /* allocated by the first add or merge */
    int64_t errors;
    int64_t by_status[17]; /* non-OK outcomes by gRPC code */
} bench_samples;

void bench_samples_add(bench_samples *s, int64_t us);
/* Samples recorded. */
int64_t bench_samples_count(const bench_samples *s);
/* Adds all of `from` to `into` (and its error counts). */
void bench_samples_merge(bench_samples *into, const bench_samples *from);
/* The p-th percentile (0..100; 100 is the exact maximum); 0 when empty. */
int64_t bench_samples_pct(const bench_samples *s, double p);
void bench_samples_free(bench_samples *s);

#endif
