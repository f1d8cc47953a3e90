/* The dashboard in a real browser: an async stack and `shopflow dashboard`
 * on its metrics endpoints; Debian's headless Chromium loads the page and
 * its DOM shows the coupon group's lag rise while the coupon service is
 * killed and return to 0 after it is restarted. Skipped (with the reason)
 * when chromium is not installed (scripts/deps.sh --browser installs it).
 * SHOPFLOW_DASHBOARD_SCREENSHOT=FILE.png also saves the page at the moment
 * the lag is up. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "rpc/http_get.h"
#include "services/stack/shop_stack.h"
#include "tests/support/browser.h"
#include "tests/support/place_order.h"
#include "tests/support/testsupport.h"

static void screenshot(const char *browser, const char *url)
{
    const char *file = getenv("SHOPFLOW_DASHBOARD_SCREENSHOT");
    if (file == NULL || file[0] == '\0')
        return;
    cr_expect_eq(ts_browser_screenshot(browser, url, file, 1280, 900, 3000), 0, "screenshot of %s",
                 url);
}

static void place(rpc_channel *ch, int i)
{
    char rid[32];
    snprintf(rid, sizeof rid, "dash-%d", i);
    int64_t id = 0;
    rpc_error err = {0};
    cr_assert_eq(ts_place_order(ch, rid, i, NULL, &id, &err), RPC_OK, "%s", err.message);
}

/* Loads the page until lag-coupon satisfies `want` (15 s at most). */
static long wait_lag(const char *browser, const char *url, int positive)
{
    long lag = -1;
    for (int64_t until = shop_now_ms() + 15000; shop_now_ms() < until; shop_sleep_ms(200)) {
        char *dom = ts_browser_dom(browser, url, 3000);
        cr_assert_not_null(dom, "chromium did not run");
        lag = ts_dom_number(dom, "lag-coupon");
        free(dom);
        if (positive ? lag > 0 : lag == 0)
            break;
    }
    return lag;
}

Test(dashboard_browser, the_coupon_groups_lag_rises_while_coupon_is_down_and_returns_to_0)
{
    const char *browser = ts_chromium();
    if (browser == NULL)
        cr_skip_test("chromium is not installed (scripts/deps.sh --browser installs Debian's "
                     "chromium); the dashboard was not checked in a browser");
    ts_pg_up();
    shop_stack st;
    shop_stack_opts o = shop_stack_defaults();
    o.arch = "async";
    o.goods = 3;
    o.stock = 100;
    o.users = 40;
    o.db_prefix = "t_dash_";
    o.log_dir = ts_tmp_dir();
    shop_error err = {0};
    cr_assert_eq(shop_stack_start(&st, &o, &err), RPC_OK, "%s", err.message);

    char listen[64], page[80], targets[5][160];
    snprintf(listen, sizeof listen, "http://127.0.0.1:%d", ts_free_port());
    snprintf(page, sizeof page, "%s/", listen);
    const shop_stack_proc *procs[] = {&st.procs[SHOP_STACK_ORDER], &st.procs[SHOP_STACK_STOCK],
                                      &st.procs[SHOP_STACK_COUPON], &st.mq[SHOP_STACK_BROKER],
                                      &st.mq[SHOP_STACK_DELAYD]};
    for (int i = 0; i < 5; i++)
        snprintf(targets[i], sizeof targets[i], "--target=%s=%s", procs[i]->name,
                 procs[i]->metrics_url);
    char *argv[] = {"shopflow", "dashboard", "--listen", listen,     targets[0],
                    targets[1], targets[2],  targets[3], targets[4], NULL};
    ts_proc dash;
    cr_assert_eq(ts_spawn(&dash, argv), 0);
    int status = 0;
    for (int64_t until = shop_now_ms() + 10000; status != 200; shop_sleep_ms(50)) {
        char *body = NULL;
        size_t len = 0;
        if (rpc_http_get(page, 1000, &status, &body, &len, NULL) != RPC_OK)
            status = 0;
        free(body);
        cr_assert(shop_now_ms() < until, "shopflow dashboard did not serve %s", page);
    }

    rpc_channel *ch = NULL;
    cr_assert_eq(rpc_channel_open(&ch, st.procs[SHOP_STACK_ORDER].url, NULL, NULL), RPC_OK);
    place(ch, 1);
    cr_expect_eq(wait_lag(browser, page, 0), 0, "the coupon group starts without lag");

    cr_assert_eq(shop_stack_kill(&st, "coupon"), 0);
    for (int i = 2; i <= 11; i++)
        place(ch, i); /* accepted: async ordering goes on without coupon */
    long lag = wait_lag(browser, page, 1);
    cr_expect_geq(lag, 1, "the page shows no coupon lag while coupon is down (lag-coupon=%ld)",
                  lag);
    char *dom = ts_browser_dom(browser, page, 3000);
    cr_assert_not_null(dom, "chromium did not run");
    cr_expect(strstr(dom, "id=\"up-coupon\">down<") != NULL, "coupon not shown down");
    free(dom);
    screenshot(browser, page);

    cr_assert_eq(shop_stack_restart(&st, "coupon", &err), RPC_OK, "%s", err.message);
    cr_expect_eq(wait_lag(browser, page, 0), 0, "the coupon lag did not return to 0");

    rpc_channel_close(ch);
    cr_expect_eq(ts_stop(&dash, SIGTERM, 5000), 0, "shopflow dashboard did not stop cleanly");
    shop_stack_stop(&st);
}
