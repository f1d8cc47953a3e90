/* Internal to the producer: its struct, shared by the synchronous path
 * (producer.c) and the asynchronous sender (producer_async.c). */
#ifndef SHOP_MQ_PRODUCER_INT_H
#define SHOP_MQ_PRODUCER_INT_H

#include <pthread.h>

#include "mq.pb-c.h"
#include "mq/mq.h"
#include "mq/nats/nats_producer.h"
#include "mq/producer_delay.h"
#include "mq/wire.h"

typedef struct mq_async_sender mq_async_sender;

struct mq_producer {
    mq_link link;
    mq_producer_opts opts;
    mq_delay_route delay;   /* delayed sends go to mq-delayd */
    mq_nats_producer *nats; /* set on a nats:// URL: JetStream instead of mq-broker */
    pthread_mutex_t async_mu;
    mq_async_sender *async; /* started by the first asynchronous send (under async_mu) */
};

/* Validates one message and fills its wire form (m; props has room for its
 * properties, which the caller links); the result gets the message id. */
rpc_status mq_message_prepare(const mq_message *in, Shop__Mq__Message *m, Shop__Mq__Property *props,
                              mq_send_result *r);

/* Whether a send attempt that failed with st is tried again. */
int mq_send_retryable(rpc_status st);

/* producer_async.c: flushes and stops the sender (if it was started). */
void mq_async_stop(mq_producer *p);

#endif
