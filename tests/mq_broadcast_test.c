/* Broadcast consumption against a real broker: every instance of the group
 * gets every message; each instance keeps its own position under its
 * instance name, so one restarted with the same name (also after a kill -9
 * of the broker) resumes where it acknowledged, and a new name starts at
 * the earliest retained message. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "tests/support/mq_testkit.h"
#include "base/clock.h"

#define N 600

static mqt_broker broker;

typedef struct seen {
    pthread_mutex_t mu;
    unsigned count[2 * N];
    unsigned distinct, total;
} seen;

static mq_consume_result on_msg(const mq_msg *m, void *arg)
{
    seen *s = arg;
    int64_t i = mqt_body_check(m->body, m->len);
    pthread_mutex_lock(&s->mu);
    if (i >= 0 && i < 2 * N && s->count[i]++ == 0)
        s->distinct++;
    s->total++;
    pthread_mutex_unlock(&s->mu);
    return MQ_CONSUME_SUCCESS;
}

static mq_consumer *instance(const char *name, seen *s)
{
    const char *topics[] = {"prices"};
    mq_consumer_opts o = {
        .url = broker.url, .pub_url = broker.pub_url, .broadcast = 1, .instance = name};
    mq_consumer *c = NULL;
    shop_error err = {0};
    cr_assert_eq(mq_consumer_open("cache", topics, 1, on_msg, s, &o, &c, &err), RPC_OK, "%s",
                 err.message);
    cr_assert_eq(mq_consumer_start(c, &err), RPC_OK, "%s", err.message);
    return c;
}

static unsigned distinct_in(seen *s, int from, int to)
{
    pthread_mutex_lock(&s->mu);
    unsigned n = 0;
    for (int i = from; i < to; i++)
        n += s->count[i] > 0;
    pthread_mutex_unlock(&s->mu);
    return n;
}

typedef struct range {
    seen *s;
    int from, to;
} range;

static int range_seen(void *arg)
{
    range *r = arg;
    return distinct_in(r->s, r->from, r->to) == (unsigned)(r->to - r->from);
}

static int wait_distinct(seen *s, int from, int to, int timeout_ms)
{
    range r = {s, from, to};
    return mqt_wait_for(range_seen, &r, timeout_ms);
}

static void up(void)
{
    mqt_broker_init(&broker, "broadcast");
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "broker did not start");
}

static void down(void)
{
    mqt_broker_cleanup(&broker);
}

Test(mq_broadcast, every_instance_gets_every_message_and_a_restarted_instance_resumes_its_position,
     .init = up, .fini = down, .timeout = 90)
{
    static seen a, b, b2, c;
    pthread_mutex_init(&a.mu, NULL);
    pthread_mutex_init(&b.mu, NULL);
    pthread_mutex_init(&b2.mu, NULL);
    pthread_mutex_init(&c.mu, NULL);
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    mq_consumer *ca = instance("host-a", &a), *cb = instance("host-b", &b);
    cr_assert_eq(mqt_send_range(p, "prices", 0, N, 50, 64), 0);
    cr_assert_eq(wait_distinct(&a, 0, N, 15000), 0, "host-a got %u of %d", distinct_in(&a, 0, N),
                 N);
    cr_assert_eq(wait_distinct(&b, 0, N, 15000), 0, "host-b got %u of %d", distinct_in(&b, 0, N),
                 N);

    /* host-b goes away; its acknowledged position survives a kill -9 of the
     * broker (offsets are persisted every 200 ms). */
    mq_consumer_close(cb);
    shop_sleep_ms(600);
    cr_assert_eq(mqt_broker_stop(&broker, SIGKILL), 128 + SIGKILL);
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "restart failed");
    cr_assert_eq(mqt_send_range(p, "prices", N, 2 * N, 50, 64), 0);
    cr_assert_eq(wait_distinct(&a, N, 2 * N, 20000), 0, "host-a got %u of the second %d",
                 distinct_in(&a, N, 2 * N), N);

    /* The same name resumes after what it acknowledged; a new name starts
     * at the beginning. */
    cb = instance("host-b", &b2);
    mq_consumer *cc = instance("host-c", &c);
    cr_assert_eq(wait_distinct(&b2, N, 2 * N, 20000), 0, "host-b got %u of the second %d",
                 distinct_in(&b2, N, 2 * N), N);
    cr_assert_eq(wait_distinct(&c, 0, 2 * N, 20000), 0, "host-c got %u of %d",
                 distinct_in(&c, 0, 2 * N), 2 * N);
    shop_sleep_ms(300);
    cr_assert_eq(distinct_in(&b2, 0, N), 0, "host-b got %u of the messages it had acknowledged",
                 distinct_in(&b2, 0, N));

    char out[8192];
    const char *args[] = {"mq", "stats", "--url", broker.url, NULL};
    cr_assert_eq(mqt_cli(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "cache@host-a") && strstr(out, "cache@host-b"),
              "stats list each instance's position: %s", out);
    mq_consumer_close(ca);
    mq_consumer_close(cb);
    mq_consumer_close(cc);
    mq_producer_close(p);
}

Test(mq_broadcast, an_instance_name_with_an_at_sign_is_refused, .init = up, .fini = down)
{
    seen s;
    const char *topics[] = {"prices"};
    mq_consumer_opts o = {
        .url = broker.url, .pub_url = broker.pub_url, .broadcast = 1, .instance = "a@b"};
    mq_consumer *c = NULL;
    shop_error err = {0};
    cr_assert_eq(mq_consumer_open("cache", topics, 1, on_msg, &s, &o, &c, &err),
                 RPC_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "instance name"), "%s", err.message);
}

Test(mq_broadcast, an_unordered_instance_cannot_join_an_ordered_group, .init = up, .fini = down)
{
    seen s;
    pthread_mutex_init(&s.mu, NULL);
    const char *topics[] = {"prices"};
    mq_consumer_opts o = {.url = broker.url, .pub_url = broker.pub_url, .ordered = 1};
    mq_consumer *c1 = NULL, *c2 = NULL;
    shop_error err = {0};
    cr_assert_eq(mq_consumer_open("ledger", topics, 1, on_msg, &s, &o, &c1, &err), RPC_OK);
    cr_assert_eq(mq_consumer_start(c1, &err), RPC_OK, "%s", err.message);
    o.ordered = 0;
    cr_assert_eq(mq_consumer_open("ledger", topics, 1, on_msg, &s, &o, &c2, &err), RPC_OK);
    cr_assert_eq(mq_consumer_start(c2, &err), RPC_FAILED_PRECONDITION, "%s", err.message);
    cr_assert(strstr(err.message, "ordered"), "%s", err.message);
    char out[8192];
    const char *args[] = {"mq", "stats", "--json", "--url", broker.url, NULL};
    cr_assert_eq(mqt_cli(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "\"mode\": \"ordered\""), "stats show the group's mode: %s", out);
    mq_consumer_close(c2);
    mq_consumer_close(c1);
}

Test(mq_broadcast, ordered_consumption_on_jetstream_is_refused_with_unimplemented)
{
    seen s;
    const char *topics[] = {"prices"};
    mq_consumer_opts o = {.url = "nats://127.0.0.1:4222", .ordered = 1};
    mq_consumer *c = NULL;
    shop_error err = {0};
    cr_assert_eq(mq_consumer_open("ledger", topics, 1, on_msg, &s, &o, &c, &err),
                 RPC_UNIMPLEMENTED);
    cr_assert(strstr(err.message, "JetStream"), "%s", err.message);
}
