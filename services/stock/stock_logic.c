/* Stock business logic: deduct and restore, de-duplicated by stock_log.
 *
 * Invariants, all enforced inside PostgreSQL so that concurrent calls and
 * several service instances stay correct:
 * - the DEDUCT row and the stock update commit together (one statement);
 * - UNIQUE(order_id, op) makes a second DEDUCT or RESTORE a no-op that
 *   returns the first result;
 * - the goods row is locked (FOR UPDATE) before the stock test, so the test
 *   sees the latest stock, and the CHECK (stock >= 0) backs it up;
 * - a restore that finds no deduct claims the DEDUCT slot with result VOID,
 *   so a deduct arriving after its compensation (a late retry, a message
 *   reordered) can never take stock that nobody will give back. */
#include "services/stock/stock_logic.h"

#include <stdio.h>
#include <string.h>

#include "base/status.h"
#include "base/trace.h"
#include "services/common/svc_db.h"

static const shop_stmt st_deduct = {
    "stock_deduct",
    "WITH g AS (SELECT goods_id, stock, price_cents FROM goods WHERE goods_id = $2::bigint"
    "           FOR UPDATE),"
    " ins AS (INSERT INTO stock_log (order_id, op, goods_id, count, result, trace_id)"
    "         SELECT $1::bigint, 'DEDUCT', g.goods_id, $3::int,"
    "                CASE WHEN g.stock >= $3::int THEN 'OK' ELSE 'OUT_OF_STOCK' END,"
    "                NULLIF($4::text, '') FROM g"
    "         ON CONFLICT (order_id, op) DO NOTHING RETURNING result),"
    " upd AS (UPDATE goods SET stock = goods.stock - $3::int FROM ins"
    "         WHERE goods.goods_id = $2::bigint AND ins.result = 'OK' RETURNING goods.stock)"
    " SELECT ins.result, g.price_cents, COALESCE((SELECT stock FROM upd), g.stock)"
    " FROM ins, g"};

static const shop_stmt st_deduct_first = {"stock_deduct_first",
                                          "SELECT l.result, g.price_cents, g.stock FROM stock_log l"
                                          " LEFT JOIN goods g ON g.goods_id = l.goods_id"
                                          " WHERE l.order_id = $1::bigint AND l.op = 'DEDUCT'"};

static const shop_stmt st_restore_claim = {
    "stock_restore_claim", "INSERT INTO stock_log (order_id, op, goods_id, count, result)"
                           " VALUES ($1::bigint, 'DEDUCT', $2::bigint, $3::int, 'VOID')"
                           " ON CONFLICT (order_id, op) DO NOTHING"};

/* Runs after the claim, in a new statement, so it sees a concurrent deduct
 * that the claim's conflict check waited for. */
static const shop_stmt st_restore = {
    "stock_restore",
    "WITH d AS (SELECT goods_id, count, result, trace_id FROM stock_log"
    "           WHERE order_id = $1::bigint AND op = 'DEDUCT'),"
    " r AS (INSERT INTO stock_log (order_id, op, goods_id, count, result, trace_id)"
    "       SELECT $1::bigint, 'RESTORE', d.goods_id, d.count,"
    "              CASE WHEN d.result = 'OK' THEN 'OK' ELSE 'NOOP' END, d.trace_id FROM d"
    "       ON CONFLICT (order_id, op) DO NOTHING RETURNING goods_id, count, result),"
    " u AS (UPDATE goods SET stock = goods.stock + r.count FROM r"
    "       WHERE goods.goods_id = r.goods_id AND r.result = 'OK' RETURNING goods.stock)"
    " SELECT r.result, (SELECT stock FROM u) FROM r"};

static const shop_stmt st_restore_first = {"stock_restore_first",
                                           "SELECT l.result, g.stock FROM stock_log l"
                                           " LEFT JOIN goods g ON g.goods_id = l.goods_id"
                                           " WHERE l.order_id = $1::bigint AND l.op = 'RESTORE'"};

static const shop_stmt st_get = {"stock_get",
                                 "SELECT goods_id, stock, initial_stock, price_cents FROM goods"
                                 " WHERE goods_id = $1::bigint"};

static const shop_stmt st_seed = {
    "stock_seed", "INSERT INTO goods (goods_id, stock, initial_stock, price_cents)"
                  " SELECT i, $3::int, $3::int, $4::bigint"
                  " FROM generate_series($1::bigint, $1::bigint + $2::bigint - 1) AS i"
                  " ON CONFLICT (goods_id) DO UPDATE SET stock = EXCLUDED.stock,"
                  "   initial_stock = EXCLUDED.initial_stock, price_cents = EXCLUDED.price_cents"};

rpc_status stock_logic_prepare(PGconn *conn, shop_error *err)
{
    const shop_stmt all[] = {st_deduct,        st_deduct_first, st_restore_claim, st_restore,
                             st_restore_first, st_get,          st_seed};
    return shop_db_prepare(conn, all, sizeof all / sizeof all[0], err);
}

static void result_init(stock_result *out)
{
    memset(out, 0, sizeof *out);
    out->stock_left = -1;
}

static int check_args(int64_t order_id, int64_t goods_id, int32_t count, stock_result *out)
{
    if (order_id <= 0 || goods_id <= 0 || count <= 0) {
        snprintf(out->msg, sizeof out->msg,
                 "order_id, goods_id and count must be positive (got %lld, %lld, %d)",
                 (long long)order_id, (long long)goods_id, (int)count);
        return RPC_INVALID_ARGUMENT;
    }
    return RPC_OK;
}

/* The status a DEDUCT row's result stands for. */
static int deduct_status(const char *result, int64_t order_id, int64_t goods_id, stock_result *out)
{
    if (strcmp(result, "OK") == 0)
        return RPC_OK;
    if (strcmp(result, "VOID") == 0)
        snprintf(out->msg, sizeof out->msg, "order %lld was already compensated",
                 (long long)order_id);
    else
        snprintf(out->msg, sizeof out->msg, "goods %lld is out of stock", (long long)goods_id);
    return RPC_FAILED_PRECONDITION;
}

int stock_deduct(PGconn *conn, int64_t order_id, int64_t goods_id, int32_t count, stock_result *out)
{
    result_init(out);
    rpc_status st = check_args(order_id, goods_id, count, out);
    if (st != RPC_OK)
        return st;
    char a[24], b[24], c[24];
    const shop_trace *t = shop_trace_current(); /* the order's, from RPC metadata or the message */
    const char *params[] = {shop_db_i64(a, order_id), shop_db_i64(b, goods_id),
                            shop_db_i64(c, count), t != NULL ? t->trace_id : ""};
    PGresult *res = NULL;
    shop_error db_err = {0};
    st = shop_db_run_once(conn, &st_deduct, &st_deduct_first, 4, 1, params, &out->duplicate, &res,
                          &db_err);
    if (st != RPC_OK) {
        snprintf(out->msg, sizeof out->msg, "%s", db_err.message);
        return st;
    }
    if (PQntuples(res) == 0) { /* no slot taken and no goods row */
        PQclear(res);
        snprintf(out->msg, sizeof out->msg, "goods %lld does not exist", (long long)goods_id);
        return RPC_NOT_FOUND;
    }
    out->price_cents = shop_db_get_i64(res, 0, 1);
    if (!shop_db_is_null(res, 0, 2))
        out->stock_left = shop_db_get_i64(res, 0, 2);
    st = deduct_status(PQgetvalue(res, 0, 0), order_id, goods_id, out);
    PQclear(res);
    return st;
}

int stock_restore(PGconn *conn, int64_t order_id, int64_t goods_id, int32_t count,
                  stock_result *out)
{
    result_init(out);
    rpc_status st = check_args(order_id, goods_id, count, out);
    if (st != RPC_OK)
        return st;
    char a[24], b[24], c[24];
    const char *params[] = {shop_db_i64(a, order_id), shop_db_i64(b, goods_id),
                            shop_db_i64(c, count)};
    PGresult *res = NULL;
    shop_error db_err = {0};
    st = shop_db_run_undo(conn, &st_restore_claim, 3, &st_restore, &st_restore_first, params,
                          &out->duplicate, &res, &db_err);
    if (st != RPC_OK) {
        snprintf(out->msg, sizeof out->msg, "%s", db_err.message);
        return st;
    }
    out->restored = strcmp(PQgetvalue(res, 0, 0), "OK") == 0;
    if (!shop_db_is_null(res, 0, 1))
        out->stock_left = shop_db_get_i64(res, 0, 1);
    PQclear(res);
    return RPC_OK;
}

rpc_status stock_get(PGconn *conn, int64_t goods_id, stock_goods *out, shop_error *err)
{
    memset(out, 0, sizeof *out);
    char a[24];
    const char *params[] = {shop_db_i64(a, goods_id)};
    PGresult *res = NULL;
    rpc_status st = shop_db_run(conn, &st_get, 1, params, &res, err);
    if (st != RPC_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        shop_error_set(err, RPC_NOT_FOUND, "goods %lld does not exist", (long long)goods_id);
        return RPC_NOT_FOUND;
    }
    out->goods_id = shop_db_get_i64(res, 0, 0);
    out->stock = shop_db_get_i64(res, 0, 1);
    out->initial_stock = shop_db_get_i64(res, 0, 2);
    out->price_cents = shop_db_get_i64(res, 0, 3);
    PQclear(res);
    return RPC_OK;
}

rpc_status stock_seed(PGconn *conn, int64_t first_id, int64_t n, int64_t stock, int64_t price_cents,
                      shop_error *err)
{
    if (first_id <= 0 || n < 0 || stock < 0 || stock > 2147483647 || price_cents < 0) {
        shop_error_set(err, RPC_INVALID_ARGUMENT,
                       "bad goods fixture: first %lld n %lld stock %lld price %lld",
                       (long long)first_id, (long long)n, (long long)stock, (long long)price_cents);
        return RPC_INVALID_ARGUMENT;
    }
    char a[24], b[24], c[24], d[24];
    const char *params[] = {shop_db_i64(a, first_id), shop_db_i64(b, n), shop_db_i64(c, stock),
                            shop_db_i64(d, price_cents)};
    PGresult *res = NULL;
    rpc_status st = shop_db_run(conn, &st_seed, 4, params, &res, err);
    if (st != RPC_OK)
        return st;
    PQclear(res);
    return RPC_OK;
}
