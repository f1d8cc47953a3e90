/* Log-linear latency histogram. A value v below 2^(SUB_BITS+1) has its own
 * bucket; above, v's top SUB_BITS+1 bits select the bucket, so a bucket's
 * width is at most 2^-SUB_BITS of its lower bound and its midpoint is within
 * 2^-(SUB_BITS+1) of every value in it. */
#include "base/hist.h"

#include <math.h>
#include <string.h>

#define SUB_COUNT (1 << SHOP_HIST_SUB_BITS)
#define MAX_VALUE ((INT64_C(1) << SHOP_HIST_MAX_BITS) - 1)

static int msb_of(uint64_t v)
{
    return 63 - __builtin_clzll(v);
}

static int bucket_of(int64_t v)
{
    if (v < 2 * SUB_COUNT)
        return (int)v;
    int m = msb_of((uint64_t)v);
    int shift = m - SHOP_HIST_SUB_BITS;
    return (shift + 1) * SUB_COUNT + (int)((v >> shift) - SUB_COUNT);
}

/* The bucket's lower bound and width. */
static void bucket_range(int idx, int64_t *lower, int64_t *width)
{
    if (idx < 2 * SUB_COUNT) {
        *lower = idx;
        *width = 1;
        return;
    }
    int shift = idx / SUB_COUNT - 1;
    int64_t top = (int64_t)(idx % SUB_COUNT) + SUB_COUNT;
    *lower = top << shift;
    *width = INT64_C(1) << shift;
}

static int64_t bucket_value(int idx)
{
    int64_t lower, width;
    bucket_range(idx, &lower, &width);
    return lower + width / 2;
}

void shop_hist_reset(shop_hist *h)
{
    memset(h, 0, sizeof *h);
}

void shop_hist_record(shop_hist *h, int64_t value)
{
    if (value < 0)
        value = 0;
    if (value > MAX_VALUE)
        value = MAX_VALUE;
    if (h->count == 0 || value < h->min)
        h->min = value;
    if (h->count == 0 || value > h->max)
        h->max = value;
    h->count++;
    h->sum += (double)value;
    h->buckets[bucket_of(value)]++;
}

void shop_hist_merge(shop_hist *dst, const shop_hist *src)
{
    if (src->count == 0)
        return;
    if (dst->count == 0 || src->min < dst->min)
        dst->min = src->min;
    if (dst->count == 0 || src->max > dst->max)
        dst->max = src->max;
    dst->count += src->count;
    dst->sum += src->sum;
    for (int i = 0; i < SHOP_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
}

int64_t shop_hist_percentile(const shop_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q <= 0)
        return h->min;
    if (q >= 100)
        return h->max;
    int64_t rank = (int64_t)ceil((q / 100.0) * (double)h->count);
    if (rank < 1)
        rank = 1;
    int64_t seen = 0;
    for (int i = 0; i < SHOP_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            int64_t v = bucket_value(i);
            /* The exact extremes are known: never report beyond them. */
            if (v < h->min)
                v = h->min;
            if (v > h->max)
                v = h->max;
            return v;
        }
    }
    return h->max;
}

double shop_hist_mean(const shop_hist *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}

int shop_hist_next(const shop_hist *h, int *it, int64_t *value, int64_t *count)
{
    while (*it < SHOP_HIST_BUCKETS) {
        int i = (*it)++;
        if (h->buckets[i]) {
            *value = bucket_value(i);
            *count = h->buckets[i];
            return 1;
        }
    }
    return 0;
}
