/* The JSON report: every figure the table shows plus the per-second series,
 * the faults and the invariant results. Hand-written (the values are
 * numbers and fixed ASCII names; the only free text, notes and violation
 * details, is escaped). */
#include "bench/harness/shop_report.h"

#include <errno.h>
#include <string.h>

#include "base/status.h"

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_hist(FILE *f, const shop_hist *h)
{
    if (!h || h->count == 0) {
        fprintf(f, "{\"count\": 0}");
        return;
    }
    fprintf(f,
            "{\"count\": %lld, \"p50\": %lld, \"p90\": %lld, \"p99\": %lld, \"p999\": %lld, "
            "\"max\": %lld, \"mean\": %.1f}",
            (long long)h->count, (long long)shop_hist_percentile(h, 50),
            (long long)shop_hist_percentile(h, 90), (long long)shop_hist_percentile(h, 99),
            (long long)shop_hist_percentile(h, 99.9), (long long)h->max, shop_hist_mean(h));
}

static void json_codes(FILE *f, const int64_t *by_code, int skip_ok)
{
    fputc('{', f);
    int first = 1;
    for (int c = skip_ok ? 1 : 0; c < SHOP_LOAD_CODES; c++) {
        if (!by_code[c])
            continue;
        fprintf(f, "%s\"%s\": %lld", first ? "" : ", ", rpc_status_name(c), (long long)by_code[c]);
        first = 0;
    }
    fputc('}', f);
}

static void json_check(FILE *f, const shop_arch_result *a)
{
    if (!a->checked) {
        fprintf(f, "null");
        return;
    }
    fprintf(f, "{\"orders\": %zu, \"rules\": {", a->check.orders);
    for (int i = 0; i < SHOP_INV_COUNT; i++)
        fprintf(f, "%s\"%s\": %zu", i ? ", " : "", shop_invariant_name(i), a->check.counts[i]);
    fprintf(f, "}, \"violations\": [");
    for (size_t i = 0; i < a->check.n && i < 1000; i++) {
        const shop_violation *v = &a->check.v[i];
        fprintf(f, "%s{\"rule\": \"%s\", \"order_id\": %lld, \"subject\": %lld, \"detail\": ",
                i ? ", " : "", shop_invariant_name(v->inv), (long long)v->order_id,
                (long long)v->subject);
        json_string(f, v->detail);
        fputc('}', f);
    }
    fprintf(f, "]}");
}

static void json_arch(FILE *f, const shop_bench_report *r, const shop_arch_result *a)
{
    const shop_load_result *l = &a->load;
    fprintf(f, "    {\"arch\": \"%s\", \"offered\": %lld, \"accepted\": %lld, ", a->arch,
            (long long)l->offered, (long long)l->ok);
    fprintf(f, "\"accepted_pct\": %.3f, \"throughput_per_s\": %.2f,\n", shop_report_accepted_pct(a),
            shop_report_throughput(a, r->duration_ms));
    fprintf(f, "     \"errors\": ");
    json_codes(f, l->by_code, 1);
    fprintf(f, ",\n     \"latency_us\": ");
    json_hist(f, l->latency_ok);
    fprintf(f, ",\n     \"latency_all_outcomes_us\": ");
    json_hist(f, l->latency_all);
    fprintf(f, ",\n     \"confirm_lag_us\": ");
    json_hist(f, a->confirm_lag);
    fprintf(f, ",\n     \"pay_ok\": %lld, \"pay_failed\": %lld, \"consistency_ms\": %lld,\n",
            (long long)a->pay_ok, (long long)a->pay_failed, (long long)a->consistency_ms);
    fprintf(f, "     \"note\": ");
    json_string(f, a->note);
    fprintf(f, ",\n     \"check\": ");
    json_check(f, a);
    fprintf(f, ",\n     \"series\": [\n");
    for (size_t s = 0; s < l->n_seconds; s++) {
        const shop_load_second *sec = &l->seconds[s];
        int64_t failed = 0;
        for (int c = 1; c < SHOP_LOAD_CODES; c++)
            failed += sec->by_code[c];
        fprintf(f,
                "      {\"t\": %zu, \"offered\": %lld, \"accepted\": %lld, \"failed\": %lld, "
                "\"p50_us\": %lld, \"p99_us\": %lld, \"max_us\": %lld, \"outcomes\": ",
                s, (long long)sec->offered, (long long)sec->by_code[0], (long long)failed,
                (long long)sec->p50_us, (long long)sec->p99_us, (long long)sec->max_us);
        json_codes(f, sec->by_code, 0);
        fprintf(f, "}%s\n", s + 1 < l->n_seconds ? "," : "");
    }
    fprintf(f, "     ]}");
}

rpc_status shop_report_write_json(const shop_bench_report *r, const char *path, shop_error *err)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return shop_error_errno(err, errno, "cannot write %s", path);
    fprintf(f, "{\n  \"schema\": \"shopflow-bench/1\",\n  \"started_at\": \"%s\",\n",
            r->started_at);
    fprintf(f,
            "  \"config\": {\"rate\": %.1f, \"duration_ms\": %lld, \"clients\": %d, "
            "\"deadline_ms\": %lld, \"pay_share\": %.3f, \"faults\": [",
            r->rate, (long long)r->duration_ms, r->clients, (long long)r->deadline_ms,
            r->pay_share);
    for (size_t i = 0; i < r->faults.n; i++) {
        char spec[64];
        int64_t from = 0, to = 0;
        shop_fault_format(&r->faults.faults[i], spec, sizeof spec);
        int win = shop_report_fault_window(&r->faults, i, r->duration_ms, &from, &to);
        fprintf(f, "%s{\"spec\": \"%s\", \"from_ms\": %lld, \"to_ms\": %lld}", i ? ", " : "", spec,
                (long long)(win ? from : r->faults.faults[i].at_ms),
                (long long)(win ? to : r->faults.faults[i].at_ms));
    }
    fprintf(f, "]},\n  \"architectures\": [\n");
    for (size_t i = 0; i < r->n_arch; i++) {
        json_arch(f, r, &r->arch[i]);
        fprintf(f, "%s\n", i + 1 < r->n_arch ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    if (fclose(f) != 0)
        return shop_error_errno(err, errno, "cannot write %s", path);
    return RPC_OK;
}
