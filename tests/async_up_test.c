/* `shopflow up --arch async` as a user runs it: PostgreSQL, mq-broker,
 * mq-delayd and the three daemons; an order placed on the printed address is
 * accepted PENDING, becomes CONFIRMED, is paid; SIGTERM stops everything. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "services/pg/shop_pg.h"
#include "shop_order.rpc.h"
#include "tests/support/testsupport.h"

static int printed_ready(void *arg)
{
    return ts_log_has(arg, "arch=async ready");
}

static Shop__Order__Order *get(rpc_channel *ch, int64_t id)
{
    Shop__Order__GetOrderRequest rq = SHOP__ORDER__GET_ORDER_REQUEST__INIT;
    rq.order_id = id;
    Shop__Order__GetOrderReply *rp = NULL;
    rpc_error err = {0};
    rpc_call_opts o = {.wait_for_ready = true, .timeout_ms = 5000};
    cr_assert_eq(shop_order_OrderService_GetOrder(ch, &rq, &rp, &o, &err), RPC_OK, "%s",
                 err.message);
    Shop__Order__Order *order = rp->order;
    rp->order = NULL;
    shop__order__get_order_reply__free_unpacked(rp, NULL);
    return order;
}

Test(async_up, shopflow_up_async_confirms_orders_through_the_broker_and_stops_on_sigterm)
{
    ts_pg_up();
    ts_proc p;
    char *argv[] = {"shopflow",    "up",      "--arch",      "async",   "--goods",
                    "3",           "--stock", "5",           "--users", "3",
                    "--port-base", "0",       "--db-prefix", "t_aup_",  NULL};
    cr_assert_eq(ts_spawn(&p, argv), 0);
    if (ts_wait_until(&p, printed_ready, &p, 30000) != 0) {
        ts_dump_log(&p);
        cr_assert_fail("shopflow up --arch async did not get ready");
    }
    char url[128], broker[128], delayd[128];
    ts_printed_url(&p, "order", url, sizeof url);
    ts_printed_url(&p, "broker", broker, sizeof broker);
    ts_printed_url(&p, "delayd", delayd, sizeof delayd);
    cr_assert(url[0] != '\0' && broker[0] != '\0' && delayd[0] != '\0');

    rpc_channel *ch = NULL;
    rpc_error err = {0};
    cr_assert_eq(rpc_channel_open(&ch, url, NULL, &err), RPC_OK, "%s", err.message);
    Shop__Order__PlaceOrderRequest rq = SHOP__ORDER__PLACE_ORDER_REQUEST__INIT;
    rq.request_id = "aup-1";
    rq.user_id = 2;
    rq.goods_id = 3;
    rq.count = 5;
    rq.coupon_id = 2;
    Shop__Order__PlaceOrderReply *rp = NULL;
    rpc_call_opts o = {.wait_for_ready = true, .timeout_ms = 5000};
    cr_assert_eq(shop_order_OrderService_PlaceOrder(ch, &rq, &rp, &o, &err), RPC_OK, "%s",
                 err.message);
    cr_assert_eq(rp->order->status, SHOP__ORDER__ORDER_STATUS__PENDING, "async answers at once");
    int64_t id = rp->order->order_id;
    shop__order__place_order_reply__free_unpacked(rp, NULL);

    Shop__Order__Order *ord = get(ch, id);
    for (int64_t until = shop_now_ms() + 15000;
         ord->status != SHOP__ORDER__ORDER_STATUS__CONFIRMED && shop_now_ms() < until;) {
        shop__order__order__free_unpacked(ord, NULL);
        shop_sleep_ms(20);
        ord = get(ch, id);
    }
    cr_expect_eq(ord->status, SHOP__ORDER__ORDER_STATUS__CONFIRMED);
    cr_expect_eq(ord->amount_cents, 5 * 1999 - 300, "the default fixtures");
    shop__order__order__free_unpacked(ord, NULL);

    Shop__Order__PayOrderRequest pq = SHOP__ORDER__PAY_ORDER_REQUEST__INIT;
    pq.order_id = id;
    Shop__Order__PayOrderReply *pp = NULL;
    cr_expect_eq(shop_order_OrderService_PayOrder(ch, &pq, &pp, &o, &err), RPC_OK, "%s",
                 err.message);
    if (pp != NULL) {
        cr_expect_eq(pp->order->status, SHOP__ORDER__ORDER_STATUS__PAID);
        shop__order__pay_order_reply__free_unpacked(pp, NULL);
    }
    rpc_channel_close(ch);

    int rc = ts_stop(&p, SIGTERM, 20000);
    if (rc != 0)
        ts_dump_log(&p);
    cr_expect_eq(rc, 0, "shopflow up stops the daemons, the broker and the delay queue, exit 0");
    const char *dbs[] = {"t_aup_order_db", "t_aup_stock_db", "t_aup_coupon_db"};
    for (int i = 0; i < 3; i++) {
        shop_error e = {0};
        shop_pg_drop_database(NULL, dbs[i], &e);
    }
    char var[600], cmd[700];
    snprintf(var, sizeof var, "%s", shop_pg_var_dir());
    char *slash = strrchr(var, '/');
    if (slash != NULL)
        *slash = '\0';
    snprintf(cmd, sizeof cmd, "rm -rf '%s/stack/t_aup_mq' '%s/stack/t_aup_delayd'", var, var);
    cr_expect_eq(system(cmd), 0);
}
