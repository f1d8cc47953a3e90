/* Delivery through a real mq-broker process: groups share the load and each
 * group gets everything, a consumer that was down catches up from its
 * committed offset, RECONSUME_LATER ends in the DLQ and can be re-driven. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "tests/support/mq_testkit.h"
#include "base/clock.h"

static mqt_broker broker;

static void up(void)
{
    mqt_broker_init(&broker, "delivery");
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "broker did not start");
}

static void down(void)
{
    mqt_broker_cleanup(&broker);
}

static mq_producer *producer(void)
{
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    return p;
}

Test(mq_delivery, two_instances_of_a_group_split_the_load_and_another_group_gets_everything,
     .init = up, .fini = down)
{
    mqt_collector a = {0}, b = {0}, other = {0};
    cr_assert_eq(mqt_collector_start(&a, &broker, "share", "orders", 2000), 0);
    cr_assert_eq(mqt_collector_start(&b, &broker, "share", "orders", 2000), 0);
    cr_assert_eq(mqt_collector_start(&other, &broker, "audit", "orders", 2000), 0);
    mq_producer *p = producer();
    cr_assert_eq(mqt_send_range(p, "orders", 0, 2000, 20, 64), 0);
    cr_assert_eq(mqt_collector_wait(&other, 2000, 15000), 0, "audit group got %llu",
                 (unsigned long long)mqt_collector_distinct(&other));
    int64_t until = shop_now_ms() + 15000;
    uint64_t union_n = 0;
    while (shop_now_ms() < until) {
        union_n = 0;
        pthread_mutex_lock(&a.mu);
        pthread_mutex_lock(&b.mu);
        for (size_t i = 0; i < 2000; i++)
            union_n += a.count[i] || b.count[i];
        pthread_mutex_unlock(&b.mu);
        pthread_mutex_unlock(&a.mu);
        if (union_n == 2000)
            break;
        shop_sleep_ms(20);
    }
    cr_assert_eq(union_n, 2000, "the group got %llu of 2000", (unsigned long long)union_n);
    cr_assert_gt(a.distinct, 200, "instance a got only %llu", (unsigned long long)a.distinct);
    cr_assert_gt(b.distinct, 200, "instance b got only %llu", (unsigned long long)b.distinct);
    cr_assert_eq(a.corrupt + b.corrupt + other.corrupt, 0);
    mq_producer_close(p);
    mqt_collector_stop(&a);
    mqt_collector_stop(&b);
    mqt_collector_stop(&other);
}

Test(mq_delivery, a_consumer_down_while_5000_messages_are_sent_gets_all_of_them_after_restart,
     .init = up, .fini = down)
{
    /* The group exists and has committed offsets before its consumer dies. */
    char *argv[] = {"shopflow", "mq",       "consume",   "orders",       "--group", "billing",
                    "--url",    broker.url, "--pub-url", broker.pub_url, NULL};
    ts_proc cons;
    cr_assert_eq(ts_spawn(&cons, argv), 0);
    mq_producer *p = producer();
    cr_assert_eq(mqt_send_range(p, "orders", 0, 10, 10, 64), 0);
    shop_sleep_ms(800);
    ts_stop(&cons, SIGKILL, 2000);

    cr_assert_eq(mqt_send_range(p, "orders", 10, 5010, 100, 64), 0);
    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &broker, "billing", "orders", 5010), 0);
    cr_assert_eq(mqt_collector_wait(&k, 5000, 20000), 0, "got %llu",
                 (unsigned long long)mqt_collector_distinct(&k));
    pthread_mutex_lock(&k.mu);
    for (size_t i = 10; i < 5010; i++)
        cr_assert_geq(k.count[i], 1, "message %zu missing", i);
    pthread_mutex_unlock(&k.mu);
    cr_assert_eq(k.corrupt, 0);
    mqt_collector_stop(&k);
    mq_producer_close(p);
}

Test(mq_delivery, reconsume_later_sixteen_times_ends_in_the_dlq_and_redrive_brings_it_back,
     .init = up, .fini = down)
{
    mqt_collector k = {.reconsume_later = 1};
    cr_assert_eq(mqt_collector_start(&k, &broker, "picky", "orders", 1), 0);
    mq_producer *p = producer();
    cr_assert_eq(mqt_send_range(p, "orders", 0, 1, 1, 64), 0);

    /* The first delivery and 16 retries (scaled backoff), then the DLQ. */
    char out[8192];
    const char *dlq[] = {"mq", "dlq", "picky", "--url", broker.url, NULL};
    int64_t until = shop_now_ms() + 20000;
    while (shop_now_ms() < until) {
        cr_assert_eq(mqt_cli(dlq, out, sizeof out), 0);
        if (strstr(out, "total=1"))
            break;
        shop_sleep_ms(100);
    }
    cr_assert(strstr(out, "total=1"), "no dead letter: %s", out);
    cr_assert(strstr(out, "topic=orders"), "%s", out);
    pthread_mutex_lock(&k.mu);
    cr_assert_eq(k.count[0], 17, "handler calls %u", k.count[0]);
    cr_assert_eq(k.times_seen_max, 16);
    pthread_mutex_unlock(&k.mu);

    const char *stats[] = {"mq", "stats", "--url", broker.url, NULL};
    cr_assert_eq(mqt_cli(stats, out, sizeof out), 0);
    cr_assert(strstr(out, "%DLQ%picky"), "%s", out);

    /* Re-driven, it comes back to the group once more. */
    mqt_collector_stop(&k);
    mqt_collector again = {0};
    cr_assert_eq(mqt_collector_start(&again, &broker, "picky", "orders", 1), 0);
    const char *redrive[] = {"mq", "dlq", "picky", "--redrive", "--url", broker.url, NULL};
    cr_assert_eq(mqt_cli(redrive, out, sizeof out), 0);
    cr_assert(strstr(out, "redriven=1"), "%s", out);
    cr_assert_eq(mqt_collector_wait(&again, 1, 10000), 0);
    cr_assert_eq(mqt_cli(dlq, out, sizeof out), 0);
    cr_assert(strstr(out, "total=0"), "%s", out);
    mqt_collector_stop(&again);
    mq_producer_close(p);
}

Test(mq_delivery, a_resend_with_the_same_id_is_stored_once_even_across_a_broker_restart, .init = up,
     .fini = down)
{
    mq_producer *p = producer();
    mq_send_opts o = {.id = "outbox-row-17"};
    mq_send_result r1, r2, r3;
    cr_assert_eq(mq_producer_send(p, "orders", "k", "abc", 3, NULL, &r1), RPC_OK);
    cr_assert_eq(mq_producer_send(p, "orders", "k", "first", 5, &o, &r1), RPC_OK);
    cr_assert_eq(r1.duplicate, 0);
    cr_assert_eq(mq_producer_send(p, "orders", "k", "first", 5, &o, &r2), RPC_OK);
    cr_assert_eq(r2.duplicate, 1);
    cr_assert_eq(r2.offset, r1.offset);
    cr_assert_eq(mqt_broker_stop(&broker, SIGKILL), 128 + SIGKILL);
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0);
    cr_assert_eq(mq_producer_send(p, "orders", "k", "first", 5, &o, &r3), RPC_OK);
    cr_assert_eq(r3.duplicate, 1, "the restarted broker forgot the id");
    cr_assert_eq(r3.offset, r1.offset);
    mq_producer_close(p);
}
