/* The report writer prints a side-by-side table, writes JSON with every
 * figure, and an HTML page whose charts gnuplot really drew (fault window
 * shaded) from the measured series. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/harness/shop_report.h"
#include "tests/support/testsupport.h"

/* "sync" fails every request due from 0.5 s to 1 s; "async" accepts all. */
static int arch_fn(void *ctx, int client, uint64_t seq, int64_t deadline_ms, int64_t *order_id)
{
    (void)client;
    (void)deadline_ms;
    int failing = *(int *)ctx;
    *order_id = (int64_t)seq + 1;
    return failing && seq >= 100 && seq < 200 ? 14 : 0;
}

/* The file's text; the test fails when it is missing. */
static char *slurp(const char *path)
{
    char *text = ts_slurp(path);
    cr_assert_not_null(text, "%s missing", path);
    return text;
}

static shop_bench_report *make_report(void)
{
    shop_bench_report *r = calloc(1, sizeof *r);
    r->rate = 200;
    r->duration_ms = 1500;
    r->clients = 2;
    r->deadline_ms = 1000;
    snprintf(r->started_at, sizeof r->started_at, "2026-01-01T00:00:00Z");
    shop_error err = {0};
    cr_assert_eq(shop_fault_parse(&r->faults, "coupon:kill@500ms,restart@1s", &err), RPC_OK);
    static int failing[2] = {1, 0};
    static const char *const names[2] = {"sync", "async"};
    for (int i = 0; i < 2; i++) {
        shop_load_config cfg = {.rate = 200,
                                .duration_ms = 1500,
                                .clients = 2,
                                .deadline_ms = 1000,
                                .fn = arch_fn,
                                .ctx = &failing[i]};
        cr_assert_eq(shop_load_run(&cfg, &r->arch[i].load, &err), RPC_OK, "%s", err.message);
        snprintf(r->arch[i].arch, sizeof r->arch[i].arch, "%s", names[i]);
        r->arch[i].consistency_ms = i ? 120 : 0;
    }
    r->n_arch = 2;
    return r;
}

static void free_report(shop_bench_report *r)
{
    for (size_t i = 0; i < r->n_arch; i++)
        shop_arch_result_free(&r->arch[i]);
    free(r);
}

Test(bench_report, the_table_shows_both_architectures_side_by_side)
{
    shop_bench_report *r = make_report();
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    shop_report_print_table(r, mem);
    fclose(mem);
    cr_assert_not_null(strstr(text, "sync"));
    cr_assert_not_null(strstr(text, "async"));
    cr_assert_not_null(strstr(text, "200 (66.7%)"), "%s", text);
    cr_assert_not_null(strstr(text, "300 (100.0%)"), "%s", text);
    cr_assert_not_null(strstr(text, "error UNAVAILABLE"), "%s", text);
    cr_assert_not_null(strstr(text, "coupon:kill@500ms"), "%s", text);
    free(text);
    free_report(r);
}

Test(bench_report, the_html_report_has_json_and_charts_drawn_by_gnuplot)
{
    shop_bench_report *r = make_report();
    char dir[128], path[256];
    shop_error err = {0};
    snprintf(dir, sizeof dir, "%s/shopflow-bench-report-%d", ts_tmp_dir(), (int)getpid());
    rpc_status rc = shop_report_write_html(r, dir, &err);
    cr_assert_eq(rc, RPC_OK, "%s", err.message);
    snprintf(path, sizeof path, "%s/report.json", dir);
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    cr_assert_not_null(doc, "report.json does not parse: %s line %d", jerr.text, jerr.line);
    json_t *sync = json_array_get(json_object_get(doc, "architectures"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(sync, "arch")), "sync");
    cr_assert_eq(json_integer_value(json_object_get(sync, "offered")), 300);
    cr_assert_eq(json_integer_value(json_object_get(sync, "accepted")), 200);
    json_t *errors = json_object_get(sync, "errors");
    cr_assert_eq(json_object_size(errors), 1);
    cr_assert_eq(json_integer_value(json_object_get(errors, "UNAVAILABLE")), 100);
    json_t *fault = json_array_get(json_object_get(json_object_get(doc, "config"), "faults"), 0);
    cr_assert_eq(json_integer_value(json_object_get(fault, "from_ms")), 500, "kill window");
    cr_assert_eq(json_integer_value(json_object_get(fault, "to_ms")), 1000, "kill window");
    json_t *sec0 = json_array_get(json_object_get(sync, "series"), 0);
    cr_assert_eq(json_integer_value(json_object_get(sec0, "t")), 0, "series");
    cr_assert_eq(json_integer_value(json_object_get(sec0, "offered")), 200, "series");
    cr_assert_eq(json_integer_value(json_object_get(sec0, "accepted")), 100, "series");
    json_decref(doc);
    snprintf(path, sizeof path, "%s/latency.svg", dir);
    char *svg = slurp(path);
    cr_assert_not_null(strstr(svg, "<svg"), "gnuplot drew an SVG");
    snprintf(path, sizeof path, "%s/throughput.svg", dir);
    cr_assert_not_null(strstr(slurp(path), "<svg"));
    snprintf(path, sizeof path, "%s/cdf.svg", dir);
    cr_assert_not_null(strstr(slurp(path), "<svg"));
    snprintf(path, sizeof path, "%s/index.html", dir);
    char *html = slurp(path);
    cr_assert_not_null(strstr(html, "id='chart-latency'"), "the latency chart is inlined");
    cr_assert_not_null(strstr(html, "id='chart-lag'"), "the lag chart is inlined");
    cr_assert_not_null(strstr(html, "coupon:kill@500ms"));
    free_report(r);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(bench_report, an_unwritable_directory_is_an_error_naming_it)
{
    shop_bench_report *r = make_report();
    shop_error err = {0};
    cr_assert_neq(shop_report_write_html(r, "/proc/no/such/dir", &err), RPC_OK);
    cr_assert_not_null(strstr(err.message, "/proc/no/such/dir"), "%s", err.message);
    free_report(r);
}

Test(bench_report, the_json_series_carries_the_lag_of_each_seconds_orders_where_known)
{
    shop_bench_report *r = make_report();
    shop_arch_result *a = &r->arch[1];
    a->lag_p50_us = calloc(a->load.n_seconds, sizeof *a->lag_p50_us);
    a->lag_p99_us = calloc(a->load.n_seconds, sizeof *a->lag_p99_us);
    a->lag_p50_us[0] = 1500;
    a->lag_p99_us[0] = 4000;
    a->lag_p50_us[1] = a->lag_p99_us[1] = -1; /* none of its orders confirmed */
    char path[160];
    snprintf(path, sizeof path, "%s/shopflow-lag-%d.json", ts_tmp_dir(), (int)getpid());
    shop_error err = {0};
    cr_assert_eq(shop_report_write_json(r, path, &err), RPC_OK, "%s", err.message);
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    cr_assert_not_null(doc, "%s", jerr.text);
    json_t *series =
        json_object_get(json_array_get(json_object_get(doc, "architectures"), 1), "series");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(series, 0), "lag_p50_us")),
                 1500);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(series, 0), "lag_p99_us")),
                 4000);
    cr_assert_null(json_object_get(json_array_get(series, 1), "lag_p50_us"),
                   "no lag where no order was confirmed");
    json_t *sync0 = json_array_get(
        json_object_get(json_array_get(json_object_get(doc, "architectures"), 0), "series"), 0);
    cr_assert_null(json_object_get(sync0, "lag_p50_us"), "no lag series: no lag in the JSON");
    json_decref(doc);
    unlink(path);
    free_report(r);
}
