/* The JSON report: every figure the table shows plus the per-second series,
 * the faults and the invariant results (schema in bench/harness/README.md),
 * built as a jansson tree and written by jansson: no JSON is put together
 * by hand, so free text (notes, violation details) is always escaped. */
#include "bench/harness/shop_report.h"
#include "bench/harness/check_json.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "base/status.h"

static json_t *hist_json(const shop_hist *h)
{
    if (!h || h->count == 0)
        return json_pack("{s:i}", "count", 0);
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "count", (json_int_t)h->count, "p50",
                     (json_int_t)shop_hist_percentile(h, 50), "p90",
                     (json_int_t)shop_hist_percentile(h, 90), "p99",
                     (json_int_t)shop_hist_percentile(h, 99), "p999",
                     (json_int_t)shop_hist_percentile(h, 99.9), "max", (json_int_t)h->max, "mean",
                     shop_hist_mean(h));
}

static json_t *codes_json(const int64_t *by_code, int skip_ok)
{
    json_t *o = json_object();
    for (int c = skip_ok ? 1 : 0; c < SHOP_LOAD_CODES; c++)
        if (by_code[c])
            json_object_set_new(o, rpc_status_name(c), json_integer(by_code[c]));
    return o;
}

static json_t *check_json(const shop_arch_result *a)
{
    return a->checked ? shop_check_json(&a->check, 1000) : json_null();
}

static json_t *series_json(const shop_arch_result *a)
{
    const shop_load_result *l = &a->load;
    json_t *series = json_array();
    for (size_t s = 0; s < l->n_seconds; s++) {
        const shop_load_second *sec = &l->seconds[s];
        int64_t failed = 0;
        for (int c = 1; c < SHOP_LOAD_CODES; c++)
            failed += sec->by_code[c];
        json_array_append_new(
            series, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "t", (json_int_t)s,
                              "offered", (json_int_t)sec->offered, "accepted",
                              (json_int_t)sec->by_code[0], "failed", (json_int_t)failed, "p50_us",
                              (json_int_t)sec->p50_us, "p99_us", (json_int_t)sec->p99_us, "max_us",
                              (json_int_t)sec->max_us, "outcomes", codes_json(sec->by_code, 0)));
        if (a->lag_p50_us && a->lag_p50_us[s] >= 0) { /* accept -> CONFIRMED of its orders */
            json_t *last = json_array_get(series, json_array_size(series) - 1);
            json_object_set_new(last, "lag_p50_us", json_integer(a->lag_p50_us[s]));
            json_object_set_new(last, "lag_p99_us", json_integer(a->lag_p99_us[s]));
        }
    }
    return series;
}

static json_t *arch_json(const shop_bench_report *r, const shop_arch_result *a)
{
    const shop_load_result *l = &a->load;
    json_t *o =
        json_pack("{s:s, s:I, s:I, s:f, s:f}", "arch", a->arch, "offered", (json_int_t)l->offered,
                  "accepted", (json_int_t)l->ok, "accepted_pct", shop_report_accepted_pct(a),
                  "throughput_per_s", shop_report_throughput(a, r->duration_ms));
    json_object_set_new(o, "errors", codes_json(l->by_code, 1));
    json_object_set_new(o, "latency_us", hist_json(l->latency_ok));
    json_object_set_new(o, "latency_all_outcomes_us", hist_json(l->latency_all));
    json_object_set_new(o, "confirm_lag_us", hist_json(a->confirm_lag));
    json_object_set_new(o, "pay_ok", json_integer(a->pay_ok));
    json_object_set_new(o, "pay_failed", json_integer(a->pay_failed));
    json_object_set_new(o, "consistency_ms", json_integer(a->consistency_ms));
    json_object_set_new(o, "note", json_string(a->note));
    json_object_set_new(o, "check", check_json(a));
    json_object_set_new(o, "series", series_json(a));
    return o;
}

static json_t *report_json(const shop_bench_report *r)
{
    json_t *faults = json_array();
    for (size_t i = 0; i < r->faults.n; i++) {
        char spec[64];
        int64_t from = 0, to = 0;
        shop_fault_format(&r->faults.faults[i], spec, sizeof spec);
        int win = shop_report_fault_window(&r->faults, i, r->duration_ms, &from, &to);
        json_array_append_new(
            faults, json_pack("{s:s, s:I, s:I}", "spec", spec, "from_ms",
                              (json_int_t)(win ? from : r->faults.faults[i].at_ms), "to_ms",
                              (json_int_t)(win ? to : r->faults.faults[i].at_ms)));
    }
    json_t *archs = json_array();
    for (size_t i = 0; i < r->n_arch; i++)
        json_array_append_new(archs, arch_json(r, &r->arch[i]));
    json_t *config =
        json_pack("{s:f, s:I, s:i, s:I, s:f, s:o}", "rate", r->rate, "duration_ms",
                  (json_int_t)r->duration_ms, "clients", r->clients, "deadline_ms",
                  (json_int_t)r->deadline_ms, "pay_share", r->pay_share, "faults", faults);
    return json_pack("{s:s, s:s, s:o, s:o}", "schema", "shopflow-bench/1", "started_at",
                     r->started_at, "config", config, "architectures", archs);
}

rpc_status shop_report_write_json(const shop_bench_report *r, const char *path, shop_error *err)
{
    json_t *doc = report_json(r);
    if (doc == NULL)
        return shop_error_set(err, RPC_INTERNAL, "cannot build the JSON report for %s", path);
    FILE *f = fopen(path, "we");
    if (!f) {
        json_decref(doc);
        return shop_error_errno(err, errno, "cannot write %s", path);
    }
    int rc = json_dumpf(doc, f, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(doc);
    if (rc == 0)
        rc = fputc('\n', f) == EOF ? -1 : 0;
    if (fclose(f) != 0 || rc != 0)
        return shop_error_errno(err, errno ? errno : EIO, "cannot write %s", path);
    return RPC_OK;
}
