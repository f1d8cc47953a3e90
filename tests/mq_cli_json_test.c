/* `shopflow mq stats|dlq --json` against a real mq-broker: the figures the
 * tables show, as JSON a script can read. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

#include "tests/support/mq_testkit.h"

static mqt_broker b;

static void up(void)
{
    mqt_broker_init(&b, "clijson");
    cr_assert_eq(mqt_broker_start(&b, NULL), 0);
}

static void down(void)
{
    mqt_broker_cleanup(&b);
}

TestSuite(mq_cli_json, .init = up, .fini = down, .timeout = 60);

Test(mq_cli_json, stats_and_dlq_print_json_with_topics_groups_and_records)
{
    char out[16384];
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq send jt hello --count 3 --url %s", b.url), 0,
                 "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out,
                             "mq consume jt --group jg --count 3 --url %s --pub-url %s", b.url,
                             b.pub_url),
                 0, "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq stats --json --url %s --delay-url %s", b.url,
                             "tcp://127.0.0.1:1"),
                 0, "%s", out);
    cr_expect(
        strstr(out, "\"topic\": \"jt\",\n      \"start_offset\": 0,\n      \"end_offset\": 3"),
        "%s", out);
    cr_expect(strstr(out, "\"group\": \"jg\"") && strstr(out, "\"lag\": 0"), "%s", out);
    cr_expect(strstr(out, "\"delay\": null") != NULL, "no delay queue there: %s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq dlq jg --json --url %s", b.url), 0, "%s", out);
    cr_expect(strstr(out, "\"group\": \"jg\"") && strstr(out, "\"total\": 0") &&
                  strstr(out, "\"records\": []"),
              "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "mq stats --json --url tcp://127.0.0.1:1"), 1, "%s",
                 out);
}
