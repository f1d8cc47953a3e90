/* The async order flow with real processes: confirm then pay, a member
 * rejecting, unpaid orders closed by the delayed timeout, pay racing it. */
#include "async_world.h"

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

    char msg[256];
    cr_assert_eq(order_async_pay(NULL, w.conn[AW_ORDER], id, &o, msg, sizeof msg), RPC_OK, "%s",
                 msg);
    o = aw_get(&w, id);
    cr_assert_eq(o.status, ORDER_PAID);
    cr_assert(o.paid_us >= o.confirmed_us);
    aw_down(&w);
}
