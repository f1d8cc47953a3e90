/* The terminal table: one row per figure, one column per architecture,
 * errors broken down by status for every status any column saw. */
#include "bench/harness/shop_report.h"

#include <stdlib.h>
#include <string.h>

#include "base/status.h"

double shop_report_accepted_pct(const shop_arch_result *a)
{
    return a->load.offered ? 100.0 * (double)a->load.ok / (double)a->load.offered : 0.0;
}

double shop_report_throughput(const shop_arch_result *a, int64_t duration_ms)
{
    return duration_ms > 0 ? (double)a->load.ok * 1000.0 / (double)duration_ms : 0.0;
}

int shop_report_fault_window(const shop_fault_plan *p, size_t i, int64_t end_ms, int64_t *from,
                             int64_t *to)
{
    const shop_fault *f = &p->faults[i];
    if (f->kind == SHOP_FAULT_RESTART || f->kind == SHOP_FAULT_HEAL)
        return 0;
    *from = f->at_ms;
    *to = f->until_ms;
    if (f->kind != SHOP_FAULT_KILL && f->kind != SHOP_FAULT_PARTITION)
        return 1;
    /* a kill lasts until its restart, a partition until its heal */
    shop_fault_kind end = f->kind == SHOP_FAULT_KILL ? SHOP_FAULT_RESTART : SHOP_FAULT_HEAL;
    *to = end_ms;
    for (size_t j = 0; j < p->n; j++)
        if (p->faults[j].service == f->service && p->faults[j].kind == end &&
            p->faults[j].at_ms > f->at_ms && p->faults[j].at_ms < *to)
            *to = p->faults[j].at_ms;
    return 1;
}

void shop_arch_result_free(shop_arch_result *a)
{
    shop_load_result_free(&a->load);
    free(a->confirm_lag);
    a->confirm_lag = NULL;
    free(a->lag_p50_us);
    free(a->lag_p99_us);
    a->lag_p50_us = a->lag_p99_us = NULL;
    if (a->checked)
        shop_check_report_free(&a->check);
    a->checked = 0;
}

static void row_label(FILE *out, const char *label)
{
    fprintf(out, "  %-30s", label);
}

static void cell(FILE *out, const char *text)
{
    fprintf(out, " %16s", text);
}

static void ms_cell(FILE *out, int64_t us, int valid)
{
    char buf[32];
    if (!valid)
        snprintf(buf, sizeof buf, "-");
    else
        snprintf(buf, sizeof buf, "%.2f", (double)us / 1000.0);
    cell(out, buf);
}

static void latency_row(FILE *out, const shop_bench_report *r, const char *label, double q)
{
    row_label(out, label);
    for (size_t i = 0; i < r->n_arch; i++) {
        const shop_hist *h = r->arch[i].load.latency_ok;
        ms_cell(out, h ? shop_hist_percentile(h, q) : 0, h && h->count);
    }
    fputc('\n', out);
}

void shop_report_print_table(const shop_bench_report *r, FILE *out)
{
    char buf[64];
    fprintf(out, "\nshopflow bench: %.0f req/s for %.1f s, %d clients, deadline %lld ms", r->rate,
            (double)r->duration_ms / 1000.0, r->clients, (long long)r->deadline_ms);
    for (size_t i = 0; i < r->faults.n; i++) {
        shop_fault_format(&r->faults.faults[i], buf, sizeof buf);
        fprintf(out, "%s%s", i ? ", " : "\nfaults: ", buf);
    }
    fprintf(out, "\n\n");
    row_label(out, "");
    for (size_t i = 0; i < r->n_arch; i++)
        cell(out, r->arch[i].arch);
    fputc('\n', out);
    row_label(out, "offered (PlaceOrder)");
    for (size_t i = 0; i < r->n_arch; i++) {
        snprintf(buf, sizeof buf, "%lld", (long long)r->arch[i].load.offered);
        cell(out, buf);
    }
    fputc('\n', out);
    row_label(out, "accepted");
    for (size_t i = 0; i < r->n_arch; i++) {
        snprintf(buf, sizeof buf, "%lld (%.1f%%)", (long long)r->arch[i].load.ok,
                 shop_report_accepted_pct(&r->arch[i]));
        cell(out, buf);
    }
    fputc('\n', out);
    for (int code = 1; code < SHOP_LOAD_CODES; code++) {
        int seen = 0;
        for (size_t i = 0; i < r->n_arch; i++)
            seen |= r->arch[i].load.by_code[code] != 0;
        if (!seen)
            continue;
        snprintf(buf, sizeof buf, "  error %s", rpc_status_name(code));
        row_label(out, buf);
        for (size_t i = 0; i < r->n_arch; i++) {
            snprintf(buf, sizeof buf, "%lld", (long long)r->arch[i].load.by_code[code]);
            cell(out, buf);
        }
        fputc('\n', out);
    }
    row_label(out, "throughput (accepted/s)");
    for (size_t i = 0; i < r->n_arch; i++) {
        snprintf(buf, sizeof buf, "%.1f", shop_report_throughput(&r->arch[i], r->duration_ms));
        cell(out, buf);
    }
    fputc('\n', out);
    latency_row(out, r, "accept latency p50 (ms)", 50);
    latency_row(out, r, "accept latency p90 (ms)", 90);
    latency_row(out, r, "accept latency p99 (ms)", 99);
    latency_row(out, r, "accept latency p99.9 (ms)", 99.9);
    latency_row(out, r, "accept latency max (ms)", 100);
    row_label(out, "accept->CONFIRMED p50/p99 (ms)");
    for (size_t i = 0; i < r->n_arch; i++) {
        const shop_hist *h = r->arch[i].confirm_lag;
        if (h && h->count)
            snprintf(buf, sizeof buf, "%.1f / %.1f", (double)shop_hist_percentile(h, 50) / 1000.0,
                     (double)shop_hist_percentile(h, 99) / 1000.0);
        else
            snprintf(buf, sizeof buf, "-");
        cell(out, buf);
    }
    fputc('\n', out);
    row_label(out, "PayOrder ok / failed");
    for (size_t i = 0; i < r->n_arch; i++) {
        snprintf(buf, sizeof buf, "%lld / %lld", (long long)r->arch[i].pay_ok,
                 (long long)r->arch[i].pay_failed);
        cell(out, buf);
    }
    fputc('\n', out);
    row_label(out, "consistent after heal (ms)");
    for (size_t i = 0; i < r->n_arch; i++) {
        if (r->arch[i].consistency_ms >= 0)
            snprintf(buf, sizeof buf, "%lld", (long long)r->arch[i].consistency_ms);
        else
            snprintf(buf, sizeof buf, "NOT CONVERGED");
        cell(out, buf);
    }
    fputc('\n', out);
    row_label(out, "invariant violations");
    for (size_t i = 0; i < r->n_arch; i++) {
        if (r->arch[i].checked)
            snprintf(buf, sizeof buf, "%lld", (long long)shop_check_total(&r->arch[i].check));
        else
            snprintf(buf, sizeof buf, "not checked");
        cell(out, buf);
    }
    fputc('\n', out);
    for (size_t i = 0; i < r->n_arch; i++)
        if (r->arch[i].note[0])
            fprintf(out, "  note (%s): %s\n", r->arch[i].arch, r->arch[i].note);
    fputc('\n', out);
}
