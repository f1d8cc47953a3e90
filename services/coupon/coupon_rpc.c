/* shop.coupon.CouponService over RPC: each handler takes a pooled connection,
 * calls the business function (again on a fresh connection when the
 * database was lost, within the deadline) and copies its result into the
 * reply. */
#include "services/coupon/coupon_rpc.h"

#include "services/coupon/coupon_logic.h"

static rpc_status use(rpc_ctx *ctx, const Shop__Coupon__UseRequest *req,
                      Shop__Coupon__UseReply *reply, void *user)
{
    shop_daemon *d = user;
    coupon_result r;
    rpc_status st;
    int64_t until = 0;
    do {
        PGconn *c = shop_daemon_conn(d, ctx);
        if (c == NULL)
            return RPC_UNAVAILABLE;
        st = coupon_use(c, req->order_id, req->coupon_id, req->user_id, &r);
        shop_pool_release(d->pool, c);
    } while (shop_daemon_db_retry(ctx, st, &until));
    reply->duplicate = r.duplicate;
    reply->discount_cents = r.discount_cents;
    return st == RPC_OK ? RPC_OK : rpc_ctx_fail(ctx, st, "%s", r.msg);
}

static rpc_status restore(rpc_ctx *ctx, const Shop__Coupon__RestoreRequest *req,
                          Shop__Coupon__RestoreReply *reply, void *user)
{
    shop_daemon *d = user;
    coupon_result r;
    rpc_status st;
    int64_t until = 0;
    do {
        PGconn *c = shop_daemon_conn(d, ctx);
        if (c == NULL)
            return RPC_UNAVAILABLE;
        st = coupon_restore(c, req->order_id, req->coupon_id, &r);
        shop_pool_release(d->pool, c);
    } while (shop_daemon_db_retry(ctx, st, &until));
    reply->restored = r.restored;
    reply->duplicate = r.duplicate;
    return st == RPC_OK ? RPC_OK : rpc_ctx_fail(ctx, st, "%s", r.msg);
}

static rpc_status get_coupon(rpc_ctx *ctx, const Shop__Coupon__GetCouponRequest *req,
                             Shop__Coupon__GetCouponReply *reply, void *user)
{
    shop_daemon *d = user;
    coupon_info ci;
    shop_error msg = {0};
    rpc_status st;
    int64_t until = 0;
    do {
        PGconn *c = shop_daemon_conn(d, ctx);
        if (c == NULL)
            return RPC_UNAVAILABLE;
        st = coupon_get(c, req->coupon_id, &ci, &msg);
        shop_pool_release(d->pool, c);
    } while (shop_daemon_db_retry(ctx, st, &until));
    reply->coupon_id = ci.coupon_id;
    reply->user_id = ci.user_id;
    reply->used = ci.used;
    reply->order_id = ci.order_id;
    reply->discount_cents = ci.discount_cents;
    return st == RPC_OK ? RPC_OK : rpc_ctx_fail(ctx, st, "%s", msg.message);
}

rpc_status coupon_rpc_register(shop_daemon *d, rpc_error *err)
{
    static shop_coupon_CouponService_server impl = {
        .Use = use, .Restore = restore, .GetCoupon = get_coupon};
    impl.user = d;
    return shop_coupon_CouponService_register(d->server, &impl, err);
}
