/* ts_place_order: the typed stub with the tests' usual order. */
#include "tests/support/place_order.h"

#include "base/trace.h"
#include "shop_order.rpc.h"

rpc_status ts_place_order(rpc_channel *ch, const char *request_id, int64_t user_id,
                          const char *traceparent, int64_t *order_id, rpc_error *err)
{
    Shop__Order__PlaceOrderRequest rq = SHOP__ORDER__PLACE_ORDER_REQUEST__INIT;
    rq.request_id = (char *)request_id;
    rq.user_id = user_id;
    rq.goods_id = 1;
    rq.count = 1;
    rq.coupon_id = user_id;
    rpc_metadata md = {SHOP_TRACEPARENT_KEY, traceparent};
    rpc_call_opts o = {.wait_for_ready = true, .timeout_ms = 5000};
    if (traceparent != NULL) {
        o.metadata = &md;
        o.n_metadata = 1;
    }
    Shop__Order__PlaceOrderReply *rp = NULL;
    rpc_status st = shop_order_OrderService_PlaceOrder(ch, &rq, &rp, &o, err);
    if (st != RPC_OK)
        return st;
    *order_id = rp->order->order_id;
    shop__order__place_order_reply__free_unpacked(rp, NULL);
    return RPC_OK;
}
