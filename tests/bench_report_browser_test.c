/* The bench's two HTML reports in a real browser: Debian's headless
 * Chromium loads the `shopflow bench` report (throughput per architecture,
 * lag over time, latency, CDF) and the `--sweep` report (latency against
 * load, throughput, CPU per order) and the pages' own check, read from the
 * DOM, says every chart drew data, none lies outside its canvas or the
 * page, and no text block is clipped. Skipped, with the reason, when
 * chromium is not installed (scripts/deps.sh --browser installs it; the
 * bench script asks for it). SHOPFLOW_REPORT_SCREENSHOT=PREFIX also saves
 * PREFIX-bench.png and PREFIX-sweep.png. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/harness/shop_report.h"
#include "bench/harness/shop_sweep.h"
#include "tests/support/browser.h"
#include "tests/support/testsupport.h"

static const char *browser_or_skip(void)
{
    const char *b = ts_chromium();
    if (b == NULL)
        cr_skip_test("chromium is not installed (scripts/deps.sh --browser installs Debian's "
                     "chromium): the report's browser check is skipped");
    return b;
}

static char *dump_dom(const char *browser, const char *page)
{
    char url[400];
    snprintf(url, sizeof url, "file://%s", page);
    char *dom = ts_browser_dom(browser, url, 2000);
    cr_assert_not_null(dom, "chromium did not run");
    return dom;
}

static void screenshot(const char *browser, const char *page, const char *which)
{
    const char *prefix = getenv("SHOPFLOW_REPORT_SCREENSHOT");
    if (prefix == NULL || prefix[0] == '\0')
        return;
    char url[400], png[400];
    snprintf(url, sizeof url, "file://%s", page);
    snprintf(png, sizeof png, "%s-%s.png", prefix, which);
    cr_expect_eq(ts_browser_screenshot(browser, url, png, 1280, 3400, 2000), 0, "screenshot %s",
                 png);
}

static void remove_dir(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0, "%s", cmd);
}

/* The page's own verdict: every chart fine, no text clipped. */
static void assert_page_checks(const char *dom, long charts)
{
    const char *list = strstr(dom, "id=\"chart-check\"");
    cr_assert_not_null(list, "the page's check did not run");
    cr_assert_eq(ts_dom_number(dom, "charts-total"), charts, "charts on the page: %.2000s", list);
    cr_assert_eq(ts_dom_number(dom, "charts-ok"), charts, "charts with data that fit: %.2000s",
                 list);
    cr_assert_eq(ts_dom_number(dom, "text-clipped"), 0, "clipped text: %.2000s", list);
    cr_assert_null(strstr(list, "class=\"bad\""), "%.2000s", list);
}

/* sync fails everything due in the middle third, async accepts everything
 * and confirms the middle third late. */
static int arch_fn(void *ctx, int client, uint64_t seq, int64_t deadline_ms, int64_t *order_id)
{
    (void)client;
    (void)deadline_ms;
    *order_id = (int64_t)seq + 1;
    return *(int *)ctx && seq >= 200 && seq < 400 ? 14 : 0;
}

static shop_bench_report *bench_report(void)
{
    shop_bench_report *r = calloc(1, sizeof *r);
    r->rate = 100;
    r->duration_ms = 6000;
    r->clients = 4;
    r->deadline_ms = 1000;
    snprintf(r->started_at, sizeof r->started_at, "2026-01-01T00:00:00Z");
    shop_error err = {0};
    cr_assert_eq(shop_fault_parse(&r->faults, "coupon:kill@2s,restart@4s", &err), RPC_OK);
    static int failing[2] = {1, 0};
    static const char *const names[2] = {"sync", "async"};
    for (int i = 0; i < 2; i++) {
        shop_arch_result *a = &r->arch[i];
        shop_load_config cfg = {.rate = 100,
                                .duration_ms = 6000,
                                .clients = 4,
                                .deadline_ms = 1000,
                                .fn = arch_fn,
                                .ctx = &failing[i]};
        cr_assert_eq(shop_load_run(&cfg, &a->load, &err), RPC_OK, "%s", err.message);
        snprintf(a->arch, sizeof a->arch, "%s", names[i]);
        size_t n = a->load.n_seconds;
        a->lag_p50_us = calloc(n, sizeof *a->lag_p50_us);
        a->lag_p99_us = calloc(n, sizeof *a->lag_p99_us);
        for (size_t s = 0; s < n; s++) {
            int outage = s >= 2 && s < 4;
            a->lag_p50_us[s] = failing[i] ? (outage ? -1 : 1500) : (outage ? 2500000 : 6000);
            a->lag_p99_us[s] = failing[i] ? (outage ? -1 : 3000) : (outage ? 3900000 : 15000);
        }
    }
    r->n_arch = 2;
    return r;
}

static void fill_step(shop_sweep_step *st, int role, double rate, double max, int async,
                      int coupon_down)
{
    double load = rate / max;
    st->role = role;
    st->rate = rate;
    st->offered = (int64_t)(rate * 4);
    st->accepted = async || !coupon_down ? st->offered - (load > 1 ? st->offered / 10 : 0) : 0;
    st->p50_us = (int64_t)(2000 / (1.05 - (load > 1 ? 1 : load)));
    st->p99_us = st->p50_us * 4;
    st->below_knee = load <= 1 && st->accepted == st->offered;
    for (int p = 0; p < SHOP_CPU_PARTS; p++)
        st->cpu_s[p] = (double)st->accepted * 0.0002 * (p + 1);
    st->confirmed_per_s = coupon_down ? 0 : rate;
    st->lag_p50_us = coupon_down ? -1 : (async ? 8000 : 1000);
    st->lag_p99_us = coupon_down ? -1 : (async ? 40000 : 3000);
}

static shop_sweep_report *sweep_report(void)
{
    shop_sweep_report *r = calloc(1, sizeof *r);
    r->cfg = shop_sweep_defaults();
    snprintf(r->started_at, sizeof r->started_at, "2026-01-01T00:00:00Z");
    static const char *const archs[] = {"sync", "async"};
    static const char *const conds[] = {"no-fault", "coupon-down"};
    static const double rates[] = {100, 200, 400, 800, 600, 700};
    for (int a = 0; a < 2; a++)
        for (int c = 0; c < 2; c++) {
            shop_sweep_series *s = &r->series[r->n++];
            snprintf(s->arch, sizeof s->arch, "%s", archs[a]);
            snprintf(s->condition, sizeof s->condition, "%s", conds[c]);
            double max = a == 1 ? 600 : (c ? 0 : 400);
            s->max_rate = max;
            double knee = max > 0 ? max : 1;
            for (size_t k = 0; k < 6; k++)
                fill_step(&s->steps[s->n_steps++], SHOP_STEP_SEARCH, rates[k], knee, a, c);
            for (int k = 0; max > 0 && k < 3; k++)
                fill_step(&s->steps[s->n_steps++], SHOP_STEP_AT50 + k,
                          max * (k == 0   ? 0.5
                                 : k == 1 ? 0.8
                                          : 0.95),
                          knee, a, c);
        }
    return r;
}

Test(bench_report_browser, the_bench_report_draws_every_chart_with_data_and_clips_nothing)
{
    const char *browser = browser_or_skip();
    shop_bench_report *r = bench_report();
    char dir[256], page[300];
    snprintf(dir, sizeof dir, "%s/bench-report-browser-%d", ts_tmp_dir(), (int)getpid());
    shop_error err = {0};
    cr_assert_eq(shop_report_write_html(r, dir, &err), RPC_OK, "%s", err.message);
    snprintf(page, sizeof page, "%s/index.html", dir);
    char *dom = dump_dom(browser, page);
    assert_page_checks(dom, 4);
    /* throughput: one panel per architecture, each titled with its name */
    const char *tp = strstr(dom, "id=\"chart-throughput\"");
    cr_assert_not_null(tp);
    cr_assert_not_null(strstr(tp, ">sync</tspan>"), "a panel for sync");
    cr_assert_not_null(strstr(tp, ">async</tspan>"), "a panel for async");
    screenshot(browser, page, "bench");
    free(dom);
    if (getenv("SHOPFLOW_REPORT_KEEP") == NULL)
        remove_dir(dir);
    for (size_t i = 0; i < r->n_arch; i++)
        shop_arch_result_free(&r->arch[i]);
    free(r);
}

Test(bench_report_browser, the_sweep_report_draws_latency_throughput_and_cpu_with_data)
{
    const char *browser = browser_or_skip();
    shop_sweep_report *r = sweep_report();
    char dir[256], page[300];
    snprintf(dir, sizeof dir, "%s/sweep-report-browser-%d", ts_tmp_dir(), (int)getpid());
    shop_error err = {0};
    cr_assert_eq(shop_sweep_write_report(r, dir, &err), RPC_OK, "%s", err.message);
    snprintf(page, sizeof page, "%s/index.html", dir);
    char *dom = dump_dom(browser, page);
    assert_page_checks(dom, 3);
    cr_assert_not_null(strstr(dom, "max sustainable 600 orders/s"), "the summary is shown");
    screenshot(browser, page, "sweep");
    free(dom);
    if (getenv("SHOPFLOW_REPORT_KEEP") == NULL)
        remove_dir(dir);
    free(r);
}
