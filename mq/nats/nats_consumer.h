/* mq/nats: the consumer's JetStream path (mq_consumer_* on a nats:// URL).
 * Internal; mq/consumer.c hands over to it when the URL is nats://. */
#ifndef SHOP_MQ_NATS_CONSUMER_H
#define SHOP_MQ_NATS_CONSUMER_H

#include "base/error.h"
#include "mq/mq.h"

typedef struct mq_nats_consumer mq_nats_consumer;

/* A consumer of `group` on `topics`: a durable pull consumer per (group,
 * topic), plus one on the group's stream of re-driven dead letters.
 * AckWait is $MQ_NATS_ACK_WAIT_MS (30000, as mq-broker's --ack-timeout-ms),
 * MaxAckPending is max_inflight, MaxDeliver max_reconsume + 4 (a backstop:
 * the client moves a message to the DLQ after max_reconsume). The retry
 * delays are RocketMQ's, times $MQ_NATS_RETRY_SCALE (1; tests use 0.0001). */
rpc_status mq_nats_consumer_open(const char *url, const char *group, const char *const *topics,
                                 size_t n_topics, mq_handler handler, void *arg,
                                 const mq_consumer_opts *opts, mq_nats_consumer **out,
                                 shop_error *err);

/* Starts one fetching thread per stream; returns at once, also while the
 * cluster is down (the threads make the consumers once it answers). The
 * handler runs for one message at a time. */
rpc_status mq_nats_consumer_start(mq_nats_consumer *c, shop_error *err);

/* Stops after the handler in progress; messages fetched and not handled are
 * nak'ed, so JetStream redelivers them at once. */
void mq_nats_consumer_close(mq_nats_consumer *c);

void mq_nats_consumer_get_stats(mq_nats_consumer *c, mq_consumer_stats *out);

#endif
