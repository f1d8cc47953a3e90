/* Order business logic: the order's state machine on order_db.
 *
 *   PENDING --confirm--> CONFIRMED --pay--> PAID
 *   PENDING --pay--> PAID (--confirm--> PAID, confirmed)
 *   PENDING/CONFIRMED --cancel or member failure--> CANCELLED
 *   PENDING/CONFIRMED --pay window over--> CLOSED
 *
 * Every transition is one conditional UPDATE (WHERE status IN ...), so
 * concurrent transitions serialise on the row lock and the loser matches no
 * row. Cancelling and closing insert the compensations the order now owes in
 * the same statement, so a restore can never be forgotten. */
#include "services/order/order_logic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "base/trace.h"
#include "services/common/svc_db.h"

#define US(col) "COALESCE((extract(epoch FROM " col ") * 1000000)::bigint, 0)"
/* The columns every statement returns, read by read_order(). */
#define ORDER_COLS                                                                                                      \
    "order_id, COALESCE(request_id, ''), user_id, goods_id, count, COALESCE(coupon_id, 0),"                             \
    " COALESCE(amount_cents, 0), status, COALESCE(reason, ''), fail_code, " US("pay_by") ", " US("created_at") ", " US( \
        "stock_at") ", " US("coupon_at") ", " US("confirmed_at") ", " US("cancelled_at") ", " US("closed_at") ", " US("paid_at") ", COALESCE(trace_id, '')"

#define NOW "clock_timestamp()"

/* Inserts the compensations owed by the orders in CTE `c`; $flag_stock and
 * $flag_coupon are booleans. */
#define OWE(flag_stock, flag_coupon)                                                               \
    " s AS (INSERT INTO compensations (order_id, target, goods_id, count)"                         \
    "       SELECT order_id, 'stock', goods_id, count FROM c WHERE " flag_stock                    \
    "       ON CONFLICT (order_id, target) DO NOTHING),"                                           \
    " k AS (INSERT INTO compensations (order_id, target, coupon_id)"                               \
    "       SELECT order_id, 'coupon', coupon_id FROM c"                                           \
    "       WHERE " flag_coupon " AND coupon_id IS NOT NULL"                                       \
    "       ON CONFLICT (order_id, target) DO NOTHING)"

static const shop_stmt st_place = {
    "order_place",
    "INSERT INTO orders (request_id, user_id, goods_id, count, coupon_id, pay_by, trace_id)"
    " VALUES (NULLIF($1::text, ''), $2::bigint, $3::bigint, $4::int, NULLIF($5::bigint, 0),"
    "         " NOW " + $6::bigint * interval '1 millisecond', NULLIF($7::text, ''))"
    " ON CONFLICT (request_id) DO NOTHING RETURNING " ORDER_COLS};

static const shop_stmt st_by_request = {
    "order_by_request", "SELECT " ORDER_COLS " FROM orders WHERE request_id = $1::text"};

static const shop_stmt st_get = {"order_get",
                                 "SELECT " ORDER_COLS " FROM orders WHERE order_id = $1::bigint"};

static const shop_stmt st_confirm = {
    "order_confirm",
    "UPDATE orders SET status = CASE WHEN status = 'PENDING' THEN 'CONFIRMED' ELSE status END,"
    " amount_cents = $2::bigint,"
    " stock_at = CASE WHEN $3::bigint > 0 THEN to_timestamp($3::bigint / 1e6::float8) END,"
    " coupon_at = CASE WHEN $4::bigint > 0 THEN to_timestamp($4::bigint / 1e6::float8) END,"
    " confirmed_at = " NOW ", updated_at = " NOW " WHERE order_id = $1::bigint"
    " AND status IN ('PENDING', 'PAID') AND confirmed_at IS NULL RETURNING " ORDER_COLS};

/* $4/$5: owe stock/coupon restores; $6: the user cancels (CONFIRMED may be
 * cancelled) rather than the placing flow (a PAID order not yet confirmed
 * may be). */
static const shop_stmt st_cancel = {
    "order_cancel",
    "WITH c AS (UPDATE orders SET status = 'CANCELLED', reason = $2::text,"
    "             fail_code = $3::int, cancelled_at = " NOW ", updated_at = " NOW
    "           WHERE order_id = $1::bigint AND (status = 'PENDING'"
    "             OR ($6::bool AND status = 'CONFIRMED')"
    "             OR (NOT $6::bool AND status = 'PAID' AND confirmed_at IS NULL))"
    "           RETURNING *)," OWE("$4::bool", "$5::bool") " SELECT " ORDER_COLS " FROM c"};

static const shop_stmt st_pay = {
    "order_pay", "UPDATE orders SET status = 'PAID', paid_at = " NOW ", updated_at = " NOW
                 " WHERE order_id = $1::bigint AND status IN ('PENDING', 'CONFIRMED')"
                 " AND pay_by > " NOW " RETURNING " ORDER_COLS};

static const shop_stmt st_close = {
    "order_close",
    "WITH due AS (SELECT order_id FROM orders"
    "             WHERE status IN ('PENDING', 'CONFIRMED') AND pay_by <= " NOW
    "             ORDER BY pay_by LIMIT $1::int FOR UPDATE SKIP LOCKED),"
    " c AS (UPDATE orders o SET status = 'CLOSED', reason = 'unpaid after the pay window',"
    "         closed_at = " NOW ", updated_at = " NOW " FROM due"
    "       WHERE o.order_id = due.order_id AND o.status IN ('PENDING', 'CONFIRMED')"
    "       RETURNING o.order_id, o.goods_id, o.count, o.coupon_id)," OWE(
        "true", "true") " SELECT count(*) FROM c"};

static const shop_stmt st_comp_due = {
    "order_comp_due",
    "SELECT id, order_id, target, COALESCE(goods_id, 0), COALESCE(count, 0),"
    " COALESCE(coupon_id, 0), attempts,"
    " (SELECT COALESCE(o.trace_id, '') FROM orders o WHERE o.order_id = compensations.order_id)"
    " FROM compensations WHERE done_at IS NULL AND next_at <= " NOW
    " ORDER BY next_at LIMIT $1::int"};

static const shop_stmt st_comp_done = {"order_comp_done",
                                       "UPDATE compensations SET done_at = " NOW ","
                                       " attempts = attempts + 1 WHERE id = ANY($1::bigint[])"};

static const shop_stmt st_comp_retry = {
    "order_comp_retry",
    "UPDATE compensations SET attempts = attempts + 1, last_error = $3::text,"
    " next_at = " NOW " + $2::bigint * interval '1 millisecond' WHERE id = $1::bigint"};

static const shop_stmt st_comp_pending = {
    "order_comp_pending", "SELECT count(*) FROM compensations WHERE done_at IS NULL"};

rpc_status order_logic_prepare(PGconn *conn, shop_error *err)
{
    const shop_stmt all[] = {st_place,     st_by_request, st_get,         st_confirm,
                             st_cancel,    st_pay,        st_close,       st_comp_due,
                             st_comp_done, st_comp_retry, st_comp_pending};
    return shop_db_prepare(conn, all, sizeof all / sizeof all[0], err);
}

const char *order_status_name(int status)
{
    static const char *const names[] = {"UNKNOWN", "PENDING",   "CONFIRMED",
                                        "PAID",    "CANCELLED", "CLOSED"};
    return status >= 0 && status <= ORDER_CLOSED ? names[status] : "UNKNOWN";
}

static int status_from_name(const char *name)
{
    for (int s = ORDER_PENDING; s <= ORDER_CLOSED; s++)
        if (strcmp(name, order_status_name(s)) == 0)
            return s;
    return ORDER_UNKNOWN;
}

static void read_order(const PGresult *res, int row, shop_order *o)
{
    memset(o, 0, sizeof *o);
    o->order_id = shop_db_get_i64(res, row, 0);
    snprintf(o->request_id, sizeof o->request_id, "%s", PQgetvalue(res, row, 1));
    o->user_id = shop_db_get_i64(res, row, 2);
    o->goods_id = shop_db_get_i64(res, row, 3);
    o->count = (int32_t)shop_db_get_i64(res, row, 4);
    o->coupon_id = shop_db_get_i64(res, row, 5);
    o->amount_cents = shop_db_get_i64(res, row, 6);
    o->status = status_from_name(PQgetvalue(res, row, 7));
    snprintf(o->reason, sizeof o->reason, "%s", PQgetvalue(res, row, 8));
    o->fail_code = (int)shop_db_get_i64(res, row, 9);
    o->pay_by_us = shop_db_get_i64(res, row, 10);
    o->accepted_us = shop_db_get_i64(res, row, 11);
    o->stock_us = shop_db_get_i64(res, row, 12);
    o->coupon_us = shop_db_get_i64(res, row, 13);
    o->confirmed_us = shop_db_get_i64(res, row, 14);
    o->cancelled_us = shop_db_get_i64(res, row, 15);
    o->closed_us = shop_db_get_i64(res, row, 16);
    o->paid_us = shop_db_get_i64(res, row, 17);
    snprintf(o->trace_id, sizeof o->trace_id, "%s", PQgetvalue(res, row, 18));
}

/* Runs a statement that returns at most one order. RPC_OK with *found = 1
 * when a row came back. */
static rpc_status run_order(PGconn *conn, const shop_stmt *stmt, int n, const char *const *params,
                            shop_order *out, int *found, shop_error *err)
{
    PGresult *res = NULL;
    rpc_status st = shop_db_run(conn, stmt, n, params, &res, err);
    if (st != RPC_OK)
        return st;
    *found = PQntuples(res) > 0;
    if (*found)
        read_order(res, 0, out);
    PQclear(res);
    return RPC_OK;
}

rpc_status order_place_check(const order_place_args *a, shop_error *err)
{
    if (a->request_id != NULL && strlen(a->request_id) > ORDER_REQUEST_ID_MAX) {
        shop_error_set(err, RPC_INVALID_ARGUMENT, "request_id is longer than %d bytes",
                       ORDER_REQUEST_ID_MAX);
        return RPC_INVALID_ARGUMENT;
    }
    if (a->user_id <= 0 || a->goods_id <= 0 || a->count <= 0 || a->coupon_id < 0 ||
        a->pay_window_ms < 0) {
        shop_error_set(err, RPC_INVALID_ARGUMENT,
                       "user_id, goods_id and count must be positive (got %lld, %lld, %d)",
                       (long long)a->user_id, (long long)a->goods_id, (int)a->count);
        return RPC_INVALID_ARGUMENT;
    }
    return RPC_OK;
}

rpc_status order_place(PGconn *conn, const order_place_args *a, shop_order *out, int *duplicate,
                       shop_error *err)
{
    *duplicate = 0;
    const char *rid = a->request_id != NULL ? a->request_id : "";
    rpc_status st = order_place_check(a, err);
    if (st != RPC_OK)
        return st;
    char b[24], c[24], d[24], e[24], f[24];
    const char *params[] = {rid,
                            shop_db_i64(b, a->user_id),
                            shop_db_i64(c, a->goods_id),
                            shop_db_i64(d, a->count),
                            shop_db_i64(e, a->coupon_id),
                            shop_db_i64(f, a->pay_window_ms),
                            shop_trace_current() != NULL ? shop_trace_current()->trace_id : ""};
    int found = 0;
    st = run_order(conn, &st_place, 7, params, out, &found, err);
    if (st != RPC_OK || found)
        return st;
    /* The request_id exists: the conflict check waited for it to commit. */
    st = run_order(conn, &st_by_request, 1, params, out, &found, err);
    if (st != RPC_OK)
        return st;
    if (!found) {
        shop_error_set(err, RPC_ABORTED, "request %s conflicted but cannot be read", rid);
        return RPC_ABORTED;
    }
    *duplicate = 1;
    return RPC_OK;
}

static rpc_status not_found(int64_t order_id, shop_error *err)
{
    shop_error_set(err, RPC_NOT_FOUND, "order %lld does not exist", (long long)order_id);
    return RPC_NOT_FOUND;
}

rpc_status order_get(PGconn *conn, int64_t order_id, shop_order *out, shop_error *err)
{
    char a[24];
    const char *params[] = {shop_db_i64(a, order_id)};
    int found = 0;
    rpc_status st = run_order(conn, &st_get, 1, params, out, &found, err);
    if (st == RPC_OK && !found)
        return not_found(order_id, err);
    return st;
}

rpc_status order_get_by_request(PGconn *conn, const char *request_id, shop_order *out,
                                shop_error *err)
{
    const char *params[] = {request_id};
    int found = 0;
    rpc_status st = run_order(conn, &st_by_request, 1, params, out, &found, err);
    if (st == RPC_OK && !found) {
        shop_error_set(err, RPC_NOT_FOUND, "no order has request_id '%s'", request_id);
        return RPC_NOT_FOUND;
    }
    return st;
}

/* A transition matched no row: say why from the order's current state. */
static rpc_status refused(PGconn *conn, int64_t order_id, const char *what, shop_order *out,
                          shop_error *err)
{
    rpc_status st = order_get(conn, order_id, out, err);
    if (st != RPC_OK)
        return st;
    shop_error_set(err, RPC_FAILED_PRECONDITION, "cannot %s order %lld: it is %s", what,
                   (long long)order_id, order_status_name(out->status));
    return RPC_FAILED_PRECONDITION;
}

rpc_status order_confirm(PGconn *conn, int64_t order_id, int64_t amount_cents, int64_t stock_us,
                         int64_t coupon_us, shop_order *out, shop_error *err)
{
    char a[24], b[24], c[24], d[24];
    const char *params[] = {shop_db_i64(a, order_id), shop_db_i64(b, amount_cents),
                            shop_db_i64(c, stock_us), shop_db_i64(d, coupon_us)};
    int found = 0;
    rpc_status st = run_order(conn, &st_confirm, 4, params, out, &found, err);
    if (st == RPC_OK && !found)
        return refused(conn, order_id, "confirm", out, err);
    return st;
}

static rpc_status cancel(PGconn *conn, int64_t order_id, const char *reason, int fail_code,
                         int comp, int by_user, shop_order *out, shop_error *err)
{
    char a[24], c[24];
    const char *params[] = {shop_db_i64(a, order_id),
                            reason != NULL ? reason : "",
                            shop_db_i64(c, fail_code),
                            (comp & ORDER_COMP_STOCK) ? "true" : "false",
                            (comp & ORDER_COMP_COUPON) ? "true" : "false",
                            by_user ? "true" : "false"};
    int found = 0;
    rpc_status st = run_order(conn, &st_cancel, 6, params, out, &found, err);
    if (st == RPC_OK && !found)
        return refused(conn, order_id, "cancel", out, err);
    return st;
}

rpc_status order_fail(PGconn *conn, int64_t order_id, const char *reason, int fail_code, int comp,
                      shop_order *out, shop_error *err)
{
    return cancel(conn, order_id, reason, fail_code, comp, 0, out, err);
}

rpc_status order_cancel(PGconn *conn, int64_t order_id, const char *reason, shop_order *out,
                        shop_error *err)
{
    const char *why = reason != NULL && reason[0] != '\0' ? reason : "cancelled by the user";
    return cancel(conn, order_id, why, RPC_CANCELLED, ORDER_COMP_STOCK | ORDER_COMP_COUPON, 1, out,
                  err);
}

rpc_status order_pay(PGconn *conn, int64_t order_id, shop_order *out, shop_error *err)
{
    char a[24];
    const char *params[] = {shop_db_i64(a, order_id)};
    int found = 0;
    rpc_status st = run_order(conn, &st_pay, 1, params, out, &found, err);
    if (st != RPC_OK || found)
        return st;
    st = refused(conn, order_id, "pay", out, err);
    if (st == RPC_FAILED_PRECONDITION &&
        (out->status == ORDER_PENDING || out->status == ORDER_CONFIRMED))
        shop_error_set(err, RPC_INTERNAL, "cannot pay order %lld: its pay window is over",
                       (long long)order_id);
    return st;
}

rpc_status order_close_expired(PGconn *conn, int limit, int *closed, shop_error *err)
{
    char a[24];
    const char *params[] = {shop_db_i64(a, limit)};
    rpc_status st;
    *closed = 0;
    PGresult *res = NULL;
    st = shop_db_run(conn, &st_close, 1, params, &res, err);
    if (st != RPC_OK)
        return st;
    *closed = (int)shop_db_get_i64(res, 0, 0);
    PQclear(res);
    return RPC_OK;
}

rpc_status order_comp_due(PGconn *conn, order_comp *rows, int max, int *n, shop_error *err)
{
    char a[24];
    const char *params[] = {shop_db_i64(a, max)};
    rpc_status st;
    *n = 0;
    PGresult *res = NULL;
    st = shop_db_run(conn, &st_comp_due, 1, params, &res, err);
    if (st != RPC_OK)
        return st;
    for (int i = 0; i < PQntuples(res) && i < max; i++) {
        order_comp *c = &rows[i];
        c->id = shop_db_get_i64(res, i, 0);
        c->order_id = shop_db_get_i64(res, i, 1);
        c->target =
            strcmp(PQgetvalue(res, i, 2), "stock") == 0 ? ORDER_COMP_STOCK : ORDER_COMP_COUPON;
        c->goods_id = shop_db_get_i64(res, i, 3);
        c->count = (int32_t)shop_db_get_i64(res, i, 4);
        c->coupon_id = shop_db_get_i64(res, i, 5);
        c->attempts = (int)shop_db_get_i64(res, i, 6);
        snprintf(c->trace_id, sizeof c->trace_id, "%s", PQgetvalue(res, i, 7));
        (*n)++;
    }
    PQclear(res);
    return RPC_OK;
}

static rpc_status run_command(PGconn *conn, const shop_stmt *stmt, int n, const char *const *params,
                              shop_error *err)
{
    PGresult *res = NULL;
    rpc_status st = shop_db_run(conn, stmt, n, params, &res, err);
    if (st == RPC_OK)
        PQclear(res);
    return st;
}

rpc_status order_comp_done(PGconn *conn, const int64_t *ids, int n, shop_error *err)
{
    /* The ids as a PostgreSQL array literal: "{1,2,3}". */
    char list[64 * 22 + 3];
    size_t at = 0;
    if (n < 0 || n > 64) {
        shop_error_set(err, RPC_INVALID_ARGUMENT, "%d compensations to mark: 0..64", n);
        return RPC_INVALID_ARGUMENT;
    }
    list[at++] = '{';
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%lld", i ? "," : "",
                               (long long)ids[i]);
    snprintf(list + at, sizeof list - at, "}");
    const char *params[] = {list};
    return run_command(conn, &st_comp_done, 1, params, err);
}

rpc_status order_comp_retry(PGconn *conn, int64_t id, int64_t backoff_ms, const char *error,
                            shop_error *err)
{
    char a[24], b[24];
    const char *params[] = {shop_db_i64(a, id), shop_db_i64(b, backoff_ms),
                            error != NULL ? error : ""};
    return run_command(conn, &st_comp_retry, 3, params, err);
}

rpc_status order_comp_pending(PGconn *conn, int64_t *n, shop_error *err)
{
    rpc_status st;
    *n = 0;
    PGresult *res = NULL;
    st = shop_db_run(conn, &st_comp_pending, 0, NULL, &res, err);
    if (st != RPC_OK)
        return st;
    *n = shop_db_get_i64(res, 0, 0);
    PQclear(res);
    return RPC_OK;
}
