/* The order service's consumer (group "order"): the members' results and the
 * due order.timeout, each applied in one transaction that first claims the
 * (order_id, topic) slot of the inbox table, so a redelivered message finds
 * its slot taken and changes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/trace.h"
#include "base/status.h"
#include "services/common/svc_db.h"
#include "services/order/order_async.h"
#include "services/order/order_ids.h"
#include "shop_events.pb-c.h"

#define NOW "clock_timestamp()"
#define US(col) "COALESCE((extract(epoch FROM " col ") * 1000000)::bigint, 0)"

static const shop_stmt st_inbox = {"oa_inbox",
                                   "INSERT INTO inbox (order_id, topic, trace_id)"
                                   " VALUES ($1::bigint, $2::text, NULLIF($3::text, ''))"
                                   " ON CONFLICT DO NOTHING RETURNING order_id"};

/* $2 'stock' or 'coupon', $3 its result, $4 price or discount, $5 when (us). */
static const shop_stmt st_result = {
    "oa_result",
    "UPDATE orders SET"
    " stock_result = CASE WHEN $2::text = 'stock' THEN $3::text ELSE stock_result END,"
    " coupon_result = CASE WHEN $2::text = 'coupon' THEN $3::text ELSE coupon_result END,"
    " price_cents = CASE WHEN $2::text = 'stock' THEN $4::bigint ELSE price_cents END,"
    " discount_cents = CASE WHEN $2::text = 'coupon' THEN $4::bigint ELSE discount_cents END,"
    " stock_at = CASE WHEN $2::text = 'stock' THEN to_timestamp($5::bigint / 1e6::float8)"
    "            ELSE stock_at END,"
    " coupon_at = CASE WHEN $2::text = 'coupon' THEN to_timestamp($5::bigint / 1e6::float8)"
    "             ELSE coupon_at END,"
    " updated_at = " NOW " WHERE order_id = $1::bigint"
    " RETURNING COALESCE(stock_result, ''), COALESCE(coupon_result, ''),"
    " GREATEST(0, price_cents * count - discount_cents), " US("stock_at") ", " US("coupon_at")};

static const shop_stmt st_close = {
    "oa_close", "UPDATE orders SET status = 'CLOSED', reason = 'unpaid after the pay window',"
                " closed_at = " NOW ", updated_at = " NOW " WHERE order_id = $1::bigint"
                " AND status IN ('PENDING', 'CONFIRMED') RETURNING order_id"};

static const shop_stmt st_user_cancel = {
    "oa_user_cancel", "UPDATE orders SET status = 'CANCELLED', reason = $2::text, fail_code = 1,"
                      " cancelled_at = " NOW ", updated_at = " NOW " WHERE order_id = $1::bigint"
                      " AND status IN ('PENDING', 'CONFIRMED') RETURNING order_id"};

static const char *const topics[] = {"stock.deducted", "stock.rejected", "coupon.used",
                                     "coupon.rejected", "order.timeout"};

rpc_status order_async_prepare(PGconn *conn, shop_error *err)
{
    if (order_logic_prepare(conn, err) != 0 || order_async_flows_prepare(conn, err) != 0 ||
        order_ids_prepare(conn, err) != 0)
        return shop_error_code(err);
    const shop_stmt all[] = {st_inbox, st_result, st_close, st_user_cancel};
    return shop_db_prepare(conn, all, sizeof all / sizeof all[0], err);
}

/* Runs a statement; *rows gets the row count. */
static rpc_status run(PGconn *conn, const shop_stmt *s, int n, const char *const *p, int *rows,
                      shop_error *err)
{
    PGresult *res = NULL;
    rpc_status st = shop_db_run(conn, s, n, p, &res, err);
    if (st != RPC_OK)
        return st;
    if (rows != NULL)
        *rows = PQntuples(res) > 0 ? PQntuples(res) : atoi(PQcmdTuples(res));
    PQclear(res);
    return RPC_OK;
}

/* A transition of one order by a statement that returns its id; *changed
 * says whether it matched, and `out` is read back when it did. */
static rpc_status transition(PGconn *conn, const shop_stmt *s, int n, const char *const *p,
                             int64_t order_id, int *changed, shop_order *out, shop_error *err)
{
    int rows = 0;
    rpc_status st = run(conn, s, n, p, &rows, err);
    *changed = st == RPC_OK && rows > 0;
    if (*changed)
        st = order_get(conn, order_id, out, err);
    return st;
}

rpc_status order_async_close(PGconn *conn, int64_t order_id, int *closed, shop_order *out,
                             shop_error *err)
{
    char a[24];
    const char *p[] = {shop_db_i64(a, order_id)};
    return transition(conn, &st_close, 1, p, order_id, closed, out, err);
}

rpc_status order_async_user_cancel(PGconn *conn, int64_t order_id, const char *reason,
                                   int *cancelled, shop_order *out, shop_error *err)
{
    char a[24];
    const char *p[] = {shop_db_i64(a, order_id), reason};
    return transition(conn, &st_user_cancel, 2, p, order_id, cancelled, out, err);
}

/* A member's answer, decoded from any of the four result events. */
typedef struct member_result {
    const char *member; /* "stock" or "coupon" */
    int ok;
    int64_t order_id, cents, at_us;
    char reason[160];
} member_result;

static int decode_result(const mq_msg *m, member_result *r)
{
    memset(r, 0, sizeof *r);
    if (strcmp(m->topic, "stock.deducted") == 0) {
        Shop__Events__StockDeducted *e =
            shop__events__stock_deducted__unpack(NULL, m->len, m->body);
        if (e == NULL)
            return -1;
        *r = (member_result){"stock", 1, e->order_id, e->price_cents, e->at_us, ""};
        shop__events__stock_deducted__free_unpacked(e, NULL);
    } else if (strcmp(m->topic, "stock.rejected") == 0) {
        Shop__Events__StockRejected *e =
            shop__events__stock_rejected__unpack(NULL, m->len, m->body);
        if (e == NULL)
            return -1;
        *r = (member_result){"stock", 0, e->order_id, 0, e->at_us, ""};
        snprintf(r->reason, sizeof r->reason, "stock rejected: %s", e->reason);
        shop__events__stock_rejected__free_unpacked(e, NULL);
    } else if (strcmp(m->topic, "coupon.used") == 0) {
        Shop__Events__CouponUsed *e = shop__events__coupon_used__unpack(NULL, m->len, m->body);
        if (e == NULL)
            return -1;
        *r = (member_result){"coupon", 1, e->order_id, e->discount_cents, e->at_us, ""};
        shop__events__coupon_used__free_unpacked(e, NULL);
    } else {
        Shop__Events__CouponRejected *e =
            shop__events__coupon_rejected__unpack(NULL, m->len, m->body);
        if (e == NULL)
            return -1;
        *r = (member_result){"coupon", 0, e->order_id, 0, e->at_us, ""};
        snprintf(r->reason, sizeof r->reason, "coupon rejected: %s", e->reason);
        shop__events__coupon_rejected__free_unpacked(e, NULL);
    }
    if (r->at_us <= 0)
        r->at_us = svc_outbox_now_us();
    return r->order_id > 0 ? 0 : -1;
}

/* Records a member's answer, then confirms (both OK) or cancels (one
 * rejected). A final order (cancelled, closed) ignores late answers: the
 * release event it published makes the member restore. */
static rpc_status on_result(PGconn *conn, const member_result *r, int *wrote, shop_error *err)
{
    char a[24], c[24], d[24];
    const char *p[] = {shop_db_i64(a, r->order_id), r->member, r->ok ? "OK" : "REJECTED",
                       shop_db_i64(c, r->cents), shop_db_i64(d, r->at_us)};
    PGresult *res = NULL;
    rpc_status st = shop_db_run(conn, &st_result, 5, p, &res, err);
    if (st != RPC_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        shop_error_set(err, RPC_INVALID_ARGUMENT, "order %lld does not exist",
                       (long long)r->order_id);
        return RPC_INVALID_ARGUMENT;
    }
    int stock_ok = strcmp(PQgetvalue(res, 0, 0), "OK") == 0;
    int stock_no = strcmp(PQgetvalue(res, 0, 0), "REJECTED") == 0;
    int coupon_ok =
        strcmp(PQgetvalue(res, 0, 1), "OK") == 0 || strcmp(PQgetvalue(res, 0, 1), "NONE") == 0;
    int coupon_no = strcmp(PQgetvalue(res, 0, 1), "REJECTED") == 0;
    int64_t amount = shop_db_get_i64(res, 0, 2);
    int64_t stock_us = shop_db_get_i64(res, 0, 3), coupon_us = shop_db_get_i64(res, 0, 4);
    PQclear(res);
    shop_order o;
    if (stock_no || coupon_no) {
        st = order_fail(conn, r->order_id, r->ok ? "a member rejected" : r->reason,
                        RPC_FAILED_PRECONDITION, 0, &o, err);
        if (st == RPC_OK) {
            *wrote = 1;
            return order_async_publish_release(conn, "order.cancelled", &o, err);
        }
    } else if (stock_ok && coupon_ok) {
        st = order_confirm(conn, r->order_id, amount, stock_us, coupon_us, &o, err);
    } else {
        return RPC_OK; /* waiting for the other member */
    }
    return st == RPC_FAILED_PRECONDITION ? RPC_OK : st; /* already final: nothing to do */
}

static rpc_status on_timeout(PGconn *conn, const mq_msg *m, int *wrote, shop_error *err)
{
    Shop__Events__OrderTimeout *e = shop__events__order_timeout__unpack(NULL, m->len, m->body);
    if (e == NULL) {
        shop_error_set(err, RPC_INVALID_ARGUMENT, "undecodable OrderTimeout");
        return RPC_INVALID_ARGUMENT;
    }
    int64_t id = e->order_id;
    shop__events__order_timeout__free_unpacked(e, NULL);
    int closed = 0;
    shop_order o;
    rpc_status st = order_async_close(conn, id, &closed, &o, err);
    if (st != RPC_OK || !closed)
        return st; /* paid, cancelled or closed already */
    *wrote = 1;
    return order_async_publish_release(conn, "order.closed", &o, err);
}

/* Claims the inbox slot; *duplicate when it was taken already. */
static rpc_status claim(PGconn *conn, int64_t order_id, const char *topic, int *duplicate,
                        shop_error *err)
{
    char a[24];
    const shop_trace *t = shop_trace_current(); /* the message's (svc_outbox_consumer.c) */
    const char *p[] = {shop_db_i64(a, order_id), topic, t != NULL ? t->trace_id : ""};
    int rows = 0;
    rpc_status st = run(conn, &st_inbox, 3, p, &rows, err);
    *duplicate = st == RPC_OK && rows == 0;
    return st;
}

static rpc_status handle_msg(PGconn *conn, const mq_msg *m, int *wrote, shop_error *err)
{
    rpc_status st;
    int64_t order_id = m->key != NULL ? strtoll(m->key, NULL, 10) : 0;
    member_result r;
    int timeout = strcmp(m->topic, "order.timeout") == 0;
    if (!timeout) {
        if (decode_result(m, &r) != 0) {
            shop_error_set(err, RPC_INVALID_ARGUMENT, "undecodable %s", m->topic);
            return RPC_INVALID_ARGUMENT;
        }
        order_id = r.order_id;
    }
    if (order_id <= 0) {
        shop_error_set(err, RPC_INVALID_ARGUMENT, "%s without an order id", m->topic);
        return RPC_INVALID_ARGUMENT;
    }
    int duplicate = 0;
    if ((st = claim(conn, order_id, m->topic, &duplicate, err)) != RPC_OK || duplicate)
        return st;
    return timeout ? on_timeout(conn, m, wrote, err) : on_result(conn, &r, wrote, err);
}

static rpc_status handle(PGconn *conn, const mq_msg *m, void *arg, int *wrote, shop_error *err)
{
    (void)arg;
    return handle_msg(conn, m, wrote, err);
}

void order_async_consumer_config(svc_consumer_cfg *cfg)
{
    cfg->name = "order";
    cfg->group = ORDER_CONSUMER_GROUP;
    cfg->topics = topics;
    cfg->n_topics = sizeof topics / sizeof topics[0];
    cfg->setup = order_async_prepare;
    cfg->handler = handle;
    cfg->arg = NULL;
}
