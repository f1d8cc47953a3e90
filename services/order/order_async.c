/* The order service's async flows (PlaceOrder, PayOrder, CancelOrder as
 * transactions with outbox rows) and its async runtime: the outbox relay,
 * the consumer of member results and timeouts. */
#include "services/order/order_async.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/mq_delay.h"
#include "services/common/svc_db.h"
#include "services/order/order_ids.h"
#include "services/order/order_timeout_cancel.h"
#include "services/order/order_txmsg.h"
#include "base/trace.h"
#include "base/log.h"
#include "base/status.h"
#include "shop_events.pb-c.h"

#define ORDER_ID_BLOCK 64

struct order_async {
    order_async_cfg cfg;
    char conninfo[1024], delay_url[256];
    svc_relay *relay;
    svc_consumer *consumer;
    timeout_canceller *canceller; /* cancels paid orders' timeouts, off the request path */
    order_ids *ids;               /* PlaceOrder's order ids, fetched in blocks */
    order_txmsg *txmsg;           /* --publish txmsg: order.placed as a transactional message */
};

rpc_status order_async_tx(PGconn *conn, const char *sql, shop_error *err)
{
    PGresult *res = PQexec(conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (ok)
        return RPC_OK;
    const char *why = PQerrorMessage(conn);
    return shop_error_set(err, PQstatus(conn) == CONNECTION_OK ? RPC_ABORTED : RPC_UNAVAILABLE,
                          "%s failed: %.*s", sql, (int)strcspn(why, "\n"), why);
}

static void key_of(char key[24], int64_t order_id)
{
    snprintf(key, 24, "%lld", (long long)order_id);
}

/* The acceptance time as a timestamptz, exact to the microsecond. */
#define ACCEPTED "('epoch'::timestamptz + $7::bigint * interval '1 microsecond')"

/* PlaceOrder in one statement, so that it costs one round trip and one
 * commit: the order PENDING ($1 comes from the id pool, $7 is this
 * process's clock) and, only when the request_id is new, its order.placed
 * and order.timeout rows (bodies as hex, packed beforehand; order.placed
 * only when $14, since --publish txmsg sends it as a transactional
 * message). An order without a coupon has nothing to wait for on that side
 * ('NONE'). */
static const shop_stmt st_place = {
    "oa_place",
    "WITH o AS (INSERT INTO orders (order_id, request_id, user_id, goods_id, count, coupon_id,"
    "             created_at, updated_at, pay_by, coupon_result, coupon_at, trace_id)"
    "           OVERRIDING SYSTEM VALUE"
    "           VALUES ($1::bigint, NULLIF($2::text, ''), $3::bigint, $4::bigint, $5::int,"
    "             NULLIF($6::bigint, 0), " ACCEPTED ", " ACCEPTED ","
    "             " ACCEPTED " + $8::bigint * interval '1 millisecond',"
    "             CASE WHEN $6::bigint = 0 THEN 'NONE' END,"
    "             CASE WHEN $6::bigint = 0 THEN " ACCEPTED " END, NULLIF($12::text, ''))"
    "           ON CONFLICT (request_id) DO NOTHING RETURNING order_id),"
    " e AS (INSERT INTO outbox (topic, msg_key, body, delay_ms, traceparent)"
    "       SELECT v.topic, o.order_id::text, decode(v.body, 'hex'), v.delay_ms,"
    "              NULLIF($13::text, '') FROM o,"
    "         (VALUES (1, 'order.placed', $9::text, 0::bigint),"
    "                 (2, 'order.timeout', $10::text, $11::bigint)) AS v(n, topic, body, delay_ms)"
    "       WHERE v.n = 2 OR $14::boolean ORDER BY v.n)"
    " SELECT order_id FROM o"};

rpc_status order_async_flows_prepare(PGconn *conn, shop_error *err)
{
    return shop_db_prepare(conn, &st_place, 1, err);
}

/* `len` bytes as lowercase hex into `out` (2 * len + 1 bytes). */
static const char *hex(char *out, const uint8_t *in, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}

/* The order as PlaceOrder inserts it. */
static void pending_order(const order_place_args *a, int64_t id, int64_t accepted_us, shop_order *o)
{
    memset(o, 0, sizeof *o);
    o->order_id = id;
    snprintf(o->request_id, sizeof o->request_id, "%s", a->request_id != NULL ? a->request_id : "");
    o->user_id = a->user_id;
    o->goods_id = a->goods_id;
    o->count = a->count;
    o->coupon_id = a->coupon_id;
    o->status = ORDER_PENDING;
    o->accepted_us = accepted_us;
    o->pay_by_us = accepted_us + a->pay_window_ms * 1000;
    if (a->coupon_id == 0)
        o->coupon_us = accepted_us;
    const shop_trace *t = shop_trace_current();
    if (t != NULL)
        snprintf(o->trace_id, sizeof o->trace_id, "%s", t->trace_id);
}

/* The order.placed event of `o` packed into buf[256]; 0 when it does not fit. */
static size_t pack_placed(const shop_order *o, uint8_t *buf, shop_error *err)
{
    Shop__Events__OrderPlaced p = SHOP__EVENTS__ORDER_PLACED__INIT;
    p.order_id = o->order_id;
    p.request_id = (char *)o->request_id;
    p.user_id = o->user_id;
    p.goods_id = o->goods_id;
    p.count = o->count;
    p.coupon_id = o->coupon_id;
    p.pay_by_us = o->pay_by_us;
    p.at_us = o->accepted_us;
    if (shop__events__order_placed__get_packed_size(&p) > 256) {
        shop_error_set(err, RPC_INVALID_ARGUMENT, "order.placed event does not fit 256 bytes");
        return 0;
    }
    return shop__events__order_placed__pack(&p, buf);
}

/* Inserts `o` with its events (order.placed only when with_placed);
 * *inserted = 0 when the request_id exists. */
static rpc_status insert_placed(PGconn *conn, const shop_order *o, int64_t window_ms,
                                int with_placed, int *inserted, shop_error *err)
{
    uint8_t buf[256];
    char placed[2 * sizeof buf + 1], timeout[2 * sizeof buf + 1];
    size_t placed_len = pack_placed(o, buf, err);
    if (placed_len == 0)
        return RPC_INVALID_ARGUMENT;
    hex(placed, buf, placed_len);
    Shop__Events__OrderTimeout t = SHOP__EVENTS__ORDER_TIMEOUT__INIT;
    t.order_id = o->order_id;
    t.at_us = o->accepted_us;
    hex(timeout, buf, shop__events__order_timeout__pack(&t, buf));
    char a[24], c[24], d[24], e[24], f[24], g[24], h[24], k[24], tp[SHOP_TRACEPARENT_LEN + 1] = "";
    const shop_trace *cur = shop_trace_current();
    if (cur != NULL) /* the events carry the order's trace to the consumers */
        shop_trace_format(cur, tp);
    /* delay 0 would publish at once: a zero window still goes through the queue */
    const char *params[] = {shop_db_i64(a, o->order_id),
                            o->request_id,
                            shop_db_i64(c, o->user_id),
                            shop_db_i64(d, o->goods_id),
                            shop_db_i64(e, o->count),
                            shop_db_i64(f, o->coupon_id),
                            shop_db_i64(g, o->accepted_us),
                            shop_db_i64(h, window_ms),
                            placed,
                            timeout,
                            shop_db_i64(k, window_ms > 0 ? window_ms : 1),
                            o->trace_id,
                            tp,
                            with_placed ? "t" : "f"};
    PGresult *res = NULL;
    rpc_status st = shop_db_run(conn, &st_place, 14, params, &res, err);
    if (st != RPC_OK)
        return st;
    *inserted = PQntuples(res) > 0;
    PQclear(res);
    return RPC_OK;
}

rpc_status order_async_publish_release(PGconn *conn, const char *topic, const shop_order *o,
                                       shop_error *err)
{
    char key[24];
    uint8_t buf[512];
    key_of(key, o->order_id);
    /* OrderCancelled and OrderClosed have the same fields at the same tags. */
    Shop__Events__OrderCancelled e = SHOP__EVENTS__ORDER_CANCELLED__INIT;
    e.order_id = o->order_id;
    e.goods_id = o->goods_id;
    e.count = o->count;
    e.coupon_id = o->coupon_id;
    e.reason = (char *)o->reason;
    e.at_us = svc_outbox_now_us();
    size_t len = shop__events__order_cancelled__pack(&e, buf);
    return svc_outbox_add(conn, topic, key, buf, len, 0, err);
}

int64_t order_async_pay_window_ms(const order_async *oa)
{
    return oa != NULL && oa->cfg.pay_window_ms > 0 ? oa->cfg.pay_window_ms
                                                   : ORDER_PAY_WINDOW_DEFAULT_MS;
}

/* Ends the transaction: COMMIT when st is OK, else ROLLBACK. */
static rpc_status finish(PGconn *conn, rpc_status st, shop_error *err)
{
    if (st != RPC_OK) {
        order_async_tx(conn, "ROLLBACK", NULL);
        return (rpc_status)st;
    }
    return order_async_tx(conn, "COMMIT", err);
}

rpc_status order_async_place(order_async *oa, PGconn *conn, const order_place_args *args,
                             shop_order *out, int *duplicate, shop_error *err)
{
    order_place_args a = *args;
    if (a.pay_window_ms <= 0)
        a.pay_window_ms = order_async_pay_window_ms(oa);
    *duplicate = 0;
    rpc_status st = order_place_check(&a, err);
    int64_t id = 0;
    if (st == RPC_OK)
        st = order_ids_next(oa != NULL ? oa->ids : NULL, conn, &id, err);
    if (st != RPC_OK)
        return st;
    pending_order(&a, id, svc_outbox_now_us(), out);
    int inserted = 0;
    order_txmsg *tx = oa != NULL ? oa->txmsg : NULL;
    char half[MQ_ID_LEN];
    if (tx != NULL) { /* --publish txmsg: the half first, decided after the commit */
        uint8_t buf[256];
        size_t len = pack_placed(out, buf, err);
        if (len == 0)
            return RPC_INVALID_ARGUMENT;
        if ((st = order_txmsg_half(tx, out->order_id, buf, len, half, err)) != RPC_OK)
            return st;
    }
    st = insert_placed(conn, out, a.pay_window_ms, tx == NULL, &inserted, err);
    if (tx != NULL) /* a failed or repeated insert leaves no order with this id */
        order_txmsg_end(tx, half, st == RPC_OK && inserted);
    if (st != RPC_OK)
        return st;
    if (!inserted) {
        /* The request_id exists: the conflict check waited for it to commit. */
        st = order_get_by_request(conn, out->request_id, out, err);
        *duplicate = st == RPC_OK;
        return st;
    }
    svc_relay_kick(oa != NULL ? oa->relay : NULL);
    return RPC_OK;
}

rpc_status order_async_pay(order_async *oa, PGconn *conn, int64_t order_id, shop_order *out,
                           shop_error *err)
{
    rpc_status st = order_pay(conn, order_id, out, err);
    if (st == RPC_OK)
        timeout_canceller_post(oa != NULL ? oa->canceller : NULL, order_id);
    return st;
}

rpc_status order_async_cancel(order_async *oa, PGconn *conn, int64_t order_id, const char *reason,
                              shop_order *out, shop_error *err)
{
    const char *why = reason != NULL && reason[0] != '\0' ? reason : "cancelled by the user";
    int cancelled = 0;
    rpc_status st = order_async_tx(conn, "BEGIN", err);
    if (st != RPC_OK)
        return st;
    st = order_async_user_cancel(conn, order_id, why, &cancelled, out, err);
    if (st == RPC_OK && cancelled)
        st = order_async_publish_release(conn, "order.cancelled", out, err);
    st = finish(conn, st, err);
    if (st != RPC_OK)
        return st;
    if (!cancelled) {
        st = order_get(conn, order_id, out, err);
        if (st != RPC_OK)
            return st;
        shop_error_set(err, RPC_FAILED_PRECONDITION, "cannot cancel order %lld: it is %s",
                       (long long)order_id, order_status_name(out->status));
        return RPC_FAILED_PRECONDITION;
    }
    svc_relay_kick(oa != NULL ? oa->relay : NULL);
    timeout_canceller_post(oa != NULL ? oa->canceller : NULL, order_id);
    return RPC_OK;
}

rpc_status order_async_start(const order_async_cfg *cfg, order_async **out, shop_error *err)
{
    order_async *oa = calloc(1, sizeof *oa);
    oa->cfg = *cfg;
    snprintf(oa->conninfo, sizeof oa->conninfo, "%s", cfg->conninfo);
    snprintf(oa->delay_url, sizeof oa->delay_url, "%s",
             cfg->delay_url != NULL ? cfg->delay_url : MQ_DELAY_URL_DEFAULT);
    oa->ids = order_ids_new(ORDER_ID_BLOCK);
    oa->canceller = timeout_canceller_start(oa->delay_url);
    if (oa->canceller == NULL) {
        shop_error_set(err, RPC_INTERNAL, "cannot start the timeout canceller thread");
        free(oa);
        return RPC_INTERNAL;
    }
    svc_relay_cfg rc = {.name = "order",
                        .conninfo = oa->conninfo,
                        .mq_url = cfg->mq_url,
                        .delay_url = oa->delay_url,
                        .dup_publish = cfg->dup_publish,
                        .trim_inbox = 1};
    rpc_status st = svc_relay_start(&rc, &oa->relay, err);
    if (st != RPC_OK)
        goto fail;
    if (cfg->publish_txmsg &&
        (st = order_txmsg_open(cfg->mq_url, oa->conninfo, &oa->txmsg, err)) != RPC_OK)
        goto fail;
    svc_consumer_cfg cc = {0};
    order_async_consumer_config(&cc);
    cc.conninfo = oa->conninfo;
    cc.mq_url = cfg->mq_url;
    cc.pub_url = cfg->pub_url;
    cc.relay = oa->relay;
    cc.dup_deliver = cfg->dup_deliver;
    cc.crash_after_commits = cfg->crash_after_commits;
    st = svc_consumer_start(&cc, &oa->consumer, err);
    if (st != RPC_OK)
        goto fail;
    *out = oa;
    return RPC_OK;
fail:
    order_async_stop(oa);
    return st;
}

void order_async_stop(order_async *oa)
{
    if (oa == NULL)
        return;
    svc_consumer_stop(oa->consumer);
    order_txmsg_close(oa->txmsg);
    svc_relay_stop(oa->relay);
    timeout_canceller_stop(oa->canceller);
    order_ids_free(oa->ids);
    free(oa);
}
