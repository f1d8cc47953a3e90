/* Reads the checker's rows from order_db, stock_db and coupon_db, each in
 * one REPEATABLE READ snapshot. Only OK rows of the member logs count: a
 * rejected or voided deduct changed nothing. */
#include "bench/harness/check_data.h"
#include "bench/harness/shop_check.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static PGconn *open_db(const char *what, const char *conninfo, char *err, size_t errlen)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "%s: cannot connect: %s", what, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PGresult *r = PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    PQclear(r);
    return c;
}

static PGresult *query(PGconn *c, const char *what, const char *sql, int nparams,
                       const char *const *params, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s: %s", what, PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
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

static int load_orders(check_data *d, PGconn *c, int64_t grace_ms, char *err, size_t errlen)
{
    char grace[32];
    snprintf(grace, sizeof grace, "%lld", (long long)(grace_ms < 0 ? 0 : grace_ms));
    const char *params[] = {grace};
    PGresult *r =
        query(c, "order_db",
              "SELECT order_id, status, goods_id, count, coupon_id, "
              "status = 'PENDING' AND pay_by + make_interval(secs => $1::bigint / 1000.0) "
              "< clock_timestamp() FROM orders ORDER BY order_id",
              1, params, err, errlen);
    if (!r)
        return -1;
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
    return d->orders ? 0 : -1;
}

static int load_log(check_log **out, size_t *n_out, PGconn *c, const char *what, const char *sql,
                    char *err, size_t errlen)
{
    PGresult *r = query(c, what, sql, 0, NULL, err, errlen);
    if (!r)
        return -1;
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
    return rows ? 0 : -1;
}

static int load_goods(check_data *d, PGconn *c, char *err, size_t errlen)
{
    PGresult *r = query(c, "stock_db",
                        "SELECT g.goods_id, g.stock, g.initial_stock, "
                        "coalesce(sum(l.count) FILTER (WHERE l.op = 'DEDUCT'), 0), "
                        "coalesce(sum(l.count) FILTER (WHERE l.op = 'RESTORE'), 0) "
                        "FROM goods g LEFT JOIN stock_log l "
                        "ON l.goods_id = g.goods_id AND l.result = 'OK' "
                        "GROUP BY g.goods_id ORDER BY g.goods_id",
                        0, NULL, err, errlen);
    if (!r)
        return -1;
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
    return d->goods ? 0 : -1;
}

static int load_coupons(check_data *d, PGconn *c, char *err, size_t errlen)
{
    PGresult *r = query(c, "coupon_db",
                        "SELECT coupon_id, order_id FROM coupons WHERE status = 'USED' "
                        "ORDER BY coupon_id",
                        0, NULL, err, errlen);
    if (!r)
        return -1;
    size_t n = (size_t)PQntuples(r);
    d->coupons = calloc(n ? n : 1, sizeof *d->coupons);
    for (size_t i = 0; d->coupons && i < n; i++) {
        d->coupons[i].id = num(r, (int)i, 0);
        d->coupons[i].order_id = num(r, (int)i, 1);
    }
    d->n_coupons = n;
    PQclear(r);
    return d->coupons ? 0 : -1;
}

int check_data_load(check_data *d, const char *order_db, const char *stock_db,
                    const char *coupon_db, int64_t grace_ms, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    int rc = -1;
    PGconn *oc = NULL, *sc = NULL, *cc = NULL;
    /* Members first, orders last: an order that appears between the reads
     * is newer than every member change we saw, never the reverse. */
    if (!(sc = open_db("stock_db", stock_db, err, errlen)) ||
        !(cc = open_db("coupon_db", coupon_db, err, errlen)) ||
        !(oc = open_db("order_db", order_db, err, errlen)))
        goto done;
    if (load_log(&d->stock_log, &d->n_stock_log, sc, "stock_db",
                 "SELECT order_id, op, goods_id, count FROM stock_log WHERE result = 'OK'", err,
                 errlen) != 0 ||
        load_goods(d, sc, err, errlen) != 0 ||
        load_log(&d->coupon_log, &d->n_coupon_log, cc, "coupon_db",
                 "SELECT order_id, op, coupon_id, 1 FROM coupon_log WHERE result = 'OK'", err,
                 errlen) != 0 ||
        load_coupons(d, cc, err, errlen) != 0 || load_orders(d, oc, grace_ms, err, errlen) != 0)
        goto done;
    rc = 0;
done:
    PQfinish(oc);
    PQfinish(sc);
    PQfinish(cc);
    if (rc != 0)
        check_data_free(d);
    return rc;
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
