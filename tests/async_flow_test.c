/* The async order flow with real processes: confirm then pay, a member
 * rejecting, unpaid orders closed by the delayed timeout, pay racing it. */
#include "tests/async_world.h"

TestSuite(async_flow, .fini = aw_fini);

Test(async_flow, an_order_is_confirmed_by_both_members_and_then_paid)
{
    aw w = {0};
    aw_up(&w, "aflow_happy", 30000, 100, 10);
    int64_t id = aw_place(&w, 3, 2, 4, 3);
    shop_order o = aw_wait_status(&w, id, ORDER_CONFIRMED, 15000);
    cr_assert_eq(aw_stock(&w, 2), 96);
    coupon_info c = aw_coupon(&w, 3);
    cr_assert(c.used);
    cr_assert_eq(c.order_id, id);
    cr_assert_eq(o.amount_cents, 4 * 1000 - 250);
    cr_assert(o.accepted_us > 0 && o.stock_us >= o.accepted_us && o.coupon_us >= o.accepted_us);
    cr_assert(o.confirmed_us >= o.stock_us && o.confirmed_us >= o.coupon_us);
    fprintf(stderr, "accept-to-confirm %.1f ms\n", (o.confirmed_us - o.accepted_us) / 1000.0);

    shop_error msg = {0};
    cr_assert_eq(order_async_pay(NULL, w.conn[AW_ORDER], id, &o, &msg), RPC_OK, "%s", msg.message);
    o = aw_get(&w, id);
    cr_assert_eq(o.status, ORDER_PAID);
    cr_assert(o.paid_us >= o.confirmed_us);
    aw_down(&w);
}

Test(async_flow, an_order_out_of_stock_is_cancelled_and_its_coupon_restored)
{
    aw w = {0};
    aw_up(&w, "aflow_nostock", 30000, 3, 10);
    int64_t id = aw_place(&w, 2, 1, 5, 2);
    shop_order o = aw_wait_status(&w, id, ORDER_CANCELLED, 15000);
    cr_assert(strstr(o.reason, "stock") != NULL, "reason: %s", o.reason);
    cr_assert(o.cancelled_us >= o.stock_us && o.stock_us > 0);
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)id);
    cr_assert_eq(aw_wait_i64(w.conn[AW_COUPON],
                             "SELECT count(*) FROM coupon_log WHERE order_id = $1::bigint"
                             " AND op = 'RESTORE'",
                             key, 1, 15000),
                 1, "the coupon was never restored");
    cr_assert_not(aw_coupon(&w, 2).used);
    cr_assert_eq(aw_stock(&w, 1), 3);
    aw_down(&w);
}

Test(async_flow, unpaid_orders_are_closed_after_the_window_with_stock_and_coupon_restored)
{
    aw w = {0};
    aw_up(&w, "aflow_close", 1500, 100, 10);
    int64_t ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = aw_place(&w, i + 1, 1, 2, i + 1);
    for (int i = 0; i < 3; i++)
        aw_wait_status(&w, ids[i], ORDER_CONFIRMED, 15000);
    cr_assert_eq(aw_stock(&w, 1), 94);
    for (int i = 0; i < 3; i++) {
        shop_order o = aw_wait_status(&w, ids[i], ORDER_CLOSED, 15000);
        cr_assert(o.closed_us >= o.pay_by_us, "closed before the pay window ended");
    }
    cr_assert_eq(aw_wait_i64(w.conn[AW_STOCK], "SELECT stock FROM goods WHERE goods_id = 1", NULL,
                             100, 15000),
                 100);
    cr_assert_eq(aw_wait_i64(w.conn[AW_COUPON],
                             "SELECT count(*) FROM coupons WHERE status = 'USED'", NULL, 0, 15000),
                 0);
    aw_down(&w);
}

Test(async_flow, pay_racing_the_timeout_has_exactly_one_winner_per_order)
{
    enum { N = 40 };
    aw w = {0};
    aw_up(&w, "aflow_race", 2000, 100, N);
    int64_t ids[N];
    int paid_ok[N] = {0};
    for (int i = 0; i < N; i++) { /* deadlines 5 ms apart, so each pay can be on time */
        ids[i] = aw_place(&w, i + 1, i % 10 + 1, 1, i + 1);
        shop_sleep_ms(5);
    }
    cr_assert_eq(aw_wait_i64(w.conn[AW_ORDER],
                             "SELECT count(*) FROM orders WHERE status = 'CONFIRMED'", NULL, N,
                             15000),
                 N);
    /* Pay every order at its own deadline: 2 ms before, at, or 2 ms after
     * it, while its timeout is due and being delivered. */
    shop_error msg = {0};
    for (int i = 0; i < N; i++) {
        shop_order o = aw_get(&w, ids[i]);
        int64_t target = o.pay_by_us + (i % 3 - 1) * 2000;
        while (svc_outbox_now_us() < target)
            shop_sleep_ms(0);
        paid_ok[i] = order_async_pay(NULL, w.conn[AW_ORDER], ids[i], &o, &msg) == RPC_OK;
    }
    int paid = 0;
    for (int i = 0; i < N; i++) {
        shop_order o = aw_get(&w, ids[i]);
        if (paid_ok[i]) {
            cr_assert_eq(o.status, ORDER_PAID, "order %d was paid but is %s", i,
                         order_status_name(o.status));
            cr_assert(o.paid_us < o.pay_by_us);
            paid++;
        } else {
            o = aw_wait_status(&w, ids[i], ORDER_CLOSED, 15000);
        }
    }
    fprintf(stderr, "pay race: %d paid, %d closed\n", paid, N - paid);
    /* the closed ones are restored, the paid ones keep their stock and coupon */
    cr_assert_eq(
        aw_wait_i64(w.conn[AW_STOCK], "SELECT sum(stock) FROM goods", NULL, 1000 - paid, 15000),
        1000 - paid);
    cr_assert_eq(aw_wait_i64(w.conn[AW_COUPON],
                             "SELECT count(*) FROM coupons WHERE status = 'USED'", NULL, paid,
                             15000),
                 paid);
    shop_sleep_ms(500); /* a late timeout must still change nothing */
    cr_assert_eq(aw_i64(w.conn[AW_ORDER], "SELECT count(*) FROM orders WHERE status = 'PAID'", 0),
                 paid);
    aw_down(&w);
}

Test(async_flow, every_message_delivered_twice_deducts_once)
{
    enum { N = 30 };
    aw w = {0};
    for (int r = 0; r < AW_ROLES; r++) {
        w.flags[r][0] = "--dup-publish";
        w.flags[r][1] = "--dup-deliver";
    }
    aw_up(&w, "aflow_dup", 30000, 100, N);
    for (int i = 0; i < N; i++)
        aw_place(&w, i + 1, i % 10 + 1, 2, i + 1);
    cr_assert_eq(aw_wait_i64(w.conn[AW_ORDER],
                             "SELECT count(*) FROM orders WHERE status = 'CONFIRMED'", NULL, N,
                             20000),
                 N);
    shop_sleep_ms(500); /* let the duplicates drain */
    cr_assert_eq(aw_i64(w.conn[AW_STOCK], "SELECT sum(stock) FROM goods", 0), 1000 - 2 * N);
    cr_assert_eq(aw_i64(w.conn[AW_STOCK], "SELECT count(*) FROM stock_log", 0), N);
    cr_assert_eq(aw_i64(w.conn[AW_STOCK], "SELECT count(*) FROM outbox", 0), N);
    cr_assert_eq(aw_i64(w.conn[AW_COUPON], "SELECT count(*) FROM coupon_log", 0), N);
    cr_assert_eq(aw_i64(w.conn[AW_COUPON], "SELECT count(*) FROM coupons WHERE status = 'USED'", 0),
                 N);
    aw_down(&w);
}
