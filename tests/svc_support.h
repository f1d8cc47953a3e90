/* Shared by the services' integration tests: the whole stack as real
 * processes on fresh databases and free ports, typed clients, and direct
 * reads of the services' databases for the invariants. */
#ifndef SHOP_TESTS_SVC_SUPPORT_H
#define SHOP_TESTS_SVC_SUPPORT_H

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "services/pg/shop_pg.h"
#include "services/stack/shop_stack.h"
#include "shop_coupon.rpc.h"
#include "shop_order.rpc.h"
#include "shop_stock.rpc.h"
#include "tests/support/testsupport.h"

typedef struct svc_env {
    shop_stack st;
    rpc_channel *order, *stock, *coupon;
    char prefix[64];
    char log_dir[128];
} svc_env;

static inline rpc_channel *svc_dial(const char *url)
{
    rpc_channel *ch = NULL;
    rpc_channel_opts o = {.default_timeout_ms = 3000, .retry = {.max_attempts = 1}};
    rpc_error err = {0};
    cr_assert_eq(rpc_channel_open(&ch, url, &o, &err), RPC_OK, "%s", err.message);
    for (int64_t until = shop_now_ms() + 3000; shop_now_ms() < until;) {
        if (rpc_channel_connected(ch) > 0)
            return ch;
        shop_sleep_ms(5);
    }
    cr_assert_fail("no connection to %s", url);
    return NULL;
}

static inline void svc_dump_logs(const svc_env *e)
{
    for (int i = 0; i < SHOP_STACK_NPROCS; i++) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "tail -n 40 %s >&2", e->st.procs[i].log_path);
        if (system(cmd) != 0)
            fprintf(stderr, "(no log %s)\n", e->st.procs[i].log_path);
    }
}

/* Starts a stack named `name` (databases t_<name>_*_db) with `o` adjusted. */
static inline void svc_up(svc_env *e, const char *name, shop_stack_opts o)
{
    memset(e, 0, sizeof *e);
    ts_pg_up();
    snprintf(e->prefix, sizeof e->prefix, "t_%s_", name);
    snprintf(e->log_dir, sizeof e->log_dir, "%s/shopflow-svc-%d-%s", ts_tmp_dir(), (int)getpid(),
             name);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", e->log_dir);
    cr_assert_eq(system(cmd), 0);
    o.db_prefix = e->prefix;
    o.log_dir = e->log_dir;
    shop_error err = {0};
    if (shop_stack_start(&e->st, &o, &err) != 0) {
        svc_dump_logs(e);
        cr_assert_fail("stack: %s", err.message);
    }
    e->order = svc_dial(e->st.procs[SHOP_STACK_ORDER].url);
    e->stock = svc_dial(e->st.procs[SHOP_STACK_STOCK].url);
    e->coupon = svc_dial(e->st.procs[SHOP_STACK_COUPON].url);
}

/* Stops the stack (asserting a clean SIGTERM drain) and drops its databases. */
static inline void svc_down(svc_env *e)
{
    rpc_channel_close(e->order);
    rpc_channel_close(e->stock);
    rpc_channel_close(e->coupon);
    int rc = shop_stack_stop(&e->st);
    if (rc != 0)
        svc_dump_logs(e);
    cr_expect_eq(rc, 0, "every daemon drains and exits 0 on SIGTERM");
    for (int i = 0; i < SHOP_STACK_NPROCS; i++) {
        shop_error err = {0};
        shop_pg_drop_database(NULL, e->st.procs[i].db, &err);
        if (getenv("SVC_KEEP_LOGS") == NULL)
            unlink(e->st.procs[i].log_path);
    }
    rmdir(e->log_dir);
}

static inline shop_stack_opts svc_opts(int64_t goods, int64_t stock, int64_t users)
{
    shop_stack_opts o = shop_stack_defaults();
    o.goods = goods;
    o.stock = stock;
    o.users = users;
    o.workers = 4;
    return o;
}

/* PlaceOrder; on OK *out (if not NULL) gets the order (caller frees). */
static inline rpc_status svc_place(svc_env *e, const char *rid, int64_t user, int64_t goods,
                                   int count, int64_t coupon, int64_t timeout_ms,
                                   Shop__Order__PlaceOrderReply **out, rpc_error *err)
{
    Shop__Order__PlaceOrderRequest rq = SHOP__ORDER__PLACE_ORDER_REQUEST__INIT;
    rq.request_id = (char *)rid;
    rq.user_id = user;
    rq.goods_id = goods;
    rq.count = count;
    rq.coupon_id = coupon;
    Shop__Order__PlaceOrderReply *rp = NULL;
    rpc_call_opts o = {.timeout_ms = timeout_ms};
    rpc_status st = shop_order_OrderService_PlaceOrder(e->order, &rq, &rp, &o, err);
    if (st == RPC_OK && out != NULL)
        *out = rp;
    else if (st == RPC_OK)
        shop__order__place_order_reply__free_unpacked(rp, NULL);
    return st;
}

/* GetOrder by request_id; the caller frees. */
static inline Shop__Order__GetOrderReply *svc_order_by_request(svc_env *e, const char *rid)
{
    Shop__Order__GetOrderRequest rq = SHOP__ORDER__GET_ORDER_REQUEST__INIT;
    rq.request_id = (char *)rid;
    Shop__Order__GetOrderReply *rp = NULL;
    rpc_error err = {0};
    rpc_call_opts o = {.wait_for_ready = true};
    cr_assert_eq(shop_order_OrderService_GetOrder(e->order, &rq, &rp, &o, &err), RPC_OK, "%s",
                 err.message);
    return rp;
}

static inline int svc_order_status(svc_env *e, const char *rid)
{
    Shop__Order__GetOrderReply *g = svc_order_by_request(e, rid);
    int st = g->order->status;
    shop__order__get_order_reply__free_unpacked(g, NULL);
    return st;
}

static inline int64_t svc_stock_of(svc_env *e, int64_t goods)
{
    Shop__Stock__GetStockRequest rq = SHOP__STOCK__GET_STOCK_REQUEST__INIT;
    rq.goods_id = goods;
    Shop__Stock__GetStockReply *rp = NULL;
    rpc_error err = {0};
    rpc_call_opts o = {.wait_for_ready = true};
    cr_assert_eq(shop_stock_StockService_GetStock(e->stock, &rq, &rp, &o, &err), RPC_OK, "%s",
                 err.message);
    int64_t s = rp->stock;
    shop__stock__get_stock_reply__free_unpacked(rp, NULL);
    return s;
}

/* The order holding coupon `id`, 0 when unused. */
static inline int64_t svc_coupon_holder(svc_env *e, int64_t id)
{
    Shop__Coupon__GetCouponRequest rq = SHOP__COUPON__GET_COUPON_REQUEST__INIT;
    rq.coupon_id = id;
    Shop__Coupon__GetCouponReply *rp = NULL;
    rpc_error err = {0};
    rpc_call_opts o = {.wait_for_ready = true};
    cr_assert_eq(shop_coupon_CouponService_GetCoupon(e->coupon, &rq, &rp, &o, &err), RPC_OK, "%s",
                 err.message);
    int64_t holder = rp->used ? rp->order_id : 0;
    shop__coupon__get_coupon_reply__free_unpacked(rp, NULL);
    return holder;
}

/* One integer from a query on the order database. */
static inline int64_t svc_order_db_int(svc_env *e, const char *sql)
{
    char conninfo[SHOP_PG_CONNLEN];
    shop_error err = {0};
    cr_assert_eq(
        shop_pg_conninfo(NULL, e->st.procs[SHOP_STACK_ORDER].db, conninfo, sizeof conninfo, &err),
        0, "%s", err.message);
    PGconn *c = PQconnectdb(conninfo);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

static inline int64_t svc_pending_compensations(svc_env *e)
{
    return svc_order_db_int(e, "SELECT count(*) FROM compensations WHERE done_at IS NULL");
}

/* Polls `cond` (an expression) every 20 ms for up to `ms`. */
#define SVC_EVENTUALLY(ms, cond)                                                                   \
    do {                                                                                           \
        int64_t svc_until_ = shop_now_ms() + (ms);                                                 \
        while (!(cond) && shop_now_ms() < svc_until_)                                              \
            shop_sleep_ms(20);                                                                     \
    } while (0)

#endif
