/* shop-order, shop-stock and shop-coupon with --arch async as real daemons
 * behind mq-broker and mq-delayd: PlaceOrder over RPC answers PENDING at
 * once, GetOrder shows the timeline up to CONFIRMED, PayOrder makes it PAID
 * and cancels its timeout in mq-delayd. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mq/mq.h"
#include "mq/mq_delay.h"
#include "base/clock.h"
#include "rpc/rpc.h"
#include "services/coupon/coupon_logic.h"
#include "services/stock/stock_logic.h"
#include "shop_order.rpc.h"
#include "tests/support/testsupport.h"

enum { BROKER, DELAYD, STOCK, COUPON, ORDER, NPROCS };

typedef struct world {
    ts_proc p[NPROCS];
    int port[NPROCS];
    char url[NPROCS][64], pub_url[64], dir[2][128], db[3][512];
    rpc_channel *order;
} world;

static world *current; /* for fini: a failed test leaves no daemon behind */

static void fini(void)
{
    for (int i = 0; current != NULL && i < NPROCS; i++)
        if (current->p[i].pid > 0)
            ts_stop(&current->p[i], SIGKILL, 2000);
    current = NULL;
}

TestSuite(async_daemon, .fini = fini);

static void seed(world *w)
{
    shop_error msg = {0};
    PGconn *s = PQconnectdb(w->db[0]), *c = PQconnectdb(w->db[1]);
    cr_assert_eq(stock_logic_prepare(s, &msg), 0, "%s", msg.message);
    cr_assert_eq(coupon_logic_prepare(c, &msg), 0, "%s", msg.message);
    cr_assert_eq(stock_seed(s, 1, 5, 50, 1000, &msg), RPC_OK, "%s", msg.message);
    cr_assert_eq(coupon_seed(c, 1, 5, 250, &msg), RPC_OK, "%s", msg.message);
    PQfinish(s);
    PQfinish(c);
}

static void start_daemon(world *w, int i, const char *bin, const char *db, const char *extra)
{
    char listen[96], dbflag[96];
    snprintf(listen, sizeof listen, "--listen=%s", w->url[i]);
    snprintf(dbflag, sizeof dbflag, "--db=%s", db);
    char *argv[] = {(char *)bin,    listen,         dbflag,     "--arch",   "async",
                    "--mq",         w->url[BROKER], "--mq-pub", w->pub_url, "--delay",
                    w->url[DELAYD], (char *)extra,  NULL};
    cr_assert_eq(ts_spawn(&w->p[i], argv), 0);
    if (ts_wait_port(&w->p[i], w->port[i], 15000) != 0) {
        ts_dump_log(&w->p[i]);
        cr_assert_fail("%s did not start", bin);
    }
}

static void up(world *w, const char *test)
{
    memset(w, 0, sizeof *w);
    current = w;
    for (int i = 0; i < NPROCS; i++) {
        w->port[i] = ts_free_port();
        snprintf(w->url[i], sizeof w->url[i], "tcp://127.0.0.1:%d", w->port[i]);
    }
    snprintf(w->pub_url, sizeof w->pub_url, "tcp://127.0.0.1:%d", ts_free_port());
    for (int i = 0; i < 2; i++)
        snprintf(w->dir[i], sizeof w->dir[i], "%s/shopflow-async-%d-%s-%d", ts_tmp_dir(),
                 (int)getpid(), test, i);
    ts_pg_fresh_db(test, "stock", w->db[0], sizeof w->db[0]);
    ts_pg_fresh_db(test, "coupon", w->db[1], sizeof w->db[1]);
    ts_pg_fresh_db(test, "order", w->db[2], sizeof w->db[2]);
    seed(w);
    char *broker[] = {"mq-broker", "--url",      w->url[BROKER], "--pub-url",
                      w->pub_url,  "--data-dir", w->dir[0],      NULL};
    cr_assert_eq(ts_spawn(&w->p[BROKER], broker), 0);
    cr_assert_eq(ts_wait_port(&w->p[BROKER], w->port[BROKER], 10000), 0);
    char *delayd[] = {"mq-delayd", "--listen", w->url[DELAYD], "--data-dir",
                      w->dir[1],   "--broker", w->url[BROKER], NULL};
    cr_assert_eq(ts_spawn(&w->p[DELAYD], delayd), 0);
    cr_assert_eq(ts_wait_port(&w->p[DELAYD], w->port[DELAYD], 10000), 0);
    char db[3][96];
    snprintf(db[0], sizeof db[0], "t_%s_stock_db", test);
    snprintf(db[1], sizeof db[1], "t_%s_coupon_db", test);
    snprintf(db[2], sizeof db[2], "t_%s_order_db", test);
    start_daemon(w, STOCK, "shop-stock", db[0], NULL);
    start_daemon(w, COUPON, "shop-coupon", db[1], NULL);
    start_daemon(w, ORDER, "shop-order", db[2], "--pay-window-level=3");
    rpc_channel_opts o = {.default_timeout_ms = 3000, .retry = {.max_attempts = 1}};
    rpc_error err = {0};
    cr_assert_eq(rpc_channel_open(&w->order, w->url[ORDER], &o, &err), RPC_OK, "%s", err.message);
}

static void down(world *w, const char *test)
{
    rpc_channel_close(w->order);
    for (int i = NPROCS - 1; i >= 0; i--) {
        int rc = ts_stop(&w->p[i], SIGTERM, 8000);
        if (rc != 0)
            ts_dump_log(&w->p[i]);
        cr_expect_eq(rc, 0, "%s exited %d after SIGTERM", w->p[i].name, rc);
    }
    const char *svcs[] = {"stock", "coupon", "order"};
    for (int i = 0; i < 3; i++)
        ts_pg_drop_db(test, svcs[i]);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", w->dir[0], w->dir[1]);
    cr_expect_eq(system(cmd), 0);
}

static Shop__Order__Order *get_order(world *w, int64_t id)
{
    Shop__Order__GetOrderRequest rq = SHOP__ORDER__GET_ORDER_REQUEST__INIT;
    rq.order_id = id;
    Shop__Order__GetOrderReply *rp = NULL;
    rpc_error err = {0};
    rpc_call_opts o = {.wait_for_ready = true};
    cr_assert_eq(shop_order_OrderService_GetOrder(w->order, &rq, &rp, &o, &err), RPC_OK, "%s",
                 err.message);
    Shop__Order__Order *order = rp->order;
    rp->order = NULL;
    shop__order__get_order_reply__free_unpacked(rp, NULL);
    return order;
}

Test(async_daemon, place_answers_pending_then_the_timeline_reaches_confirmed_and_paid)
{
    world w;
    up(&w, "adaemon_happy");
    Shop__Order__PlaceOrderRequest rq = SHOP__ORDER__PLACE_ORDER_REQUEST__INIT;
    rq.request_id = "adaemon-1";
    rq.user_id = 2;
    rq.goods_id = 3;
    rq.count = 2;
    rq.coupon_id = 2;
    Shop__Order__PlaceOrderReply *rp = NULL;
    rpc_error err = {0};
    rpc_call_opts co = {.wait_for_ready = true};
    cr_assert_eq(shop_order_OrderService_PlaceOrder(w.order, &rq, &rp, &co, &err), RPC_OK, "%s",
                 err.message);
    cr_assert_eq(rp->order->status, SHOP__ORDER__ORDER_STATUS__PENDING);
    int64_t id = rp->order->order_id;
    int64_t pay_by = rp->order->pay_by_us, accepted = rp->order->timeline->accepted_us;
    cr_assert(pay_by - accepted >= 9900000 && pay_by - accepted <= 10100000,
              "level 3 is a 10 s pay window, got %lld us", (long long)(pay_by - accepted));
    shop__order__place_order_reply__free_unpacked(rp, NULL);

    Shop__Order__Order *o = get_order(&w, id);
    for (int64_t until = shop_now_ms() + 15000;
         o->status != SHOP__ORDER__ORDER_STATUS__CONFIRMED && shop_now_ms() < until;) {
        shop__order__order__free_unpacked(o, NULL);
        shop_sleep_ms(20);
        o = get_order(&w, id);
    }
    cr_assert_eq(o->status, SHOP__ORDER__ORDER_STATUS__CONFIRMED);
    cr_assert_eq(o->amount_cents, 2 * 1000 - 250);
    Shop__Order__Timeline *t = o->timeline;
    cr_assert(t->stock_us >= t->accepted_us && t->coupon_us >= t->accepted_us &&
              t->confirmed_us >= t->stock_us && t->confirmed_us >= t->coupon_us);
    fprintf(stderr, "daemons: accept-to-confirm %.1f ms\n",
            (t->confirmed_us - t->accepted_us) / 1000.0);
    shop__order__order__free_unpacked(o, NULL);

    Shop__Order__PayOrderRequest pq = SHOP__ORDER__PAY_ORDER_REQUEST__INIT;
    pq.order_id = id;
    Shop__Order__PayOrderReply *pr = NULL;
    cr_assert_eq(shop_order_OrderService_PayOrder(w.order, &pq, &pr, &co, &err), RPC_OK, "%s",
                 err.message);
    cr_assert_eq(pr->order->status, SHOP__ORDER__ORDER_STATUS__PAID);
    cr_assert(pr->order->timeline->paid_us > 0);
    shop__order__pay_order_reply__free_unpacked(pr, NULL);

    /* the pending timeout was cancelled in mq-delayd (by the order
     * service's canceller thread, after PayOrder answered) */
    mq_delay_client *dc = NULL;
    mq_delay_stats s;
    shop_error msg = {0};
    cr_assert_eq(mq_delay_client_open(w.url[DELAYD], 2000, &dc, &msg), RPC_OK);
    for (int64_t until = shop_now_ms() + 5000;; shop_sleep_ms(10)) {
        cr_assert_eq(mq_delay_get_stats(dc, &s, &msg), RPC_OK, "%s", msg.message);
        if (s.cancelled >= 1 || shop_now_ms() > until)
            break;
        mq_delay_stats_free(&s);
    }
    cr_assert_eq(s.cancelled, 1);
    cr_assert_eq(s.pending, 0);
    mq_delay_stats_free(&s);
    mq_delay_client_close(dc);
    down(&w, "adaemon_happy");
}

static int64_t count_of(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

/* Places orders 1..n (user, goods and coupon i, `count` each) with request
 * ids "<prefix>-i"; returns the first order's id. */
static int64_t place_orders(world *w, const char *prefix, int n, int count)
{
    int64_t first = 0;
    for (int i = 1; i <= n; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "%s-%d", prefix, i);
        Shop__Order__PlaceOrderRequest rq = SHOP__ORDER__PLACE_ORDER_REQUEST__INIT;
        rq.request_id = rid;
        rq.user_id = i;
        rq.goods_id = i;
        rq.count = count;
        rq.coupon_id = i;
        Shop__Order__PlaceOrderReply *rp = NULL;
        rpc_error err = {0};
        rpc_call_opts co = {.wait_for_ready = true};
        cr_assert_eq(shop_order_OrderService_PlaceOrder(w->order, &rq, &rp, &co, &err), RPC_OK,
                     "%s", err.message);
        first = first ? first : rp->order->order_id;
        shop__order__place_order_reply__free_unpacked(rp, NULL);
    }
    return first;
}

/* Waits up to 15 s for n CONFIRMED orders; returns how many there are. */
static int64_t wait_confirmed(world *w, int64_t n)
{
    int64_t got = 0;
    for (int64_t until = shop_now_ms() + 15000; got != n && shop_now_ms() < until;
         shop_sleep_ms(50))
        got = count_of(w->db[2], "SELECT count(*) FROM orders WHERE status = 'CONFIRMED'");
    return got;
}

Test(async_daemon, daemons_with_every_message_published_and_handled_twice_deduct_once)
{
    enum { N = 5 };
    setenv("SHOP_ASYNC_DUP_PUBLISH", "1", 1); /* inherited by the daemons */
    setenv("SHOP_ASYNC_DUP_DELIVER", "1", 1);
    world w;
    up(&w, "adaemon_dup");
    place_orders(&w, "adaemon-dup", N, 3);
    cr_assert_eq(wait_confirmed(&w, N), N);
    shop_sleep_ms(300); /* the second copies drain */
    cr_assert_eq(count_of(w.db[0], "SELECT sum(stock) FROM goods"), 5 * 50 - 3 * N);
    cr_assert_eq(count_of(w.db[0], "SELECT count(*) FROM stock_log"), N);
    cr_assert_eq(count_of(w.db[1], "SELECT count(*) FROM coupons WHERE status = 'USED'"), N);
    down(&w, "adaemon_dup");
}

static mq_txn_state never_knows(const mq_msg *m, void *arg)
{
    (void)m;
    (void)arg;
    return MQ_TXN_UNKNOWN;
}

/* Halves of producer group shop-order for orders keys[i] (ids ids[i]),
 * left undecided by a member that leaves at once (as a shop-order that died
 * after them): only the real shop-order is asked about them. */
static void orphan_halves(world *w, const char *const *ids, const char *const *keys, int n)
{
    mq_txn_producer *p = NULL;
    shop_error err = {0};
    cr_assert_eq(
        mq_txn_producer_open(w->url[BROKER], "shop-order", never_knows, NULL, NULL, &p, &err),
        RPC_OK, "%s", err.message);
    for (int i = 0; i < n; i++) {
        mq_send_opts o = {.id = ids[i]};
        mq_send_result r;
        cr_assert_eq(mq_producer_send_half(p, "txmsg.check", keys[i], "x", 1, &o, &r), RPC_OK, "%s",
                     r.message);
    }
    mq_txn_producer_close(p);
}

/* Waits up to 10 s for `text` in `shopflow mq trace id`; its output in out. */
static int trace_shows(world *w, const char *id, const char *text, char *out, size_t len)
{
    for (int64_t until = shop_now_ms() + 10000; shop_now_ms() < until; shop_sleep_ms(100))
        if (ts_shopflow(out, len, "mq trace %s --url %s", id, w->url[BROKER]) == 0 &&
            strstr(out, text) != NULL)
            return 1;
    return 0;
}

Test(async_daemon, publish_txmsg_confirms_orders_and_checks_back_from_order_db)
{
    enum { N = 3 };
    setenv("SHOP_ORDER_PUBLISH", "txmsg", 1); /* inherited by the daemons */
    setenv("MQ_TXN_CHECK_MS", "300", 1);
    world w;
    up(&w, "adaemon_txmsg");
    cr_assert(ts_log_has(&w.p[ORDER], "publish=txmsg"));
    int64_t first = place_orders(&w, "adaemon-tx", N, 1);
    cr_assert_eq(wait_confirmed(&w, N), N, "order.placed went as committed half messages");
    cr_expect_eq(count_of(w.db[2], "SELECT count(*) FROM outbox WHERE topic = 'order.placed'"), 0);
    cr_expect_eq(count_of(w.db[2], "SELECT count(*) FROM outbox WHERE topic = 'order.timeout'"), N);
    cr_expect_eq(count_of(w.db[0], "SELECT count(*) FROM stock_log"), N);
    char key[24], out[16384];

    /* a repeated request id: its half (for a fresh order id) is rolled back */
    cr_assert_eq(place_orders(&w, "adaemon-tx", 1, 1), first, "the first order again");
    shop_sleep_ms(200);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq topic order.placed --url %s", w.url[BROKER]), 0,
                 "%s", out);
    cr_expect(strstr(out, "start=0 end=3 ") != NULL, "no 4th order.placed: %s", out);

    /* halves left undecided: shop-order answers from order_db */
    snprintf(key, sizeof key, "%lld", (long long)first);
    const char *ids[] = {"tx-check-known", "tx-check-unknown"}, *keys[] = {key, "999999999"};
    orphan_halves(&w, ids, keys, 2);
    cr_expect(trace_shows(&w, "tx-check-known", "COMMIT", out, sizeof out) &&
                  strstr(out, "STORED          txmsg.check@0"),
              "the order exists: committed by the check-back: %s", out);
    cr_expect(trace_shows(&w, "tx-check-unknown", "CHECK", out, sizeof out) &&
                  !strstr(out, "COMMIT") && !strstr(out, "ROLLBACK"),
              "no such order, and young: asked again later: %s", out);
    cr_expect(ts_log_has(&w.p[ORDER], "state=UNKNOWN"), "the young missing order is UNKNOWN");
    unsetenv("SHOP_ORDER_PUBLISH");
    unsetenv("MQ_TXN_CHECK_MS");
    down(&w, "adaemon_txmsg");
}
