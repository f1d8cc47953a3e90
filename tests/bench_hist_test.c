/* The latency histogram reports every percentile within its stated relative
 * error bound, keeps exact extremes, and merges like one big histogram. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "base/hist.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The exact percentile by the same definition: the value at rank ceil(q*n). */
static int64_t exact_percentile(const int64_t *sorted, size_t n, double q)
{
    size_t rank = (size_t)ceil(q / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

/* Values spread log-uniformly from 1 us to ~100 s, like real latencies. */
static int64_t log_uniform(unsigned *seed)
{
    double e = (double)rand_r(seed) / RAND_MAX * 8.0;
    return (int64_t)pow(10.0, e);
}

Test(bench_hist, every_percentile_is_within_the_relative_error_bound)
{
    enum { N = 200000 };
    shop_hist *h = malloc(sizeof *h);
    int64_t *vals = malloc(N * sizeof *vals);
    shop_hist_reset(h);
    unsigned seed = 7;
    for (size_t i = 0; i < N; i++) {
        vals[i] = log_uniform(&seed);
        shop_hist_record(h, vals[i]);
    }
    qsort(vals, N, sizeof *vals, cmp_i64);
    for (double q = 0.1; q < 100.0; q += 0.1) {
        int64_t want = exact_percentile(vals, N, q);
        int64_t got = shop_hist_percentile(h, q);
        double err = fabs((double)(got - want));
        cr_assert_leq(err, (double)want * SHOP_HIST_REL_ERROR,
                      "p%.1f: got %lld want %lld (error %.5f > bound %.5f)", q, (long long)got,
                      (long long)want, err / (double)want, SHOP_HIST_REL_ERROR);
    }
    free(vals);
    free(h);
}

Test(bench_hist, small_values_are_recorded_exactly)
{
    shop_hist *h = malloc(sizeof *h);
    shop_hist_reset(h);
    for (int64_t v = 0; v < 256; v++)
        shop_hist_record(h, v);
    for (int64_t v = 0; v < 256; v++)
        cr_assert_eq(shop_hist_percentile(h, (double)(v + 1) * 100.0 / 256.0), v);
    free(h);
}

Test(bench_hist, min_max_count_and_mean_are_exact)
{
    shop_hist *h = malloc(sizeof *h);
    shop_hist_reset(h);
    cr_assert_eq(shop_hist_percentile(h, 50), 0, "an empty histogram reports 0");
    shop_hist_record(h, 123457);
    shop_hist_record(h, 999999937);
    shop_hist_record(h, 1000);
    cr_assert_eq(h->count, 3);
    cr_assert_eq(h->min, 1000);
    cr_assert_eq(h->max, 999999937);
    cr_assert_eq(shop_hist_percentile(h, 100), 999999937);
    cr_assert_eq(shop_hist_percentile(h, 0), 1000);
    cr_assert_float_eq(shop_hist_mean(h), (123457.0 + 999999937.0 + 1000.0) / 3, 1e-6);
    free(h);
}

Test(bench_hist, merging_equals_recording_everything_into_one)
{
    shop_hist *a = malloc(sizeof *a), *b = malloc(sizeof *b), *all = malloc(sizeof *all);
    shop_hist_reset(a);
    shop_hist_reset(b);
    shop_hist_reset(all);
    unsigned seed = 11;
    for (int i = 0; i < 50000; i++) {
        int64_t v = log_uniform(&seed);
        shop_hist_record(i % 3 ? a : b, v);
        shop_hist_record(all, v);
    }
    shop_hist_merge(a, b);
    cr_assert_eq(a->count, all->count);
    cr_assert_eq(a->min, all->min);
    cr_assert_eq(a->max, all->max);
    for (double q = 1; q <= 100; q += 1)
        cr_assert_eq(shop_hist_percentile(a, q), shop_hist_percentile(all, q));
    free(a);
    free(b);
    free(all);
}

Test(bench_hist, huge_and_negative_values_are_clamped_not_crashing)
{
    shop_hist *h = malloc(sizeof *h);
    shop_hist_reset(h);
    shop_hist_record(h, -5);
    shop_hist_record(h, INT64_MAX);
    cr_assert_eq(h->count, 2);
    cr_assert_eq(h->min, 0);
    cr_assert_eq(h->max, (INT64_C(1) << SHOP_HIST_MAX_BITS) - 1);
    free(h);
}
