/* Collecting an order's steps: SQL over each service's database (read-only,
 * parameterised) and a scan of daemon log files. */
#include "tools/shopflow/trace_events.h"

#include <dirent.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static trace_event *add(trace_events *ev)
{
    if (ev->n == ev->cap) {
        size_t cap = ev->cap ? ev->cap * 2 : 64;
        trace_event *v = realloc(ev->v, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        ev->v = v;
        ev->cap = cap;
    }
    trace_event *e = &ev->v[ev->n++];
    memset(e, 0, sizeof *e);
    return e;
}

#define US(col) "COALESCE((extract(epoch FROM " col ") * 1000000)::bigint, 0)"
/* A traceparent's trace id: characters 4..35. */
#define TRACE_OF(col) "COALESCE(substr(" col ", 4, 32), '')"

/* Each query returns (at_us, what, trace_id) rows for order $1. */
static const char *const order_sql[] = {
    "SELECT " US(
        "t.at") ", t.what, COALESCE(o.trace_id, '') FROM orders o,"
                " LATERAL (VALUES (o.created_at, 'PlaceOrder accepted the order (PENDING)'),"
                "   (o.stock_at, 'stock step recorded'), (o.coupon_at, 'coupon step recorded'),"
                "   (o.confirmed_at, 'CONFIRMED'), (o.cancelled_at, 'CANCELLED: ' || "
                "COALESCE(o.reason, '')),"
                "   (o.closed_at, 'CLOSED: ' || COALESCE(o.reason, '')), (o.paid_at, 'PAID')) AS "
                "t(at, what)"
                " WHERE o.order_id = $1::bigint AND t.at IS NOT NULL",
    "SELECT " US("at") ", 'consumer applied ' || topic, COALESCE(trace_id, '') FROM inbox"
                       " WHERE order_id = $1::bigint",
};
static const char *const stock_sql[] = {
    "SELECT " US("at") ", 'stock ' || op || ' ' || result, COALESCE(trace_id, '')"
                       " FROM stock_log WHERE order_id = $1::bigint",
};
static const char *const coupon_sql[] = {
    "SELECT " US("at") ", 'coupon ' || op || ' ' || result, COALESCE(trace_id, '')"
                       " FROM coupon_log WHERE order_id = $1::bigint",
};
/* Every service: its outbox rows about the order, written and published. */
static const char *const outbox_sql = "SELECT " US("t.at") ", t.what, " TRACE_OF(
    "x.traceparent") " FROM outbox x,"
                     " LATERAL (VALUES (x.created_at, 'outbox ' || x.topic || ' written'),"
                     "   (x.published_at, 'relay published ' || x.topic || CASE WHEN x.delay_ms > 0"
                     "      THEN ' to mq-delayd (due in ' || x.delay_ms || ' ms)' ELSE ' to the "
                     "broker' END))"
                     "   AS t(at, what)"
                     " WHERE x.msg_key = $1::text AND t.at IS NOT NULL";

static rpc_status run(PGconn *c, trace_events *ev, const char *process, const char *sql,
                      const char *id, shop_error *err)
{
    const char *params[] = {id};
    PGresult *r = PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *why = PQerrorMessage(c);
        shop_error_set(err, RPC_UNAVAILABLE, "%s: %.*s", process, (int)strcspn(why, "\n"), why);
        PQclear(r);
        return RPC_UNAVAILABLE;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        trace_event *e = add(ev);
        if (e == NULL)
            break;
        e->at_us = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        snprintf(e->process, sizeof e->process, "%s", process);
        snprintf(e->what, sizeof e->what, "%s", PQgetvalue(r, i, 1));
        snprintf(e->trace_id, sizeof e->trace_id, "%s", PQgetvalue(r, i, 2));
    }
    PQclear(r);
    return RPC_OK;
}

static rpc_status order_head(PGconn *c, const char *id, char *trace_id, char *status,
                             shop_error *err)
{
    const char *params[] = {id};
    PGresult *r = PQexecParams(c,
                               "SELECT COALESCE(trace_id, ''), status FROM orders"
                               " WHERE order_id = $1::bigint",
                               1, NULL, params, NULL, NULL, 0);
    rpc_status st = RPC_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        st = shop_error_set(err, RPC_UNAVAILABLE, "order_db: %s", PQerrorMessage(c));
    else if (PQntuples(r) == 0)
        st = shop_error_set(err, RPC_NOT_FOUND, "no order %s in order_db", id);
    else {
        snprintf(trace_id, 33, "%s", PQgetvalue(r, 0, 0));
        snprintf(status, 16, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return st;
}

rpc_status trace_from_db(trace_events *ev, const char *service, const char *conninfo,
                         int64_t order_id, char *trace_id, char *status, shop_error *err)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        const char *why = PQerrorMessage(c);
        shop_error_set(err, RPC_UNAVAILABLE, "%s_db: %.*s", service, (int)strcspn(why, "\n"), why);
        PQfinish(c);
        return RPC_UNAVAILABLE;
    }
    char id[24], process[24];
    snprintf(id, sizeof id, "%lld", (long long)order_id);
    snprintf(process, sizeof process, "shop-%s", service);
    int is_order = strcmp(service, "order") == 0;
    const char *const *sql = is_order                        ? order_sql
                             : strcmp(service, "stock") == 0 ? stock_sql
                                                             : coupon_sql;
    size_t n = is_order ? 2 : 1;
    rpc_status st = is_order ? order_head(c, id, trace_id, status, err) : RPC_OK;
    for (size_t i = 0; i < n && st == RPC_OK; i++)
        st = run(c, ev, process, sql[i], id, err);
    if (st == RPC_OK)
        st = run(c, ev, process, outbox_sql, id, err);
    PQfinish(c);
    return st;
}

/* "2026-12-03T13:25:13.407Z" -> Unix microseconds (0 when not a time). */
static int64_t log_time(const char *s)
{
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000000 + ms * 1000;
}

static void scan_file(trace_events *ev, const char *path, const char *needle)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    char line[2048];
    while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, needle) == NULL)
            continue;
        line[strcspn(line, "\n")] = '\0';
        char when[40], level[16], process[24];
        int off = 0;
        if (sscanf(line, "%39s %15s %23s %n", when, level, process, &off) != 3 || off == 0)
            continue;
        trace_event *e = add(ev);
        if (e == NULL)
            break;
        e->at_us = log_time(when);
        snprintf(e->process, sizeof e->process, "%s", process);
        snprintf(e->what, sizeof e->what, "log: %s", line + off);
        /* the trace id is the line's last field: keep the step's words only */
        char *t = strstr(e->what, " trace_id=");
        if (t != NULL)
            *t = '\0';
        snprintf(e->trace_id, sizeof e->trace_id, "%s", needle + strlen("trace_id="));
    }
    fclose(f);
}

rpc_status trace_from_logs(trace_events *ev, const char *dir, const char *trace_id, shop_error *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return shop_error_errno(err, errno, "log folder %s", dir);
    char needle[48];
    snprintf(needle, sizeof needle, "trace_id=%s", trace_id);
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".log") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        scan_file(ev, path, needle);
    }
    closedir(d);
    return RPC_OK;
}

static int by_time(const void *a, const void *b)
{
    const trace_event *x = a, *y = b;
    return x->at_us < y->at_us ? -1 : x->at_us > y->at_us;
}

void trace_events_sort(trace_events *ev)
{
    if (ev->n > 1)
        qsort(ev->v, ev->n, sizeof *ev->v, by_time);
}

void trace_events_free(trace_events *ev)
{
    free(ev->v);
    ev->v = NULL;
    ev->n = ev->cap = 0;
}
