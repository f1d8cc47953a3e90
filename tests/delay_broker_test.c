/* mq-delayd in front of a real mq-broker: due messages land on their topic
 * (awaiting the broker's durable ack) no earlier than due, and a broker that
 * is down at due time gets every message once it is back. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mq/mq_delay.h"
#include "tests/support/mq_testkit.h"
#include "base/clock.h"
#include "tests/support/testsupport.h"

enum { MAX_KEYS = 1000 };

static mqt_broker broker;
static ts_proc delayd;
static mq_delay_client *client;
static int delayd_port;
static char delayd_url[64], delayd_dir[128];

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t first_at[MAX_KEYS];
static int distinct;

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static mq_consume_result on_msg(const mq_msg *m, void *arg)
{
    (void)arg;
    int k = m->key ? atoi(m->key) : -1;
    int64_t now = wall_us();
    pthread_mutex_lock(&mu);
    if (k >= 0 && k < MAX_KEYS && first_at[k] == 0) {
        first_at[k] = now;
        distinct++;
    }
    pthread_mutex_unlock(&mu);
    return MQ_CONSUME_SUCCESS;
}

static int got(void)
{
    pthread_mutex_lock(&mu);
    int n = distinct;
    pthread_mutex_unlock(&mu);
    return n;
}

static mq_consumer *consume(const char *topic)
{
    mq_consumer *c = NULL;
    shop_error err = {0};
    const char *topics[] = {topic};
    mq_consumer_opts o = {0};
    o.url = broker.url;
    o.pub_url = broker.pub_url;
    cr_assert_eq(mq_consumer_open("delay-test", topics, 1, on_msg, NULL, &o, &c, &err), RPC_OK,
                 "%s", err.message);
    cr_assert_eq(mq_consumer_start(c, &err), RPC_OK, "%s", err.message);
    return c;
}

static void setup(void)
{
    shop_error err = {0};
    memset(first_at, 0, sizeof first_at);
    distinct = 0;
    mqt_broker_init(&broker, "delay");
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "broker did not start");
    delayd_port = ts_free_port();
    snprintf(delayd_url, sizeof delayd_url, "tcp://127.0.0.1:%d", delayd_port);
    snprintf(delayd_dir, sizeof delayd_dir, "%s/shopflow-delay-broker-%d", ts_tmp_dir(),
             (int)getpid());
    char *argv[] = {
        "mq-delayd", "--listen",          delayd_url,     "--data-dir", delayd_dir,
        "--broker",  broker.url,          "--segment-mb", "8",          "--max-backoff-ms",
        "100",       "--sink-timeout-ms", "1000",         NULL};
    cr_assert_eq(ts_spawn(&delayd, argv), 0);
    cr_assert_eq(ts_wait_port(&delayd, delayd_port, 10000), 0, "mq-delayd did not come up");
    cr_assert_eq(mq_delay_client_open(delayd_url, 5000, &client, &err), RPC_OK, "%s", err.message);
}

static void teardown(void)
{
    char cmd[256];
    int code = ts_stop(&delayd, SIGTERM, 10000);
    if (code != 0) {
        ts_dump_log(&delayd);
    }
    cr_expect_eq(code, 0, "mq-delayd did not exit 0 on SIGTERM");
    mq_delay_client_close(client);
    mqt_broker_cleanup(&broker);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", delayd_dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(delay_broker, .init = setup, .fini = teardown, .timeout = 120);

static int64_t sent_at[MAX_KEYS], delay_of[MAX_KEYS];

static void send_n(const char *topic, int n, int64_t base_ms, int spread_ms)
{
    shop_error err = {0};
    for (int i = 0; i < n; i++) {
        char key[16];
        mq_delay_result r;
        snprintf(key, sizeof key, "%d", i);
        delay_of[i] = base_ms + (spread_ms ? (i * 37) % spread_ms : 0);
        sent_at[i] = wall_us();
        cr_assert_eq(mq_delay_send(client, topic, key, key, strlen(key), delay_of[i], 0, &r, &err),
                     RPC_OK, "%s", err.message);
    }
}

static int wait_got(int n, int timeout_ms)
{
    int64_t until = shop_now_ms() + timeout_ms;
    while (got() < n && shop_now_ms() < until) {
        shop_sleep_ms(20);
    }
    return got() >= n ? 0 : -1;
}

Test(delay_broker, due_messages_reach_their_broker_topic_and_none_early)
{
    enum { N = 300 };
    mq_consumer *c = consume("order.timeout");
    send_n("order.timeout", N, 300, 1000);
    cr_assert_eq(wait_got(N, 30000), 0, "only %d of %d reached the consumer", got(), N);
    for (int i = 0; i < N; i++) {
        cr_expect_geq(first_at[i], sent_at[i] + delay_of[i] * 1000, "message %d early by %lld us",
                      i, (long long)(sent_at[i] + delay_of[i] * 1000 - first_at[i]));
    }
    mq_consumer_close(c);
}

Test(delay_broker, broker_down_at_due_time_then_up_gets_every_message)
{
    enum { N = 300 };
    shop_error err = {0};
    cr_assert_eq(mqt_broker_stop(&broker, SIGKILL), 128 + SIGKILL);
    send_n("order.timeout", N, 200, 100);
    shop_sleep_ms(1500); /* all due while the broker is down */
    mq_delay_stats s;
    cr_assert_eq(mq_delay_get_stats(client, &s, &err), RPC_OK, "%s", err.message);
    cr_expect_eq(s.pending, N, "messages must wait, not be dropped");
    cr_expect_gt(s.sink_failures, 0);
    mq_delay_stats_free(&s);
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "broker restart failed");
    mq_consumer *c = consume("order.timeout");
    cr_assert_eq(wait_got(N, 30000), 0, "only %d of %d reached the consumer", got(), N);
    mq_consumer_close(c);
}

Test(delay_broker, a_producer_send_with_a_delay_goes_through_mq_delayd_and_arrives_when_due)
{
    enum { N = 20, DELAY_MS = 300 };
    mq_consumer *c = consume("producer.delayed");
    mq_producer *p;
    mq_producer_opts po = {.timeout_ms = 2000, .delay_url = delayd_url};
    cr_assert_eq(mq_producer_open(broker.url, &po, &p), RPC_OK);
    mq_send_opts o = {.delay_ms = DELAY_MS};
    for (int i = 0; i < N; i++) {
        char key[16];
        mq_send_result r;
        snprintf(key, sizeof key, "%d", i);
        sent_at[i] = wall_us();
        cr_assert_eq(mq_producer_send(p, "producer.delayed", key, key, strlen(key), &o, &r), RPC_OK,
                     "%s", r.message);
        cr_expect(strncmp(r.id, "delay-", 6) == 0, "id %s", r.id);
    }
    mq_producer_close(p);
    int64_t until = shop_now_ms() + 10000;
    while (got() < N && shop_now_ms() < until)
        shop_sleep_ms(20);
    cr_assert_eq(got(), N, "only %d of %d delayed messages arrived", got(), N);
    for (int i = 0; i < N; i++)
        cr_expect_geq(first_at[i] - sent_at[i], DELAY_MS * 1000, "message %d arrived early", i);
    mq_consumer_close(c);
}
