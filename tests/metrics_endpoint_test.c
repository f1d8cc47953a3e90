/* GET /metrics on every daemon of a real stack (sync and async): the page
 * is accepted by `promtool check metrics` (Debian's prometheus package) and
 * carries the figures of the orders just placed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/metrics.h"
#include "rpc/http_get.h"
#include "services/stack/shop_stack.h"
#include "tests/support/place_order.h"
#include "tests/support/testsupport.h"

static void need_promtool(void)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        cr_skip_test("promtool not installed (scripts/deps.sh installs Debian's prometheus)");
}

/* promtool check metrics on `text`; its complaints into the test's output. */
static void promtool_accepts(const char *what, const char *text)
{
    char path[512], cmd[700];
    snprintf(path, sizeof path, "%s/metrics-%d.txt", ts_tmp_dir(), (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' 2>&1", path);
    int rc = system(cmd);
    unlink(path);
    cr_assert_eq(rc, 0, "promtool check metrics rejected %s", what);
}

/* The page at p's metrics URL, waiting for the endpoint to answer. */
static char *scrape(const shop_stack_proc *p)
{
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", p->metrics_url);
    for (int64_t until = shop_now_ms() + 10000; shop_now_ms() < until; shop_sleep_ms(50)) {
        int status = 0;
        char *body = NULL;
        size_t len = 0;
        if (rpc_http_get(url, 2000, &status, &body, &len, NULL) == RPC_OK) {
            cr_assert_eq(status, 200, "%s answered %d", url, status);
            return body;
        }
    }
    cr_assert_fail("no answer from %s", url);
    return NULL;
}

static void place(rpc_channel *ch, const char *request_id)
{
    int64_t id = 0;
    rpc_error err = {0};
    cr_assert_eq(ts_place_order(ch, request_id, 1, NULL, &id, &err), RPC_OK, "%s", err.message);
}

/* Scrapes `p` until `needle` shows up (figures read at scrape time catch up
 * with the async flow). */
static char *scrape_until(const shop_stack_proc *p, const char *needle)
{
    for (int64_t until = shop_now_ms() + 15000;; shop_sleep_ms(100)) {
        char *page = scrape(p);
        if (strstr(page, needle) != NULL || shop_now_ms() > until)
            return page;
        free(page);
    }
}

static void check(shop_stack_proc *p, const char *needle)
{
    char *page = scrape_until(p, needle);
    cr_expect(strstr(page, needle) != NULL, "%s: no '%s' in\n%s", p->name, needle, page);
    promtool_accepts(p->name, page);
    free(page);
}

static void run_stack(const char *arch, const char *prefix, shop_stack *st)
{
    ts_pg_up();
    shop_stack_opts o = shop_stack_defaults();
    o.arch = arch;
    o.goods = 3;
    o.stock = 10;
    o.users = 3;
    o.db_prefix = prefix;
    o.log_dir = ts_tmp_dir();
    shop_error err = {0};
    cr_assert_eq(shop_stack_start(st, &o, &err), RPC_OK, "%s", err.message);
}

Test(metrics_endpoint, every_async_daemon_serves_metrics_that_promtool_accepts)
{
    need_promtool();
    shop_stack st;
    run_stack("async", "t_met_a_", &st);
    rpc_channel *ch = NULL;
    cr_assert_eq(rpc_channel_open(&ch, st.procs[SHOP_STACK_ORDER].url, NULL, NULL), RPC_OK);
    place(ch, "met-a-1");
    check(&st.procs[SHOP_STACK_ORDER], "shop_orders{arch=\"async\",state=\"CONFIRMED\"} 1");
    check(&st.procs[SHOP_STACK_ORDER],
          "rpc_server_calls_total{method=\"shop.order.OrderService/PlaceOrder\",code=\"OK\"} 1");
    check(&st.procs[SHOP_STACK_STOCK], "shop_outbox_backlog_messages 0");
    check(&st.procs[SHOP_STACK_COUPON], "shop_db_pool_in_use_connections");
    check(&st.mq[SHOP_STACK_BROKER],
          "mq_group_lag_messages{group=\"coupon\",topic=\"order.placed\"} 0");
    check(&st.mq[SHOP_STACK_BROKER], "mq_store_fsync_duration_seconds_count");
    check(&st.mq[SHOP_STACK_DELAYD], "mq_delay_pending_messages 1");
    rpc_channel_close(ch);
    cr_assert_eq(shop_stack_stop(&st), 0);
}

Test(metrics_endpoint, every_sync_daemon_serves_metrics_that_promtool_accepts)
{
    need_promtool();
    shop_stack st;
    run_stack("sync", "t_met_s_", &st);
    rpc_channel *ch = NULL;
    cr_assert_eq(rpc_channel_open(&ch, st.procs[SHOP_STACK_ORDER].url, NULL, NULL), RPC_OK);
    place(ch, "met-s-1");
    check(&st.procs[SHOP_STACK_ORDER], "shop_orders{arch=\"sync\",state=\"CONFIRMED\"} 1");
    check(&st.procs[SHOP_STACK_STOCK],
          "rpc_server_calls_total{method=\"shop.stock.StockService/Deduct\",code=\"OK\"} 1");
    check(&st.procs[SHOP_STACK_COUPON],
          "rpc_server_call_duration_seconds_count{method=\"shop.coupon.CouponService/Use\"} 1");
    rpc_channel_close(ch);
    cr_assert_eq(shop_stack_stop(&st), 0);
}

Test(metrics_endpoint, label_values_are_escaped_and_histograms_are_cumulative)
{
    need_promtool();
    shop_metrics *m = NULL;
    cr_assert_eq(shop_metrics_new(&m, NULL), RPC_OK);
    const char *odd[] = {"path", "a\"b\\c\nd", NULL};
    shop_metric_add(shop_metrics_counter(m, "t_odd_total", "A help\nwith \\ escapes.", odd), 3);
    shop_metric *h = shop_metrics_histogram(m, "t_wait_seconds", "Waits.", NULL, 1e-6);
    shop_metric_observe(h, 40);      /* 40 us: below every bound but +Inf */
    shop_metric_observe(h, 2000);    /* 2 ms */
    shop_metric_observe(h, 9000000); /* 9 s */
    shop_metric_add(NULL, 1);        /* a disabled metric: no effect */
    char *text = NULL;
    size_t len = 0;
    cr_assert_eq(shop_metrics_render(m, &text, &len, NULL), RPC_OK);
    cr_expect(strstr(text, "t_odd_total{path=\"a\\\"b\\\\c\\nd\"} 3\n") != NULL, "%s", text);
    cr_expect(strstr(text, "t_wait_seconds_bucket{le=\"5e-05\"} 1\n") != NULL, "%s", text);
    cr_expect(strstr(text, "t_wait_seconds_bucket{le=\"0.0025\"} 2\n") != NULL, "%s", text);
    cr_expect(strstr(text, "t_wait_seconds_bucket{le=\"5\"} 2\n") != NULL, "%s", text);
    cr_expect(strstr(text, "t_wait_seconds_bucket{le=\"10\"} 3\n") != NULL, "%s", text);
    cr_expect(strstr(text, "t_wait_seconds_count 3\n") != NULL, "%s", text);
    promtool_accepts("the registry's page", text);
    free(text);
    shop_metrics_free(m);
}
