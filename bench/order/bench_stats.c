/* Latency samples and percentiles. */
#include "bench_stats.h"

#include <stdlib.h>
#include <string.h>

void bench_samples_add(bench_samples *s, int64_t us)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        int64_t *p = realloc(s->us, cap * sizeof *p);
        if (p == NULL)
            return; /* drop the sample rather than the run */
        s->us = p;
        s->cap = cap;
    }
    s->us[s->n++] = us;
}

void bench_samples_merge(bench_samples *into, const bench_samples *from)
{
    for (size_t i = 0; i < from->n; i++)
        bench_samples_add(into, from->us[i]);
    into->errors += from->errors;
    for (int i = 0; i < 17; i++)
        into->by_status[i] += from->by_status[i];
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int64_t bench_samples_pct(bench_samples *s, double p)
{
    if (s->n == 0)
        return 0;
    qsort(s->us, s->n, sizeof *s->us, cmp_i64);
    size_t i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
    return s->us[i < s->n ? i : s->n - 1];
}

void bench_samples_free(bench_samples *s)
{
    free(s->us);
    memset(s, 0, sizeof *s);
}
