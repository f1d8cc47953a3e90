/* Coupon business logic: use and restore, de-duplicated by coupon_log.
 *
 * Same invariants as the stock logic: the USE row and the coupon update
 * commit in one statement; UNIQUE(order_id, op) turns repeats into reads of
 * the first result; the coupon row is locked before its state is tested; a
 * restore without a use claims the USE slot as VOID so a late use is refused. */
#include "services/coupon/coupon_logic.h"

#include <stdio.h>
#include <string.h>

#include "base/trace.h"
#include "base/status.h"
#include "services/common/svc_db.h"

static const shop_stmt st_use = {
    "coupon_use",
    "WITH c AS (SELECT coupon_id, user_id, status, discount_cents FROM coupons"
    "           WHERE coupon_id = $2::bigint FOR UPDATE),"
    " ins AS (INSERT INTO coupon_log (order_id, op, coupon_id, result, discount_cents,"
    "                              trace_id)"
    "         SELECT $1::bigint, 'USE', c.coupon_id,"
    "                CASE WHEN c.user_id <> $3::bigint THEN 'NOT_OWNER'"
    "                     WHEN c.status = 'UNUSED' THEN 'OK' ELSE 'ALREADY_USED' END,"
    "                c.discount_cents, NULLIF($4::text, '') FROM c"
    "         ON CONFLICT (order_id, op) DO NOTHING RETURNING result, discount_cents),"
    " u AS (UPDATE coupons SET status = 'USED', order_id = $1::bigint,"
    "              used_at = clock_timestamp() FROM ins"
    "       WHERE coupons.coupon_id = $2::bigint AND ins.result = 'OK' RETURNING 1)"
    " SELECT result, discount_cents FROM ins"};

static const shop_stmt st_use_first = {"coupon_use_first",
                                       "SELECT result, discount_cents FROM coupon_log"
                                       " WHERE order_id = $1::bigint AND op = 'USE'"};

static const shop_stmt st_restore_claim = {
    "coupon_restore_claim", "INSERT INTO coupon_log (order_id, op, coupon_id, result)"
                            " VALUES ($1::bigint, 'USE', $2::bigint, 'VOID')"
                            " ON CONFLICT (order_id, op) DO NOTHING"};

static const shop_stmt st_restore = {
    "coupon_restore",
    "WITH d AS (SELECT coupon_id, result, trace_id FROM coupon_log"
    "           WHERE order_id = $1::bigint AND op = 'USE'),"
    " r AS (INSERT INTO coupon_log (order_id, op, coupon_id, result, trace_id)"
    "       SELECT $1::bigint, 'RESTORE', d.coupon_id,"
    "              CASE WHEN d.result = 'OK' THEN 'OK' ELSE 'NOOP' END, d.trace_id FROM d"
    "       ON CONFLICT (order_id, op) DO NOTHING RETURNING coupon_id, result),"
    " u AS (UPDATE coupons SET status = 'UNUSED', order_id = NULL, used_at = NULL FROM r"
    "       WHERE coupons.coupon_id = r.coupon_id AND r.result = 'OK'"
    "         AND coupons.order_id = $1::bigint RETURNING 1)"
    " SELECT result FROM r"};

static const shop_stmt st_restore_first = {"coupon_restore_first",
                                           "SELECT result FROM coupon_log"
                                           " WHERE order_id = $1::bigint AND op = 'RESTORE'"};

static const shop_stmt st_get = {
    "coupon_get", "SELECT coupon_id, user_id, status = 'USED', order_id, discount_cents"
                  " FROM coupons WHERE coupon_id = $1::bigint"};

static const shop_stmt st_seed = {
    "coupon_seed",
    "INSERT INTO coupons (coupon_id, user_id, discount_cents, status)"
    " SELECT i, i, $3::bigint, 'UNUSED'"
    " FROM generate_series($1::bigint, $1::bigint + $2::bigint - 1) AS i"
    " ON CONFLICT (coupon_id) DO UPDATE SET user_id = EXCLUDED.user_id,"
    "   discount_cents = EXCLUDED.discount_cents, status = 'UNUSED', order_id = NULL,"
    "   used_at = NULL"};

rpc_status coupon_logic_prepare(PGconn *conn, shop_error *err)
{
    const shop_stmt all[] = {st_use,           st_use_first, st_restore_claim, st_restore,
                             st_restore_first, st_get,       st_seed};
    return shop_db_prepare(conn, all, sizeof all / sizeof all[0], err);
}

static int use_status(const char *result, int64_t order_id, int64_t coupon_id, coupon_result *out)
{
    if (strcmp(result, "OK") == 0)
        return RPC_OK;
    if (strcmp(result, "VOID") == 0)
        snprintf(out->msg, sizeof out->msg, "order %lld was already compensated",
                 (long long)order_id);
    else if (strcmp(result, "NOT_OWNER") == 0)
        snprintf(out->msg, sizeof out->msg, "coupon %lld belongs to another user",
                 (long long)coupon_id);
    else
        snprintf(out->msg, sizeof out->msg, "coupon %lld is already used", (long long)coupon_id);
    return RPC_FAILED_PRECONDITION;
}

int coupon_use(PGconn *conn, int64_t order_id, int64_t coupon_id, int64_t user_id,
               coupon_result *out)
{
    memset(out, 0, sizeof *out);
    if (order_id <= 0 || coupon_id <= 0) {
        snprintf(out->msg, sizeof out->msg, "order_id and coupon_id must be positive");
        return RPC_INVALID_ARGUMENT;
    }
    char a[24], b[24], c[24];
    const shop_trace *t = shop_trace_current(); /* the order's, from RPC metadata or the message */
    const char *params[] = {shop_db_i64(a, order_id), shop_db_i64(b, coupon_id),
                            shop_db_i64(c, user_id), t != NULL ? t->trace_id : ""};
    PGresult *res = NULL;
    shop_error db_err = {0};
    rpc_status st = shop_db_run_once(conn, &st_use, &st_use_first, 4, 1, params, &out->duplicate,
                                     &res, &db_err);
    if (st != RPC_OK) {
        snprintf(out->msg, sizeof out->msg, "%s", db_err.message);
        return st;
    }
    if (PQntuples(res) == 0) { /* no slot taken and no coupon row */
        PQclear(res);
        snprintf(out->msg, sizeof out->msg, "coupon %lld does not exist", (long long)coupon_id);
        return RPC_NOT_FOUND;
    }
    out->discount_cents = shop_db_get_i64(res, 0, 1);
    st = use_status(PQgetvalue(res, 0, 0), order_id, coupon_id, out);
    if (st != RPC_OK)
        out->discount_cents = 0;
    PQclear(res);
    return st;
}

int coupon_restore(PGconn *conn, int64_t order_id, int64_t coupon_id, coupon_result *out)
{
    memset(out, 0, sizeof *out);
    if (order_id <= 0 || coupon_id <= 0) {
        snprintf(out->msg, sizeof out->msg, "order_id and coupon_id must be positive");
        return RPC_INVALID_ARGUMENT;
    }
    char a[24], b[24];
    const char *params[] = {shop_db_i64(a, order_id), shop_db_i64(b, coupon_id)};
    PGresult *res = NULL;
    shop_error db_err = {0};
    rpc_status st = shop_db_run_undo(conn, &st_restore_claim, 2, &st_restore, &st_restore_first,
                                     params, &out->duplicate, &res, &db_err);
    if (st != RPC_OK) {
        snprintf(out->msg, sizeof out->msg, "%s", db_err.message);
        return st;
    }
    out->restored = strcmp(PQgetvalue(res, 0, 0), "OK") == 0;
    PQclear(res);
    return RPC_OK;
}

rpc_status coupon_get(PGconn *conn, int64_t coupon_id, coupon_info *out, shop_error *err)
{
    memset(out, 0, sizeof *out);
    char a[24];
    const char *params[] = {shop_db_i64(a, coupon_id)};
    PGresult *res = NULL;
    rpc_status st = shop_db_run(conn, &st_get, 1, params, &res, err);
    if (st != RPC_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        shop_error_set(err, RPC_NOT_FOUND, "coupon %lld does not exist", (long long)coupon_id);
        return RPC_NOT_FOUND;
    }
    out->coupon_id = shop_db_get_i64(res, 0, 0);
    out->user_id = shop_db_get_i64(res, 0, 1);
    out->used = PQgetvalue(res, 0, 2)[0] == 't';
    out->order_id = shop_db_get_i64(res, 0, 3);
    out->discount_cents = shop_db_get_i64(res, 0, 4);
    PQclear(res);
    return RPC_OK;
}

rpc_status coupon_seed(PGconn *conn, int64_t first_user, int64_t n, int64_t discount_cents,
                       shop_error *err)
{
    if (first_user <= 0 || n < 0 || discount_cents < 0) {
        shop_error_set(err, RPC_INVALID_ARGUMENT,
                       "bad coupon fixture: first %lld n %lld discount %lld", (long long)first_user,
                       (long long)n, (long long)discount_cents);
        return RPC_INVALID_ARGUMENT;
    }
    char a[24], b[24], c[24];
    const char *params[] = {shop_db_i64(a, first_user), shop_db_i64(b, n),
                            shop_db_i64(c, discount_cents)};
    PGresult *res = NULL;
    rpc_status st = shop_db_run(conn, &st_seed, 3, params, &res, err);
    if (st != RPC_OK)
        return st;
    PQclear(res);
    return RPC_OK;
}
