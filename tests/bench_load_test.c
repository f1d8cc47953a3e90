/* The open-loop load generator issues exactly rate x duration requests,
 * books every outcome by status and by scheduled second, and measures a
 * stall from each request's scheduled start (so a slow server cannot hide
 * behind fewer requests). */
#include <criterion/criterion.h>
#include <stdatomic.h>

#include "base/clock.h"
#include "bench/harness/shop_load.h"

/* Every fourth request is UNAVAILABLE; the rest are accepted as order seq+1. */
static int quick_fn(void *ctx, int client, uint64_t seq, int64_t deadline_ms, int64_t *order_id)
{
    (void)ctx;
    (void)client;
    if (deadline_ms <= 0)
        return 3; /* no assertions off the test's thread: the counts catch it */
    if (seq % 4 == 0)
        return 14;
    *order_id = (int64_t)seq + 1;
    return 0;
}

static int slow_fn(void *ctx, int client, uint64_t seq, int64_t deadline_ms, int64_t *order_id)
{
    (void)client;
    (void)seq;
    (void)deadline_ms;
    atomic_fetch_add((atomic_int *)ctx, 1);
    shop_sleep_ms(100);
    *order_id = 1;
    return 0;
}

static atomic_int progress_calls, progress_bad;

static void on_progress(void *ctx, const shop_load_progress *p)
{
    (void)ctx;
    if (p->ok + p->failed != p->done)
        atomic_fetch_add(&progress_bad, 1);
    atomic_fetch_add(&progress_calls, 1);
}

Test(bench_load, issues_rate_times_duration_requests_and_books_every_outcome)
{
    shop_load_config cfg = {.rate = 400,
                            .duration_ms = 1500,
                            .clients = 4,
                            .deadline_ms = 1000,
                            .fn = quick_fn,
                            .progress = on_progress};
    shop_load_result r;
    shop_error err = {0};
    cr_assert_eq(shop_load_run(&cfg, &r, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(r.offered, 600);
    cr_assert_eq(r.by_code[14], 150);
    cr_assert_eq(r.ok, 450);
    cr_assert_eq(r.failed, 150);
    cr_assert_eq(r.n_acked, 450);
    cr_assert_eq(r.latency_all->count, 600);
    cr_assert_eq(r.n_seconds, 2);
    cr_assert_eq(r.seconds[0].offered, 400);
    cr_assert_eq(r.seconds[1].offered, 200);
    cr_assert_eq(r.seconds[0].by_code[0] + r.seconds[0].by_code[14], 400);
    /* Open loop paces by the clock: it cannot finish before the schedule. */
    cr_assert_geq(r.elapsed_ms, 1490);
    cr_assert_geq(atomic_load(&progress_calls), 1);
    cr_assert_eq(atomic_load(&progress_bad), 0);
    shop_load_result_free(&r);
}

Test(bench_load, a_slow_server_shows_as_latency_from_the_scheduled_start)
{
    atomic_int calls = 0;
    /* One client, 100 ms per call, 20 requests due in one second: request k
     * cannot start before k x 100 ms, so it has waited k x 50 ms past due. */
    shop_load_config cfg = {.rate = 20,
                            .duration_ms = 1000,
                            .clients = 1,
                            .deadline_ms = 60000,
                            .fn = slow_fn,
                            .ctx = &calls};
    shop_load_result r;
    shop_error err = {0};
    cr_assert_eq(shop_load_run(&cfg, &r, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(r.ok, 20);
    cr_assert_geq(r.latency_all->max, 19 * 50000 + 100000, "max %lld us",
                  (long long)r.latency_all->max);
    cr_assert_geq(shop_hist_percentile(r.latency_all, 50), 9 * 50000);
    shop_load_result_free(&r);
}

Test(bench_load, requests_that_wait_past_their_deadline_fail_without_a_call)
{
    atomic_int calls = 0;
    shop_load_config cfg = {.rate = 50,
                            .duration_ms = 1000,
                            .clients = 1,
                            .deadline_ms = 250,
                            .fn = slow_fn,
                            .ctx = &calls};
    shop_load_result r;
    shop_error err = {0};
    cr_assert_eq(shop_load_run(&cfg, &r, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(r.offered, 50);
    cr_assert_gt(r.by_code[4], 0, "some requests expired in the backlog");
    cr_assert_eq(r.ok + r.by_code[4], 50);
    cr_assert_eq(atomic_load(&calls), r.ok, "expired requests were never sent");
    shop_load_result_free(&r);
}

Test(bench_load, a_bad_configuration_is_refused_with_a_reason)
{
    shop_load_config cfg = {
        .rate = 0, .duration_ms = 1000, .clients = 1, .deadline_ms = 100, .fn = quick_fn};
    shop_load_result r;
    shop_error err = {0};
    cr_assert_eq(shop_load_run(&cfg, &r, &err), RPC_INVALID_ARGUMENT);
    cr_assert_not_null(strstr(err.message, "rate"), "%s", err.message);
    cfg.rate = 10;
    cfg.clients = 0;
    cr_assert_eq(shop_load_run(&cfg, &r, &err), RPC_INVALID_ARGUMENT);
    cr_assert_not_null(strstr(err.message, "clients"), "%s", err.message);
}

static atomic_int followups, followups_of_failed;

/* The bench's PayOrder: 30 ms after each accepted request. */
static void slow_followup(void *ctx, int client, uint64_t seq, int64_t order_id)
{
    (void)ctx;
    (void)client;
    if (seq % 4 == 0 || order_id != (int64_t)seq + 1)
        atomic_fetch_add(&followups_of_failed, 1);
    atomic_fetch_add(&followups, 1);
    shop_sleep_ms(30);
}

Test(bench_load, a_followup_runs_once_per_accepted_request_outside_its_latency)
{
    shop_load_config cfg = {.rate = 100,
                            .duration_ms = 400,
                            .clients = 8,
                            .deadline_ms = 1000,
                            .fn = quick_fn,
                            .followup = slow_followup};
    shop_load_result r;
    shop_error err = {0};
    cr_assert_eq(shop_load_run(&cfg, &r, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(r.offered, 40);
    cr_assert_eq(atomic_load(&followups), 30, "one per accepted request");
    cr_assert_eq(atomic_load(&followups_of_failed), 0);
    /* quick_fn answers at once: the followup's 30 ms is not in the latency */
    cr_assert_lt(shop_hist_percentile(r.latency_ok, 50.0), 30000);
    shop_load_result_free(&r);
}
