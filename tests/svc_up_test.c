/* `shopflow up --arch sync` as a user runs it: it prints the addresses, the
 * stack takes and pays an order over them, and SIGTERM stops everything. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "services/pg/shop_pg.h"
#include "shop_order.rpc.h"
#include "tests/support/testsupport.h"

static int printed_ready(void *arg)
{
    return ts_log_has(arg, "arch=sync ready");
}

static void order_url(const ts_proc *p, char *url, size_t len)
{
    FILE *f = fopen(p->log_path, "r");
    cr_assert_not_null(f);
    char line[512];
    url[0] = '\0';
    while (fgets(line, sizeof line, f) != NULL) {
        char *u = strstr(line, "url=");
        if (strncmp(line, "order ", 6) == 0 && u != NULL) {
            snprintf(url, len, "%s", u + 4);
            url[strcspn(url, " \n")] = '\0';
        }
    }
    fclose(f);
}

Test(svc_up, shopflow_up_serves_orders_on_the_printed_address_and_stops_on_sigterm)
{
    ts_pg_up();
    ts_proc p;
    char *argv[] = {"shopflow", "up", "--arch",      "sync", "--goods",     "3",     "--stock", "5",
                    "--users",  "3",  "--port-base", "0",    "--db-prefix", "t_up_", NULL};
    cr_assert_eq(ts_spawn(&p, argv), 0);
    cr_assert_eq(ts_wait_until(&p, printed_ready, &p, 20000), 0);
    char url[128];
    order_url(&p, url, sizeof url);
    cr_assert_neq(url[0], '\0');

    rpc_channel *ch = NULL;
    rpc_error err = {0};
    cr_assert_eq(rpc_channel_open(&ch, url, NULL, &err), RPC_OK, "%s", err.message);
    Shop__Order__PlaceOrderRequest rq = SHOP__ORDER__PLACE_ORDER_REQUEST__INIT;
    rq.request_id = "up-1";
    rq.user_id = 2;
    rq.goods_id = 3;
    rq.count = 5;
    rq.coupon_id = 2;
    Shop__Order__PlaceOrderReply *rp = NULL;
    rpc_call_opts o = {.wait_for_ready = true, .timeout_ms = 5000};
    cr_assert_eq(shop_order_OrderService_PlaceOrder(ch, &rq, &rp, &o, &err), RPC_OK, "%s",
                 err.message);
    cr_expect_eq(rp->order->amount_cents, 5 * 1999 - 300, "the default fixtures");
    Shop__Order__PayOrderRequest pq = SHOP__ORDER__PAY_ORDER_REQUEST__INIT;
    pq.order_id = rp->order->order_id;
    Shop__Order__PayOrderReply *pp = NULL;
    cr_expect_eq(shop_order_OrderService_PayOrder(ch, &pq, &pp, &o, &err), RPC_OK, "%s",
                 err.message);
    if (pp != NULL)
        shop__order__pay_order_reply__free_unpacked(pp, NULL);
    shop__order__place_order_reply__free_unpacked(rp, NULL);
    rpc_channel_close(ch);

    int rc = ts_stop(&p, SIGTERM, 15000);
    if (rc != 0)
        ts_dump_log(&p);
    cr_expect_eq(rc, 0, "shopflow up stops every daemon and exits 0");
    const char *dbs[] = {"t_up_order_db", "t_up_stock_db", "t_up_coupon_db"};
    for (int i = 0; i < 3; i++) {
        shop_error e = {0};
        shop_pg_drop_database(NULL, dbs[i], &e);
    }
}
