/* The sweep's files: sweep.json (every step of every series, built with
 * jansson), one data file per series, charts.gp drawing latency against
 * offered load, accepted and confirmed throughput against offered load, and
 * the CPU per order per process as stacked bars; index.html shows the
 * printed summary and the charts inlined. */
#include "bench/harness/shop_sweep.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "bench/harness/report_page.h"

static json_t *step_json(const shop_sweep_step *st)
{
    static const char *const roles[] = {"search", "at50", "at80", "at95"};
    json_t *cpu = json_object();
    for (int p = 0; p < SHOP_CPU_PARTS; p++)
        json_object_set_new(cpu, shop_cpu_part_name(p), json_real(st->cpu_s[p]));
    return json_pack("{s:s, s:f, s:I, s:I, s:I, s:I, s:b, s:f, s:I, s:I, s:I, s:I, s:o}", "role",
                     roles[st->role], "rate", st->rate, "offered", (json_int_t)st->offered,
                     "accepted", (json_int_t)st->accepted, "p50_us", (json_int_t)st->p50_us,
                     "p99_us", (json_int_t)st->p99_us, "below_knee", st->below_knee,
                     "confirmed_per_s", st->confirmed_per_s, "confirmed", (json_int_t)st->confirmed,
                     "lag_p50_us", (json_int_t)st->lag_p50_us, "lag_p99_us",
                     (json_int_t)st->lag_p99_us, "pending_after", (json_int_t)st->pending_after,
                     "cpu_s", cpu);
}

static rpc_status write_json(const shop_sweep_report *r, const char *dir, shop_error *err)
{
    json_t *series = json_array();
    for (size_t i = 0; i < r->n; i++) {
        const shop_sweep_series *s = &r->series[i];
        json_t *steps = json_array();
        for (size_t k = 0; k < s->n_steps; k++)
            json_array_append_new(steps, step_json(&s->steps[k]));
        json_array_append_new(series, json_pack("{s:s, s:s, s:f, s:s, s:s, s:o}", "arch", s->arch,
                                                "condition", s->condition, "max_rate", s->max_rate,
                                                "knee", s->knee, "note", s->note, "steps", steps));
    }
    const shop_sweep_config *c = &r->cfg;
    json_t *root =
        json_pack("{s:s, s:s, s:I, s:{s:f, s:I, s:I, s:I, s:f, s:i, s:I}, s:o}", "schema",
                  "shopflow-sweep/1", "started_at", r->started_at, "elapsed_ms",
                  (json_int_t)r->elapsed_ms, "config", "start_rate", c->start_rate, "step_ms",
                  (json_int_t)c->step_ms, "drain_ms", (json_int_t)c->drain_ms, "knee_p99_us",
                  (json_int_t)c->knee_p99_us, "knee_accept_pct", c->knee_accept_pct, "clients",
                  c->clients, "deadline_ms", (json_int_t)c->deadline_ms, "series", series);
    char path[1024];
    snprintf(path, sizeof path, "%s/sweep.json", dir);
    int rc = root ? json_dump_file(root, path, JSON_INDENT(1)) : -1;
    json_decref(root);
    return rc == 0 ? RPC_OK : shop_error_set(err, RPC_INTERNAL, "cannot write %s", path);
}

static int by_rate(const void *a, const void *b)
{
    const shop_sweep_step *x = a, *y = b;
    return (x->rate > y->rate) - (x->rate < y->rate);
}

/* One line per step, by rate: rate accepted/s p50 p99 confirmed/s lag_p50 lag_p99 (ms). */
static rpc_status write_series(const shop_sweep_series *s, const char *dir, shop_error *err)
{
    shop_sweep_step sorted[SHOP_SWEEP_MAX_STEPS];
    memcpy(sorted, s->steps, s->n_steps * sizeof *sorted);
    qsort(sorted, s->n_steps, sizeof *sorted, by_rate);
    char name[64];
    snprintf(name, sizeof name, "sweep_%s_%s.dat", s->arch, s->condition);
    FILE *f;
    rpc_status st = report_open_in(&f, dir, name, err);
    if (st != RPC_OK)
        return st;
    fprintf(f, "# rate accepted_per_s p50_ms p99_ms confirmed_per_s lag_p50_ms lag_p99_ms "
               "('?': none)\n");
    for (size_t i = 0; i < s->n_steps; i++) {
        const shop_sweep_step *p = &sorted[i];
        double acc = p->offered ? p->rate * (double)p->accepted / (double)p->offered : 0;
        fprintf(f, "%.1f %.1f ", p->rate, acc);
        if (p->accepted > 0)
            fprintf(f, "%.3f %.3f ", (double)p->p50_us / 1000.0, (double)p->p99_us / 1000.0);
        else
            fprintf(f, "? ? ");
        fprintf(f, "%.1f ", p->confirmed_per_s);
        if (p->lag_p50_us >= 0)
            fprintf(f, "%.3f %.3f\n", (double)p->lag_p50_us / 1000.0,
                    (double)p->lag_p99_us / 1000.0);
        else
            fprintf(f, "? ?\n");
    }
    fclose(f);
    return RPC_OK;
}

/* CPU ms per order per process at 80 % of each series' maximum. */
static rpc_status write_cpu(const shop_sweep_report *r, const char *dir, shop_error *err)
{
    FILE *f;
    rpc_status st = report_open_in(&f, dir, "sweep_cpu.dat", err);
    if (st != RPC_OK)
        return st;
    fprintf(f, "# series");
    for (int p = 0; p < SHOP_CPU_PARTS; p++)
        fprintf(f, " %s", shop_cpu_part_name(p));
    fprintf(f, "  (CPU ms per accepted order at 80%% of the maximum)\n");
    for (size_t i = 0; i < r->n; i++) {
        const shop_sweep_series *s = &r->series[i];
        const shop_sweep_step *at = shop_sweep_at(s, SHOP_STEP_AT80);
        fprintf(f, "\"%s %s%s\"", s->arch, s->condition, at ? "" : " (no capacity)");
        for (int p = 0; p < SHOP_CPU_PARTS; p++)
            fprintf(f, " %.4f", at ? shop_sweep_cpu_ms_per_order(at, p) : 0.0);
        fprintf(f, "\n");
    }
    fclose(f);
    return RPC_OK;
}

static void plot_conditions(FILE *f, const shop_sweep_report *r, const char *what)
{
    static const char *const conds[] = {"no-fault", "coupon-down"};
    static const char *const lc[] = {"#cc0000", "#1155cc"};
    for (int c = 0; c < 2; c++) {
        fprintf(f, "set title '%s'\nplot ", c ? "coupon service down" : "no fault");
        int n = 0;
        for (size_t i = 0; i < r->n; i++) {
            const shop_sweep_series *s = &r->series[i];
            if (strcmp(s->condition, conds[c]) != 0)
                continue;
            const char *col = lc[strcmp(s->arch, "async") == 0];
            const char *file = "'sweep_%s_%s.dat'";
            char fname[96];
            snprintf(fname, sizeof fname, file, s->arch, s->condition);
            if (strcmp(what, "latency") == 0)
                fprintf(f,
                        "%s%s using 1:3 with linespoints pt 7 dt 2 lw 2 lc rgb '%s' title '%s "
                        "p50', %s using 1:4 with linespoints pt 7 lw 2 lc rgb '%s' title '%s p99'",
                        n ? ", " : "", fname, col, s->arch, fname, col, s->arch);
            else
                fprintf(f,
                        "%s%s using 1:2 with linespoints pt 7 lw 2 lc rgb '%s' title '%s "
                        "accepted/s'%s",
                        n ? ", " : "", fname, col, s->arch, "");
            if (strcmp(what, "latency") != 0 && strcmp(s->arch, "async") == 0)
                fprintf(f,
                        ", %s using 1:5 with linespoints pt 5 dt 3 lw 2 lc rgb '%s' title "
                        "'async CONFIRMED/s'",
                        fname, col);
            n++;
        }
        if (strcmp(what, "latency") == 0)
            fprintf(f, "%s%.1f with lines lw 1 lc rgb '#999999' title 'reference: knee p99 limit'",
                    n ? ", " : "", (double)r->cfg.knee_p99_us / 1000.0);
        else
            fprintf(f, "%sx with lines lw 1 lc rgb '#999999' title 'reference: offered'",
                    n ? ", " : "");
        fprintf(f, "\n");
    }
}

static rpc_status write_script(const shop_sweep_report *r, const char *dir, shop_error *err)
{
    FILE *f;
    rpc_status st = report_open_in(&f, dir, "charts.gp", err);
    if (st != RPC_OK)
        return st;
    fprintf(f, "# Drawn by `shopflow bench --sweep`; rerun with: gnuplot charts.gp\n"
               "set terminal svg size 960,760 dynamic background rgb 'white' font 'sans,11'\n"
               "set grid\nset key outside right top\nset datafile missing '?'\n"
               "set xlabel 'offered PlaceOrder/s (open loop)'\nset xrange [0:*]\n"
               "set output 'sweep-latency.svg'\nset ylabel 'accept latency (ms)'\n"
               "set logscale y\nset multiplot layout 2,1 title 'Accept latency against "
               "offered load'\n");
    plot_conditions(f, r, "latency");
    fprintf(f, "unset multiplot\nunset logscale y\nset output 'sweep-throughput.svg'\n"
               "set ylabel 'orders/s'\nset yrange [0:*]\nset multiplot layout 2,1 title "
               "'Accepted and confirmed orders/s against offered load'\n");
    plot_conditions(f, r, "throughput");
    fprintf(f,
            "unset multiplot\nset terminal svg size 960,480 dynamic background rgb 'white' "
            "font 'sans,11'\nset output 'sweep-cpu.svg'\nset title 'CPU per accepted order "
            "by process, at 80%% of each maximum'\nset xlabel ''\nset xrange [*:*]\n"
            "set ylabel 'CPU ms per order'\nset style data histograms\nset style histogram "
            "rowstacked\nset style fill solid 0.85 border -1\nset boxwidth 0.6\n"
            "set xtics nomirror\nplot 'sweep_cpu.dat' using 2:xtic(1) title '%s'",
            shop_cpu_part_name(0));
    for (int p = 1; p < SHOP_CPU_PARTS; p++)
        fprintf(f, ", '' using %d title '%s'", p + 2, shop_cpu_part_name(p));
    fprintf(f, "\n");
    fclose(f);
    return RPC_OK;
}

static void print_summary(const void *ctx, FILE *out)
{
    shop_sweep_print(ctx, out);
}

rpc_status shop_sweep_write_report(const shop_sweep_report *r, const char *dir, shop_error *err)
{
    if (bench_make_dirs(dir) != 0)
        return shop_error_errno(err, errno, "cannot create %s", dir);
    rpc_status st;
    for (size_t i = 0; i < r->n; i++)
        if ((st = write_series(&r->series[i], dir, err)) != RPC_OK)
            return st;
    if ((st = write_cpu(r, dir, err)) != RPC_OK || (st = write_json(r, dir, err)) != RPC_OK ||
        (st = write_script(r, dir, err)) != RPC_OK)
        return st;
    static const report_chart charts[] = {
        {"sweep-latency", "Latency against load"},
        {"sweep-throughput", "Throughput against load"},
        {"sweep-cpu", "CPU per order, per process"},
    };
    char intro[512];
    snprintf(intro, sizeof intro,
             "Started %s. Open-loop steps at rising rates until the knee the program finds; "
             "every figure is in <a href='sweep.json'>sweep.json</a>.",
             r->started_at);
    report_page page = {"shopflow bench --sweep: the capacity of each architecture",
                        intro,
                        print_summary,
                        r,
                        charts,
                        sizeof charts / sizeof charts[0]};
    return report_page_write(dir, &page, err);
}
