/* The producer's own checks: no mq-delayd or no broker -> UNAVAILABLE. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "mq/mq.h"
#include "tests/support/testsupport.h"

Test(mq_producer, a_delayed_send_with_no_mq_delayd_listening_is_unavailable_and_says_so)
{
    mq_producer *p;
    char url[64], delay_url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", ts_free_port());
    snprintf(delay_url, sizeof delay_url, "tcp://127.0.0.1:%d", ts_free_port());
    mq_producer_opts po = {.timeout_ms = 200, .delay_url = delay_url};
    cr_assert_eq(mq_producer_open(url, &po, &p), RPC_OK);
    mq_send_opts o = {.delay_level = 3};
    mq_send_result r;
    cr_assert_eq(mq_producer_send(p, "t", "k", "x", 1, &o, &r), RPC_UNAVAILABLE);
    cr_assert(strstr(r.message, "mq-delayd"), "%s", r.message);
    mq_producer_close(p);
}

Test(mq_producer, a_delayed_send_to_a_bad_topic_is_refused_before_anything_is_sent)
{
    mq_producer *p;
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", ts_free_port());
    cr_assert_eq(mq_producer_open(url, NULL, &p), RPC_OK);
    mq_send_opts o = {.delay_level = 3};
    mq_send_result r;
    cr_assert_eq(mq_producer_send(p, "%bad", "k", "x", 1, &o, &r), RPC_INVALID_ARGUMENT);
    mq_producer_close(p);
}

Test(mq_producer, answers_unavailable_with_the_same_id_when_no_broker_listens)
{
    mq_producer *p;
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", ts_free_port());
    mq_producer_opts po = {.timeout_ms = 100, .retries = 2, .retry_backoff_ms = 5};
    cr_assert_eq(mq_producer_open(url, &po, &p), RPC_OK);
    mq_send_opts o = {.id = "0123456789abcdef0123456789abcdef"};
    mq_send_result r;
    cr_assert_eq(mq_producer_send(p, "t", "k", "x", 1, &o, &r), RPC_UNAVAILABLE);
    cr_assert_str_eq(r.id, "0123456789abcdef0123456789abcdef");
    mq_producer_close(p);
}

#define IDS_PER_THREAD 50000

static void *make_ids(void *arg)
{
    char(*ids)[MQ_ID_LEN] = arg;
    for (int i = 0; i < IDS_PER_THREAD; i++)
        mq_new_id(ids[i]);
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, MQ_ID_LEN);
}

Test(mq_producer, message_ids_from_several_threads_are_unique_32_hex_digits)
{
    char(*ids)[MQ_ID_LEN] = calloc(4 * IDS_PER_THREAD, MQ_ID_LEN);
    pthread_t th[4];
    for (int t = 0; t < 4; t++)
        pthread_create(&th[t], NULL, make_ids, ids + t * IDS_PER_THREAD);
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    qsort(ids, 4 * IDS_PER_THREAD, MQ_ID_LEN, cmp_id);
    for (int i = 0; i < 4 * IDS_PER_THREAD; i++) {
        cr_assert_eq(strspn(ids[i], "0123456789abcdef"), 32, "%s", ids[i]);
        if (i > 0)
            cr_assert_neq(memcmp(ids[i], ids[i - 1], MQ_ID_LEN), 0, "duplicate id %s", ids[i]);
    }
    free(ids);
}
