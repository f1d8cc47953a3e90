/* shopflow bench --sweep: the capacity of each architecture, without faults
 * and with the coupon service down, each on a fresh stack; prints every
 * step and a summary, writes sweep.json and the HTML report with the
 * latency-vs-load, throughput and CPU-per-order charts. */
#include "tools/shopflow/commands.h"
#include "base/clock.h"
#include "base/paths.h"
#include "bench/harness/shop_fault.h"
#include "bench/harness/shop_sweep.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sweep_usage(FILE *out)
{
    fprintf(out,
            "usage: shopflow bench --sweep [--arch sync,async] [--condition no-fault,coupon-down]\n"
            "                      [--step D] [--start-rate R] [--knee-p99 MS] [--clients C]\n"
            "                      [--deadline MS] [--users N] [--report DIR]\n\n"
            "For each architecture and condition, on a fresh stack: open-loop PlaceOrder steps\n"
            "at rising rates (doubling, then bisecting) until the knee - the first rate whose\n"
            "accepted share is under 99%% or whose p99 accept latency is over --knee-p99 -\n"
            "then steps at 50, 80 and 95%% of the highest rate under it. Every step records\n"
            "the CPU seconds of each process (/proc) and, from order_db, CONFIRMED/s and the\n"
            "accept->CONFIRMED lag.\n\n"
            "  --arch LIST        sync, async (default both)\n"
            "  --condition LIST   no-fault, coupon-down (coupon service killed for the whole\n"
            "                     sweep); default both\n"
            "  --step D           load per step (default 4s)\n"
            "  --start-rate R     first step, orders/s (default 100)\n"
            "  --knee-p99 MS      p99 accept latency limit (default 100)\n"
            "  --clients C        load generator threads (default 64)\n"
            "  --deadline MS      per PlaceOrder (default 1000)\n"
            "  --users N          fixture users = orders one stack can take (default 300000)\n"
            "  --report DIR       HTML report (default var/bench/sweep)\n"
            "exit: 0 done, 2 usage, 4 a sweep could not be carried out\n");
}

static int number(const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "shopflow bench --sweep: %s wants a number from %g to %g, not '%s'\n", opt,
                lo, hi, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* Checks a comma-separated list against the allowed words. */
static int valid_list(const char *opt, const char *list, const char *const *words, int n)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        int ok = 0;
        for (int i = 0; i < n; i++)
            ok |= strcmp(w, words[i]) == 0;
        if (!ok) {
            fprintf(stderr, "shopflow bench --sweep: %s: unknown '%s' (%s or %s)\n", opt, w,
                    words[0], words[1]);
            return -1;
        }
    }
    return 0;
}

static int in_list(const char *list, const char *word)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save))
        if (strcmp(w, word) == 0)
            return 1;
    return 0;
}

int cmd_bench_sweep(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sweep", no_argument, NULL, 'S'},
        {"arch", required_argument, NULL, 'a'},
        {"condition", required_argument, NULL, 'C'},
        {"step", required_argument, NULL, 's'},
        {"start-rate", required_argument, NULL, 'r'},
        {"knee-p99", required_argument, NULL, 'k'},
        {"clients", required_argument, NULL, 'c'},
        {"deadline", required_argument, NULL, 'l'},
        {"users", required_argument, NULL, 'u'},
        {"report", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const archs_ok[] = {"sync", "async"};
    static const char *const conds_ok[] = {"no-fault", "coupon-down"};
    shop_sweep_config cfg = shop_sweep_defaults();
    const char *archs = "sync,async", *conds = "no-fault,coupon-down", *report = NULL;
    shop_error err = {0};
    double v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'S':
            break;
        case 'a':
            if (valid_list("--arch", optarg, archs_ok, 2) != 0)
                return 2;
            archs = optarg;
            break;
        case 'C':
            if (valid_list("--condition", optarg, conds_ok, 2) != 0)
                return 2;
            conds = optarg;
            break;
        case 's':
            if (shop_parse_duration_ms(optarg, &cfg.step_ms, &err) != RPC_OK ||
                cfg.step_ms < 1000) {
                fprintf(stderr, "shopflow bench --sweep: --step: %s\n",
                        err.message[0] ? err.message : "at least 1s");
                return 2;
            }
            break;
        case 'r':
            if (number("--start-rate", optarg, 4, 100000, &cfg.start_rate) != 0)
                return 2;
            break;
        case 'k':
            if (number("--knee-p99", optarg, 1, 60000, &v) != 0)
                return 2;
            cfg.knee_p99_us = (int64_t)(v * 1000);
            break;
        case 'c':
            if (number("--clients", optarg, 1, 1024, &v) != 0)
                return 2;
            cfg.clients = (int)v;
            break;
        case 'l':
            if (number("--deadline", optarg, 1, 600000, &v) != 0)
                return 2;
            cfg.deadline_ms = (int64_t)v;
            break;
        case 'u':
            if (number("--users", optarg, 1000, 10000000, &v) != 0)
                return 2;
            cfg.users = (int64_t)v;
            break;
        case 'o':
            report = optarg;
            break;
        case 'h':
            sweep_usage(stdout);
            return 0;
        default:
            sweep_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shopflow bench --sweep: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    const char *env = getenv("SHOPFLOW_VAR");
    char var[512], log_dir[600], report_buf[600];
    snprintf(var, sizeof var, "%s", env && *env ? env : shop_default_var_dir());
    snprintf(log_dir, sizeof log_dir, "%s/bench/logs", var);
    cfg.log_dir = log_dir;
    if (!report) {
        snprintf(report_buf, sizeof report_buf, "%s/bench/sweep", var);
        report = report_buf;
    }
    shop_sweep_report *r = calloc(1, sizeof *r);
    if (!r)
        return 4;
    r->cfg = cfg;
    time_t now = time(NULL);
    strftime(r->started_at, sizeof r->started_at, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    int64_t t0 = shop_now_ms();
    int failed = 0;
    for (int a = 0; a < 2; a++)
        for (int k = 0; k < 2; k++) {
            if (!in_list(archs, archs_ok[a]) || !in_list(conds, conds_ok[k]))
                continue;
            if (shop_sweep_run(&cfg, archs_ok[a], k, &r->series[r->n], &err) != RPC_OK) {
                fprintf(stderr, "shopflow bench --sweep: %s %s: %s\n", archs_ok[a], conds_ok[k],
                        err.message);
                snprintf(r->series[r->n].note, sizeof r->series[r->n].note, "not completed: %s",
                         err.message);
                failed = 1;
            }
            r->n++;
        }
    r->elapsed_ms = shop_now_ms() - t0;
    shop_sweep_print(r, stdout);
    if (shop_sweep_write_report(r, report, &err) != RPC_OK)
        fprintf(stderr, "shopflow bench --sweep: report: %s\n", err.message);
    printf("report: %s/index.html\njson:   %s/sweep.json\n", report, report);
    free(r);
    return failed ? 4 : 0;
}
