/* The producer's route for delayed sends: mq-delayd, reached with the
 * mq_delay client (mq/mq_delay.h). Internal to the producer. */
#ifndef SHOP_MQ_PRODUCER_DELAY_H
#define SHOP_MQ_PRODUCER_DELAY_H

#include <pthread.h>
#include <stddef.h>

#include "mq/mq.h"
#include "mq/mq_delay.h"

typedef struct mq_delay_route {
    pthread_mutex_t mu; /* the delay client is used by one sender at a time */
    mq_delay_client *client;
    char url[256];
    int timeout_ms;
} mq_delay_route;

void mq_delay_route_init(mq_delay_route *route, const char *url, int timeout_ms);
void mq_delay_route_close(mq_delay_route *route);

/* Whether `opts` asks for a delayed send. */
int mq_send_is_delayed(const mq_send_opts *opts);

/* Sends msgs[idx[0..n-1]] to mq-delayd in one request (one fdatasync there),
 * filling their results; a message is answered OK only once it is durable. */
void mq_delay_route_send(mq_delay_route *route, const mq_message *msgs, const size_t *idx, size_t n,
                         mq_send_result *results);

#endif
