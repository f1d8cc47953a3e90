/* The async architecture on a three-node JetStream cluster (shopflow bench
 * --arch async-nats, real nats-server processes, label cluster): 500
 * PlaceOrders while the node leading the order.placed stream is killed with
 * -9 and started again are all accepted, all end CONFIRMED, and every
 * invariant of the checker holds. */
#include <criterion/criterion.h>
#include <jansson.h>
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

TestSuite(async_nats_cluster, .timeout = 300);

Test(async_nats_cluster, orders_survive_a_killed_stream_leader_all_accepted_and_confirmed)
{
    char json[256], report[256];
    snprintf(json, sizeof json, "%s/nats-bench.json", ts_tmp_dir());
    snprintf(report, sizeof report, "%s/nats-report", ts_tmp_dir());
    /* 100/s for 5 s: 500 orders; the leader dies at 1.5 s and comes back at
     * 3.5 s (its stream elects another leader meanwhile); nobody pays, so
     * every order must end CONFIRMED. */
    char *argv[] = {"shopflow",    "bench", "--arch",     "async-nats",
                    "--rate",      "100",   "--duration", "5s",
                    "--pay-share", "0",     "--fault",    "broker:kill@1500ms,restart@3500ms",
                    "--converge",  "60s",   "--json",     json,
                    "--report",    report,  NULL};
    ts_proc p;
    cr_assert_eq(ts_spawn(&p, argv), 0);
    int rc = ts_stop(&p, 0, 240000);
    if (rc != 0)
        ts_dump_log(&p);
    cr_assert_eq(rc, 0, "shopflow bench exited %d", rc);
    char *j = slurp(json);
    cr_assert_not_null(strstr(j, "\"arch\": \"async-nats\""), "%s", j);
    cr_assert_not_null(strstr(j, "\"spec\": \"broker:kill@1500ms\""), "the fault ran: %s", j);
    json_t *doc = json_loads(j, 0, NULL);
    cr_assert_not_null(doc, "report.json parses");
    json_t *arch = json_array_get(json_object_get(doc, "architectures"), 0);
    cr_assert_eq(json_integer_value(json_object_get(arch, "offered")), 500, "%.400s",
                 strstr(j, "\"offered\""));
    cr_assert_eq(json_integer_value(json_object_get(arch, "accepted")), 500,
                 "100%% accepted: %.400s", strstr(j, "\"offered\""));
    cr_assert_eq(json_object_size(json_object_get(arch, "errors")), 0, "no failed PlaceOrder");
    json_decref(doc);
    cr_assert_not_null(strstr(j, "\"violations\": []"), "invariants: %s", j);
    cr_assert_null(strstr(j, "\"consistency_ms\": -1"), "every order left PENDING");
}
