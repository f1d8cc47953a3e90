/* The sync architecture end to end: real shop-order, shop-stock and
 * shop-coupon processes on the private PostgreSQL, called over RPC. */
#include <pthread.h>
#include <signal.h>

#include "tests/svc_support.h"

#define PRICE 1999
#define DISCOUNT 300

Test(svc_sync, a_placed_order_is_confirmed_and_then_paid_with_its_timeline)
{
    svc_env e;
    svc_up(&e, "sync_happy", svc_opts(3, 10, 3));
    Shop__Order__PlaceOrderReply *placed = NULL;
    rpc_error err = {0};
    cr_assert_eq(svc_place(&e, "happy-1", 2, 1, 2, 2, 3000, &placed, &err), RPC_OK, "%s",
                 err.message);
    Shop__Order__Order *o = placed->order;
    cr_expect_eq(o->status, SHOP__ORDER__ORDER_STATUS__CONFIRMED);
    cr_expect_eq(o->amount_cents, 2 * PRICE - DISCOUNT);
    cr_expect_eq(svc_stock_of(&e, 1), 8);
    cr_expect_eq(svc_coupon_holder(&e, 2), o->order_id);

    Shop__Order__PayOrderRequest pq = SHOP__ORDER__PAY_ORDER_REQUEST__INIT;
    pq.order_id = o->order_id;
    Shop__Order__PayOrderReply *paid = NULL;
    cr_assert_eq(shop_order_OrderService_PayOrder(e.order, &pq, &paid, NULL, &err), RPC_OK, "%s",
                 err.message);
    cr_expect_eq(paid->order->status, SHOP__ORDER__ORDER_STATUS__PAID);
    Shop__Order__Timeline *t = paid->order->timeline;
    cr_expect_gt(t->accepted_us, 0);
    cr_expect_geq(t->stock_us, t->accepted_us);
    cr_expect_geq(t->coupon_us, t->stock_us);
    cr_expect_geq(t->confirmed_us, t->coupon_us);
    cr_expect_geq(t->paid_us, t->confirmed_us);
    cr_expect_eq(t->cancelled_us + t->closed_us, 0);
    /* Paying twice is refused; the order stays PAID. */
    Shop__Order__PayOrderReply *again = NULL;
    cr_expect_eq(shop_order_OrderService_PayOrder(e.order, &pq, &again, NULL, &err),
                 RPC_FAILED_PRECONDITION);
    shop__order__pay_order_reply__free_unpacked(paid, NULL);
    shop__order__place_order_reply__free_unpacked(placed, NULL);
    svc_down(&e);
}

Test(svc_sync, out_of_stock_fails_with_failed_precondition_and_releases_the_coupon)
{
    svc_env e;
    svc_up(&e, "sync_oos", svc_opts(2, 5, 3));
    rpc_error err = {0};
    cr_assert_eq(svc_place(&e, "oos-1", 1, 2, 6, 1, 3000, NULL, &err), RPC_FAILED_PRECONDITION,
                 "%s", err.message);
    cr_expect(strstr(err.message, "out of stock") != NULL, "%s", err.message);
    Shop__Order__GetOrderReply *g = svc_order_by_request(&e, "oos-1");
    cr_expect_eq(g->order->status, SHOP__ORDER__ORDER_STATUS__CANCELLED);
    cr_expect_eq(g->order->fail_code, RPC_FAILED_PRECONDITION);
    shop__order__get_order_reply__free_unpacked(g, NULL);
    cr_expect_eq(svc_stock_of(&e, 2), 5);
    cr_expect_eq(svc_coupon_holder(&e, 1), 0, "the coupon was never used");
    /* The same request again gets the first answer. */
    cr_expect_eq(svc_place(&e, "oos-1", 1, 2, 6, 1, 3000, NULL, &err), RPC_FAILED_PRECONDITION);
    svc_down(&e);
}

Test(svc_sync, a_reused_coupon_fails_and_the_second_orders_stock_is_restored)
{
    svc_env e;
    svc_up(&e, "sync_reuse", svc_opts(2, 10, 3));
    rpc_error err = {0};
    cr_assert_eq(svc_place(&e, "reuse-1", 3, 1, 1, 3, 3000, NULL, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(svc_place(&e, "reuse-2", 3, 1, 2, 3, 3000, NULL, &err), RPC_FAILED_PRECONDITION,
                 "%s", err.message);
    cr_expect(strstr(err.message, "already used") != NULL, "%s", err.message);
    SVC_EVENTUALLY(5000, svc_pending_compensations(&e) == 0);
    cr_expect_eq(svc_pending_compensations(&e), 0);
    cr_expect_eq(svc_stock_of(&e, 1), 9, "only the first order keeps its stock");
    svc_down(&e);
}

Test(svc_sync, with_the_coupon_service_killed_orders_fail_fast_and_heal_after_its_restart)
{
    svc_env e;
    svc_up(&e, "sync_kill", svc_opts(2, 10, 3));
    cr_assert_eq(shop_stack_kill(&e.st, "coupon"), 0);
    rpc_error err = {0};
    int64_t t0 = shop_now_ms();
    rpc_status st = svc_place(&e, "kill-1", 1, 1, 2, 1, 3000, NULL, &err);
    int64_t took = shop_now_ms() - t0;
    cr_expect_eq(st, RPC_UNAVAILABLE, "%s: %s", rpc_status_name(st), err.message);
    cr_expect_lt(took, 1000, "fails fast, took %lld ms", (long long)took);
    Shop__Order__GetOrderReply *g = svc_order_by_request(&e, "kill-1");
    cr_expect_eq(g->order->status, SHOP__ORDER__ORDER_STATUS__CANCELLED);
    shop__order__get_order_reply__free_unpacked(g, NULL);
    /* Orders without a coupon do not need the coupon service. */
    cr_expect_eq(svc_place(&e, "kill-2", 2, 2, 1, 0, 3000, NULL, &err), RPC_OK, "%s", err.message);
    /* The stock restore is delivered at once; the coupon restore waits. */
    SVC_EVENTUALLY(5000, svc_stock_of(&e, 1) == 10);
    cr_expect_eq(svc_stock_of(&e, 1), 10);
    shop_sleep_ms(300);
    cr_expect_eq(svc_pending_compensations(&e), 1, "the coupon restore is kept, not dropped");

    shop_error msg = {0};
    cr_assert_eq(shop_stack_restart(&e.st, "coupon", &msg), 0, "%s", msg.message);
    SVC_EVENTUALLY(10000, svc_pending_compensations(&e) == 0);
    cr_expect_eq(svc_pending_compensations(&e), 0, "delivered once the coupon service is back");
    cr_expect_eq(svc_coupon_holder(&e, 1), 0);
    cr_expect_eq(svc_stock_of(&e, 1), 10);
    /* The order service's channel redials the restarted coupon service in the
     * background and fails fast meanwhile: allow it a moment (a fresh
     * request id per try, since a repeated one returns its first result). */
    rpc_status placed = RPC_UNAVAILABLE;
    int64_t until = shop_now_ms() + 5000;
    for (int i = 0; placed == RPC_UNAVAILABLE && shop_now_ms() < until; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "kill-3-%d", i);
        placed = svc_place(&e, rid, 1, 1, 1, 1, 3000, NULL, &err);
        if (placed == RPC_UNAVAILABLE)
            shop_sleep_ms(100);
    }
    cr_expect_eq(placed, RPC_OK, "%s: %s", rpc_status_name(placed), err.message);
    svc_down(&e);
}

Test(svc_sync, with_the_stock_service_paused_orders_fail_within_their_deadline)
{
    svc_env e;
    svc_up(&e, "sync_pause", svc_opts(2, 10, 3));
    cr_assert_eq(shop_stack_pause(&e.st, "stock"), 0);
    rpc_error err = {0};
    int64_t t0 = shop_now_ms();
    rpc_status st = svc_place(&e, "pause-1", 1, 1, 3, 0, 500, NULL, &err);
    int64_t took = shop_now_ms() - t0;
    cr_expect_eq(st, RPC_DEADLINE_EXCEEDED, "%s: %s", rpc_status_name(st), err.message);
    cr_expect_lt(took, 500 + 250, "took %lld ms for a 500 ms deadline", (long long)took);
    /* The order service's own deadline may end a little later than the
     * client's (transit time): resume only once it has surely given up. */
    shop_sleep_ms(300);
    cr_assert_eq(shop_stack_resume(&e.st, "stock"), 0);
    SVC_EVENTUALLY(3000, svc_order_status(&e, "pause-1") == SHOP__ORDER__ORDER_STATUS__CANCELLED);
    cr_expect_eq(svc_order_status(&e, "pause-1"), SHOP__ORDER__ORDER_STATUS__CANCELLED);
    /* Whether or not the late deduct ran, the restore leaves stock whole. */
    SVC_EVENTUALLY(5000, svc_pending_compensations(&e) == 0);
    cr_expect_eq(svc_pending_compensations(&e), 0);
    cr_expect_eq(svc_stock_of(&e, 1), 10);
    svc_down(&e);
}

struct buyer {
    svc_env *e;
    int i;
    rpc_status st;
};

static void *buy_one(void *arg)
{
    struct buyer *b = arg;
    char rid[32];
    snprintf(rid, sizeof rid, "race-%d", b->i);
    rpc_error err = {0};
    b->st = svc_place(b->e, rid, b->i + 1, 1, 1, 0, 10000, NULL, &err);
    return NULL;
}

Test(svc_sync, fifty_concurrent_orders_for_the_last_ten_units_sell_exactly_ten)
{
    svc_env e;
    svc_up(&e, "sync_race", svc_opts(1, 10, 50));
    enum { N = 50 };
    struct buyer b[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        b[i] = (struct buyer){&e, i, RPC_UNKNOWN};
        cr_assert_eq(pthread_create(&th[i], NULL, buy_one, &b[i]), 0);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += b[i].st == RPC_OK;
        refused += b[i].st == RPC_FAILED_PRECONDITION;
    }
    cr_expect_eq(ok, 10);
    cr_expect_eq(refused, 40);
    cr_expect_eq(svc_stock_of(&e, 1), 0);
    cr_expect_eq(svc_order_db_int(&e, "SELECT count(*) FROM orders WHERE status = 'CONFIRMED'"),
                 10);
    svc_down(&e);
}

Test(svc_sync, duplicate_requests_and_member_calls_change_state_once)
{
    svc_env e;
    svc_up(&e, "sync_dup", svc_opts(2, 10, 3));
    Shop__Order__PlaceOrderReply *a = NULL, *b = NULL;
    rpc_error err = {0};
    cr_assert_eq(svc_place(&e, "dup-1", 1, 1, 2, 1, 3000, &a, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(svc_place(&e, "dup-1", 1, 1, 2, 1, 3000, &b, &err), RPC_OK, "%s", err.message);
    cr_expect_eq(b->duplicate, 1);
    cr_expect_eq(b->order->order_id, a->order->order_id);
    cr_expect_eq(svc_stock_of(&e, 1), 8);

    /* Member calls repeated for one order (as a retrying client would). */
    Shop__Stock__DeductRequest dq = SHOP__STOCK__DEDUCT_REQUEST__INIT;
    dq.order_id = 9001;
    dq.goods_id = 2;
    dq.count = 3;
    for (int i = 0; i < 3; i++) {
        Shop__Stock__DeductReply *dr = NULL;
        cr_assert_eq(shop_stock_StockService_Deduct(e.stock, &dq, &dr, NULL, &err), RPC_OK, "%s",
                     err.message);
        cr_expect_eq(dr->duplicate, i > 0);
        shop__stock__deduct_reply__free_unpacked(dr, NULL);
    }
    cr_expect_eq(svc_stock_of(&e, 2), 7);
    Shop__Stock__RestoreRequest rq = SHOP__STOCK__RESTORE_REQUEST__INIT;
    rq.order_id = 9001;
    rq.goods_id = 2;
    rq.count = 3;
    for (int i = 0; i < 3; i++) {
        Shop__Stock__RestoreReply *rr = NULL;
        cr_assert_eq(shop_stock_StockService_Restore(e.stock, &rq, &rr, NULL, &err), RPC_OK, "%s",
                     err.message);
        cr_expect_eq(rr->restored, 1);
        shop__stock__restore_reply__free_unpacked(rr, NULL);
    }
    cr_expect_eq(svc_stock_of(&e, 2), 10);
    Shop__Coupon__UseRequest uq = SHOP__COUPON__USE_REQUEST__INIT;
    uq.order_id = 9002;
    uq.coupon_id = 3;
    uq.user_id = 3;
    for (int i = 0; i < 2; i++) {
        Shop__Coupon__UseReply *ur = NULL;
        cr_assert_eq(shop_coupon_CouponService_Use(e.coupon, &uq, &ur, NULL, &err), RPC_OK, "%s",
                     err.message);
        cr_expect_eq(ur->duplicate, i > 0);
        shop__coupon__use_reply__free_unpacked(ur, NULL);
    }
    cr_expect_eq(svc_coupon_holder(&e, 3), 9002);
    /* A restore for an order that never deducted changes nothing. */
    rq.order_id = 9003;
    Shop__Stock__RestoreReply *rr = NULL;
    cr_assert_eq(shop_stock_StockService_Restore(e.stock, &rq, &rr, NULL, &err), RPC_OK);
    cr_expect_eq(rr->restored, 0);
    shop__stock__restore_reply__free_unpacked(rr, NULL);
    cr_expect_eq(svc_stock_of(&e, 2), 10);
    shop__order__place_order_reply__free_unpacked(a, NULL);
    shop__order__place_order_reply__free_unpacked(b, NULL);
    svc_down(&e);
}

struct payer {
    svc_env *e;
    int64_t first;
    int n;
    int paid;
};

static void *pay_all(void *arg)
{
    struct payer *p = arg;
    for (int i = 0; i < p->n; i++) {
        Shop__Order__PayOrderRequest pq = SHOP__ORDER__PAY_ORDER_REQUEST__INIT;
        pq.order_id = p->first + i;
        Shop__Order__PayOrderReply *rp = NULL;
        rpc_error err = {0};
        if (shop_order_OrderService_PayOrder(p->e->order, &pq, &rp, NULL, &err) == RPC_OK) {
            p->paid++;
            shop__order__pay_order_reply__free_unpacked(rp, NULL);
        }
        shop_sleep_ms(5);
    }
    return NULL;
}

Test(svc_sync, pay_racing_the_close_scan_lets_exactly_one_win_and_keeps_stock_consistent)
{
    svc_env e;
    shop_stack_opts o = svc_opts(1, 100, 40);
    o.pay_window_ms = 800;
    o.close_interval_ms = 20;
    svc_up(&e, "sync_close", o);
    enum { N = 40 };
    int64_t first = 0;
    rpc_error err = {0};
    for (int i = 0; i < N; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "close-%d", i);
        Shop__Order__PlaceOrderReply *r = NULL;
        cr_assert_eq(svc_place(&e, rid, i + 1, 1, 1, i + 1, 3000, &r, &err), RPC_OK, "%s",
                     err.message);
        if (i == 0)
            first = r->order->order_id;
        shop__order__place_order_reply__free_unpacked(r, NULL);
    }
    /* Pay them one by one while their windows run out under the scan. */
    shop_sleep_ms(600);
    struct payer p = {&e, first, N, 0};
    pay_all(&p);
    SVC_EVENTUALLY(5000, svc_order_db_int(&e, "SELECT count(*) FROM orders WHERE status IN "
                                              "('PENDING', 'CONFIRMED')") == 0 &&
                             svc_pending_compensations(&e) == 0);
    int64_t paid = svc_order_db_int(&e, "SELECT count(*) FROM orders WHERE status = 'PAID'");
    int64_t closed = svc_order_db_int(&e, "SELECT count(*) FROM orders WHERE status = 'CLOSED'");
    cr_expect_eq(paid + closed, N, "paid %lld closed %lld", (long long)paid, (long long)closed);
    cr_expect_eq(paid, p.paid, "every OK from PayOrder left its order PAID");
    cr_expect_eq(svc_pending_compensations(&e), 0);
    cr_expect_eq(svc_stock_of(&e, 1), 100 - paid, "closed orders gave their stock back");
    for (int i = 0; i < N; i++) {
        int64_t holder = svc_coupon_holder(&e, i + 1);
        cr_expect(holder == 0 || holder == first + i, "coupon %d held by %lld", i + 1,
                  (long long)holder);
    }
    cr_expect_eq(svc_order_db_int(&e, "SELECT count(*) FROM orders WHERE paid_at IS NOT NULL"
                                      " AND closed_at IS NOT NULL"),
                 0);
    svc_down(&e);
}
