/* A latency histogram with bounded relative error (log-linear buckets in the
 * style of HdrHistogram): every recorded value is reported back within
 * SHOP_HIST_REL_ERROR of itself, percentiles included. Fixed memory, O(1)
 * record, exact count/min/max/mean, and merge for per-thread histograms. */
#ifndef SHOP_BASE_HIST_H
#define SHOP_BASE_HIST_H

#include <stdint.h>

/* 2^SHOP_HIST_SUB_BITS linear sub-buckets per power of two. */
#define SHOP_HIST_SUB_BITS 7
/* Values up to 2^SHOP_HIST_MAX_BITS - 1 (in whatever unit the caller uses,
 * microseconds here: ~12 days); larger values are clamped. */
#define SHOP_HIST_MAX_BITS 40
#define SHOP_HIST_BUCKETS ((SHOP_HIST_MAX_BITS - SHOP_HIST_SUB_BITS + 1) << SHOP_HIST_SUB_BITS)
/* Half a bucket's width over its lower bound: 1/256. */
#define SHOP_HIST_REL_ERROR (1.0 / (double)(2 << SHOP_HIST_SUB_BITS))

typedef struct shop_hist {
    int64_t count;
    int64_t min;
    int64_t max;
    double sum;
    int64_t buckets[SHOP_HIST_BUCKETS];
} shop_hist;

/* Empties `h` (call before first use; the struct is ~35 KB, heap it). */
void shop_hist_reset(shop_hist *h);

/* Records one value (negative values count as 0). */
void shop_hist_record(shop_hist *h, int64_t value);

/* Adds every value of `src` to `dst`. */
void shop_hist_merge(shop_hist *dst, const shop_hist *src);

/* The value at percentile `q` (0..100): the smallest recorded value such that
 * at least q% of the values are <= it, within the relative error bound.
 * 0 when empty. */
int64_t shop_hist_percentile(const shop_hist *h, double q);

/* The mean (exact), 0 when empty. */
double shop_hist_mean(const shop_hist *h);

/* Iterates the non-empty buckets in value order: `*it` starts at 0; returns 0
 * at the end, else 1 with the bucket's representative value and count. */
int shop_hist_next(const shop_hist *h, int *it, int64_t *value, int64_t *count);

#endif
