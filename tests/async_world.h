/* The async architecture as real processes for the async_*_test.c suites:
 * mq-broker, mq-delayd and one shop-async per service (relay + consumer),
 * each service on a fresh database of the private PostgreSQL. Orders are
 * placed and paid with the order service's own functions (order_async_place,
 * order_async_pay) on order_db; everything after that happens in the
 * daemons. Header-only: included by each async test binary. */
#ifndef SHOP_TESTS_ASYNC_WORLD_H
#define SHOP_TESTS_ASYNC_WORLD_H

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mq/mq_delay.h"
#include "base/clock.h"
#include "base/status.h"
#include "services/coupon/coupon_logic.h"
#include "services/order/order_async.h"
#include "services/stock/stock_logic.h"
#include "tests/support/testsupport.h"

enum { AW_ORDER, AW_STOCK, AW_COUPON, AW_ROLES };

typedef struct aw {
    char test[40];
    char mq_url[64], pub_url[64], delay_url[64];
    char mq_dir[160], delay_dir[160];
    char db[AW_ROLES][512];
    PGconn *conn[AW_ROLES];
    ts_proc broker, delayd, svc[AW_ROLES];
    int mq_port, delay_port;
    int64_t window_ms;
    const char *flags[AW_ROLES][4]; /* extra shop-async flags per role, NULL-terminated */
} aw;

static const char *const aw_roles[AW_ROLES] = {"order", "stock", "coupon"};

/* The world of the running test, for aw_fini. */
static aw *aw_current;

/* A suite's .fini: a test that failed half-way leaves no daemon behind. */
static inline void aw_fini(void)
{
    if (aw_current == NULL)
        return;
    ts_proc *ps[] = {&aw_current->broker, &aw_current->delayd, &aw_current->svc[0],
                     &aw_current->svc[1], &aw_current->svc[2]};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        if (ps[i]->pid > 0)
            ts_stop(ps[i], SIGKILL, 2000);
    aw_current = NULL;
}

static inline PGconn *aw_connect(const char *conninfo,
                                 rpc_status (*prepare)(PGconn *, shop_error *))
{
    shop_error err = {0};
    PGconn *c = PQconnectdb(conninfo);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect: %s", PQerrorMessage(c));
    cr_assert_eq(prepare(c, &err), 0, "prepare: %s", err.message);
    return c;
}

static inline void aw_start_broker(aw *w)
{
    char port[16];
    snprintf(port, sizeof port, "%d", w->mq_port);
    char *argv[] = {"mq-broker", "--url",
                    w->mq_url,   "--pub-url",
                    w->pub_url,  "--data-dir",
                    w->mq_dir,   "--ack-timeout-ms",
                    "2000",      "--consumer-timeout-ms",
                    "1500",      "--retry-scale",
                    "0.001",     NULL};
    cr_assert_eq(ts_spawn(&w->broker, argv), 0);
    cr_assert_eq(ts_wait_port(&w->broker, w->mq_port, 10000), 0, "mq-broker did not start");
}

static inline void aw_start_delayd(aw *w)
{
    char *argv[] = {"mq-delayd", "--listen", w->delay_url,       "--data-dir", w->delay_dir,
                    "--broker",  w->mq_url,  "--max-backoff-ms", "200",        NULL};
    cr_assert_eq(ts_spawn(&w->delayd, argv), 0);
    cr_assert_eq(ts_wait_port(&w->delayd, w->delay_port, 10000), 0, "mq-delayd did not start");
}

/* Starts shop-async for one role with its extra flags. */
static inline void aw_start(aw *w, int role)
{
    char window[24];
    snprintf(window, sizeof window, "%lld", (long long)w->window_ms);
    char *argv[24];
    int n = 0;
    argv[n++] = "shop-async";
    argv[n++] = (char *)aw_roles[role];
    argv[n++] = "--pg";
    argv[n++] = w->db[role];
    argv[n++] = "--mq";
    argv[n++] = w->mq_url;
    argv[n++] = "--mq-pub";
    argv[n++] = w->pub_url;
    argv[n++] = "--delay";
    argv[n++] = w->delay_url;
    argv[n++] = "--pay-window-ms";
    argv[n++] = window;
    for (int i = 0; i < 4 && w->flags[role][i] != NULL; i++)
        argv[n++] = (char *)w->flags[role][i];
    argv[n] = NULL;
    cr_assert_eq(ts_spawn(&w->svc[role], argv), 0);
}

/* Fresh databases, seeded goods 1..10 (stock each, 1000 cents) and coupons
 * for users 1..users (250 cents), then every process. */
static inline void aw_up(aw *w, const char *test, int64_t window_ms, int64_t stock, int users)
{
    shop_error msg = {0};
    snprintf(w->test, sizeof w->test, "%s", test);
    aw_current = w;
    w->window_ms = window_ms;
    w->mq_port = ts_free_port();
    w->delay_port = ts_free_port();
    snprintf(w->mq_url, sizeof w->mq_url, "tcp://127.0.0.1:%d", w->mq_port);
    snprintf(w->pub_url, sizeof w->pub_url, "tcp://127.0.0.1:%d", ts_free_port());
    snprintf(w->delay_url, sizeof w->delay_url, "tcp://127.0.0.1:%d", w->delay_port);
    snprintf(w->mq_dir, sizeof w->mq_dir, "%s/shopflow-async-%d-%s-mq", ts_tmp_dir(), (int)getpid(),
             test);
    snprintf(w->delay_dir, sizeof w->delay_dir, "%s/shopflow-async-%d-%s-delay", ts_tmp_dir(),
             (int)getpid(), test);
    for (int r = 0; r < AW_ROLES; r++)
        ts_pg_fresh_db(test, aw_roles[r], w->db[r], sizeof w->db[r]);
    w->conn[AW_ORDER] = aw_connect(w->db[AW_ORDER], order_async_prepare);
    w->conn[AW_STOCK] = aw_connect(w->db[AW_STOCK], stock_logic_prepare);
    w->conn[AW_COUPON] = aw_connect(w->db[AW_COUPON], coupon_logic_prepare);
    cr_assert_eq(stock_seed(w->conn[AW_STOCK], 1, 10, stock, 1000, &msg), RPC_OK, "%s",
                 msg.message);
    if (users > 0)
        cr_assert_eq(coupon_seed(w->conn[AW_COUPON], 1, users, 250, &msg), RPC_OK, "%s",
                     msg.message);
    aw_start_broker(w);
    aw_start_delayd(w);
    for (int r = 0; r < AW_ROLES; r++)
        aw_start(w, r);
}

static inline void aw_dump(aw *w)
{
    ts_dump_log(&w->broker);
    ts_dump_log(&w->delayd);
    for (int r = 0; r < AW_ROLES; r++)
        ts_dump_log(&w->svc[r]);
}

static inline void aw_down(aw *w)
{
    for (int r = 0; r < AW_ROLES; r++) {
        int rc = ts_stop(&w->svc[r], SIGTERM, 5000);
        if (rc != 0 && rc != 99 && rc != 128 + SIGKILL)
            ts_dump_log(&w->svc[r]);
    }
    ts_stop(&w->delayd, SIGTERM, 5000);
    ts_stop(&w->broker, SIGTERM, 5000);
    for (int r = 0; r < AW_ROLES; r++) {
        if (w->conn[r] != NULL)
            PQfinish(w->conn[r]);
        ts_pg_drop_db(w->test, aw_roles[r]);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", w->mq_dir, w->delay_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", w->mq_dir);
}

/* One integer from a parameterised query. */
static inline int64_t aw_i64(PGconn *c, const char *sql, int n, ...)
{
    const char *p[4];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n && i < 4; i++)
        p[i] = va_arg(ap, const char *);
    va_end(ap);
    PGresult *res = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    int64_t v = PQgetisnull(res, 0, 0) ? 0 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

/* Polls `sql` (one integer, $1 = `param` when not NULL) until it equals
 * `want` or timeout_ms passes; returns the last value. */
static inline int64_t aw_wait_i64(PGconn *c, const char *sql, const char *param, int64_t want,
                                  int timeout_ms)
{
    int64_t until = shop_now_ms() + timeout_ms, v;
    while ((v = aw_i64(c, sql, param != NULL, param)) != want && shop_now_ms() < until)
        shop_sleep_ms(20);
    return v;
}

/* Places an order (async PlaceOrder) and returns its id. */
static inline int64_t aw_place(aw *w, int64_t user, int64_t goods, int count, int64_t coupon)
{
    char rid[64];
    shop_error msg = {0};
    snprintf(rid, sizeof rid, "%s-%lld-%lld", w->test, (long long)user, (long long)shop_now_us());
    order_place_args a = {rid, user, goods, count, coupon, w->window_ms};
    shop_order o;
    int dup = 0;
    int st = order_async_place(NULL, w->conn[AW_ORDER], &a, &o, &dup, &msg);
    cr_assert_eq(st, RPC_OK, "place: %s %s", rpc_status_name(st), msg.message);
    cr_assert_eq(o.status, ORDER_PENDING);
    return o.order_id;
}

static inline shop_order aw_get(aw *w, int64_t id)
{
    shop_order o;
    shop_error msg = {0};
    cr_assert_eq(order_get(w->conn[AW_ORDER], id, &o, &msg), RPC_OK, "%s", msg.message);
    return o;
}

/* Waits until order `id` reaches `status`. */
static inline shop_order aw_wait_status(aw *w, int64_t id, int status, int timeout_ms)
{
    int64_t until = shop_now_ms() + timeout_ms;
    shop_order o = aw_get(w, id);
    while (o.status != status && shop_now_ms() < until) {
        shop_sleep_ms(20);
        o = aw_get(w, id);
    }
    if (o.status != status)
        aw_dump(w);
    cr_assert_eq(o.status, status, "order %lld is %s, expected %s", (long long)id,
                 order_status_name(o.status), order_status_name(status));
    return o;
}

/* Stock of goods `g` right now. */
static inline int64_t aw_stock(aw *w, int64_t g)
{
    stock_goods s;
    shop_error msg = {0};
    cr_assert_eq(stock_get(w->conn[AW_STOCK], g, &s, &msg), RPC_OK, "%s", msg.message);
    return s.stock;
}

static inline coupon_info aw_coupon(aw *w, int64_t id)
{
    coupon_info c;
    shop_error msg = {0};
    cr_assert_eq(coupon_get(w->conn[AW_COUPON], id, &c, &msg), RPC_OK, "%s", msg.message);
    return c;
}

#endif
