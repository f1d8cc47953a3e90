/* PlaceOrder and PayOrder through the typed stubs, for the load generator. */
#include "bench/harness/bench_orders.h"

#include <stdio.h>

#include "shop_order.rpc.h"

int bench_orders_place(void *ctx, int client, uint64_t seq, int64_t deadline_ms, int64_t *order_id)
{
    bench_orders *t = ctx;
    (void)client;
    uint64_t n = t->seq_base + seq;
    char request_id[64];
    snprintf(request_id, sizeof request_id, "bench-%s-%llu", t->tag, (unsigned long long)n);
    Shop__Order__PlaceOrderRequest req = SHOP__ORDER__PLACE_ORDER_REQUEST__INIT;
    req.request_id = request_id;
    req.user_id = (int64_t)n + 1;
    req.goods_id = (int64_t)(n % (uint64_t)t->goods) + 1;
    req.count = 1;
    req.coupon_id = (int64_t)n + 1;
    rpc_call_opts opts = {.timeout_ms = deadline_ms};
    Shop__Order__PlaceOrderReply *reply = NULL;
    rpc_error err;
    rpc_status rc = shop_order_OrderService_PlaceOrder(t->ch, &req, &reply, &opts, &err);
    if (rc != RPC_OK)
        return (int)rc;
    *order_id = reply->order ? reply->order->order_id : 0;
    shop__order__place_order_reply__free_unpacked(reply, NULL);
    return (int)rc;
}

void bench_orders_pay(void *ctx, int client, uint64_t seq, int64_t order_id)
{
    bench_orders *t = ctx;
    (void)client;
    if ((double)(seq % 1000) >= t->pay_share * 1000.0)
        return;
    Shop__Order__PayOrderRequest pay = SHOP__ORDER__PAY_ORDER_REQUEST__INIT;
    pay.order_id = order_id;
    Shop__Order__PayOrderReply *paid = NULL;
    rpc_call_opts opts = {.timeout_ms = t->deadline_ms};
    rpc_error err;
    if (shop_order_OrderService_PayOrder(t->ch, &pay, &paid, &opts, &err) == RPC_OK) {
        atomic_fetch_add(&t->pay_ok, 1);
        shop__order__pay_order_reply__free_unpacked(paid, NULL);
    } else {
        atomic_fetch_add(&t->pay_failed, 1);
    }
}
