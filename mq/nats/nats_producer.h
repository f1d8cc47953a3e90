/* mq/nats: the producer's JetStream path (mq_producer_* on a nats:// URL).
 * Internal: mq/producer.c validates, gives ids, routes delayed sends to
 * mq-delayd and retries; this file makes one attempt. */
#ifndef SHOP_MQ_NATS_PRODUCER_H
#define SHOP_MQ_NATS_PRODUCER_H

#include "base/error.h"
#include "mq/mq.h"

typedef struct mq_nats_producer mq_nats_producer;

/* Connects to the cluster of `url`. `opts` are the producer's options with
 * defaults applied; INVALID_ARGUMENT when its longest retry span (attempts
 * times the timeout, plus the backoffs) is not shorter than the streams'
 * dedup window, since a retry after the window could store a message twice. */
rpc_status mq_nats_producer_open(const char *url, const mq_producer_opts *opts,
                                 mq_nats_producer **out, shop_error *err);
void mq_nats_producer_close(mq_nats_producer *p);

/* One attempt for msgs[i] with todo[i] set: each is published with
 * Nats-Msg-Id = results[i].id (set by the caller), all in flight at once,
 * and results[i] gets the PubAck: OK with the stream sequence as offset and
 * duplicate=1 when JetStream had the id already (then with the first
 * sequence), or the failure. Streams are made on first use. */
void mq_nats_producer_attempt(mq_nats_producer *p, const mq_message *msgs, const int *todo,
                              size_t n, mq_send_result *results);

#endif
