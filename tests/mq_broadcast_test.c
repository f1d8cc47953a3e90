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

static mq_consume_result on_msg(const mq_msg *m, void *arg)
{
    (void)m;
    (void)arg;
    return MQ_CONSUME_SUCCESS;
}

/* A broadcast instance of group "cache" on "prices". */
static void instance(mqt_collector *k, const char *name)
{
    k->instance = name;
    cr_assert_eq(mqt_collector_start(k, &broker, "cache", "prices", 2 * N), 0,
                 "instance %s did not start", name);
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
    static mqt_collector a, b, b2, c;
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    instance(&a, "host-a");
    instance(&b, "host-b");
    cr_assert_eq(mqt_send_range(p, "prices", 0, N, 50, 64), 0);
    cr_assert_eq(mqt_collector_wait_range(&a, 0, N, 15000), 0, "host-a got %llu of %d",
                 (unsigned long long)mqt_collector_seen_in(&a, 0, N), N);
    cr_assert_eq(mqt_collector_wait_range(&b, 0, N, 15000), 0, "host-b got %llu of %d",
                 (unsigned long long)mqt_collector_seen_in(&b, 0, N), N);

    /* host-b goes away; its acknowledged position survives a kill -9 of the
     * broker (offsets are persisted every 200 ms). */
    mqt_collector_stop(&b);
    shop_sleep_ms(600);
    cr_assert_eq(mqt_broker_stop(&broker, SIGKILL), 128 + SIGKILL);
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "restart failed");
    cr_assert_eq(mqt_send_range(p, "prices", N, 2 * N, 50, 64), 0);
    cr_assert_eq(mqt_collector_wait_range(&a, N, 2 * N, 20000), 0,
                 "host-a got %llu of the second %d",
                 (unsigned long long)mqt_collector_seen_in(&a, N, 2 * N), N);

    /* The same name resumes after what it acknowledged; a new name starts
     * at the beginning. */
    instance(&b2, "host-b");
    instance(&c, "host-c");
    cr_assert_eq(mqt_collector_wait_range(&b2, N, 2 * N, 20000), 0,
                 "host-b got %llu of the second %d",
                 (unsigned long long)mqt_collector_seen_in(&b2, N, 2 * N), N);
    cr_assert_eq(mqt_collector_wait_range(&c, 0, 2 * N, 20000), 0, "host-c got %llu of %d",
                 (unsigned long long)mqt_collector_seen_in(&c, 0, 2 * N), 2 * N);
    shop_sleep_ms(300);
    cr_assert_eq(mqt_collector_seen_in(&b2, 0, N), 0,
                 "host-b got %llu of the messages it had acknowledged",
                 (unsigned long long)mqt_collector_seen_in(&b2, 0, N));
    cr_assert_eq(a.corrupt + b2.corrupt + c.corrupt, 0);

    char out[8192];
    const char *args[] = {"mq", "stats", "--url", broker.url, NULL};
    cr_assert_eq(mqt_cli(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "cache@host-a") && strstr(out, "cache@host-b"),
              "stats list each instance's position: %s", out);
    mqt_collector_stop(&a);
    mqt_collector_stop(&b2);
    mqt_collector_stop(&c);
    mq_producer_close(p);
}

Test(mq_broadcast, an_instance_name_with_an_at_sign_is_refused, .init = up, .fini = down)
{
    const char *topics[] = {"prices"};
    mq_consumer_opts o = {
        .url = broker.url, .pub_url = broker.pub_url, .broadcast = 1, .instance = "a@b"};
    mq_consumer *c = NULL;
    shop_error err = {0};
    cr_assert_eq(mq_consumer_open("cache", topics, 1, on_msg, NULL, &o, &c, &err),
                 RPC_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "instance name"), "%s", err.message);
}

Test(mq_broadcast, an_unordered_instance_cannot_join_an_ordered_group, .init = up, .fini = down)
{
    const char *topics[] = {"prices"};
    mq_consumer_opts o = {.url = broker.url, .pub_url = broker.pub_url, .ordered = 1};
    mq_consumer *c1 = NULL, *c2 = NULL;
    shop_error err = {0};
    cr_assert_eq(mq_consumer_open("ledger", topics, 1, on_msg, NULL, &o, &c1, &err), RPC_OK);
    cr_assert_eq(mq_consumer_start(c1, &err), RPC_OK, "%s", err.message);
    o.ordered = 0;
    cr_assert_eq(mq_consumer_open("ledger", topics, 1, on_msg, NULL, &o, &c2, &err), RPC_OK);
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
    const char *topics[] = {"prices"};
    mq_consumer_opts o = {.url = "nats://127.0.0.1:4222", .ordered = 1};
    mq_consumer *c = NULL;
    shop_error err = {0};
    cr_assert_eq(mq_consumer_open("ledger", topics, 1, on_msg, NULL, &o, &c, &err),
                 RPC_UNIMPLEMENTED);
    cr_assert(strstr(err.message, "JetStream"), "%s", err.message);
}
