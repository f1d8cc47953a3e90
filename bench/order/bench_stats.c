/* Latency samples and percentiles, on the project's histogram. */
#include "bench/order/bench_stats.h"

#include <stdlib.h>
#include <string.h>

static int ensure_hist(bench_samples *s)
{
    if (s->hist != NULL)
        return 0;
    if ((s->hist = malloc(sizeof *s->hist)) == NULL)
        return -1;
    shop_hist_reset(s->hist);
    return 0;
}

void bench_samples_add(bench_samples *s, int64_t us)
{
    if (ensure_hist(s) != 0)
        return; /* drop the sample rather than the run */
    shop_hist_record(s->hist, us);
}

void bench_samples_merge(bench_samples *into, const bench_samples *from)
{
    if (from->hist != NULL && ensure_hist(into) == 0)
        shop_hist_merge(into->hist, from->hist);
    into->errors += from->errors;
    for (int i = 0; i < 17; i++)
        into->by_status[i] += from->by_status[i];
}

int64_t bench_samples_count(const bench_samples *s)
{
    return s->hist != NULL ? s->hist->count : 0;
}

int64_t bench_samples_pct(const bench_samples *s, double p)
{
    if (bench_samples_count(s) == 0)
        return 0;
    return p >= 100.0 ? s->hist->max : shop_hist_percentile(s->hist, p);
}

void bench_samples_free(bench_samples *s)
{
    free(s->hist);
    memset(s, 0, sizeof *s);
}
