/* Reads the checker's rows from order_db, stock_db and coupon_db, each in
 * one REPEATABLE READ snapshot. Only OK rows of the member logs count: a
 * rejected or voided deduct changed nothing. */
#include "bench/harness/check_data.h"
#include "bench/harness/shop_check.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rpc_status open_db(PGconn **out, const char *what, const char *conninfo, shop_error *err)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        rpc_status st =
            shop_error_set(err, RPC_UNAVAILABLE, "%s: cannot connect: %s", what, PQerrorMessage(c));
        PQfinish(c);
        return st;
    }
    PGresult *r = PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    PQclear(r);
    *out = c;
    return RPC_OK;
}

static rpc_status query(PGresult **out, PGconn *c, const char *what, const char *sql, int nparams,
                        const char *const *params, shop_error *err)
{
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rpc_status st = shop_error_set(err, RPC_INTERNAL, "%s: %s", what, PQresultErrorMessage(r));
        PQclear(r);
        return st;
    }
    *out = r;
    return RPC_OK;
}

/* The result of a load_* function: its rows were allocated, or not. */
static rpc_status allocated(const void *rows, const char *what, shop_error *err)
{
    return rows ? RPC_OK : shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "%s: out of memory", what);
}

static int64_t num(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static int status_index(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(s, shop_order_status_names[i]) == 0)
            return i;
    return 0;
}

static rpc_status load_orders(check_data *d, PGconn *c, int64_t grace_ms, shop_error *err)
{
    char grace[32];
    snprintf(grace, sizeof grace, "%lld", (long long)(grace_ms < 0 ? 0 : grace_ms));
    const char *params[] = {grace};
    PGresult *r;
    rpc_status st =
        query(&r, c, "order_db",
              "SELECT order_id, status, goods_id, count, coupon_id, "
              "status = 'PENDING' AND pay_by + make_interval(secs => $1::bigint / 1000.0) "
              "< clock_timestamp() FROM orders ORDER BY order_id",
              1, params, err);
    if (st != RPC_OK)
        return st;
    size_t n = (size_t)PQntuples(r);
    d->orders = calloc(n ? n : 1, sizeof *d->orders);
    for (size_t i = 0; d->orders && i < n; i++) {
        check_order *o = &d->orders[i];
        o->id = num(r, (int)i, 0);
        o->status = status_index(PQgetvalue(r, (int)i, 1));
        o->goods_id = num(r, (int)i, 2);
        o->count = (int)num(r, (int)i, 3);
        o->coupon_id = num(r, (int)i, 4);
        o->stale = PQgetvalue(r, (int)i, 5)[0] == 't';
    }
    d->n_orders = n;
    PQclear(r);
    return allocated(d->orders, "order_db", err);
}

static rpc_status load_log(check_log **out, size_t *n_out, PGconn *c, const char *what,
                           const char *sql, shop_error *err)
{
    PGresult *r;
    rpc_status st = query(&r, c, what, sql, 0, NULL, err);
    if (st != RPC_OK)
        return st;
    size_t n = (size_t)PQntuples(r);
    check_log *rows = calloc(n ? n : 1, sizeof *rows);
    for (size_t i = 0; rows && i < n; i++) {
        rows[i].order_id = num(r, (int)i, 0);
        rows[i].restore = strcmp(PQgetvalue(r, (int)i, 1), "RESTORE") == 0;
        rows[i].ref = num(r, (int)i, 2);
        rows[i].count = (int)num(r, (int)i, 3);
    }
    PQclear(r);
    *out = rows;
    *n_out = n;
    return allocated(rows, what, err);
}

static rpc_status load_goods(check_data *d, PGconn *c, shop_error *err)
{
    PGresult *r;
    rpc_status st = query(&r, c, "stock_db",
                          "SELECT g.goods_id, g.stock, g.initial_stock, "
                          "coalesce(sum(l.count) FILTER (WHERE l.op = 'DEDUCT'), 0), "
                          "coalesce(sum(l.count) FILTER (WHERE l.op = 'RESTORE'), 0) "
                          "FROM goods g LEFT JOIN stock_log l "
                          "ON l.goods_id = g.goods_id AND l.result = 'OK' "
                          "GROUP BY g.goods_id ORDER BY g.goods_id",
                          0, NULL, err);
    if (st != RPC_OK)
        return st;
    size_t n = (size_t)PQntuples(r);
    d->goods = calloc(n ? n : 1, sizeof *d->goods);
    for (size_t i = 0; d->goods && i < n; i++) {
        check_goods *g = &d->goods[i];
        g->id = num(r, (int)i, 0);
        g->stock = num(r, (int)i, 1);
        g->initial = num(r, (int)i, 2);
        g->deducted = num(r, (int)i, 3);
        g->restored = num(r, (int)i, 4);
    }
    d->n_goods = n;
    PQclear(r);
    return allocated(d->goods, "stock_db", err);
}

static rpc_status load_coupons(check_data *d, PGconn *c, shop_error *err)
{
    PGresult *r;
    rpc_status st = query(&r, c, "coupon_db",
                          "SELECT coupon_id, order_id FROM coupons WHERE status = 'USED' "
                          "ORDER BY coupon_id",
                          0, NULL, err);
    if (st != RPC_OK)
        return st;
    size_t n = (size_t)PQntuples(r);
    d->coupons = calloc(n ? n : 1, sizeof *d->coupons);
    for (size_t i = 0; d->coupons && i < n; i++) {
        d->coupons[i].id = num(r, (int)i, 0);
        d->coupons[i].order_id = num(r, (int)i, 1);
    }
    d->n_coupons = n;
    PQclear(r);
    return allocated(d->coupons, "coupon_db", err);
}

rpc_status check_data_load(check_data *d, const char *order_db, const char *stock_db,
                           const char *coupon_db, int64_t grace_ms, shop_error *err)
{
    memset(d, 0, sizeof *d);
    rpc_status st;
    PGconn *oc = NULL, *sc = NULL, *cc = NULL;
    /* Members first, orders last: an order that appears between the reads
     * is newer than every member change we saw, never the reverse. */
    if ((st = open_db(&sc, "stock_db", stock_db, err)) == RPC_OK &&
        (st = open_db(&cc, "coupon_db", coupon_db, err)) == RPC_OK &&
        (st = open_db(&oc, "order_db", order_db, err)) == RPC_OK &&
        (st = load_log(&d->stock_log, &d->n_stock_log, sc, "stock_db",
                       "SELECT order_id, op, goods_id, count FROM stock_log WHERE result = 'OK'",
                       err)) == RPC_OK &&
        (st = load_goods(d, sc, err)) == RPC_OK &&
        (st = load_log(&d->coupon_log, &d->n_coupon_log, cc, "coupon_db",
                       "SELECT order_id, op, coupon_id, 1 FROM coupon_log WHERE result = 'OK'",
                       err)) == RPC_OK &&
        (st = load_coupons(d, cc, err)) == RPC_OK)
        st = load_orders(d, oc, grace_ms, err);
    PQfinish(oc);
    PQfinish(sc);
    PQfinish(cc);
    if (st != RPC_OK)
        check_data_free(d);
    return st;
}

void check_data_free(check_data *d)
{
    free(d->orders);
    free(d->stock_log);
    free(d->coupon_log);
    free(d->goods);
    free(d->coupons);
    memset(d, 0, sizeof *d);
}
