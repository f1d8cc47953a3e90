/* The HTML report: data files per architecture, a gnuplot script drawing
 * three SVG charts (latency and throughput per second with the fault
 * windows shaded, latency CDFs), and index.html showing the table and the
 * charts. Everything is local files: the report is viewable offline. */
#include "bench/harness/shop_report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/spawn.h"

static rpc_status open_in(FILE **out, const char *dir, const char *name, shop_error *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *out = fopen(path, "we");
    return *out ? RPC_OK : shop_error_errno(err, errno, "cannot write %s", path);
}

static rpc_status write_data(const shop_arch_result *a, const char *dir, shop_error *err)
{
    char name[64];
    snprintf(name, sizeof name, "%s_series.dat", a->arch);
    FILE *f;
    rpc_status st = open_in(&f, dir, name, err);
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
    snprintf(name, sizeof name, "%s_cdf.dat", a->arch);
    if ((st = open_in(&f, dir, name, err)) != RPC_OK)
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

static rpc_status write_script(const shop_bench_report *r, const char *dir, shop_error *err)
{
    FILE *f;
    rpc_status st = open_in(&f, dir, "charts.gp", err);
    if (st != RPC_OK)
        return st;
    fprintf(f, "# Drawn by `shopflow bench --report`; rerun with: gnuplot charts.gp\n"
               "set terminal svg size 960,420 dynamic background rgb 'white' font 'sans,11'\n"
               "set grid\nset key outside right top\nset xlabel 'time since load start (s)'\n");
    fprintf(f, "set xrange [0:%.1f]\n", (double)r->duration_ms / 1000.0);
    static const char *const lc[] = {"#cc0000", "#1155cc"};
    shade_faults(f, r);
    fprintf(f, "set output 'latency.svg'\nset title 'PlaceOrder latency per second "
               "(from scheduled start, all outcomes)'\nset ylabel 'ms'\nset logscale y\nplot ");
    for (size_t i = 0; i < r->n_arch; i++)
        fprintf(f,
                "%s'%s_series.dat' using 1:($5>0?$5:1/0) with histeps lw 2 dt 2 lc rgb '%s' "
                "title '%s p50', '' using 1:($6>0?$6:1/0) with histeps lw 2 lc rgb '%s' "
                "title '%s p99'",
                i ? ", " : "", r->arch[i].arch, lc[i], r->arch[i].arch, lc[i], r->arch[i].arch);
    fprintf(f, "\nunset logscale y\nset output 'throughput.svg'\nset title 'PlaceOrder "
               "outcomes per second'\nset ylabel 'requests/s'\nset yrange [0:*]\n"
               "set offsets 0, 0, graph 0.1, 0\nplot ");
    for (size_t i = 0; i < r->n_arch; i++)
        fprintf(f,
                "%s'%s_series.dat' using 1:3 with histeps lw 2 lc rgb '%s' title '%s accepted', "
                "'' using 1:4 with histeps lw 2 dt 2 lc rgb '%s' title '%s failed'",
                i ? ", " : "", r->arch[i].arch, lc[i], r->arch[i].arch, lc[i], r->arch[i].arch);
    fprintf(f,
            "\nset output 'cdf.svg'\nunset object\nunset label\nunset offsets\nset yrange [0:1]\n"
            "set xrange [*:*]\nset logscale x\nset title 'Latency CDF of accepted "
            "PlaceOrder'\nset xlabel 'latency (ms)'\nset ylabel 'fraction <= x'\nplot ");
    for (size_t i = 0; i < r->n_arch; i++)
        fprintf(f, "%s'%s_cdf.dat' using 1:2 with steps lw 2 lc rgb '%s' title '%s'", i ? ", " : "",
                r->arch[i].arch, lc[i], r->arch[i].arch);
    fprintf(f, "\n");
    fclose(f);
    return RPC_OK;
}

/* Runs gnuplot in `dir`; its messages go to dir/gnuplot.log. */
static rpc_status run_gnuplot(const char *dir, shop_error *err)
{
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/gnuplot.log", dir);
    char *argv[] = {"gnuplot", "charts.gp", NULL};
    shop_spawn_opts so = {
        .log_path = log, .log_truncate = true, .stdin_null = true, .search_path = true, .cwd = dir};
    pid_t pid = 0;
    if (shop_spawn(argv, &so, &pid, err) != RPC_OK)
        return shop_error_code(err);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return RPC_OK;
    return shop_error_set(
        err, RPC_INTERNAL, "gnuplot failed (exit %d, see %s/gnuplot.log)%s",
        WIFEXITED(status) ? WEXITSTATUS(status) : -1, dir,
        WIFEXITED(status) && WEXITSTATUS(status) == 127 ? ": gnuplot is not installed" : "");
}

static void html_escaped(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '<')
            fputs("&lt;", out);
        else if (s[i] == '>')
            fputs("&gt;", out);
        else if (s[i] == '&')
            fputs("&amp;", out);
        else
            fputc(s[i], out);
    }
}

static rpc_status write_index(const shop_bench_report *r, const char *dir, const char *plot_err,
                              shop_error *err)
{
    char *table = NULL;
    size_t table_len = 0;
    FILE *mem = open_memstream(&table, &table_len);
    if (!mem)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    shop_report_print_table(r, mem);
    for (size_t i = 0; i < r->n_arch; i++)
        if (r->arch[i].checked) {
            fprintf(mem, "invariants (%s): ", r->arch[i].arch);
            shop_check_print(&r->arch[i].check, mem, 10);
        }
    fclose(mem);
    FILE *f;
    rpc_status st = open_in(&f, dir, "index.html", err);
    if (st != RPC_OK) {
        free(table);
        return st;
    }
    fprintf(f,
            "<!doctype html>\n<html><head><meta charset='utf-8'><title>shopflow bench "
            "%s</title>\n<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}"
            "pre{background:#f6f6f6;padding:1em;overflow-x:auto}img{max-width:100%%}"
            "</style></head><body>\n",
            r->started_at);
    fprintf(f,
            "<h1>shopflow bench: sync vs async under failure</h1>\n<p>Started %s. "
            "Open-loop load: latency counts from each request's scheduled start. "
            "Shaded areas are fault windows. Every figure is in "
            "<a href='report.json'>report.json</a>.</p>\n<pre>",
            r->started_at);
    html_escaped(f, table, table_len);
    fprintf(f, "</pre>\n");
    if (plot_err) {
        fprintf(f, "<p><b>Charts missing:</b> ");
        html_escaped(f, plot_err, strlen(plot_err));
        fprintf(f, "</p>\n");
    }
    fprintf(f, "<h2>Latency over time</h2><img src='latency.svg' alt='latency per second'>\n"
               "<h2>Throughput over time</h2><img src='throughput.svg' alt='outcomes per "
               "second'>\n<h2>Latency CDF</h2><img src='cdf.svg' alt='latency CDF'>\n"
               "</body></html>\n");
    fclose(f);
    free(table);
    return RPC_OK;
}

rpc_status shop_report_write_html(const shop_bench_report *r, const char *dir, shop_error *err)
{
    char path[1024];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return shop_error_errno(err, errno, "cannot create %s", dir);
    rpc_status st;
    for (size_t i = 0; i < r->n_arch; i++)
        if ((st = write_data(&r->arch[i], dir, err)) != RPC_OK)
            return st;
    snprintf(path, sizeof path, "%s/report.json", dir);
    if ((st = shop_report_write_json(r, path, err)) != RPC_OK ||
        (st = write_script(r, dir, err)) != RPC_OK)
        return st;
    shop_error plot_err = {0};
    int plotted = run_gnuplot(dir, &plot_err) == RPC_OK;
    if ((st = write_index(r, dir, plotted ? NULL : plot_err.message, err)) != RPC_OK)
        return st;
    if (!plotted)
        return shop_error_set(err, plot_err.code, "%s", plot_err.message);
    return RPC_OK;
}
