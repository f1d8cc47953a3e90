/* Asynchronous and one-way sends against a real mq-broker: callbacks come in
 * send order with the stored offsets, the bound on pending sends blocks the
 * caller, failures reach the callbacks, one-way sends are stored, and a
 * kill -9 of the broker with sends in flight loses nothing acknowledged. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "tests/support/mq_testkit.h"

static mqt_broker broker;

static void up(void)
{
    mqt_broker_init(&broker, "sendasync");
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "broker did not start");
}

static void down(void)
{
    mqt_broker_cleanup(&broker);
}

/* What the callbacks saw, in the order they ran. */
typedef struct seen_log {
    pthread_mutex_t mu;
    long n, failed, out_of_order;
    long next_expected;
    uint64_t *offsets;
    rpc_status last_failure;
    char last_message[MQ_ERRLEN];
    char (*ids)[MQ_ID_LEN];
} seen_log;

typedef struct send_tag {
    seen_log *log;
    long index;
} send_tag;

static void on_result(const mq_send_result *r, void *arg)
{
    send_tag *t = arg;
    seen_log *l = t->log;
    pthread_mutex_lock(&l->mu);
    if (t->index != l->next_expected)
        l->out_of_order++;
    l->next_expected = t->index + 1;
    if (r->status != RPC_OK) {
        l->failed++;
        l->last_failure = r->status;
        snprintf(l->last_message, sizeof l->last_message, "%s", r->message);
    }
    if (l->offsets)
        l->offsets[t->index] = r->offset;
    if (l->ids)
        snprintf(l->ids[t->index], MQ_ID_LEN, "%s", r->id);
    l->n++;
    pthread_mutex_unlock(&l->mu);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* n sends on topic with the producer options given; the callbacks' log. */
static void send_and_log(const mq_producer_opts *po, const char *topic, long n, seen_log *log)
{
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, po, &p), RPC_OK);
    pthread_mutex_init(&log->mu, NULL);
    log->offsets = calloc((size_t)n, sizeof(uint64_t));
    send_tag *tags = calloc((size_t)n, sizeof *tags);
    uint8_t body[64];
    for (long i = 0; i < n; i++) {
        tags[i] = (send_tag){log, i};
        mqt_body((uint64_t)i, body, sizeof body);
        cr_assert_eq(
            mq_producer_send_async(p, topic, NULL, body, sizeof body, NULL, on_result, &tags[i]),
            RPC_OK);
    }
    cr_assert_eq(mq_producer_flush(p, 30000), RPC_OK);
    mq_producer_close(p);
    free(tags);
    cr_assert_eq(log->n, n, "%ld callbacks", log->n);
    cr_assert_eq(log->failed, 0, "%ld failed: %s", log->failed, log->last_message);
    cr_assert_eq(log->out_of_order, 0);
}

Test(mq_send_async, callbacks_run_in_send_order_and_every_message_is_stored_once, .init = up,
     .fini = down, .timeout = 60)
{
    enum { N = 5000 };
    /* Small batches, so that several requests are in flight at once: the
     * broker may store two of them in either order, the callbacks still
     * come in send order. */
    mq_producer_opts po = {.batch_max_msgs = 64, .max_requests = 4, .max_pending = 1000};
    seen_log log = {0};
    send_and_log(&po, "ordered", N, &log);
    qsort(log.offsets, N, sizeof *log.offsets, cmp_u64);
    for (long i = 0; i < N; i++)
        cr_assert_eq(log.offsets[i], (uint64_t)i, "offsets are not 0..N-1 once each");
    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &broker, "check", "ordered", N), 0);
    cr_assert_eq(mqt_collector_wait(&k, N, 20000), 0, "consumed %llu",
                 (unsigned long long)mqt_collector_distinct(&k));
    cr_assert_eq(k.corrupt, 0);
    cr_assert_eq(k.total, N, "some message was stored twice");
    mqt_collector_stop(&k);
    free(log.offsets);
}

Test(mq_send_async, one_request_in_flight_stores_messages_in_send_order, .init = up, .fini = down,
     .timeout = 60)
{
    enum { N = 3000 };
    mq_producer_opts po = {.batch_max_msgs = 64, .max_requests = 1, .max_pending = 1000};
    seen_log log = {0};
    send_and_log(&po, "fifo", N, &log);
    for (long i = 0; i < N; i++)
        cr_assert_eq(log.offsets[i], (uint64_t)i, "message %ld stored at %llu", i,
                     (unsigned long long)log.offsets[i]);
    free(log.offsets);
}

typedef struct blocked_send {
    mq_producer *p;
    seen_log *log;
    send_tag tag;
    atomic_int returned;
} blocked_send;

static void *send_one_more(void *arg)
{
    blocked_send *b = arg;
    mq_producer_send_async(b->p, "bounded", NULL, "x", 1, NULL, on_result, &b->tag);
    atomic_store(&b->returned, 1);
    return NULL;
}

Test(mq_send_async, a_send_beyond_max_pending_blocks_until_one_completes, .init = up, .fini = down,
     .timeout = 60)
{
    mq_producer *p;
    mq_producer_opts po = {.max_pending = 8, .timeout_ms = 10000};
    cr_assert_eq(mq_producer_open(broker.url, &po, &p), RPC_OK);
    seen_log log = {0};
    pthread_mutex_init(&log.mu, NULL);
    mq_send_result r;
    cr_assert_eq(mq_producer_send(p, "bounded", NULL, "w", 1, NULL, &r), RPC_OK, "%s", r.message);
    kill(broker.p.pid, SIGSTOP); /* nothing is answered while it is stopped */
    send_tag tags[8];
    for (long i = 0; i < 8; i++) {
        tags[i] = (send_tag){&log, i};
        cr_assert_eq(mq_producer_send_async(p, "bounded", NULL, "x", 1, NULL, on_result, &tags[i]),
                     RPC_OK);
    }
    blocked_send b = {.p = p, .log = &log, .tag = {&log, 8}};
    pthread_t th;
    pthread_create(&th, NULL, send_one_more, &b);
    shop_sleep_ms(500);
    int returned_while_full = atomic_load(&b.returned);
    kill(broker.p.pid, SIGCONT);
    pthread_join(th, NULL);
    cr_assert_eq(returned_while_full, 0, "the ninth send did not wait for room");
    cr_assert_eq(mq_producer_flush(p, 20000), RPC_OK);
    cr_assert_eq(log.n, 9);
    cr_assert_eq(log.failed, 0, "%s", log.last_message);
    cr_assert_eq(log.out_of_order, 0);
    mq_producer_close(p);
}

Test(mq_send_async, failures_reach_the_callbacks_with_the_ids_kept_when_no_broker_listens,
     .timeout = 60)
{
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", ts_free_port());
    mq_producer *p;
    mq_producer_opts po = {.timeout_ms = 100, .retries = 2, .retry_backoff_ms = 5};
    cr_assert_eq(mq_producer_open(url, &po, &p), RPC_OK);
    enum { N = 20 };
    seen_log log = {.ids = calloc(N, MQ_ID_LEN)};
    pthread_mutex_init(&log.mu, NULL);
    send_tag tags[N];
    char given[N][MQ_ID_LEN];
    for (long i = 0; i < N; i++) {
        tags[i] = (send_tag){&log, i};
        snprintf(given[i], sizeof given[i], "id-%ld", i);
        mq_send_opts o = {.id = given[i]};
        cr_assert_eq(mq_producer_send_async(p, "nowhere", "k", "x", 1, &o, on_result, &tags[i]),
                     RPC_OK);
    }
    int64_t t0 = shop_now_ms();
    cr_assert_eq(mq_producer_flush(p, 20000), RPC_OK);
    cr_assert_eq(log.n, N);
    cr_assert_eq(log.failed, N);
    cr_assert_eq(log.out_of_order, 0);
    cr_assert_eq(log.last_failure, RPC_UNAVAILABLE);
    cr_assert(strstr(log.last_message, "no connection to the broker"), "%s", log.last_message);
    for (long i = 0; i < N; i++)
        cr_assert_str_eq(log.ids[i], given[i]);
    cr_assert_lt(shop_now_ms() - t0, 5000, "three attempts of ~100 ms took too long");
    mq_producer_close(p);
    free(log.ids);
}

static atomic_int callback_calls;

static void count_call(const mq_send_result *r, void *arg)
{
    (void)r;
    (void)arg;
    atomic_fetch_add(&callback_calls, 1);
}

Test(mq_send_async, bad_messages_are_refused_at_once_and_get_no_callback)
{
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", ts_free_port());
    mq_producer *p;
    cr_assert_eq(mq_producer_open(url, NULL, &p), RPC_OK);
    mq_send_opts delayed = {.delay_level = 2}, bad_tag = {.tag = "a|b"};
    cr_assert_eq(mq_producer_send_async(p, "%RETRY%x", NULL, "x", 1, NULL, count_call, NULL),
                 RPC_INVALID_ARGUMENT);
    cr_assert_eq(mq_producer_send_async(p, "t", NULL, NULL, 5, NULL, count_call, NULL),
                 RPC_INVALID_ARGUMENT);
    cr_assert_eq(mq_producer_send_async(p, "t", NULL, "x", 1, &delayed, count_call, NULL),
                 RPC_INVALID_ARGUMENT);
    cr_assert_eq(mq_producer_send_async(p, "t", NULL, "x", 1, &bad_tag, count_call, NULL),
                 RPC_INVALID_ARGUMENT);
    cr_assert_eq(mq_producer_send_oneway(p, "", NULL, "x", 1, NULL), RPC_INVALID_ARGUMENT);
    cr_assert_eq(mq_producer_flush(p, 1000), RPC_OK);
    mq_producer_close(p);
    cr_assert_eq(atomic_load(&callback_calls), 0);
}

Test(mq_send_async, one_way_sends_are_stored_and_delivered, .init = up, .fini = down, .timeout = 60)
{
    enum { N = 3000 };
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &broker, "oneway", "fire", N), 0);
    uint8_t body[100];
    for (long i = 0; i < N; i++) {
        mqt_body((uint64_t)i, body, sizeof body);
        cr_assert_eq(mq_producer_send_oneway(p, "fire", NULL, body, sizeof body, NULL), RPC_OK);
    }
    cr_assert_eq(mq_producer_flush(p, 20000), RPC_OK);
    mq_producer_close(p);
    cr_assert_eq(mqt_collector_wait(&k, N, 20000), 0, "delivered %llu of %d",
                 (unsigned long long)mqt_collector_distinct(&k), N);
    cr_assert_eq(k.corrupt, 0);
    mqt_collector_stop(&k);
}

/* ---- kill -9 with sends in flight ---- */

enum { CRASH_N = 30000 };
static atomic_int crash_acked[CRASH_N];
static atomic_int crash_acked_total, crash_failed;

static void on_crash_result(const mq_send_result *r, void *arg)
{
    long i = (long)(intptr_t)arg;
    if (r->status == RPC_OK) {
        atomic_store(&crash_acked[i], 1);
        atomic_fetch_add(&crash_acked_total, 1);
    } else {
        atomic_fetch_add(&crash_failed, 1);
    }
}

static void *crash_sender(void *arg)
{
    mq_producer *p = arg;
    uint8_t body[256];
    for (long i = 0; i < CRASH_N; i++) {
        mqt_body((uint64_t)i, body, sizeof body);
        mq_producer_send_async(p, "payments", NULL, body, sizeof body, NULL, on_crash_result,
                               (void *)(intptr_t)i);
        if (i % 500 == 0)
            shop_sleep_ms(2); /* spread the run so the kill lands in its middle */
    }
    return NULL;
}

Test(mq_send_async, kill_9_of_the_broker_with_async_sends_in_flight_loses_nothing_acknowledged,
     .init = up, .fini = down, .timeout = 180)
{
    mq_producer *p;
    mq_producer_opts po = {
        .timeout_ms = 1000, .retries = 50, .retry_backoff_ms = 20, .batch_max_msgs = 256};
    cr_assert_eq(mq_producer_open(broker.url, &po, &p), RPC_OK);
    pthread_t th;
    pthread_create(&th, NULL, crash_sender, p);
    int64_t until = shop_now_ms() + 60000;
    while (atomic_load(&crash_acked_total) < CRASH_N / 3 && shop_now_ms() < until)
        shop_sleep_ms(1);
    int before = atomic_load(&crash_acked_total);
    cr_assert_eq(mqt_broker_stop(&broker, SIGKILL), 128 + SIGKILL);
    cr_assert_lt(before, CRASH_N, "the run ended before the kill");
    shop_sleep_ms(300);
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "restart failed");
    pthread_join(th, NULL);
    cr_assert_eq(mq_producer_flush(p, 120000), RPC_OK);
    mq_producer_close(p);
    cr_assert_eq(atomic_load(&crash_failed), 0, "%d sends failed despite retries",
                 atomic_load(&crash_failed));
    cr_assert_eq(atomic_load(&crash_acked_total), CRASH_N);

    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &broker, "verify", "payments", CRASH_N), 0);
    int ok = mqt_collector_wait(&k, CRASH_N, 60000);
    pthread_mutex_lock(&k.mu);
    int missing = 0;
    for (int i = 0; i < CRASH_N; i++)
        missing += atomic_load(&crash_acked[i]) && k.count[i] == 0;
    pthread_mutex_unlock(&k.mu);
    cr_assert_eq(missing, 0, "%d acknowledged messages are missing", missing);
    cr_assert_eq(ok, 0);
    cr_assert_eq(k.corrupt, 0);
    mqt_collector_stop(&k);
}
