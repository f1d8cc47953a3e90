/* shop.order.OrderService for --arch async: PlaceOrder answers as soon as
 * the order and its outbox rows are committed; PayOrder and CancelOrder are
 * the async variants; GetOrder returns the order with its timeline. */
#include "services/order/order_async_rpc.h"

#include <stdlib.h>
#include <string.h>

#include "mq/mq_delay.h"
#include "base/log.h"
#include "base/trace.h"
#include "services/common/svc_outbox_arch.h"
#include "services/order/order_async.h"

static order_async *runtime; /* one daemon per process */

typedef rpc_status (*async_op)(PGconn *c, int64_t id, const void *arg, shop_order *o,
                               shop_error *err);

static rpc_status reply_order(order_svc *svc, rpc_ctx *ctx, async_op op, int64_t id,
                              const void *arg, Shop__Order__Order **out)
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

typedef struct place_arg {
    const Shop__Order__PlaceOrderRequest *req;
    int *duplicate;
} place_arg;

static rpc_status op_place(PGconn *c, int64_t id, const void *arg, shop_order *o, shop_error *err)
{
    (void)id;
    const place_arg *p = arg;
    order_place_args a = {p->req->request_id, p->req->user_id,   p->req->goods_id,
                          p->req->count,      p->req->coupon_id, 0};
    return order_async_place(runtime, c, &a, o, p->duplicate, err);
}

static rpc_status op_pay(PGconn *c, int64_t id, const void *arg, shop_order *o, shop_error *err)
{
    (void)arg;
    return order_async_pay(runtime, c, id, o, err);
}

static rpc_status op_get(PGconn *c, int64_t id, const void *arg, shop_order *o, shop_error *err)
{
    const char *request_id = arg;
    if (id == 0 && request_id != NULL && request_id[0] != '\0')
        return order_get_by_request(c, request_id, o, err);
    return order_get(c, id, o, err);
}

static rpc_status op_cancel(PGconn *c, int64_t id, const void *arg, shop_order *o, shop_error *err)
{
    return order_async_cancel(runtime, c, id, arg, o, err);
}

static rpc_status place(rpc_ctx *ctx, const Shop__Order__PlaceOrderRequest *req,
                        Shop__Order__PlaceOrderReply *reply, void *user)
{
    int dup = 0;
    place_arg p = {req, &dup};
    shop_trace_ensure(); /* the order's trace: the caller's or a new one */
    rpc_status st = reply_order(user, ctx, op_place, 0, &p, &reply->order);
    reply->duplicate = st == RPC_OK && dup;
    shop_log_debug("order placed order=%lld status=%s duplicate=%d arch=async",
                   reply->order != NULL ? (long long)reply->order->order_id : 0LL,
                   rpc_status_name(st), dup);
    return st;
}

static rpc_status pay(rpc_ctx *ctx, const Shop__Order__PayOrderRequest *req,
                      Shop__Order__PayOrderReply *reply, void *user)
{
    return reply_order(user, ctx, op_pay, req->order_id, NULL, &reply->order);
}

static rpc_status get(rpc_ctx *ctx, const Shop__Order__GetOrderRequest *req,
                      Shop__Order__GetOrderReply *reply, void *user)
{
    return reply_order(user, ctx, op_get, req->order_id, req->request_id, &reply->order);
}

static rpc_status cancel(rpc_ctx *ctx, const Shop__Order__CancelOrderRequest *req,
                         Shop__Order__CancelOrderReply *reply, void *user)
{
    return reply_order(user, ctx, op_cancel, req->order_id, req->reason, &reply->order);
}

static int pay_window(order_svc *svc, const svc_arch *a, const char *cli, int64_t *out)
{
    if (cli == NULL && a->pay_level != NULL) {
        *out = mq_delay_level_ms(atoi(a->pay_level));
        if (*out > 0)
            return 0;
        shop_log_error("bad --pay-window-level value=%s hint=\"a delay level 1..18\"",
                       a->pay_level);
        return -1;
    }
    return shop_daemon_i64(svc->d, "--pay-window-ms", "PAY_WINDOW_MS", cli,
                           ORDER_PAY_WINDOW_DEFAULT_MS, 1, INT64_C(31536000000), out);
}

int order_async_daemon_start(order_svc *svc, const char *pay_window_cli, const char *publish_cli)
{
    svc_arch a;
    shop_error err = {0};
    rpc_error rerr;
    const char *publish = shop_daemon_str(svc->d, "PUBLISH", publish_cli, "outbox");
    if (strcmp(publish, "outbox") != 0 && strcmp(publish, "txmsg") != 0) {
        shop_log_error("bad --publish value=%s hint=\"outbox or txmsg\"", publish);
        return -1;
    }
    if (svc_arch_resolve(svc->d, "async", &a) != 0 ||
        pay_window(svc, &a, pay_window_cli, &svc->pay_window_ms) != 0)
        return -1;
    order_async_cfg c = {.conninfo = svc->d->conninfo,
                         .mq_url = a.mq_url,
                         .pub_url = a.pub_url,
                         .delay_url = a.delay_url,
                         .pay_window_ms = svc->pay_window_ms,
                         .publish_txmsg = strcmp(publish, "txmsg") == 0,
                         .dup_publish = a.dup_publish,
                         .dup_deliver = a.dup_deliver,
                         .crash_after_commits = a.crash_after_commits};
    rpc_status st = order_async_start(&c, &runtime, &err);
    if (st != RPC_OK) {
        shop_log_error("async start failed status=%s error=\"%s\"", rpc_status_name(st),
                       err.message);
        return -1;
    }
    static shop_order_OrderService_server impl = {
        .PlaceOrder = place, .PayOrder = pay, .GetOrder = get, .CancelOrder = cancel};
    impl.user = svc;
    if (shop_order_OrderService_register(svc->d->server, &impl, &rerr) != RPC_OK) {
        shop_log_error("register failed error=\"%s\"", rerr.message);
        return -1;
    }
    shop_log_info("async architecture mq=%s mq_pub=%s delay=%s pay_window_ms=%lld publish=%s",
                  a.mq_url, a.pub_url, a.delay_url, (long long)svc->pay_window_ms, publish);
    return 0;
}

void order_async_daemon_stop(void)
{
    order_async_stop(runtime);
    runtime = NULL;
}
