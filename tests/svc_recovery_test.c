/* Crash-only behaviour of the sync architecture: compensations and unfinished
 * orders survive a SIGKILL of the order service. */
#include <pthread.h>

#include "tests/svc_support.h"

Test(svc_recovery, owed_restores_survive_an_order_service_crash_and_are_delivered_later)
{
    svc_env e;
    svc_up(&e, "rec_comp", svc_opts(1, 10, 2));
    cr_assert_eq(shop_stack_kill(&e.st, "coupon"), 0);
    rpc_error err = {0};
    cr_assert_eq(svc_place(&e, "rc-1", 1, 1, 4, 1, 3000, NULL, &err), RPC_UNAVAILABLE, "%s",
                 err.message);
    SVC_EVENTUALLY(5000, svc_pending_compensations(&e) == 1);
    cr_assert_eq(svc_pending_compensations(&e), 1, "the coupon restore waits");
    cr_assert_eq(shop_stack_kill(&e.st, "order"), 0);
    shop_error msg = {0};
    cr_assert_eq(shop_stack_restart(&e.st, "coupon", &msg), 0, "%s", msg.message);
    shop_sleep_ms(300);
    cr_expect_eq(svc_pending_compensations(&e), 1, "nobody delivers while order is down");
    cr_assert_eq(shop_stack_restart(&e.st, "order", &msg), 0, "%s", msg.message);
    SVC_EVENTUALLY(10000, svc_pending_compensations(&e) == 0);
    cr_expect_eq(svc_pending_compensations(&e), 0, "delivered by the restarted order service");
    cr_expect_eq(svc_stock_of(&e, 1), 10);
    cr_expect_eq(svc_coupon_holder(&e, 1), 0);
    svc_down(&e);
}

static void *place_in_background(void *arg)
{
    svc_env *e = arg;
    rpc_error err = {0};
    svc_place(e, "rc-mid", 1, 1, 3, 1, 3000, NULL, &err);
    return NULL;
}

Test(svc_recovery, an_order_left_pending_by_a_crash_mid_flow_is_closed_and_restored)
{
    svc_env e;
    shop_stack_opts o = svc_opts(1, 10, 2);
    o.pay_window_ms = 1500;
    o.close_interval_ms = 100;
    svc_up(&e, "rec_mid", o);
    cr_assert_eq(shop_stack_pause(&e.st, "stock"), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, place_in_background, &e), 0);
    SVC_EVENTUALLY(3000, svc_order_db_int(&e, "SELECT count(*) FROM orders") == 1);
    /* The order is PENDING and its deduct is in the paused service's socket. */
    cr_assert_eq(shop_stack_kill(&e.st, "order"), 0);
    cr_assert_eq(shop_stack_resume(&e.st, "stock"), 0);
    pthread_join(th, NULL);
    SVC_EVENTUALLY(3000, svc_stock_of(&e, 1) == 7);
    cr_expect_eq(svc_stock_of(&e, 1), 7, "the orphaned deduct ran");
    shop_error msg = {0};
    cr_assert_eq(shop_stack_restart(&e.st, "order", &msg), 0, "%s", msg.message);
    SVC_EVENTUALLY(8000, svc_order_status(&e, "rc-mid") == SHOP__ORDER__ORDER_STATUS__CLOSED &&
                             svc_pending_compensations(&e) == 0);
    cr_expect_eq(svc_order_status(&e, "rc-mid"), SHOP__ORDER__ORDER_STATUS__CLOSED);
    cr_expect_eq(svc_pending_compensations(&e), 0);
    cr_expect_eq(svc_stock_of(&e, 1), 10, "the close scan gave the stock back");
    cr_expect_eq(svc_coupon_holder(&e, 1), 0);
    svc_down(&e);
}
