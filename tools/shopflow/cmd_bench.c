/* shopflow bench: both architectures under the same open-loop load and fault
 * schedule, then the side-by-side table, optional JSON and HTML report.
 * With no flags (`make bench`): sync and async (async left out, and said so,
 * while it is not built), the coupon service killed for the middle third of
 * a 45 s run, report in var/bench/report. */
#include "tools/shopflow/commands.h"
#include "bench/harness/shop_bench.h"
#include "base/paths.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bench_usage(FILE *out)
{
    fprintf(
        out,
        "usage: shopflow bench [--arch sync,async] [--mq nats] [--publish outbox,txmsg]\n"
        "                      [--rate R] [--duration D]\n"
        "                      [--clients C]\n"
        "                      [--fault SPEC]... [--no-fault] [--json FILE] [--report DIR]\n"
        "                      [--quick] [--deadline MS] [--pay-share P] [--converge D]\n"
        "       shopflow bench --sweep [...]   the capacity of each architecture\n"
        "                      (shopflow bench --sweep --help)\n\n"
        "Runs each architecture on a fresh stack under the same open-loop PlaceOrder load\n"
        "(fixed arrival rate; latency from each request's scheduled start) and the same\n"
        "faults, heals, waits for consistency and checks every invariant.\n\n"
        "  --arch LIST       architectures to run: sync, async, async-nats (default\n"
        "                    sync,async; async is left out while it is not built)\n"
        "  --hosts netns     every daemon on its own host (a network namespace on a\n"
        "                    private bridge; root only): link faults partition@T,\n"
        "                    heal@T and bandwidth=RATE@T1-T2 act on a host's link, e.g.\n"
        "                    coupon:partition@15s,coupon:heal@30s; delay and drop stay\n"
        "                    in the message proxy. Each database is a primary and a\n"
        "                    synchronous standby (pg_auto_failover) on hosts of their own;\n"
        "                    stock:db-kill@T kills the primary's host (-9)\n"
        "  --db local        with --hosts netns: the private cluster instead (no failover)\n"
        "  --mq nats         adds async-nats: the async architecture on a three-node\n"
        "                    nats-server cluster with JetStream (R3) in mq-broker's place;\n"
        "                    its broker faults act on the order.placed stream's leader\n"
        "  --publish LIST    how the async order service publishes order.placed: outbox\n"
        "                    (default) and/or txmsg (a transactional message: half,\n"
        "                    order row, commit); txmsg adds async-txmsg, e.g.\n"
        "                    --arch async --publish outbox,txmsg compares the two\n"
        "  --rate R          PlaceOrder per second (default 100)\n"
        "  --duration D      load duration, e.g. 45s, 90000ms, 2m (default 45s)\n"
        "  --clients C       concurrent client threads (default 16)\n"
        "  --deadline MS     per-request deadline from its scheduled start (default 1000)\n"
        "  --pay-share P     share of accepted orders also paid, 0..1 (default 0.5)\n"
        "  --fault SPEC      e.g. coupon:kill@15s,restart@30s  stock:delay=200@5s-10s\n"
        "                    stock:pause@5s-8s  coupon:drop=0.3@5s-10s (repeatable), with\n"
        "                    --hosts netns also coupon:partition@5s,heal@10s and\n"
        "                    stock:bandwidth=500kbit@5s-10s, stock:db-kill@10s; services\n"
        "                    order, stock, coupon, broker, delayd. Default: the coupon service\n"
        "                    killed for the middle third of the run\n"
        "  --no-fault        no faults (a baseline)\n"
        "  --converge D      bound on waiting for consistency after healing (default 45s)\n"
        "  --json FILE       every figure as JSON\n"
        "  --report DIR      HTML page with gnuplot charts (default var/bench/report)\n"
        "  --quick           100 req/s for 12 s (CI)\n\n"
        "environment: SHOPFLOW_PG (use that PostgreSQL), SHOPFLOW_VAR (where var/ is)\n"
        "exit: 0 all invariants hold, 1 violations, 2 usage, 4 the run could not be carried out\n");
}

static const char *var_dir(char *buf, size_t len)
{
    const char *env = getenv("SHOPFLOW_VAR");
    snprintf(buf, len, "%s", env && *env ? env : shop_default_var_dir());
    return buf;
}

/* --publish txmsg: async-txmsg after "async" in the list (in its place
 * without outbox). Returns 1 when it made a new list. */
static int bench_publish_archs(const char *archs, int with_outbox, char *out, size_t len)
{
    char list[96];
    size_t n = 0;
    int added = 0;
    snprintf(list, sizeof list, "%s", archs);
    out[0] = '\0';
    char *save = NULL;
    for (char *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        int async = strcmp(a, "async") == 0;
        if (!async || with_outbox)
            n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s", n ? "," : "", a);
        if (async && n < len) {
            n += (size_t)snprintf(out + n, len - n, "%sasync-txmsg", n ? "," : "");
            added = 1;
        }
    }
    if (!added && n < len) /* no async in the list: txmsg is an async variant */
        snprintf(out + n, len - n, "%sasync-txmsg", n ? "," : "");
    return 1;
}

static int parse_number(const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "shopflow bench: %s wants a number from %g to %g, not '%s'\n", opt, lo, hi,
                text);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"arch", required_argument, NULL, 'a'},
        {"rate", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'd'},
        {"clients", required_argument, NULL, 'c'},
        {"fault", required_argument, NULL, 'f'},
        {"no-fault", no_argument, NULL, 'n'},
        {"json", required_argument, NULL, 'j'},
        {"report", required_argument, NULL, 'o'},
        {"quick", no_argument, NULL, 'q'},
        {"deadline", required_argument, NULL, 'l'},
        {"pay-share", required_argument, NULL, 'p'},
        {"converge", required_argument, NULL, 'v'},
        {"mq", required_argument, NULL, 'm'},
        {"hosts", required_argument, NULL, 'H'},
        {"publish", required_argument, NULL, 'P'},
        {"db", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--sweep") == 0)
            return cmd_bench_sweep(argc, argv);
    shop_bench_config cfg = shop_bench_defaults();
    const char *archs = "sync,async", *json = NULL, *report = NULL;
    int explicit_arch = 0, no_fault = 0, rate_set = 0, duration_set = 0, with_nats = 0, c;
    int with_txmsg = 0, with_outbox = 1;
    char vbuf[512], report_buf[600], log_dir[600];
    shop_error err = {0};
    double v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            archs = optarg;
            explicit_arch = 1;
            break;
        case 'H':
            if (strcmp(optarg, "netns") != 0 && strcmp(optarg, "local") != 0) {
                fprintf(stderr, "shopflow bench: --hosts wants local or netns, not '%s'\n", optarg);
                return 2;
            }
            cfg.hosts = strcmp(optarg, "netns") == 0 ? "netns" : NULL;
            break;
        case 'D':
            if (strcmp(optarg, "ha") != 0 && strcmp(optarg, "local") != 0) {
                fprintf(stderr, "shopflow bench: --db wants ha or local, not '%s'\n", optarg);
                return 2;
            }
            cfg.db = optarg;
            break;
        case 'm':
            if (strcmp(optarg, "nats") != 0 && strcmp(optarg, "broker") != 0) {
                fprintf(stderr, "shopflow bench: --mq wants broker or nats, not '%s'\n", optarg);
                return 2;
            }
            with_nats = strcmp(optarg, "nats") == 0;
            break;
        case 'P':
            with_txmsg = strstr(optarg, "txmsg") != NULL;
            with_outbox = strstr(optarg, "outbox") != NULL;
            if (!with_txmsg && !with_outbox) {
                fprintf(stderr, "shopflow bench: --publish wants outbox, txmsg or both\n");
                return 2;
            }
            break;
        case 'r':
            if (parse_number("--rate", optarg, 1, 100000, &cfg.rate) != 0)
                return 2;
            rate_set = 1;
            break;
        case 'c':
            if (parse_number("--clients", optarg, 1, 1024, &v) != 0)
                return 2;
            cfg.clients = (int)v;
            break;
        case 'l':
            if (parse_number("--deadline", optarg, 1, 600000, &v) != 0)
                return 2;
            cfg.deadline_ms = (int64_t)v;
            break;
        case 'p':
            if (parse_number("--pay-share", optarg, 0, 1, &cfg.pay_share) != 0)
                return 2;
            break;
        case 'd':
        case 'v':
            if (shop_parse_duration_ms(optarg,
                                       c == 'd' ? &cfg.duration_ms : &cfg.converge_timeout_ms,
                                       &err) != RPC_OK) {
                fprintf(stderr, "shopflow bench: --%s: %s\n", c == 'd' ? "duration" : "converge",
                        err.message);
                return 2;
            }
            duration_set |= c == 'd';
            break;
        case 'f':
            if (shop_fault_parse(&cfg.plan, optarg, &err) != RPC_OK) {
                fprintf(stderr, "shopflow bench: --fault: %s\n", err.message);
                return 2;
            }
            break;
        case 'n':
            no_fault = 1;
            break;
        case 'j':
            json = optarg;
            break;
        case 'o':
            report = optarg;
            break;
        case 'q':
            cfg.rate = rate_set ? cfg.rate : 100;
            cfg.duration_ms = duration_set ? cfg.duration_ms : 12000;
            break;
        case 'h':
            bench_usage(stdout);
            return 0;
        default:
            bench_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shopflow bench: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (cfg.plan.n == 0 && !no_fault) {
        char spec[96];
        snprintf(spec, sizeof spec, "coupon:kill@%lldms,restart@%lldms",
                 (long long)(cfg.duration_ms / 3), (long long)(2 * cfg.duration_ms / 3));
        shop_fault_parse(&cfg.plan, spec, &err);
    }
    if (shop_fault_validate(&cfg.plan, &err) != RPC_OK) {
        fprintf(stderr, "shopflow bench: --fault: %s\n", err.message);
        return 2;
    }
    for (size_t i = 0; i < cfg.plan.n; i++)
        if (cfg.plan.faults[i].until_ms > cfg.duration_ms) {
            char spec[64];
            shop_fault_format(&cfg.plan.faults[i], spec, sizeof spec);
            fprintf(stderr, "shopflow bench: fault %s ends after the %lld ms run\n", spec,
                    (long long)cfg.duration_ms);
            return 2;
        }
    snprintf(log_dir, sizeof log_dir, "%s/bench/logs", var_dir(vbuf, sizeof vbuf));
    cfg.log_dir = log_dir;
    if (!report) {
        snprintf(report_buf, sizeof report_buf, "%s/bench/report", vbuf);
        report = report_buf;
    }
    char arch_list[96], publish_list[128];
    if (with_nats && strstr(archs, "async-nats") == NULL) {
        snprintf(arch_list, sizeof arch_list, "%s,async-nats", archs);
        archs = arch_list;
    }
    if (with_txmsg && bench_publish_archs(archs, with_outbox, publish_list, sizeof publish_list))
        archs = publish_list;
    shop_bench_report r;
    if (shop_bench_compare(&cfg, archs, !explicit_arch, &r, &err) != RPC_OK) {
        fprintf(stderr, "shopflow bench: %s\n", err.message);
        return 4;
    }
    shop_report_print_table(&r, stdout);
    if (!explicit_arch && r.n_arch == 1)
        printf("  note: the async architecture is not built yet: this run is sync only.\n\n");
    int bad = 0;
    for (size_t i = 0; i < r.n_arch; i++) {
        const shop_arch_result *a = &r.arch[i];
        if (shop_bench_violations(a) != 0) {
            bad = 1;
            printf("invariants (%s):\n", a->arch);
            if (a->checked)
                shop_check_print(&a->check, stdout, 10);
        }
    }
    if (json && shop_report_write_json(&r, json, &err) != RPC_OK)
        fprintf(stderr, "shopflow bench: %s\n", err.message), bad = bad ? bad : 4;
    if (json)
        printf("json:   %s\n", json);
    if (shop_report_write_html(&r, report, &err) != RPC_OK)
        fprintf(stderr, "shopflow bench: report: %s\n", err.message);
    printf("report: %s/index.html\n", report);
    printf("%s\n", bad ? "RESULT: invariants violated" : "RESULT: all invariants hold");
    shop_bench_report_free(&r);
    return bad;
}
