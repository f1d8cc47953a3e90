/* shop.stock.StockService over RPC: each handler takes a pooled connection,
 * calls the business function (again on a fresh connection when the
 * database was lost, within the deadline) and copies its result into the
 * reply. */
#include "services/stock/stock_rpc.h"

#include "services/stock/stock_logic.h"

static rpc_status deduct(rpc_ctx *ctx, const Shop__Stock__DeductRequest *req,
                         Shop__Stock__DeductReply *reply, void *user)
{
    shop_daemon *d = user;
    stock_result r;
    rpc_status st;
    int64_t until = 0;
    do {
        PGconn *c = shop_daemon_conn(d, ctx);
        if (c == NULL)
            return RPC_UNAVAILABLE;
        st = stock_deduct(c, req->order_id, req->goods_id, req->count, &r);
        shop_pool_release(d->pool, c);
    } while (shop_daemon_db_retry(ctx, st, &until));
    reply->duplicate = r.duplicate;
    reply->price_cents = r.price_cents;
    reply->stock_left = r.stock_left;
    return st == RPC_OK ? RPC_OK : rpc_ctx_fail(ctx, st, "%s", r.msg);
}

static rpc_status restore(rpc_ctx *ctx, const Shop__Stock__RestoreRequest *req,
                          Shop__Stock__RestoreReply *reply, void *user)
{
    shop_daemon *d = user;
    stock_result r;
    rpc_status st;
    int64_t until = 0;
    do {
        PGconn *c = shop_daemon_conn(d, ctx);
        if (c == NULL)
            return RPC_UNAVAILABLE;
        st = stock_restore(c, req->order_id, req->goods_id, req->count, &r);
        shop_pool_release(d->pool, c);
    } while (shop_daemon_db_retry(ctx, st, &until));
    reply->restored = r.restored;
    reply->duplicate = r.duplicate;
    reply->stock_left = r.stock_left;
    return st == RPC_OK ? RPC_OK : rpc_ctx_fail(ctx, st, "%s", r.msg);
}

static rpc_status get_stock(rpc_ctx *ctx, const Shop__Stock__GetStockRequest *req,
                            Shop__Stock__GetStockReply *reply, void *user)
{
    shop_daemon *d = user;
    stock_goods g;
    shop_error msg = {0};
    rpc_status st;
    int64_t until = 0;
    do {
        PGconn *c = shop_daemon_conn(d, ctx);
        if (c == NULL)
            return RPC_UNAVAILABLE;
        st = stock_get(c, req->goods_id, &g, &msg);
        shop_pool_release(d->pool, c);
    } while (shop_daemon_db_retry(ctx, st, &until));
    reply->goods_id = g.goods_id;
    reply->stock = g.stock;
    reply->price_cents = g.price_cents;
    return st == RPC_OK ? RPC_OK : rpc_ctx_fail(ctx, st, "%s", msg.message);
}

rpc_status stock_rpc_register(shop_daemon *d, rpc_error *err)
{
    static shop_stock_StockService_server impl = {
        .Deduct = deduct, .Restore = restore, .GetStock = get_stock};
    impl.user = d;
    return shop_stock_StockService_register(d->server, &impl, err);
}
