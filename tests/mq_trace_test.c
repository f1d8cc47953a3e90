/* The broker's message trace against a real mq-broker: the timeline of a
 * message retried once (stored, delivered, RECONSUME_LATER, its retry copy,
 * delivered again, acked), also after a kill -9 of the broker; dead letter
 * and redrive; the bound on events kept (memory and files); bad requests. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "tests/support/mq_testkit.h"

static mqt_broker b;

static void up(void)
{
    mqt_broker_init(&b, "trace");
}

static void down(void)
{
    mqt_broker_cleanup(&b);
}

TestSuite(mq_trace, .init = up, .fini = down, .timeout = 90);

typedef struct retry_once {
    int calls, acked;
    int always_later;
} retry_once;

static mq_consume_result later_then_ok(const mq_msg *m, void *arg)
{
    retry_once *r = arg;
    (void)m;
    int n = __atomic_add_fetch(&r->calls, 1, __ATOMIC_SEQ_CST);
    if (r->always_later || n == 1)
        return MQ_RECONSUME_LATER;
    __atomic_store_n(&r->acked, 1, __ATOMIC_SEQ_CST);
    return MQ_CONSUME_SUCCESS;
}

static void send_with_id(const char *topic, const char *id)
{
    mq_producer *p = NULL;
    cr_assert_eq(mq_producer_open(b.url, NULL, &p), RPC_OK);
    mq_send_opts o = {.id = id};
    mq_send_result r;
    cr_assert_eq(mq_producer_send(p, topic, "k", "body", 4, &o, &r), RPC_OK, "%s", r.message);
    mq_producer_close(p);
}

static mq_consumer *consume(const char *group, retry_once *r, unsigned max_reconsume)
{
    const char *topics[] = {"traced"};
    mq_consumer_opts o = {.url = b.url, .pub_url = b.pub_url, .max_reconsume = max_reconsume};
    mq_consumer *c = NULL;
    shop_error err = {0};
    cr_assert_eq(mq_consumer_open(group, topics, 1, later_then_ok, r, &o, &c, &err), RPC_OK);
    cr_assert_eq(mq_consumer_start(c, &err), RPC_OK);
    return c;
}

/* Index of `text` in out after `from` (-1: absent): the events' order. */
static long at(const char *out, const char *text, long from)
{
    const char *p = from >= 0 ? strstr(out + from, text) : NULL;
    return p ? p - out : -1;
}

static void expect_retry_timeline(const char *out)
{
    long p = at(out, "STORED          traced@0", 0);
    p = at(out, "DELIVERED       traced@0  group=g", p);
    cr_expect(p >= 0 && strstr(out + p, "attempt=1"), "first delivery: %s", out);
    p = at(out, "RECONSUME_LATER traced@0  group=g", p);
    p = at(out, "STORED          %RETRY%g@0", p);
    p = at(out, "DELIVERED       %RETRY%g@0  group=g", p);
    cr_expect(p >= 0 && strstr(out + p, "attempt=2"), "the retry: %s", out);
    p = at(out, "ACKED           %RETRY%g@0  group=g", p);
    cr_expect(p >= 0, "the timeline in order: %s", out);
}

Test(mq_trace, a_retried_message_timeline_survives_a_broker_kill_9)
{
    cr_assert_eq(mqt_broker_start(&b, NULL), 0);
    send_with_id("traced", "msg-1");
    retry_once r = {0};
    mq_consumer *c = consume("g", &r, 0);
    int64_t until = shop_now_ms() + 10000;
    while (!__atomic_load_n(&r.acked, __ATOMIC_SEQ_CST) && shop_now_ms() < until)
        shop_sleep_ms(20);
    cr_assert(r.acked, "retried once, then acked");
    mq_consumer_close(c); /* its last ack is sent on close */
    shop_sleep_ms(100);
    char out[16384];
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq trace msg-1 --url %s", b.url), 0, "%s", out);
    expect_retry_timeline(out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq trace msg-1 --json --url %s", b.url), 0, "%s",
                 out);
    cr_expect(strstr(out, "\"id\": \"msg-1\"") && strstr(out, "\"kind\": \"ACKED\"") &&
                  strstr(out, "\"attempt\": 2"),
              "%s", out);
    mqt_broker_stop(&b, SIGKILL);
    cr_assert_eq(mqt_broker_start(&b, NULL), 0);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq trace msg-1 --url %s", b.url), 0, "%s", out);
    expect_retry_timeline(out);
}

Test(mq_trace, dead_letter_and_redrive_are_traced)
{
    cr_assert_eq(mqt_broker_start(&b, NULL), 0);
    send_with_id("traced", "msg-dlq");
    retry_once r = {.always_later = 1};
    mq_consumer *c = consume("g", &r, 1);
    int64_t until = shop_now_ms() + 10000;
    while (__atomic_load_n(&r.calls, __ATOMIC_SEQ_CST) < 2 && shop_now_ms() < until)
        shop_sleep_ms(20);
    mq_consumer_close(c);
    shop_sleep_ms(100);
    char out[16384];
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq dlq g --redrive --url %s", b.url), 0, "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq trace msg-dlq --url %s", b.url), 0, "%s", out);
    long p = at(out, "RECONSUME_LATER traced@0", 0);
    p = at(out, "DLQ             %RETRY%g@0  group=g", p);
    p = at(out, "STORED          %DLQ%g@0", p);
    p = at(out, "REDRIVEN        %DLQ%g@0  group=g", p);
    p = at(out, "STORED          %RETRY%g@1", p);
    cr_expect(p >= 0, "retry, dead letter, redrive in order: %s", out);
}

static mq_consume_result slow_first(const mq_msg *m, void *arg)
{
    retry_once *r = arg;
    (void)m;
    if (__atomic_add_fetch(&r->calls, 1, __ATOMIC_SEQ_CST) == 1)
        shop_sleep_ms(2500); /* past the test broker's 1.5 s ack timeout */
    __atomic_store_n(&r->acked, 1, __ATOMIC_SEQ_CST);
    return MQ_CONSUME_SUCCESS;
}

Test(mq_trace, an_ack_timeout_is_traced_and_the_redelivery_follows)
{
    /* the consumer stays (its heartbeats wait for the slow handler) */
    static const char *const slow[] = {"--ack-timeout-ms", "1000", "--consumer-timeout-ms", "10000",
                                       NULL};
    cr_assert_eq(mqt_broker_start(&b, slow), 0);
    send_with_id("traced", "msg-slow");
    retry_once r = {0};
    const char *topics[] = {"traced"};
    mq_consumer_opts o = {.url = b.url, .pub_url = b.pub_url};
    mq_consumer *c = NULL;
    shop_error err = {0};
    cr_assert_eq(mq_consumer_open("g", topics, 1, slow_first, &r, &o, &c, &err), RPC_OK);
    cr_assert_eq(mq_consumer_start(c, &err), RPC_OK);
    int64_t until = shop_now_ms() + 10000;
    while (__atomic_load_n(&r.calls, __ATOMIC_SEQ_CST) < 2 && shop_now_ms() < until)
        shop_sleep_ms(20);
    mq_consumer_close(c);
    shop_sleep_ms(100);
    char out[16384];
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq trace msg-slow --url %s", b.url), 0, "%s", out);
    long p = at(out, "DELIVERED       traced@0  group=g", 0);
    p = at(out, "TIMEOUT         traced@0  group=g", p);
    p = at(out, "DELIVERED       traced@0  group=g", p);
    cr_expect(p >= 0, "delivered, timed out, delivered again: %s", out);
}

static long file_size(const char *dir, const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

Test(mq_trace, the_trace_is_bounded_in_memory_and_on_disk)
{
    static const char *const small[] = {"--trace-events", "200", NULL};
    cr_assert_eq(mqt_broker_start(&b, small), 0);
    mq_producer *p = NULL;
    cr_assert_eq(mq_producer_open(b.url, NULL, &p), RPC_OK);
    for (int i = 0; i < 1000; i++) {
        char id[32];
        snprintf(id, sizeof id, "bound-%d", i);
        mq_send_opts o = {.id = id};
        mq_send_result r;
        cr_assert_eq(mq_producer_send(p, "traced", NULL, "x", 1, &o, &r), RPC_OK);
    }
    mq_producer_close(p);
    shop_sleep_ms(100);
    char out[16384];
    cr_expect_eq(ts_shopflow(out, sizeof out, "mq trace bound-0 --url %s", b.url), 1, "%s", out);
    cr_expect(strstr(out, "left the bounded trace") != NULL, "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq trace bound-999 --url %s", b.url), 0, "%s", out);
    cr_expect(strstr(out, "STORED          traced@999") != NULL, "%s", out);
    /* 1000 events written, ~100 per file before it alternates (49 bytes each) */
    long bytes = file_size(b.dir, "trace.0") + file_size(b.dir, "trace.1");
    cr_expect(bytes > 0 && bytes < 250 * 49 + 1024, "trace files: %ld bytes", bytes);
    mqt_broker_stop(&b, SIGKILL);
    cr_assert_eq(mqt_broker_start(&b, small), 0);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq trace bound-999 --url %s", b.url), 0,
                 "kept across a kill -9: %s", out);
}

Test(mq_trace, bad_requests_get_a_clear_status)
{
    static const char *const off[] = {"--trace-events", "0", NULL};
    cr_assert_eq(mqt_broker_start(&b, off), 0);
    char out[16384], id[100];
    memset(id, 'a', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    cr_expect_eq(ts_shopflow(out, sizeof out, "mq trace %s --url %s", id, b.url), 1, "%s", out);
    cr_expect(strstr(out, "INVALID_ARGUMENT") != NULL, "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "mq trace x --url %s", b.url), 1, "%s", out);
    cr_expect(strstr(out, "FAILED_PRECONDITION") && strstr(out, "--trace-events 0"), "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "mq trace x --url nats://127.0.0.1:4222"), 1, "%s",
                 out);
    cr_expect(strstr(out, "UNIMPLEMENTED") != NULL, "%s", out);
}
