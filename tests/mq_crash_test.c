/* Crashes with real processes: kill -9 of the broker in the middle of a
 * 10,000-message sending run loses no acknowledged message; a consumer
 * killed mid-batch has its unacknowledged messages delivered again. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/mq_testkit.h"
#include "base/clock.h"

#define N_MSGS 10000
#define N_THREADS 4

static mqt_broker broker;
static atomic_int acked[N_MSGS];
static atomic_int acked_total;

static void up(void)
{
    mqt_broker_init(&broker, "crash");
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "broker did not start");
}

static void down(void)
{
    mqt_broker_cleanup(&broker);
}

/* Sends its share one by one; each send retries (same id) until acknowledged. */
static void *sender(void *arg)
{
    int t = (int)(intptr_t)arg;
    mq_producer *p;
    mq_producer_opts o = {.timeout_ms = 1000, .retries = 50, .retry_backoff_ms = 20};
    if (mq_producer_open(broker.url, &o, &p) != RPC_OK)
        return NULL;
    uint8_t body[256];
    for (int i = t; i < N_MSGS; i += N_THREADS) {
        mqt_body((uint64_t)i, body, sizeof body);
        mq_send_result r;
        for (int tries = 0; tries < 20; tries++) {
            if (mq_producer_send(p, "payments", "k", body, sizeof body, NULL, &r) == RPC_OK) {
                atomic_store(&acked[i], 1);
                atomic_fetch_add(&acked_total, 1);
                break;
            }
        }
    }
    mq_producer_close(p);
    return NULL;
}

Test(mq_crash, kill_9_of_the_broker_mid_run_loses_no_acknowledged_message, .init = up, .fini = down,
     .timeout = 240)
{
    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++)
        pthread_create(&th[t], NULL, sender, (void *)(intptr_t)t);
    int64_t until = shop_now_ms() + 60000;
    while (atomic_load(&acked_total) < N_MSGS / 3 && shop_now_ms() < until)
        shop_sleep_ms(1);
    int before = atomic_load(&acked_total);
    cr_assert_eq(mqt_broker_stop(&broker, SIGKILL), 128 + SIGKILL);
    cr_assert_lt(before, N_MSGS, "the run ended before the kill");
    shop_sleep_ms(300);
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "restart failed");
    for (int t = 0; t < N_THREADS; t++)
        pthread_join(th[t], NULL);
    cr_assert_eq(atomic_load(&acked_total), N_MSGS, "only %d of %d sends were acknowledged",
                 atomic_load(&acked_total), N_MSGS);

    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &broker, "verify", "payments", N_MSGS), 0);
    int ok = mqt_collector_wait(&k, N_MSGS, 60000);
    pthread_mutex_lock(&k.mu);
    int missing = 0;
    for (int i = 0; i < N_MSGS; i++)
        missing += atomic_load(&acked[i]) && k.count[i] == 0;
    pthread_mutex_unlock(&k.mu);
    cr_assert_eq(missing, 0, "%d acknowledged messages are missing", missing);
    cr_assert_eq(ok, 0);
    cr_assert_eq(k.corrupt, 0, "%llu corrupt bodies", (unsigned long long)k.corrupt);
    mqt_collector_stop(&k);
}

static int lines_with(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

Test(mq_crash, a_consumer_killed_mid_batch_gets_its_unacked_messages_again, .init = up,
     .fini = down, .timeout = 120)
{
    char *argv[] = {"shopflow",  "mq",           "consume", "orders", "--group",
                    "slow",      "--sleep-ms",   "20",      "--url",  broker.url,
                    "--pub-url", broker.pub_url, NULL};
    ts_proc slow;
    cr_assert_eq(ts_spawn(&slow, argv), 0);
    shop_sleep_ms(300);
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    cr_assert_eq(mqt_send_range(p, "orders", 0, 200, 200, 64), 0);
    int64_t until = shop_now_ms() + 10000;
    while (lines_with(slow.log_path, "msg topic=orders") < 10 && shop_now_ms() < until)
        shop_sleep_ms(5);
    int handled = lines_with(slow.log_path, "msg topic=orders");
    ts_stop(&slow, SIGKILL, 2000);
    cr_assert_geq(handled, 10, "the slow consumer handled %d", handled);
    cr_assert_lt(handled, 200, "the slow consumer finished the batch before the kill");

    /* Its acks for the batch were still pending: everything comes again. */
    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &broker, "slow", "orders", 200), 0);
    cr_assert_eq(mqt_collector_wait(&k, 200, 15000), 0, "got %llu of 200",
                 (unsigned long long)mqt_collector_distinct(&k));
    mqt_collector_stop(&k);
    mq_producer_close(p);
}

Test(mq_crash, a_connected_consumer_resumes_by_itself_after_the_broker_is_killed, .init = up,
     .fini = down, .timeout = 120)
{
    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &broker, "steady", "orders", 1000), 0);
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    cr_assert_eq(mqt_send_range(p, "orders", 0, 500, 50, 64), 0);
    cr_assert_eq(mqt_broker_stop(&broker, SIGKILL), 128 + SIGKILL);
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "restart failed");
    cr_assert_eq(mqt_send_range(p, "orders", 500, 1000, 50, 64), 0);
    cr_assert_eq(mqt_collector_wait(&k, 1000, 20000), 0, "got %llu of 1000",
                 (unsigned long long)mqt_collector_distinct(&k));
    cr_assert_eq(k.corrupt, 0);
    mqt_collector_stop(&k);
    mq_producer_close(p);
}
