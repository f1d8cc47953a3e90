/* Tags and broker-side filtering against a real mq-broker: a group gets
 * only the tags of its expression and never sees the others, its committed
 * offset and lag move past what was filtered (also across a kill -9), a
 * retried message keeps its tag, and bad expressions and tags are refused
 * with a reason. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "mq/wire.h"
#include "tests/support/mq_testkit.h"

static mqt_broker broker;

static void up(void)
{
    mqt_broker_init(&broker, "tags");
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "broker did not start");
}

static void down(void)
{
    mqt_broker_cleanup(&broker);
}

enum { N = 600 };
static const char *const tag_of[] = {"A", "B", "C", ""}; /* index % 4; "" no tag */

/* Sends N messages whose tag follows the index (tag_of[i % 4]). */
static void send_tagged(const char *topic)
{
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    uint8_t body[64];
    for (int i = 0; i < N; i++) {
        mqt_body((uint64_t)i, body, sizeof body);
        mq_send_opts o = {.tag = tag_of[i % 4]};
        mq_send_result r;
        cr_assert_eq(mq_producer_send(p, topic, NULL, body, sizeof body, &o, &r), RPC_OK, "%s",
                     r.message);
    }
    mq_producer_close(p);
}

typedef struct tag_seen {
    pthread_mutex_t mu;
    int count[N];
    long total, wrong_tag;
    int later_once; /* answer RECONSUME_LATER to each message's first delivery */
    int later_tag_kept;
} tag_seen;

static mq_consume_result on_tagged(const mq_msg *m, void *arg)
{
    tag_seen *s = arg;
    int64_t i = mqt_body_check(m->body, m->len);
    pthread_mutex_lock(&s->mu);
    mq_consume_result res = MQ_CONSUME_SUCCESS;
    if (i >= 0 && i < N) {
        if (strcmp(m->tag, tag_of[i % 4]) != 0)
            s->wrong_tag++;
        if (s->later_once && m->reconsume_times == 0)
            res = MQ_RECONSUME_LATER;
        else if (s->later_once)
            s->later_tag_kept += strcmp(m->tag, tag_of[i % 4]) == 0;
        if (res == MQ_CONSUME_SUCCESS)
            s->count[i]++;
    }
    s->total++;
    pthread_mutex_unlock(&s->mu);
    return res;
}

static mq_consumer *start_consumer(const char *group, const char *topic, const char *tags,
                                   tag_seen *s)
{
    mq_consumer_opts co = {.url = broker.url, .pub_url = broker.pub_url, .tags = tags};
    const char *topics[] = {topic};
    mq_consumer *c;
    shop_error err = {0};
    cr_assert_eq(mq_consumer_open(group, topics, 1, on_tagged, s, &co, &c, &err), RPC_OK, "%s",
                 err.message);
    cr_assert_eq(mq_consumer_start(c, &err), RPC_OK, "%s", err.message);
    return c;
}

/* Messages of s counted once or more, waiting up to timeout_ms for want. */
static long wait_seen(tag_seen *s, long want, int timeout_ms)
{
    int64_t until = shop_now_ms() + timeout_ms;
    long got = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        got = 0;
        for (int i = 0; i < N; i++)
            got += s->count[i] > 0;
        pthread_mutex_unlock(&s->mu);
        if (got >= want || shop_now_ms() >= until)
            return got;
        shop_sleep_ms(10);
    }
}

/* The group's committed offset and lag on topic, from the broker's stats. */
static void group_position(const char *group, const char *topic, uint64_t *committed, uint64_t *lag,
                           uint64_t *end)
{
    mq_link l;
    shop_error err = {0};
    cr_assert_eq(mq_link_open(&l, broker.url, &err), RPC_OK);
    Shop__Mq__Stats st = SHOP__MQ__STATS__INIT;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_STATS;
    req.stats = &st;
    Shop__Mq__Reply *rep = NULL;
    cr_assert_eq(mq_link_call(&l, &req, 5000, &rep, &err), RPC_OK, "%s", err.message);
    *committed = *lag = *end = UINT64_MAX;
    for (size_t i = 0; i < rep->stats->n_groups; i++) {
        Shop__Mq__GroupStats *g = rep->stats->groups[i];
        if (strcmp(g->group, group) == 0 && strcmp(g->topic, topic) == 0) {
            *committed = g->committed;
            *lag = g->lag;
            *end = g->end_offset;
        }
    }
    shop__mq__reply__free_unpacked(rep, NULL);
    mq_link_close(&l);
}

/* Waits until the group has committed the whole topic. */
static void wait_committed(const char *group, const char *topic, uint64_t end)
{
    uint64_t committed = 0, lag = 0, e = 0;
    int64_t until = shop_now_ms() + 10000;
    do {
        shop_sleep_ms(20);
        group_position(group, topic, &committed, &lag, &e);
    } while ((committed != end || lag != 0) && shop_now_ms() < until);
    cr_assert_eq(e, end);
    cr_assert_eq(committed, end, "committed %llu of %llu", (unsigned long long)committed,
                 (unsigned long long)end);
    cr_assert_eq(lag, 0, "lag %llu", (unsigned long long)lag);
}

Test(mq_tags, a_group_gets_only_its_tags_and_commits_past_the_others, .init = up, .fini = down,
     .timeout = 60)
{
    send_tagged("orders");
    tag_seen ac = {0}, all = {0};
    pthread_mutex_init(&ac.mu, NULL);
    pthread_mutex_init(&all.mu, NULL);
    mq_consumer *c1 = start_consumer("a-or-c", "orders", "A || C", &ac);
    mq_consumer *c2 = start_consumer("everything", "orders", "*", &all);
    cr_assert_eq(wait_seen(&ac, N / 2, 10000), N / 2);
    cr_assert_eq(wait_seen(&all, N, 10000), N);
    wait_committed("a-or-c", "orders", N);
    wait_committed("everything", "orders", N);
    mq_consumer_stats st;
    mq_consumer_get_stats(c1, &st);
    mq_consumer_close(c1);
    mq_consumer_close(c2);
    /* The filtered group's consumer was never handed a B or untagged message. */
    cr_assert_eq(st.delivered, N / 2, "delivered %llu", (unsigned long long)st.delivered);
    for (int i = 0; i < N; i++) {
        int wanted = i % 4 == 0 || i % 4 == 2;
        cr_assert_eq(ac.count[i] > 0, wanted, "message %d (tag \"%s\")", i, tag_of[i % 4]);
    }
    cr_assert_eq(ac.wrong_tag, 0);
    cr_assert_eq(all.wrong_tag, 0);
    /* `shopflow mq topic` shows the group's expression and what it skipped. */
    char out[4096];
    const char *args[] = {"mq", "topic", "orders", "--url", broker.url, NULL};
    cr_assert_eq(mqt_cli(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "tags=\"A || C\" filtered=300"), "%s", out);
}

Test(mq_tags, filtered_messages_stay_consumed_after_a_kill_9_of_the_broker, .init = up,
     .fini = down, .timeout = 60)
{
    send_tagged("payments");
    tag_seen b = {0};
    pthread_mutex_init(&b.mu, NULL);
    mq_consumer *c = start_consumer("only-b", "payments", "B", &b);
    cr_assert_eq(wait_seen(&b, N / 4, 10000), N / 4);
    wait_committed("only-b", "payments", N);
    mq_consumer_close(c);
    shop_sleep_ms(600); /* offsets are saved every 200 ms once they moved */
    cr_assert_eq(mqt_broker_stop(&broker, SIGKILL), 128 + SIGKILL);
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "restart failed");
    uint64_t committed, lag, end;
    group_position("only-b", "payments", &committed, &lag, &end);
    cr_assert_eq(committed, N, "committed %llu after the restart", (unsigned long long)committed);
    cr_assert_eq(lag, 0);
    /* New messages: only the B ones reach the group. */
    tag_seen again = {0};
    pthread_mutex_init(&again.mu, NULL);
    c = start_consumer("only-b", "payments", "B", &again);
    shop_sleep_ms(300);
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    uint8_t body[64];
    for (int i = 0; i < 8; i++) {
        mqt_body((uint64_t)i, body, sizeof body);
        mq_send_opts o = {.tag = tag_of[i % 4]};
        mq_send_result r;
        cr_assert_eq(mq_producer_send(p, "payments", NULL, body, sizeof body, &o, &r), RPC_OK);
    }
    mq_producer_close(p);
    cr_assert_eq(wait_seen(&again, 2, 10000), 2);
    wait_committed("only-b", "payments", N + 8);
    mq_consumer_close(c);
    cr_assert_eq(again.total, 2, "the group got %ld messages after the restart", again.total);
    cr_assert(again.count[1] == 1 && again.count[5] == 1);
    /* A group made after the restart filters the recovered records too (the
     * tag hashes of the index are rebuilt from the log). */
    tag_seen fresh = {0};
    pthread_mutex_init(&fresh.mu, NULL);
    c = start_consumer("new-b", "payments", "B", &fresh);
    cr_assert_eq(wait_seen(&fresh, N / 4, 10000), N / 4);
    wait_committed("new-b", "payments", N + 8);
    mq_consumer_close(c);
    cr_assert_eq(fresh.total, N / 4 + 2, "got %ld", fresh.total);
    cr_assert_eq(fresh.wrong_tag, 0);
}

Test(mq_tags, a_retried_message_keeps_its_tag, .init = up, .fini = down, .timeout = 60)
{
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    uint8_t body[64];
    for (int i = 0; i < 4; i++) {
        mqt_body((uint64_t)i, body, sizeof body);
        mq_send_opts o = {.tag = tag_of[i % 4]};
        mq_send_result r;
        cr_assert_eq(mq_producer_send(p, "retries", NULL, body, sizeof body, &o, &r), RPC_OK);
    }
    mq_producer_close(p);
    tag_seen s = {.later_once = 1};
    pthread_mutex_init(&s.mu, NULL);
    mq_consumer *c = start_consumer("c-only", "retries", "C", &s);
    cr_assert_eq(wait_seen(&s, 1, 10000), 1);
    mq_consumer_close(c);
    cr_assert_eq(s.count[2], 1);
    cr_assert_eq(s.later_tag_kept, 1);
    cr_assert_eq(s.wrong_tag, 0);
    cr_assert_eq(s.total, 2, "one delivery and one redelivery, got %ld", s.total);
}

static mq_consume_result ignore(const mq_msg *m, void *arg)
{
    (void)m;
    (void)arg;
    return MQ_CONSUME_SUCCESS;
}

/* Opens and starts a consumer with `tags`; the status and message. */
static rpc_status try_expression(const char *tags, shop_error *err)
{
    mq_consumer_opts co = {.url = broker.url, .pub_url = broker.pub_url, .tags = tags};
    const char *topics[] = {"exprs"};
    mq_consumer *c;
    rpc_status st = mq_consumer_open("exprs", topics, 1, ignore, NULL, &co, &c, err);
    if (st == RPC_OK)
        st = mq_consumer_start(c, err);
    mq_consumer_close(c);
    return st;
}

Test(mq_tags, bad_expressions_and_tags_are_refused_with_a_reason, .init = up, .fini = down,
     .timeout = 60)
{
    static const char *const good[] = {"*", "", " * ", "A", "A || B", "A||B||C", "  a-1 ||  b.2 "};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        shop_error err = {0};
        cr_assert_eq(try_expression(good[i], &err), RPC_OK, "\"%s\": %s", good[i], err.message);
    }
    char long_tag[80];
    memset(long_tag, 'x', 65);
    long_tag[65] = '\0';
    static const struct {
        const char *expr, *says;
    } bad[] = {{"A ||", "a tag is missing"}, {"|| A", "a tag is missing"},
               {"A | B", "expected \"||\""}, {"A B", "expected \"||\""},
               {"* || A", "* stands alone"}, {"A || || B", "a tag is missing"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        shop_error err = {0};
        cr_assert_eq(try_expression(bad[i].expr, &err), RPC_INVALID_ARGUMENT, "\"%s\"",
                     bad[i].expr);
        cr_assert(strstr(err.message, bad[i].says), "\"%s\": %s", bad[i].expr, err.message);
    }
    shop_error err = {0};
    cr_assert_eq(try_expression(long_tag, &err), RPC_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "longer than 64"), "%s", err.message);

    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    static const char *const bad_tags[] = {"a b", "a|b", "tab\there"};
    for (size_t i = 0; i < sizeof bad_tags / sizeof *bad_tags; i++) {
        mq_send_opts o = {.tag = bad_tags[i]};
        mq_send_result r;
        cr_assert_eq(mq_producer_send(p, "exprs", NULL, "x", 1, &o, &r), RPC_INVALID_ARGUMENT);
        cr_assert(strstr(r.message, "a tag is"), "%s", r.message);
    }
    mq_send_opts o = {.tag = long_tag};
    mq_send_result r;
    cr_assert_eq(mq_producer_send(p, "exprs", NULL, "x", 1, &o, &r), RPC_INVALID_ARGUMENT);
    mq_producer_close(p);

    /* The broker checks a raw frame too (a client that skips the check). */
    mq_link l;
    cr_assert_eq(mq_link_open(&l, broker.url, &err), RPC_OK);
    Shop__Mq__Message m = SHOP__MQ__MESSAGE__INIT;
    m.id = "raw-1";
    m.topic = "exprs";
    m.tag = "a b";
    Shop__Mq__Message *mp = &m;
    Shop__Mq__SendRequest sr = SHOP__MQ__SEND_REQUEST__INIT;
    sr.n_messages = 1;
    sr.messages = &mp;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_SEND;
    req.send = &sr;
    Shop__Mq__Reply *rep = NULL;
    cr_assert_eq(mq_link_call(&l, &req, 5000, &rep, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(rep->send->results[0]->status, RPC_INVALID_ARGUMENT);
    cr_assert(strstr(rep->send->results[0]->message, "a tag is"));
    shop__mq__reply__free_unpacked(rep, NULL);
    mq_link_close(&l);
}

Test(mq_tags, a_nats_url_refuses_a_tag_expression_with_unimplemented)
{
    mq_consumer_opts co = {.url = "nats://127.0.0.1:1", .tags = "A || B"};
    const char *topics[] = {"t"};
    mq_consumer *c = NULL;
    shop_error err = {0};
    cr_assert_eq(mq_consumer_open("g", topics, 1, ignore, NULL, &co, &c, &err), RPC_UNIMPLEMENTED);
    cr_assert_null(c);
    cr_assert(strstr(err.message, "NATS JetStream backend"), "%s", err.message);
}
