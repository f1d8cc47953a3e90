/* The sweep as text: per series every step (rate, accepted share, accept
 * latency, confirmations, CPU per order per process), then a summary with
 * one column per architecture. */
#include "bench/harness/shop_sweep.h"

#include <string.h>

static const char *role_name(int role)
{
    static const char *const names[] = {"search", "50%", "80%", "95%"};
    return role >= 0 && role <= SHOP_STEP_AT95 ? names[role] : "?";
}

static double ms(int64_t us)
{
    return (double)us / 1000.0;
}

static void print_series(const shop_sweep_series *s, FILE *out)
{
    fprintf(out, "== %s, %s: max sustainable %.0f orders/s", s->arch,
            strcmp(s->condition, "coupon-down") == 0 ? "coupon service down" : "no fault",
            s->max_rate);
    fprintf(out, "%s%s%s\n", s->knee[0] ? " (knee " : "", s->knee, s->knee[0] ? ")" : "");
    if (s->note[0])
        fprintf(out, "   note: %s\n", s->note);
    fprintf(out, "  %-6s %7s %8s %8s %8s %8s %15s %8s | CPU ms/order:", "step", "rate/s", "accept%",
            "p50 ms", "p99 ms", "conf/s", "lag p50/p99 ms", "pending");
    for (int p = 0; p < SHOP_CPU_PARTS; p++)
        fprintf(out, " %s", shop_cpu_part_name(p));
    fprintf(out, " total\n");
    for (size_t i = 0; i < s->n_steps; i++) {
        const shop_sweep_step *st = &s->steps[i];
        char lag[32] = "-";
        if (st->lag_p50_us >= 0)
            snprintf(lag, sizeof lag, "%.1f/%.1f", ms(st->lag_p50_us), ms(st->lag_p99_us));
        fprintf(out, "  %-6s %7.0f %8.1f %8.2f %8.2f %8.1f %15s %8lld |", role_name(st->role),
                st->rate, st->offered ? 100.0 * (double)st->accepted / (double)st->offered : 0,
                ms(st->p50_us), ms(st->p99_us), st->confirmed_per_s, lag,
                (long long)st->pending_after);
        double total = 0;
        for (int p = 0; p < SHOP_CPU_PARTS; p++) {
            double v = shop_sweep_cpu_ms_per_order(st, p);
            total += v;
            fprintf(out, " %.3f", v);
        }
        fprintf(out, " %.3f%s\n", total, st->below_knee ? "" : "  KNEE");
    }
    fprintf(out, "\n");
}

static const shop_sweep_series *find(const shop_sweep_report *r, const char *arch,
                                     const char *condition)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->series[i].arch, arch) == 0 && strcmp(r->series[i].condition, condition) == 0)
            return &r->series[i];
    return NULL;
}

/* One summary row: `fn` writes the cell of a series (NULL when not run). */
static void row(const shop_sweep_report *r, FILE *out, const char *label, const char *condition,
                void (*fn)(const shop_sweep_series *, char *, size_t, int), int arg)
{
    static const char *const archs[] = {"sync", "async"};
    fprintf(out, "  %-36s", label);
    for (int a = 0; a < 2; a++) {
        char cell[64] = "not run";
        const shop_sweep_series *s = find(r, archs[a], condition);
        if (s)
            fn(s, cell, sizeof cell, arg);
        fprintf(out, " %22s", cell);
    }
    fprintf(out, "\n");
}

static void cell_max(const shop_sweep_series *s, char *cell, size_t len, int arg)
{
    (void)arg;
    snprintf(cell, len, "%.0f", s->max_rate);
}

static void cell_latency(const shop_sweep_series *s, char *cell, size_t len, int role)
{
    const shop_sweep_step *st = shop_sweep_at(s, role);
    if (st)
        snprintf(cell, len, "%.2f / %.2f", ms(st->p50_us), ms(st->p99_us));
    else
        snprintf(cell, len, "-");
}

static void cell_confirm(const shop_sweep_series *s, char *cell, size_t len, int role)
{
    const shop_sweep_step *st = shop_sweep_at(s, role);
    if (!st)
        snprintf(cell, len, "-");
    else if (st->lag_p50_us < 0)
        snprintf(cell, len, "%.0f/s, none confirmed", st->confirmed_per_s);
    else
        snprintf(cell, len, "%.0f/s, %.0f / %.0f", st->confirmed_per_s, ms(st->lag_p50_us),
                 ms(st->lag_p99_us));
}

static void cell_max_confirmed(const shop_sweep_series *s, char *cell, size_t len, int arg)
{
    (void)arg;
    double best = 0;
    for (size_t i = 0; i < s->n_steps; i++)
        if (s->steps[i].confirmed_per_s > best)
            best = s->steps[i].confirmed_per_s;
    snprintf(cell, len, "%.0f", best);
}

static void cell_cpu(const shop_sweep_series *s, char *cell, size_t len, int part)
{
    const shop_sweep_step *st = shop_sweep_at(s, SHOP_STEP_AT80);
    if (!st) {
        snprintf(cell, len, "-");
        return;
    }
    double v = 0;
    for (int p = 0; p < SHOP_CPU_PARTS; p++)
        if (part == SHOP_CPU_PARTS || p == part)
            v += shop_sweep_cpu_ms_per_order(st, p);
    snprintf(cell, len, "%.3f", v);
}

void shop_sweep_print(const shop_sweep_report *r, FILE *out)
{
    fprintf(out,
            "shopflow bench --sweep: open-loop PlaceOrder steps of %.1f s, %d clients, deadline "
            "%lld ms\nknee: accepted share under %.0f%% or p99 accept latency over %.0f ms; "
            "started %s, %.0f s in all\n\n",
            (double)r->cfg.step_ms / 1000.0, r->cfg.clients, (long long)r->cfg.deadline_ms,
            r->cfg.knee_accept_pct, ms(r->cfg.knee_p99_us), r->started_at,
            (double)r->elapsed_ms / 1000.0);
    for (size_t i = 0; i < r->n; i++)
        print_series(&r->series[i], out);
    fprintf(out, "capacity%37s %22s\n", "sync", "async");
    static const char *const conds[] = {"no-fault", "coupon-down"};
    static const char *const cond_label[] = {"no fault", "coupon down"};
    for (int c = 0; c < 2; c++) {
        if (!find(r, "sync", conds[c]) && !find(r, "async", conds[c]))
            continue;
        char label[64];
        snprintf(label, sizeof label, "max orders/s, %s", cond_label[c]);
        row(r, out, label, conds[c], cell_max, 0);
        row(r, out, "  highest CONFIRMED/s in any step", conds[c], cell_max_confirmed, 0);
        static const char *const pct[] = {"50%", "80%", "95%"};
        for (int k = 0; k < 3; k++) {
            snprintf(label, sizeof label, "  p50 / p99 ms at %s", pct[k]);
            row(r, out, label, conds[c], cell_latency, SHOP_STEP_AT50 + k);
        }
        for (int k = 0; k < 3; k++) {
            snprintf(label, sizeof label, "  confirmed/s, lag p50/p99 ms at %s", pct[k]);
            row(r, out, label, conds[c], cell_confirm, SHOP_STEP_AT50 + k);
        }
        for (int p = 0; p <= SHOP_CPU_PARTS; p++) {
            snprintf(label, sizeof label, "  CPU ms/order at 80%%: %s",
                     p < SHOP_CPU_PARTS ? shop_cpu_part_name(p) : "total");
            row(r, out, label, conds[c], cell_cpu, p);
        }
    }
    fprintf(out, "\n");
}
