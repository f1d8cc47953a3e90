/* `shopflow bench` end to end on real daemons and the private PostgreSQL:
 * the --quick run that CI uses (both architectures) passes its invariants,
 * and pause, delay and drop faults on the member services' links are
 * applied and healed without breaking any invariant. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/testsupport.h"

/* The file's text; the test fails when it is missing. */
static char *slurp(const char *path)
{
    char *text = ts_slurp(path);
    cr_assert_not_null(text, "%s missing", path);
    return text;
}

/* Runs `shopflow bench ARGS... --json J --report R` and returns its exit code. */
static int run_bench(const char *json, const char *report, const char **args)
{
    char *argv[32] = {"shopflow", "bench"};
    int n = 2;
    for (; *args; args++)
        argv[n++] = (char *)*args;
    argv[n++] = "--json";
    argv[n++] = (char *)json;
    argv[n++] = "--report";
    argv[n++] = (char *)report;
    argv[n] = NULL;
    ts_proc p;
    cr_assert_eq(ts_spawn(&p, argv), 0);
    int rc = ts_stop(&p, 0, 240000);
    if (rc != 0)
        ts_dump_log(&p);
    return rc;
}

static void paths(const char *what, char *json, char *report)
{
    snprintf(json, 128, "%s/shopflow-bench-%s-%d.json", ts_tmp_dir(), what, (int)getpid());
    snprintf(report, 128, "%s/shopflow-bench-%s-%d", ts_tmp_dir(), what, (int)getpid());
}

static void cleanup(const char *json, const char *report)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", json, report);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(bench_run, .timeout = 300);

Test(bench_run, a_quick_bench_with_the_coupon_down_passes_its_invariants)
{
    char json[128], report[128];
    paths("quick", json, report);
    const char *args[] = {"--quick", "--duration", "6s", NULL};
    cr_assert_eq(run_bench(json, report, args), 0);
    char *j = slurp(json);
    cr_assert_not_null(strstr(j, "\"arch\": \"sync\""), "%s", j);
    cr_assert_not_null(strstr(j, "\"arch\": \"async\""), "both architectures ran");
    cr_assert_not_null(strstr(j, "\"spec\": \"coupon:kill@2000ms\""), "the default fault");
    cr_assert_not_null(strstr(j, "\"UNAVAILABLE\""), "the coupon outage showed");
    cr_assert_not_null(strstr(j, "\"violations\": []"), "%s", j);
    cr_assert_null(strstr(j, "\"consistency_ms\": -1"), "it converged");
    char path[200];
    snprintf(path, sizeof path, "%s/throughput.svg", report);
    cr_assert_not_null(strstr(slurp(path), "<svg"));
    cleanup(json, report);
}

Test(bench_run, pause_delay_and_drop_on_member_links_heal_without_violations)
{
    char json[128], report[128];
    paths("links", json, report);
    const char *args[] = {"--arch",     "sync",
                          "--rate",     "60",
                          "--duration", "6s",
                          "--fault",    "stock:pause@1s-2s",
                          "--fault",    "coupon:drop=0.5@2500ms-3500ms",
                          "--fault",    "stock:delay=300@4s-5s",
                          NULL};
    cr_assert_eq(run_bench(json, report, args), 0);
    char *j = slurp(json);
    cr_assert_not_null(strstr(j, "\"violations\": []"), "%s", j);
    /* The faults bit: some requests failed or waited past their deadline. */
    cr_assert(strstr(j, "\"DEADLINE_EXCEEDED\"") || strstr(j, "\"UNAVAILABLE\""), "%s", j);
    cleanup(json, report);
}
