/* shop.order.OrderService over RPC: thin adapters over order_logic, except
 * PlaceOrder, which runs the sync flow of order_sync.c. */
#include "services/order/order_svc.h"

#include <stdio.h>

Shop__Order__Order *order_to_msg(rpc_ctx *ctx, const shop_order *o)
{
    Shop__Order__Order *m = rpc_ctx_alloc(ctx, sizeof *m);
    Shop__Order__Timeline *t = rpc_ctx_alloc(ctx, sizeof *t);
    shop__order__order__init(m);
    shop__order__timeline__init(t);
    m->order_id = o->order_id;
    m->request_id = rpc_ctx_strdup(ctx, o->request_id);
    m->user_id = o->user_id;
    m->goods_id = o->goods_id;
    m->count = o->count;
    m->coupon_id = o->coupon_id;
    m->amount_cents = o->amount_cents;
    m->status = (Shop__Order__OrderStatus)o->status;
    m->reason = rpc_ctx_strdup(ctx, o->reason);
    m->fail_code = (uint32_t)o->fail_code;
    m->pay_by_us = o->pay_by_us;
    t->accepted_us = o->accepted_us;
    t->stock_us = o->stock_us;
    t->coupon_us = o->coupon_us;
    t->confirmed_us = o->confirmed_us;
    t->cancelled_us = o->cancelled_us;
    t->closed_us = o->closed_us;
    t->paid_us = o->paid_us;
    t->trace_id = rpc_ctx_strdup(ctx, o->trace_id);
    m->timeline = t;
    return m;
}

static rpc_status place(rpc_ctx *ctx, const Shop__Order__PlaceOrderRequest *req,
                        Shop__Order__PlaceOrderReply *reply, void *user)
{
    return order_sync_place(user, ctx, req, reply);
}

/* Runs one order_logic transition or read and replies with the order. */
typedef rpc_status (*order_op)(PGconn *c, int64_t id, const void *arg, shop_order *o,
                               shop_error *err);

static rpc_status with_order(order_svc *svc, rpc_ctx *ctx, order_op op, int64_t id, const void *arg,
                             Shop__Order__Order **out)
{
    PGconn *c = shop_daemon_conn(svc->d, ctx);
    if (c == NULL)
        return RPC_UNAVAILABLE;
    shop_order o;
    shop_error msg = {0};
    rpc_status st = op(c, id, arg, &o, &msg);
    shop_pool_release(svc->d->pool, c);
    if (st != RPC_OK)
        return rpc_ctx_fail(ctx, st, "%s", msg.message);
    *out = order_to_msg(ctx, &o);
    return RPC_OK;
}

static rpc_status op_pay(PGconn *c, int64_t id, const void *arg, shop_order *o, shop_error *err)
{
    (void)arg;
    return order_pay(c, id, o, err);
}

static rpc_status op_get(PGconn *c, int64_t id, const void *arg, shop_order *o, shop_error *err)
{
    const char *request_id = arg;
    if (id > 0)
        return order_get(c, id, o, err);
    if (request_id != NULL && request_id[0] != '\0')
        return order_get_by_request(c, request_id, o, err);
    shop_error_set(err, RPC_INVALID_ARGUMENT, "give a positive order_id or a request_id");
    return RPC_INVALID_ARGUMENT;
}

static rpc_status op_cancel(PGconn *c, int64_t id, const void *arg, shop_order *o, shop_error *err)
{
    return order_cancel(c, id, arg, o, err);
}

static rpc_status pay(rpc_ctx *ctx, const Shop__Order__PayOrderRequest *req,
                      Shop__Order__PayOrderReply *reply, void *user)
{
    return with_order(user, ctx, op_pay, req->order_id, NULL, &reply->order);
}

static rpc_status get(rpc_ctx *ctx, const Shop__Order__GetOrderRequest *req,
                      Shop__Order__GetOrderReply *reply, void *user)
{
    return with_order(user, ctx, op_get, req->order_id, req->request_id, &reply->order);
}

static rpc_status cancel(rpc_ctx *ctx, const Shop__Order__CancelOrderRequest *req,
                         Shop__Order__CancelOrderReply *reply, void *user)
{
    rpc_status st = with_order(user, ctx, op_cancel, req->order_id, req->reason, &reply->order);
    if (st == RPC_OK)
        order_background_kick(user);
    return st;
}

rpc_status order_rpc_register(order_svc *svc, rpc_error *err)
{
    static shop_order_OrderService_server impl = {
        .PlaceOrder = place, .PayOrder = pay, .GetOrder = get, .CancelOrder = cancel};
    impl.user = svc;
    return shop_order_OrderService_register(svc->d->server, &impl, err);
}
