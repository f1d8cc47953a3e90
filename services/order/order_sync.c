/* The synchronous PlaceOrder, as before the refactor: a chain of RPC calls
 * under the caller's deadline.
 *
 *   order PENDING -> Stock.Deduct -> Coupon.Use (if a coupon) -> CONFIRMED
 *
 * A member that refuses (FAILED_PRECONDITION, NOT_FOUND, ...) changed nothing
 * for this order; a member that is down or too slow may or may not have
 * acted, so it is owed a Restore too (restores are idempotent and a restore
 * that arrives before its deduct voids it). The order is cancelled and the
 * restores it owes are persisted in one statement; the background worker
 * delivers them until they succeed. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/trace.h"
#include "services/order/order_svc.h"
#include "shop_coupon.rpc.h"
#include "shop_stock.rpc.h"

/* Wall-clock microseconds, for the order's timeline. */
static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The member definitely did nothing that needs undoing. */
static int refused(rpc_status st)
{
    return st == RPC_FAILED_PRECONDITION || st == RPC_NOT_FOUND || st == RPC_INVALID_ARGUMENT ||
           st == RPC_OUT_OF_RANGE;
}

/* Time for one member call: the cap, within the caller's deadline minus a
 * margin that leaves room to record the outcome and reply in time. */
static rpc_call_opts member_opts(const order_svc *svc, rpc_ctx *ctx)
{
    int64_t t = svc->member_timeout_ms;
    int64_t left = rpc_ctx_remaining_ms(ctx);
    if (left != INT64_MAX) {
        int64_t margin = left / 10 < 20 ? left / 10 : 20;
        if (left - margin < t)
            t = left - margin;
    }
    rpc_call_opts o = {.timeout_ms = t < 1 ? 1 : t, .parent = ctx};
    return o;
}

typedef struct flow {
    rpc_status st;
    char msg[300];
    int owed; /* ORDER_COMP_* */
    int64_t price_cents, discount_cents;
    int64_t stock_us, coupon_us;
} flow;

static int deduct(order_svc *svc, rpc_ctx *ctx, const shop_order *o, flow *f)
{
    Shop__Stock__DeductRequest rq = SHOP__STOCK__DEDUCT_REQUEST__INIT;
    rq.order_id = o->order_id;
    rq.goods_id = o->goods_id;
    rq.count = o->count;
    Shop__Stock__DeductReply *rp = NULL;
    rpc_call_opts opts = member_opts(svc, ctx);
    rpc_error err = {0};
    f->st = shop_stock_StockService_Deduct(svc->stock, &rq, &rp, &opts, &err);
    f->stock_us = wall_us();
    if (f->st == RPC_OK) {
        f->price_cents = rp->price_cents;
        shop__stock__deduct_reply__free_unpacked(rp, NULL);
        return 0;
    }
    snprintf(f->msg, sizeof f->msg, "stock: %s", err.message);
    shop_log_info("member failed order=%lld member=stock status=%s timeout_ms=%lld error=\"%s\"",
                  (long long)o->order_id, rpc_status_name(f->st), (long long)opts.timeout_ms,
                  err.message);
    if (!refused(f->st))
        f->owed |= ORDER_COMP_STOCK;
    return -1;
}

static int use_coupon(order_svc *svc, rpc_ctx *ctx, const shop_order *o, flow *f)
{
    Shop__Coupon__UseRequest rq = SHOP__COUPON__USE_REQUEST__INIT;
    rq.order_id = o->order_id;
    rq.coupon_id = o->coupon_id;
    rq.user_id = o->user_id;
    Shop__Coupon__UseReply *rp = NULL;
    rpc_call_opts opts = member_opts(svc, ctx);
    rpc_error err = {0};
    f->st = shop_coupon_CouponService_Use(svc->coupon, &rq, &rp, &opts, &err);
    f->coupon_us = wall_us();
    if (f->st == RPC_OK) {
        f->discount_cents = rp->discount_cents;
        shop__coupon__use_reply__free_unpacked(rp, NULL);
        return 0;
    }
    snprintf(f->msg, sizeof f->msg, "coupon: %s", err.message);
    shop_log_info("member failed order=%lld member=coupon status=%s timeout_ms=%lld error=\"%s\"",
                  (long long)o->order_id, rpc_status_name(f->st), (long long)opts.timeout_ms,
                  err.message);
    f->owed |= ORDER_COMP_STOCK; /* the deduct succeeded */
    if (!refused(f->st))
        f->owed |= ORDER_COMP_COUPON;
    return -1;
}

/* Cancels the order after a member failure; the reply keeps the member's
 * status. If the database is unreachable the order stays PENDING and the
 * close scan cancels it (with its restores) after the pay window. */
static void cancel_after(order_svc *svc, PGconn *c, shop_order *o, flow *f)
{
    shop_error err = {0};
    rpc_status st = order_fail(c, o->order_id, f->msg, f->st, f->owed, o, &err);
    if (st != RPC_OK)
        shop_log_warn("order not cancelled order=%lld status=%s error=\"%s\"",
                      (long long)o->order_id, rpc_status_name(st), err.message);
    else if (f->owed != 0)
        order_background_kick(svc);
}

static rpc_status run(order_svc *svc, rpc_ctx *ctx, PGconn *c, shop_order *o, flow *f)
{
    if (deduct(svc, ctx, o, f) != 0 || (o->coupon_id > 0 && use_coupon(svc, ctx, o, f) != 0)) {
        cancel_after(svc, c, o, f);
        return f->st;
    }
    int64_t amount = f->price_cents > INT64_MAX / o->count
                         ? INT64_MAX
                         : f->price_cents * o->count - f->discount_cents;
    shop_error err = {0};
    rpc_status st = order_confirm(c, o->order_id, amount < 0 ? 0 : amount, f->stock_us,
                                  o->coupon_id > 0 ? f->coupon_us : 0, o, &err);
    if (st == RPC_FAILED_PRECONDITION) {
        /* Closed or cancelled meanwhile: whoever did owes the restores. */
        snprintf(f->msg, sizeof f->msg, "%s", err.message);
        return RPC_ABORTED;
    }
    if (st != RPC_OK)
        snprintf(f->msg, sizeof f->msg, "confirm: %s", err.message);
    return st;
}

/* A repeated request_id: the first order's outcome. */
static rpc_status replay(rpc_ctx *ctx, const shop_order *o)
{
    switch (o->status) {
    case ORDER_CONFIRMED:
    case ORDER_PAID:
        return RPC_OK;
    case ORDER_PENDING:
        return rpc_ctx_fail(ctx, RPC_ABORTED, "order %lld is still being placed; retry later",
                            (long long)o->order_id);
    default:
        return rpc_ctx_fail(ctx,
                            o->fail_code > 0 ? (rpc_status)o->fail_code : RPC_FAILED_PRECONDITION,
                            "order %lld is %s: %s", (long long)o->order_id,
                            order_status_name(o->status), o->reason);
    }
}

rpc_status order_sync_place(order_svc *svc, rpc_ctx *ctx, const Shop__Order__PlaceOrderRequest *req,
                            Shop__Order__PlaceOrderReply *reply)
{
    shop_trace_ensure(); /* the order's trace: the caller's or a new one */
    PGconn *c = shop_daemon_conn(svc->d, ctx);
    if (c == NULL)
        return RPC_UNAVAILABLE;
    order_place_args a = {req->request_id, req->user_id,   req->goods_id,
                          req->count,      req->coupon_id, svc->pay_window_ms};
    shop_order o = {0};
    int dup = 0;
    flow f = {0};
    shop_error err = {0};
    rpc_status st = order_place(c, &a, &o, &dup, &err);
    if (st != RPC_OK)
        snprintf(f.msg, sizeof f.msg, "%s", err.message);
    if (st == RPC_OK && !dup)
        st = run(svc, ctx, c, &o, &f);
    shop_pool_release(svc->d->pool, c);
    shop_log_debug("order placed order=%lld status=%s duplicate=%d arch=sync",
                   (long long)o.order_id, rpc_status_name(st), dup);
    if (st == RPC_OK) {
        reply->order = order_to_msg(ctx, &o);
        reply->duplicate = dup;
        return dup ? replay(ctx, &o) : RPC_OK;
    }
    if (o.order_id > 0)
        return rpc_ctx_fail(ctx, st, "order %lld not placed: %s", (long long)o.order_id, f.msg);
    return rpc_ctx_fail(ctx, st, "%s", f.msg);
}
