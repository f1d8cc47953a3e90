/* The stock consumer's handler: one delivery inside one transaction. The
 * de-duplication is stock_log (stock_deduct / stock_restore claim their slot
 * in the statement that changes the stock), so a repeated delivery finds the
 * slot taken, changes nothing and writes no second event. */
#include "services/stock/stock_consumer.h"

#include <stdio.h>
#include <string.h>

#include "base/status.h"
#include "services/stock/stock_logic.h"
#include "shop_events.pb-c.h"

static const char *const topics[] = {"order.placed", "order.cancelled", "order.closed"};

static rpc_status publish_result(PGconn *conn, const Shop__Events__OrderPlaced *o, int st,
                                 const stock_result *r, shop_error *err)
{
    char key[24];
    uint8_t buf[512];
    size_t len;
    const char *topic;
    snprintf(key, sizeof key, "%lld", (long long)o->order_id);
    if (st == RPC_OK) {
        Shop__Events__StockDeducted ev = SHOP__EVENTS__STOCK_DEDUCTED__INIT;
        ev.order_id = o->order_id;
        ev.goods_id = o->goods_id;
        ev.count = o->count;
        ev.price_cents = r->price_cents;
        ev.at_us = svc_outbox_now_us();
        len = shop__events__stock_deducted__pack(&ev, buf);
        topic = "stock.deducted";
    } else {
        Shop__Events__StockRejected ev = SHOP__EVENTS__STOCK_REJECTED__INIT;
        ev.order_id = o->order_id;
        ev.goods_id = o->goods_id;
        ev.count = o->count;
        ev.reason = (char *)r->msg;
        ev.at_us = svc_outbox_now_us();
        if (shop__events__stock_rejected__get_packed_size(&ev) > sizeof buf)
            ev.reason = "rejected";
        len = shop__events__stock_rejected__pack(&ev, buf);
        topic = "stock.rejected";
    }
    return svc_outbox_add(conn, topic, key, buf, len, 0, err);
}

static rpc_status on_placed(PGconn *conn, const mq_msg *m, int *wrote, shop_error *err)
{
    Shop__Events__OrderPlaced *o = shop__events__order_placed__unpack(NULL, m->len, m->body);
    if (o == NULL) {
        shop_error_set(err, RPC_INVALID_ARGUMENT, "undecodable OrderPlaced");
        return RPC_INVALID_ARGUMENT;
    }
    stock_result r;
    rpc_status st = stock_deduct(conn, o->order_id, o->goods_id, o->count, &r);
    int business = st == RPC_OK || st == RPC_FAILED_PRECONDITION || st == RPC_NOT_FOUND ||
                   st == RPC_INVALID_ARGUMENT;
    if (!business) {
        shop_error_set(err, RPC_INTERNAL, "%s", r.msg);
    } else if (!r.duplicate) {
        st = publish_result(conn, o, st, &r, err);
        *wrote = st == RPC_OK;
    } else {
        st = RPC_OK; /* the first delivery published the result */
    }
    if (business && st != RPC_OK && st != RPC_UNAVAILABLE && st != RPC_ABORTED)
        st = RPC_INTERNAL;
    shop__events__order_placed__free_unpacked(o, NULL);
    return st;
}

/* order.cancelled and order.closed carry the same fields at the same tags. */
static rpc_status on_release(PGconn *conn, const mq_msg *m, shop_error *err)
{
    Shop__Events__OrderCancelled *o = shop__events__order_cancelled__unpack(NULL, m->len, m->body);
    if (o == NULL) {
        shop_error_set(err, RPC_INVALID_ARGUMENT, "undecodable %s", m->topic);
        return RPC_INVALID_ARGUMENT;
    }
    stock_result r;
    rpc_status st = stock_restore(conn, o->order_id, o->goods_id, o->count, &r);
    if (st != RPC_OK)
        shop_error_set(err, RPC_INTERNAL, "%s", r.msg);
    shop__events__order_cancelled__free_unpacked(o, NULL);
    return st;
}

static rpc_status handle(PGconn *conn, const mq_msg *m, void *arg, int *wrote, shop_error *err)
{
    (void)arg;
    if (strcmp(m->topic, "order.placed") == 0)
        return on_placed(conn, m, wrote, err);
    if (strcmp(m->topic, "order.cancelled") == 0 || strcmp(m->topic, "order.closed") == 0)
        return on_release(conn, m, err);
    shop_error_set(err, RPC_INVALID_ARGUMENT, "unexpected topic %s", m->topic);
    return RPC_INVALID_ARGUMENT;
}

void stock_consumer_config(svc_consumer_cfg *cfg)
{
    cfg->name = "stock";
    cfg->group = STOCK_CONSUMER_GROUP;
    cfg->topics = topics;
    cfg->n_topics = sizeof topics / sizeof topics[0];
    cfg->setup = stock_logic_prepare;
    cfg->handler = handle;
    cfg->arg = NULL;
}
