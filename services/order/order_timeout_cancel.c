/* A bounded queue of timeout cancels and the one thread that sends them to
 * mq-delayd (see order_timeout_cancel.h for why this is off the request path). */
#include "services/order/order_timeout_cancel.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "mq/mq_delay.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/status.h"

#define CANCEL_QUEUE_CAP 4096

struct timeout_canceller {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int stopping;
    int64_t ring[CANCEL_QUEUE_CAP];
    unsigned head, count;
    unsigned long dropped;
    char delay_url[256];
    mq_delay_client *client; /* only the thread touches it */
};

static int cancel_one(timeout_canceller *tc, int64_t order_id)
{
    char key[24];
    shop_error err = {0};
    unsigned n = 0;
    snprintf(key, sizeof key, "%lld", (long long)order_id);
    if (tc->client == NULL &&
        mq_delay_client_open(tc->delay_url, 1000, &tc->client, &err) != RPC_OK)
        tc->client = NULL;
    rpc_status st = tc->client != NULL ? mq_delay_cancel(tc->client, "order.timeout", key, &n, &err)
                                       : RPC_UNAVAILABLE;
    if (st == RPC_OK || st == RPC_NOT_FOUND)
        return 0;
    shop_log_warn("timeout not cancelled (it will find the order paid) order_id=%lld status=%s",
                  (long long)order_id, rpc_status_name(st));
    if (st == RPC_UNAVAILABLE && tc->client != NULL) {
        mq_delay_client_close(tc->client);
        tc->client = NULL;
    }
    return -1;
}

static void *canceller_main(void *arg)
{
    timeout_canceller *tc = arg;
    pthread_mutex_lock(&tc->mu);
    for (;;) {
        while (!tc->stopping && tc->count == 0)
            pthread_cond_wait(&tc->cv, &tc->mu);
        if (tc->stopping)
            break;
        int64_t order_id = tc->ring[tc->head];
        tc->head = (tc->head + 1) % CANCEL_QUEUE_CAP;
        tc->count--;
        pthread_mutex_unlock(&tc->mu);
        /* A failure is not retried (see the header); pause so a dead
         * mq-delayd is not hammered while the queue drains. */
        if (cancel_one(tc, order_id) != 0)
            shop_sleep_ms(200);
        pthread_mutex_lock(&tc->mu);
    }
    pthread_mutex_unlock(&tc->mu);
    return NULL;
}

timeout_canceller *timeout_canceller_start(const char *delay_url)
{
    timeout_canceller *tc = calloc(1, sizeof *tc);
    if (tc == NULL)
        return NULL;
    snprintf(tc->delay_url, sizeof tc->delay_url, "%s", delay_url);
    pthread_mutex_init(&tc->mu, NULL);
    pthread_cond_init(&tc->cv, NULL);
    if (pthread_create(&tc->thread, NULL, canceller_main, tc) != 0) {
        pthread_cond_destroy(&tc->cv);
        pthread_mutex_destroy(&tc->mu);
        free(tc);
        return NULL;
    }
    return tc;
}

void timeout_canceller_post(timeout_canceller *tc, int64_t order_id)
{
    if (tc == NULL)
        return;
    pthread_mutex_lock(&tc->mu);
    if (tc->count == CANCEL_QUEUE_CAP) {
        /* Full: the oldest cancel gives way; its timeout becomes a no-op. */
        tc->head = (tc->head + 1) % CANCEL_QUEUE_CAP;
        tc->count--;
        if (tc->dropped++ % 1000 == 0)
            shop_log_warn("timeout cancel queue full dropped=%lu", tc->dropped);
    }
    tc->ring[(tc->head + tc->count) % CANCEL_QUEUE_CAP] = order_id;
    tc->count++;
    pthread_cond_signal(&tc->cv);
    pthread_mutex_unlock(&tc->mu);
}

void timeout_canceller_stop(timeout_canceller *tc)
{
    if (tc == NULL)
        return;
    pthread_mutex_lock(&tc->mu);
    tc->stopping = 1;
    pthread_cond_signal(&tc->cv);
    pthread_mutex_unlock(&tc->mu);
    pthread_join(tc->thread, NULL);
    if (tc->client != NULL)
        mq_delay_client_close(tc->client);
    pthread_cond_destroy(&tc->cv);
    pthread_mutex_destroy(&tc->mu);
    free(tc);
}
