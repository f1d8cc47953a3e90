/* `shopflow delay send|cancel|list|stats` against a real mq-delayd, and its
 * List request fed hostile frames (a huge limit, an unknown long topic). */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "mq/mq_delay.h"
#include "mq_delay.pb-c.h"
#include "tests/support/testsupport.h"

static ts_proc delayd;
static char url[64], sink_url[64], dir[256];

static void up(void)
{
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", ts_free_port());
    /* nothing listens on the sink: whatever falls due waits there */
    snprintf(sink_url, sizeof sink_url, "tcp://127.0.0.1:%d", ts_free_port());
    snprintf(dir, sizeof dir, "%s/shopflow-delaycli-%d", ts_tmp_dir(), (int)getpid());
    char *argv[] = {"mq-delayd", "--listen",     url, "--data-dir", dir, "--sink",
                    sink_url,    "--segment-mb", "8", NULL};
    cr_assert_eq(ts_spawn(&delayd, argv), 0);
    int port = atoi(strrchr(url, ':') + 1);
    cr_assert_eq(ts_wait_port(&delayd, port, 10000), 0, "mq-delayd did not come up");
}

static void down(void)
{
    cr_expect_eq(ts_stop(&delayd, SIGTERM, 10000), 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(delay_cli, .init = up, .fini = down, .timeout = 60);

Test(delay_cli, send_by_level_and_by_ms_then_list_shows_them_earliest_first)
{
    char out[8192];
    cr_assert_eq(ts_shopflow(out, sizeof out,
                             "delay send order.timeout --level 3 --key o-1 "
                             "body1 --url %s",
                             url),
                 0, "%s", out);
    cr_expect(strstr(out, "sent id=") && strstr(out, "key=o-1"), "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out,
                             "delay send order.timeout --delay-ms 600000 --key o-2 b2 --url %s",
                             url),
                 0, "%s", out);
    cr_assert_eq(
        ts_shopflow(out, sizeof out, "delay send other --delay-ms 5000 --key x-1 b3 --url %s", url),
        0, "%s", out);

    cr_assert_eq(ts_shopflow(out, sizeof out, "delay list --url %s", url), 0, "%s", out);
    char *x = strstr(out, "x-1"), *o1 = strstr(out, "o-1"), *o2 = strstr(out, "o-2");
    cr_assert(x && o1 && o2, "%s", out);
    cr_expect(x < o1 && o1 < o2, "earliest due first: %s", out);
    cr_expect(strstr(out, "listed=3 matched=3") != NULL, "%s", out);

    cr_assert_eq(
        ts_shopflow(out, sizeof out, "delay list --topic order.timeout --limit 1 --url %s", url), 0,
        "%s", out);
    cr_expect(strstr(out, "o-1") && !strstr(out, "o-2") && !strstr(out, "x-1"), "%s", out);
    cr_expect(strstr(out, "listed=1 matched=2") != NULL, "%s", out);

    cr_assert_eq(ts_shopflow(out, sizeof out, "delay list --json --url %s", url), 0, "%s", out);
    cr_expect(strstr(out, "\"matched\": 3") && strstr(out, "\"key\": \"o-2\"") &&
                  strstr(out, "\"topic\": \"other\""),
              "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "delay list --topic nosuch --url %s", url), 0, "%s",
                 out);
    cr_expect(strstr(out, "listed=0 matched=0") != NULL, "%s", out);
}

Test(delay_cli, cancel_by_key_reaches_every_topic_and_a_second_cancel_fails)
{
    char out[8192];
    cr_assert_eq(
        ts_shopflow(out, sizeof out, "delay send a --delay-ms 60000 --key k b --url %s", url), 0,
        "%s", out);
    cr_assert_eq(
        ts_shopflow(out, sizeof out, "delay send b --delay-ms 60000 --key k b --url %s", url), 0,
        "%s", out);
    cr_assert_eq(
        ts_shopflow(out, sizeof out, "delay send b --delay-ms 60000 --key keep b --url %s", url), 0,
        "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "delay cancel --key k --url %s", url), 0, "%s", out);
    cr_expect(strstr(out, "topic=a key=k count=1") && strstr(out, "topic=b key=k count=1"), "%s",
              out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "delay cancel --key k --url %s", url), 1, "%s", out);
    cr_expect(strstr(out, "delay list") != NULL, "says what to do: %s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "delay stats --json --url %s", url), 0, "%s", out);
    cr_expect(strstr(out, "\"pending\": 1,") && strstr(out, "\"cancelled\": 2"), "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "delay stats --url %s", url), 0, "%s", out);
    cr_expect(strstr(out, "cancelled=2") != NULL, "%s", out);
}

Test(delay_cli, usage_errors_exit_2_and_an_unreachable_daemon_exits_1)
{
    char out[8192];
    cr_expect_eq(ts_shopflow(out, sizeof out, "delay --help"), 0, "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "delay list --help"), 0, "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "delay send t b --url %s", url), 2,
                 "no level nor delay: %s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "delay send t --level 19 b --url %s", url), 2, "%s",
                 out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "delay list --limit 0 --url %s", url), 2, "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "delay cancel --url %s", url), 2, "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "delay frobnicate"), 2, "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "delay list --url %s", sink_url), 1, "%s", out);
    cr_expect(strstr(out, "is mq-delayd running") != NULL, "%s", out);
}

/* One raw List request; returns the reply (free it). */
static Shop__Mq__Delay__Reply *raw_list(nng_socket s, const char *topic, uint32_t limit)
{
    Shop__Mq__Delay__ListRequest lr = SHOP__MQ__DELAY__LIST_REQUEST__INIT;
    Shop__Mq__Delay__Request req = SHOP__MQ__DELAY__REQUEST__INIT;
    lr.topic = (char *)topic;
    lr.limit = limit;
    req.op_case = SHOP__MQ__DELAY__REQUEST__OP_LIST;
    req.list = &lr;
    size_t len = shop__mq__delay__request__get_packed_size(&req);
    uint8_t *buf = malloc(len);
    shop__mq__delay__request__pack(&req, buf);
    cr_assert_eq(nng_send(s, buf, len, 0), 0);
    free(buf);
    nng_msg *m = NULL;
    cr_assert_eq(nng_recvmsg(s, &m, 0), 0, "no answer");
    Shop__Mq__Delay__Reply *rep =
        shop__mq__delay__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    nng_msg_free(m);
    cr_assert_not_null(rep);
    return rep;
}

Test(delay_cli, a_list_request_is_bounded_whatever_limit_or_topic_it_asks_for)
{
    mq_delay_client *c = NULL;
    cr_assert_eq(mq_delay_client_open(url, 5000, &c, NULL), RPC_OK);
    enum { N = 1200 };
    static mq_delay_msg msgs[N];
    static mq_delay_result res[N];
    for (int i = 0; i < N; i++)
        msgs[i] = (mq_delay_msg){
            .topic = "bulk", .key = "", .body = "x", .len = 1, .delay_ms = 600000 + i};
    cr_assert_eq(mq_delay_send_batch(c, msgs, N, res, NULL), RPC_OK);
    mq_delay_client_close(c);

    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
    cr_assert_eq(nng_dial(s, url, NULL, 0), 0);
    Shop__Mq__Delay__Reply *rep = raw_list(s, "", UINT32_MAX);
    cr_expect_eq(rep->status, RPC_OK);
    cr_expect_eq(rep->n_pending, MQ_DELAY_LIST_MAX, "clamped to the maximum");
    cr_expect_eq(rep->matched, N);
    for (size_t i = 1; i < rep->n_pending; i++)
        cr_expect_leq(rep->pending[i - 1]->due_us, rep->pending[i]->due_us);
    shop__mq__delay__reply__free_unpacked(rep, NULL);

    static char long_topic[70000];
    memset(long_topic, 'q', sizeof long_topic - 1);
    rep = raw_list(s, long_topic, 5);
    cr_expect_eq(rep->status, RPC_OK);
    cr_expect_eq(rep->n_pending, 0);
    shop__mq__delay__reply__free_unpacked(rep, NULL);
    rep = raw_list(s, "bulk", 0);
    cr_expect_eq(rep->n_pending, 100, "0 means the default");
    shop__mq__delay__reply__free_unpacked(rep, NULL);
    nng_close(s);
}
