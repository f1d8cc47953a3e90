/* The async architecture under failures, with real processes: a member
 * service down while orders keep coming, the broker down, and a consumer
 * killed between its commit and its ack. */
#include "tests/async_world.h"

TestSuite(async_outage, .fini = aw_fini);

static int64_t confirmed(aw *w)
{
    return aw_i64(w->conn[AW_ORDER], "SELECT count(*) FROM orders WHERE status = 'CONFIRMED'", 0);
}

Test(async_outage, orders_placed_while_coupon_is_down_are_all_accepted_and_confirmed_after_restart)
{
    enum { N = 500 };
    aw w = {0};
    aw_up(&w, "aout_coupon", 30 * 60 * 1000, 1000, N);
    cr_assert_eq(ts_stop(&w.svc[AW_COUPON], SIGKILL, 5000), 128 + SIGKILL);
    int64_t t0 = shop_now_ms();
    for (int s = 0; s < 10; s++) { /* 50 orders a second for 10 s */
        for (int i = 0; i < N / 10; i++) {
            int u = s * (N / 10) + i + 1;
            aw_place(&w, u, u % 10 + 1, 1, u);
        }
        int64_t next = t0 + (s + 1) * 1000;
        while (shop_now_ms() < next)
            shop_sleep_ms(5);
    }
    cr_assert_eq(aw_i64(w.conn[AW_ORDER], "SELECT count(*) FROM orders", 0), N);
    cr_assert_eq(confirmed(&w), 0, "confirmed without the coupon service");
    /* stock kept up meanwhile */
    cr_assert_eq(aw_wait_i64(w.conn[AW_STOCK], "SELECT count(*) FROM stock_log", NULL, N, 15000),
                 N);
    int64_t back = shop_now_ms();
    aw_start(&w, AW_COUPON);
    cr_assert_eq(aw_wait_i64(w.conn[AW_ORDER],
                             "SELECT count(*) FROM orders WHERE status = 'CONFIRMED'", NULL, N,
                             30000),
                 N, "not all orders confirmed after the restart");
    fprintf(stderr, "coupon down 10 s, %d orders accepted; consistent %lld ms after restart\n", N,
            (long long)(shop_now_ms() - back));
    cr_assert_eq(aw_i64(w.conn[AW_COUPON], "SELECT count(*) FROM coupons WHERE status = 'USED'", 0),
                 N);
    cr_assert_eq(aw_i64(w.conn[AW_STOCK], "SELECT sum(stock) FROM goods", 0), 10 * 1000 - N);
    aw_down(&w);
}

Test(async_outage, orders_are_accepted_while_the_broker_is_down_and_the_relay_catches_up)
{
    enum { N = 50 };
    aw w = {0};
    aw_up(&w, "aout_broker", 30 * 60 * 1000, 100, N);
    cr_assert_eq(ts_stop(&w.broker, SIGKILL, 5000), 128 + SIGKILL);
    for (int i = 0; i < N; i++)
        aw_place(&w, i + 1, i % 10 + 1, 1, i + 1);
    shop_sleep_ms(500);
    cr_assert_geq(svc_outbox_backlog(w.conn[AW_ORDER]), N, "published with the broker down?");
    aw_start_broker(&w);
    cr_assert_eq(aw_wait_i64(w.conn[AW_ORDER],
                             "SELECT count(*) FROM orders WHERE status = 'CONFIRMED'", NULL, N,
                             30000),
                 N);
    cr_assert_eq(aw_wait_i64(w.conn[AW_ORDER],
                             "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                             " AND delay_ms = 0",
                             NULL, 0, 5000),
                 0);
    cr_assert_eq(aw_i64(w.conn[AW_STOCK], "SELECT sum(stock) FROM goods", 0), 1000 - N);
    aw_down(&w);
}

Test(async_outage, a_consumer_killed_between_commit_and_ack_deducts_once)
{
    enum { N = 20 };
    aw w = {0};
    w.flags[AW_STOCK][0] = "--crash-after-commits";
    w.flags[AW_STOCK][1] = "5";
    aw_up(&w, "aout_crash", 30 * 60 * 1000, 100, N);
    for (int i = 0; i < N; i++)
        aw_place(&w, i + 1, i % 10 + 1, 3, i + 1);
    cr_assert_eq(ts_stop(&w.svc[AW_STOCK], 0, 15000), 99, "the crash switch did not fire");
    int64_t committed = aw_i64(w.conn[AW_STOCK], "SELECT count(*) FROM stock_log", 0);
    cr_assert_geq(committed, 5);
    w.flags[AW_STOCK][0] = NULL;
    aw_start(&w, AW_STOCK);
    cr_assert_eq(aw_wait_i64(w.conn[AW_ORDER],
                             "SELECT count(*) FROM orders WHERE status = 'CONFIRMED'", NULL, N,
                             30000),
                 N);
    cr_assert_eq(aw_i64(w.conn[AW_STOCK], "SELECT count(*) FROM stock_log", 0), N);
    cr_assert_eq(aw_i64(w.conn[AW_STOCK], "SELECT count(*) FROM outbox", 0), N);
    cr_assert_eq(aw_i64(w.conn[AW_STOCK], "SELECT sum(stock) FROM goods", 0), 1000 - 3 * N);
    aw_down(&w);
}

Test(async_outage, orders_keep_flowing_while_the_delay_queue_is_down_and_timeouts_follow_later)
{
    enum { N = 300 }; /* more than one relay batch of delayed rows */
    aw w = {0};
    aw_up(&w, "aout_delayd", 30 * 60 * 1000, 100, N);
    cr_assert_eq(ts_stop(&w.delayd, SIGKILL, 5000), 128 + SIGKILL);
    for (int i = 0; i < N; i++)
        aw_place(&w, i + 1, i % 10 + 1, 1, i + 1);
    cr_assert_eq(aw_wait_i64(w.conn[AW_ORDER],
                             "SELECT count(*) FROM orders WHERE status = 'CONFIRMED'", NULL, N,
                             30000),
                 N, "the timeouts held up the order.placed events");
    cr_assert_eq(aw_i64(w.conn[AW_ORDER],
                        "SELECT count(*) FROM outbox WHERE published_at IS NULL AND delay_ms > 0",
                        0),
                 N);
    aw_start_delayd(&w);
    cr_assert_eq(aw_wait_i64(w.conn[AW_ORDER],
                             "SELECT count(*) FROM outbox WHERE published_at IS NULL", NULL, 0,
                             15000),
                 0, "the relay did not catch up with the delay queue");
    mq_delay_client *dc = NULL;
    mq_delay_stats s;
    shop_error msg = {0};
    cr_assert_eq(mq_delay_client_open(w.delay_url, 2000, &dc, &msg), RPC_OK, "%s", msg.message);
    cr_assert_eq(mq_delay_get_stats(dc, &s, &msg), RPC_OK, "%s", msg.message);
    cr_assert_eq(s.pending, N, "every order's timeout waits in mq-delayd");
    mq_delay_stats_free(&s);
    mq_delay_client_close(dc);
    aw_down(&w);
}
