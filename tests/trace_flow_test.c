/* A trace id follows each order across the processes of a real stack: the
 * caller's traceparent (or a new one) is in GetOrder's timeline, in the
 * members' records and log lines (sync: RPC metadata; async: message
 * properties through outbox, broker, mq-delayd and consumers), and
 * `shopflow trace` prints the path in time order. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "base/trace.h"
#include "services/stack/shop_stack.h"
#include "shop_order.rpc.h"
#include "tests/support/place_order.h"
#include "tests/support/testsupport.h"

#define TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"
#define CALLER_TP "00-" TRACE_ID "-00f067aa0ba902b7-01"
#define TRACE_ID2 "5cf92f3577b34da6a3ce929d0e0e4736"

typedef struct world {
    shop_stack st;
    rpc_channel *ch;
    char logs[512];
    const char *prefix;
} world;

static void up(world *w, const char *arch, const char *prefix)
{
    ts_pg_up();
    setenv("SHOPFLOW_LOG_LEVEL", "debug", 1); /* every step leaves a line */
    snprintf(w->logs, sizeof w->logs, "%s/%slogs", ts_tmp_dir(), prefix);
    mkdir(w->logs, 0755);
    shop_stack_opts o = shop_stack_defaults();
    o.arch = arch;
    o.goods = 3;
    o.stock = 10;
    o.users = 3;
    o.db_prefix = w->prefix = prefix;
    o.log_dir = w->logs;
    o.pay_window_ms = 1500;
    shop_error err = {0};
    cr_assert_eq(shop_stack_start(&w->st, &o, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(rpc_channel_open(&w->ch, w->st.procs[SHOP_STACK_ORDER].url, NULL, NULL), RPC_OK);
}

static void down(world *w)
{
    rpc_channel_close(w->ch);
    cr_expect_eq(shop_stack_stop(&w->st), 0);
    unsetenv("SHOPFLOW_LOG_LEVEL");
}

static int64_t place(world *w, const char *request_id, const char *traceparent)
{
    int64_t id = 0;
    rpc_error err = {0};
    cr_assert_eq(ts_place_order(w->ch, request_id, 1, traceparent, &id, &err), RPC_OK, "%s",
                 err.message);
    return id;
}

/* GetOrder until the order reaches `status` (10 s at most); its trace id. */
static void wait_status(world *w, int64_t id, int status, char trace_id[33])
{
    Shop__Order__GetOrderRequest rq = SHOP__ORDER__GET_ORDER_REQUEST__INIT;
    rq.order_id = id;
    for (int64_t until = shop_now_ms() + 10000;; shop_sleep_ms(50)) {
        Shop__Order__GetOrderReply *rp = NULL;
        rpc_error err = {0};
        cr_assert_eq(shop_order_OrderService_GetOrder(w->ch, &rq, &rp, NULL, &err), RPC_OK, "%s",
                     err.message);
        int now = rp->order->status;
        snprintf(trace_id, 33, "%s", rp->order->timeline->trace_id);
        shop__order__get_order_reply__free_unpacked(rp, NULL);
        if (now == status)
            return;
        cr_assert(shop_now_ms() < until, "order %lld stayed in status %d", (long long)id, now);
    }
}

/* `shopflow trace ID` output. */
static char *trace_cmd(world *w, int64_t id)
{
    char bin[512], cmd[1400];
    snprintf(cmd, sizeof cmd, "%s trace %lld --db-prefix %s --logs %s 2>&1",
             ts_bin("shopflow", bin, sizeof bin), (long long)id, w->prefix, w->logs);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    static char out[65536];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    cr_assert_eq(pclose(p), 0, "%s\n%s", cmd, out);
    return out;
}

/* Every step line names the same trace (or none, for records without one),
 * and the steps come in time order. */
static void same_trace_in_time_order(const char *out)
{
    double last = -1e18;
    int steps = 0;
    for (const char *l = strchr(out, '\n'); l != NULL && l[1] != '\0'; l = strchr(l + 1, '\n')) {
        double ms = 0;
        cr_assert_eq(sscanf(l + 1, "%*s %lf ms", &ms), 1, "bad line: %.120s", l + 1);
        cr_expect(ms >= last, "steps out of order at: %.120s", l + 1);
        last = ms;
        const char *t = strstr(l + 1, "trace=");
        cr_assert_not_null(t);
        cr_expect(strncmp(t, "trace=same", 10) == 0 || strncmp(t, "trace=-", 7) == 0,
                  "another trace: %.160s", l + 1);
        steps++;
    }
    cr_expect(steps >= 5, "%s", out);
}

static void has(const char *out, const char *what)
{
    cr_expect(strstr(out, what) != NULL, "no '%s' in\n%s", what, out);
}

Test(trace_flow, sync_orders_keep_the_callers_trace_through_stock_and_coupon)
{
    world w = {0};
    up(&w, "sync", "t_trc_s_");
    int64_t id = place(&w, "trc-s-1", CALLER_TP);
    char trace_id[33];
    wait_status(&w, id, SHOP__ORDER__ORDER_STATUS__CONFIRMED, trace_id);
    cr_expect_str_eq(trace_id, TRACE_ID);
    char *out = trace_cmd(&w, id);
    has(out, "trace_id=" TRACE_ID);
    has(out, "shop-stock  stock DEDUCT OK");
    has(out, "shop-coupon coupon USE OK");
    has(out, "shop-stock  log: rpc served method=shop.stock.StockService/Deduct");
    has(out, "shop-coupon log: rpc served method=shop.coupon.CouponService/Use");
    has(out, "shop-order  CONFIRMED");
    same_trace_in_time_order(out);

    /* The same coupon again: refused, and the background worker's stock
     * Restore (a compensation, long after the call) is in the order's trace. */
    int64_t id2 = 0;
    rpc_error err = {0};
    cr_assert_eq(
        ts_place_order(w.ch, "trc-s-2", 1, "00-" TRACE_ID2 "-00f067aa0ba902b7-01", &id2, &err),
        RPC_FAILED_PRECONDITION, "%s", err.message);
    id2 = id + 1; /* order_db's identity: the next order */
    wait_status(&w, id2, SHOP__ORDER__ORDER_STATUS__CANCELLED, trace_id);
    cr_expect_str_eq(trace_id, TRACE_ID2);
    for (int64_t until = shop_now_ms() + 10000;; shop_sleep_ms(200)) {
        out = trace_cmd(&w, id2);
        if (strstr(out, "log: compensated order=") != NULL || shop_now_ms() > until)
            break;
    }
    has(out, "shop-stock  stock RESTORE OK");
    has(out, "shop-order  log: compensated order=");
    same_trace_in_time_order(out);
    down(&w);
}

Test(trace_flow, async_orders_keep_their_trace_through_broker_delay_queue_and_consumers)
{
    world w = {0};
    up(&w, "async", "t_trc_a_");
    int64_t id = place(&w, "trc-a-1", NULL); /* no caller trace: PlaceOrder starts one */
    char trace_id[33];
    wait_status(&w, id, SHOP__ORDER__ORDER_STATUS__CLOSED, trace_id); /* unpaid: closed */
    cr_expect_eq(strlen(trace_id), 32);
    cr_expect_str_neq(trace_id, TRACE_ID);
    shop_sleep_ms(500); /* the members' restores follow the close */
    char *out = trace_cmd(&w, id);
    has(out, trace_id);
    has(out, "shop-order  relay published order.placed to the broker");
    has(out, "shop-stock  stock DEDUCT OK");
    has(out, "shop-coupon coupon USE OK");
    has(out, "shop-order  consumer applied coupon.used");
    has(out, "mq-delayd   log: due message handed over topic=order.timeout");
    has(out, "shop-order  CLOSED");
    has(out, "shop-stock  stock RESTORE OK");
    has(out, "shop-coupon log: consumed consumer=coupon topic=order.closed");
    same_trace_in_time_order(out);
    down(&w);
}

Test(trace_flow, a_malformed_traceparent_gets_a_new_trace)
{
    world w = {0};
    up(&w, "async", "t_trc_b_");
    int64_t id = place(&w, "trc-b-1", "00-" TRACE_ID "-0000000000000000-01");
    char trace_id[33];
    wait_status(&w, id, SHOP__ORDER__ORDER_STATUS__CONFIRMED, trace_id);
    cr_expect_eq(strlen(trace_id), 32);
    cr_expect_str_neq(trace_id, TRACE_ID, "a span id of zeros is invalid (W3C)");
    down(&w);
}

Test(trace_flow, traceparent_parsing_follows_w3c)
{
    shop_trace t;
    cr_expect_eq(shop_trace_parse(CALLER_TP, &t, NULL), RPC_OK);
    cr_expect_str_eq(t.trace_id, TRACE_ID);
    cr_expect_str_eq(t.span_id, "00f067aa0ba902b7");
    char back[SHOP_TRACEPARENT_LEN + 1];
    shop_trace_format(&t, back);
    cr_expect_str_eq(back, CALLER_TP);
    const char *bad[] = {"01-" TRACE_ID "-00f067aa0ba902b7-01",
                         "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                         "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                         "00-" TRACE_ID "-00f067aa0ba902b7", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(shop_trace_parse(bad[i], &t, NULL), RPC_INVALID_ARGUMENT, "%s", bad[i]);
    shop_trace n, c;
    shop_trace_new(&n);
    shop_trace_child(&n, &c);
    cr_expect_str_eq(c.trace_id, n.trace_id);
    cr_expect_str_neq(c.span_id, n.span_id);
}
