/* The HTML report: data files per architecture, a gnuplot script drawing
 * four SVG charts (latency per second, throughput per second in one panel
 * per architecture, accept->CONFIRMED lag by the second of acceptance, all
 * with the fault windows shaded; latency CDFs), and index.html showing the
 * table and the charts inlined. Everything is local files: the report is
 * viewable offline. */
#include "bench/harness/shop_report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/harness/report_page.h"

static rpc_status write_data(const shop_arch_result *a, const char *dir, shop_error *err)
{
    char name[64];
    snprintf(name, sizeof name, "%s_series.dat", a->arch);
    FILE *f;
    rpc_status st = report_open_in(&f, dir, name, err);
    if (st != RPC_OK)
        return st;
    fprintf(f, "# t_s offered accepted failed p50_ms p99_ms\n");
    for (size_t s = 0; s < a->load.n_seconds; s++) {
        const shop_load_second *sec = &a->load.seconds[s];
        int64_t failed = 0;
        for (int c = 1; c < SHOP_LOAD_CODES; c++)
            failed += sec->by_code[c];
        fprintf(f, "%.1f %lld %lld %lld %.3f %.3f\n", (double)s + 0.5, (long long)sec->offered,
                (long long)sec->by_code[0], (long long)failed, (double)sec->p50_us / 1000.0,
                (double)sec->p99_us / 1000.0);
    }
    fclose(f);
    /* The lag per second as a level from s to s+1; a second with no
     * confirmed order is a blank line, which ends the line gnuplot draws
     * instead of bridging the gap (histeps would bridge it). */
    snprintf(name, sizeof name, "%s_lag.dat", a->arch);
    if ((st = report_open_in(&f, dir, name, err)) != RPC_OK)
        return st;
    fprintf(f, "# t_s lag_p50_ms lag_p99_ms (accept -> CONFIRMED of the orders accepted in "
               "second t)\n");
    for (size_t s = 0; a->lag_p50_us && s < a->load.n_seconds; s++) {
        if (a->lag_p50_us[s] >= 0)
            for (int edge = 0; edge < 2; edge++)
                fprintf(f, "%zu %.3f %.3f\n", s + (size_t)edge, (double)a->lag_p50_us[s] / 1000.0,
                        (double)a->lag_p99_us[s] / 1000.0);
        else
            fprintf(f, "\n");
    }
    fclose(f);
    snprintf(name, sizeof name, "%s_cdf.dat", a->arch);
    if ((st = report_open_in(&f, dir, name, err)) != RPC_OK)
        return st;
    fprintf(f, "# latency_ms cumulative_fraction (accepted PlaceOrder)\n");
    const shop_hist *h = a->load.latency_ok;
    int it = 0;
    int64_t value, count, seen = 0;
    while (h && h->count && shop_hist_next(h, &it, &value, &count)) {
        seen += count;
        fprintf(f, "%.4f %.6f\n", (double)(value ? value : 1) / 1000.0,
                (double)seen / (double)h->count);
    }
    fclose(f);
    return RPC_OK;
}

static void shade_faults(FILE *f, const shop_bench_report *r)
{
    static const char *const colors[] = {"#f4cccc", "#fce5cd", "#d9ead3", "#cfe2f3"};
    fprintf(f, "unset object\nunset label\n");
    int n = 0;
    for (size_t i = 0; i < r->faults.n; i++) {
        int64_t from, to;
        if (!shop_report_fault_window(&r->faults, i, r->duration_ms, &from, &to))
            continue;
        char spec[64];
        shop_fault_format(&r->faults.faults[i], spec, sizeof spec);
        *strchr(spec, '@') = '\0';
        n++;
        fprintf(f,
                "set object %d rect from %.3f, graph 0 to %.3f, graph 1 fc rgb '%s' "
                "fs solid 0.6 noborder behind\n",
                n, (double)from / 1000.0, (double)to / 1000.0, colors[n % 4]);
        fprintf(f, "set label %d '%s' at %.3f, graph %.2f font ',9'\n", n, spec,
                (double)from / 1000.0 + 0.2, 0.96 - 0.06 * (n - 1));
    }
}

static int has_lag(const shop_arch_result *a)
{
    for (size_t s = 0; a->lag_p50_us && s < a->load.n_seconds; s++)
        if (a->lag_p50_us[s] >= 0)
            return 1;
    return 0;
}

static rpc_status write_script(const shop_bench_report *r, const char *dir, shop_error *err)
{
    FILE *f;
    rpc_status st = report_open_in(&f, dir, "charts.gp", err);
    if (st != RPC_OK)
        return st;
    fprintf(f, "# Drawn by `shopflow bench --report`; rerun with: gnuplot charts.gp\n"
               "set terminal svg size 960,420 dynamic background rgb 'white' font 'sans,11'\n"
               "set grid\nset key outside right top\nset xlabel 'time since load start (s)'\n");
    fprintf(f, "set xrange [0:%.1f]\n", (double)r->duration_ms / 1000.0);
    static const char *const lc[SHOP_REPORT_MAX_ARCH] = {"#cc0000", "#1155cc", "#38761d"};
    shade_faults(f, r);
    fprintf(f, "set output 'latency.svg'\nset title 'PlaceOrder latency per second "
               "(from scheduled start, all outcomes)'\nset ylabel 'ms'\nset logscale y\nplot ");
    for (size_t i = 0; i < r->n_arch; i++)
        fprintf(f,
                "%s'%s_series.dat' using 1:($5>0?$5:1/0) with histeps lw 2 dt 2 lc rgb '%s' "
                "title '%s p50', '' using 1:($6>0?$6:1/0) with histeps lw 2 lc rgb '%s' "
                "title '%s p99'",
                i ? ", " : "", r->arch[i].arch, lc[i], r->arch[i].arch, lc[i], r->arch[i].arch);
    /* One panel per architecture: their accepted curves would otherwise lie
     * on top of each other wherever both accept everything. */
    fprintf(f,
            "\nunset logscale y\nset terminal svg size 960,%d dynamic background rgb 'white' "
            "font 'sans,11'\nset output 'throughput.svg'\nset ylabel 'requests/s'\n"
            "set yrange [0:*]\nset offsets 0, 0, graph 0.15, 0\nset multiplot layout %zu,1 "
            "title 'PlaceOrder outcomes per second, one panel per architecture'\n",
            60 + 240 * (int)r->n_arch, r->n_arch);
    for (size_t i = 0; i < r->n_arch; i++)
        fprintf(f,
                "set title '%s'\nplot '%s_series.dat' using 1:2 with histeps lw 1 lc rgb '#999999' "
                "title 'offered', '' using 1:3 with histeps lw 2 lc rgb '#38761d' title "
                "'accepted', '' using 1:4 with histeps lw 2 dt 2 lc rgb '#cc0000' title 'failed'\n",
                r->arch[i].arch, r->arch[i].arch);
    fprintf(f, "unset multiplot\nset terminal svg size 960,420 dynamic background rgb 'white' "
               "font 'sans,11'\nset offsets 0, 0, 0, 0\nset yrange [*:*]\n");
    /* only architectures with a confirmed order: gnuplot stops at a plot
     * with no valid point, and the charts after it would be lost */
    int n_lag = 0;
    for (size_t i = 0; i < r->n_arch; i++) {
        if (!has_lag(&r->arch[i]))
            continue;
        if (n_lag++ == 0)
            fprintf(f, "set output 'lag.svg'\nset title 'accept -> CONFIRMED lag of the orders "
                       "accepted in each second'\nset ylabel 'ms'\nset logscale y\nplot ");
        fprintf(f,
                "%s'%s_lag.dat' using 1:($2>0?$2:0.01) with lines lw 2 dt 2 lc rgb '%s' "
                "title '%s p50', '' using 1:($3>0?$3:0.01) with lines lw 2 lc rgb '%s' "
                "title '%s p99'",
                n_lag > 1 ? ", " : "", r->arch[i].arch, lc[i], r->arch[i].arch, lc[i],
                r->arch[i].arch);
    }
    fprintf(f, "\nunset logscale y\n");
    fprintf(f, "set output 'cdf.svg'\nunset object\nunset label\nunset offsets\nset yrange [0:1]\n"
               "set xrange [*:*]\nset logscale x\nset title 'Latency CDF of accepted "
               "PlaceOrder'\nset xlabel 'latency (ms)'\nset ylabel 'fraction <= x'\nplot ");
    for (size_t i = 0; i < r->n_arch; i++)
        fprintf(f, "%s'%s_cdf.dat' using 1:2 with steps lw 2 lc rgb '%s' title '%s'", i ? ", " : "",
                r->arch[i].arch, lc[i], r->arch[i].arch);
    fprintf(f, "\n");
    fclose(f);
    return RPC_OK;
}

static void print_summary(const void *ctx, FILE *out)
{
    const shop_bench_report *r = ctx;
    shop_report_print_table(r, out);
    for (size_t i = 0; i < r->n_arch; i++)
        if (r->arch[i].checked) {
            fprintf(out, "invariants (%s): ", r->arch[i].arch);
            shop_check_print(&r->arch[i].check, out, 10);
        }
}

rpc_status shop_report_write_html(const shop_bench_report *r, const char *dir, shop_error *err)
{
    char path[1024];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return shop_error_errno(err, errno, "cannot create %s", dir);
    rpc_status st;
    snprintf(path, sizeof path, "%s/lag.svg", dir);
    unlink(path); /* a lag chart from an earlier run would pass for this one's */
    for (size_t i = 0; i < r->n_arch; i++)
        if ((st = write_data(&r->arch[i], dir, err)) != RPC_OK)
            return st;
    snprintf(path, sizeof path, "%s/report.json", dir);
    if ((st = shop_report_write_json(r, path, err)) != RPC_OK ||
        (st = write_script(r, dir, err)) != RPC_OK)
        return st;
    static const report_chart charts[] = {
        {"throughput", "Throughput over time, per architecture"},
        {"lag", "Accept &rarr; CONFIRMED lag over time"},
        {"latency", "Latency over time"},
        {"cdf", "Latency CDF"},
    };
    char intro[512];
    snprintf(intro, sizeof intro,
             "Started %s. Open-loop load: latency counts from each request's scheduled start. "
             "Shaded areas are fault windows. Every figure is in "
             "<a href='report.json'>report.json</a>.",
             r->started_at);
    report_page page = {"shopflow bench: sync vs async under failure",
                        intro,
                        print_summary,
                        r,
                        charts,
                        sizeof charts / sizeof charts[0]};
    return report_page_write(dir, &page, err);
}
