/* The coupon consumer's handler: one delivery inside one transaction. The
 * de-duplication is coupon_log (coupon_use / coupon_restore claim their slot
 * in the statement that changes the coupon), so a repeated delivery changes
 * nothing and writes no second event. */
#include "services/coupon/coupon_consumer.h"

#include <stdio.h>
#include <string.h>

#include "base/status.h"
#include "services/coupon/coupon_logic.h"
#include "shop_events.pb-c.h"

static const char *const topics[] = {"order.placed", "order.cancelled", "order.closed"};

static rpc_status publish_result(PGconn *conn, const Shop__Events__OrderPlaced *o, int st,
                                 const coupon_result *r, shop_error *err)
{
    char key[24];
    uint8_t buf[512];
    size_t len;
    const char *topic;
    snprintf(key, sizeof key, "%lld", (long long)o->order_id);
    if (st == RPC_OK) {
        Shop__Events__CouponUsed ev = SHOP__EVENTS__COUPON_USED__INIT;
        ev.order_id = o->order_id;
        ev.coupon_id = o->coupon_id;
        ev.discount_cents = r->discount_cents;
        ev.at_us = svc_outbox_now_us();
        len = shop__events__coupon_used__pack(&ev, buf);
        topic = "coupon.used";
    } else {
        Shop__Events__CouponRejected ev = SHOP__EVENTS__COUPON_REJECTED__INIT;
        ev.order_id = o->order_id;
        ev.coupon_id = o->coupon_id;
        ev.reason = (char *)r->msg;
        ev.at_us = svc_outbox_now_us();
        if (shop__events__coupon_rejected__get_packed_size(&ev) > sizeof buf)
            ev.reason = "rejected";
        len = shop__events__coupon_rejected__pack(&ev, buf);
        topic = "coupon.rejected";
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
    rpc_status st = RPC_OK;
    if (o->coupon_id != 0) {
        coupon_result r;
        st = coupon_use(conn, o->order_id, o->coupon_id, o->user_id, &r);
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
    }
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
    rpc_status st = RPC_OK;
    if (o->coupon_id != 0) {
        coupon_result r;
        st = coupon_restore(conn, o->order_id, o->coupon_id, &r);
        if (st != RPC_OK)
            shop_error_set(err, RPC_INTERNAL, "%s", r.msg);
    }
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

void coupon_consumer_config(svc_consumer_cfg *cfg)
{
    cfg->name = "coupon";
    cfg->group = COUPON_CONSUMER_GROUP;
    cfg->topics = topics;
    cfg->n_topics = sizeof topics / sizeof topics[0];
    cfg->setup = coupon_logic_prepare;
    cfg->handler = handle;
    cfg->arg = NULL;
}
