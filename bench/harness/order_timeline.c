/* order_db queries for the confirmation figures; times are passed as epoch
 * milliseconds (parameters, never spliced into the SQL). */
#include "bench/harness/order_timeline.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

static rpc_status query(const char *conn, const char *sql, int n_params, const char *const *params,
                        PGconn **c, PGresult **r, shop_error *err)
{
    *r = NULL;
    *c = PQconnectdb(conn);
    if (PQstatus(*c) != CONNECTION_OK)
        return shop_error_set(err, RPC_UNAVAILABLE, "order_db: %s", PQerrorMessage(*c));
    *r = PQexecParams(*c, sql, n_params, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(*r) != PGRES_TUPLES_OK)
        return shop_error_set(err, RPC_INTERNAL, "order_db: %s", PQerrorMessage(*c));
    return RPC_OK;
}

static void done(PGconn *c, PGresult *r)
{
    PQclear(r);
    PQfinish(c);
}

static int64_t number(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? -1 : (int64_t)strtod(PQgetvalue(r, row, col), NULL);
}

rpc_status shop_timeline_lag_series(const char *order_conn, int64_t start_wall_ms, size_t n,
                                    int64_t *p50_us, int64_t *p99_us, shop_error *err)
{
    for (size_t i = 0; i < n; i++)
        p50_us[i] = p99_us[i] = -1;
    char start[32];
    snprintf(start, sizeof start, "%" PRId64, start_wall_ms);
    const char *params[] = {start};
    PGconn *c;
    PGresult *r;
    /* percentile_cont over intervals gives intervals: read them as epochs */
    rpc_status st =
        query(order_conn,
              "SELECT s, extract(epoch FROM p50) * 1e6, extract(epoch FROM p99) * 1e6 FROM ("
              "SELECT floor((extract(epoch FROM created_at) * 1000 - $1::bigint) / 1000)::bigint"
              " AS s, percentile_cont(0.5) WITHIN GROUP (ORDER BY confirmed_at - created_at) p50,"
              " percentile_cont(0.99) WITHIN GROUP (ORDER BY confirmed_at - created_at) p99"
              " FROM orders WHERE confirmed_at IS NOT NULL GROUP BY 1) t",
              1, params, &c, &r, err);
    for (int i = 0; st == RPC_OK && i < PQntuples(r); i++) {
        int64_t s = number(r, i, 0);
        if (s < 0 || (size_t)s >= n)
            continue;
        p50_us[s] = number(r, i, 1);
        p99_us[s] = number(r, i, 2);
    }
    done(c, r);
    return st;
}

rpc_status shop_timeline_window_read(const char *order_conn, int64_t from_wall_ms,
                                     int64_t to_wall_ms, shop_timeline_window *out, shop_error *err)
{
    out->created = out->confirmed = out->confirmed_in = 0;
    out->lag_p50_us = out->lag_p99_us = -1;
    char from[32], to[32];
    snprintf(from, sizeof from, "%" PRId64, from_wall_ms);
    snprintf(to, sizeof to, "%" PRId64, to_wall_ms);
    const char *params[] = {from, to};
    PGconn *c;
    PGresult *r;
    rpc_status st = query(
        order_conn,
        "WITH w AS (SELECT to_timestamp($1::bigint / 1000.0) AS a,"
        "                  to_timestamp($2::bigint / 1000.0) AS b),"
        " made AS (SELECT o.* FROM orders o, w WHERE o.created_at >= w.a AND o.created_at < w.b)"
        " SELECT (SELECT count(*) FROM made),"
        "  (SELECT count(*) FROM made WHERE confirmed_at IS NOT NULL),"
        "  (SELECT count(*) FROM orders o, w WHERE o.confirmed_at >= w.a AND o.confirmed_at < w.b),"
        "  (SELECT extract(epoch FROM percentile_cont(0.5) WITHIN GROUP"
        "     (ORDER BY confirmed_at - created_at)) * 1e6 FROM made WHERE confirmed_at IS NOT "
        "NULL),"
        "  (SELECT extract(epoch FROM percentile_cont(0.99) WITHIN GROUP"
        "     (ORDER BY confirmed_at - created_at)) * 1e6 FROM made WHERE confirmed_at IS NOT "
        "NULL)",
        2, params, &c, &r, err);
    if (st == RPC_OK && PQntuples(r) == 1) {
        out->created = number(r, 0, 0);
        out->confirmed = number(r, 0, 1);
        out->confirmed_in = number(r, 0, 2);
        out->lag_p50_us = number(r, 0, 3);
        out->lag_p99_us = number(r, 0, 4);
    }
    done(c, r);
    return st;
}

rpc_status shop_timeline_pending(const char *order_conn, int64_t *out, shop_error *err)
{
    PGconn *c;
    PGresult *r;
    *out = -1;
    rpc_status st = query(order_conn, "SELECT count(*) FROM orders WHERE status = 'PENDING'", 0,
                          NULL, &c, &r, err);
    if (st == RPC_OK && PQntuples(r) == 1)
        *out = number(r, 0, 0);
    done(c, r);
    return st;
}
