/* mq/nats: one connection to a JetStream cluster and the JetStream objects
 * made on first use. Internal to the JetStream backend.
 *
 * A link connects to the servers of a nats:// URL (and keeps reconnecting to
 * any of them, forever); it remembers the streams it has made or found, so
 * a stream is looked up once per link. Creation is idempotent: a stream or
 * consumer that exists is used as it is (its replicas, window and limits are
 * the cluster's), so two processes racing to make one both succeed. */
#ifndef SHOP_MQ_NATS_LINK_H
#define SHOP_MQ_NATS_LINK_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdint.h>

#include "base/error.h"
#include "mq/nats/nats_names.h"

/* Streams: file storage, kept 72 h (as mq-broker's default retention), and
 * a dedup window of 120 s ($MQ_NATS_DEDUP_S), longer than the producer's
 * longest retry span (mq_nats_producer_open checks). */
#define MQ_NATS_MAX_AGE_S (72 * 3600)
#define MQ_NATS_DEDUP_S_DEFAULT 120

typedef struct mq_nats_link {
    natsConnection *nc;
    jsCtx *js; /* for the JetStream API calls (not for async publishes) */
    int replicas;
    int timeout_ms;
    pthread_mutex_t mu;
    char **streams; /* made or found already */
    size_t nstreams;
} mq_nats_link;

/* Connects to the servers of `url` (returns once connected, or at once with
 * the connection retrying in the background when none answers). */
rpc_status mq_nats_link_open(mq_nats_link *l, const char *url, int timeout_ms, shop_error *err);
void mq_nats_link_close(mq_nats_link *l);

/* The dedup window in seconds: $MQ_NATS_DEDUP_S or MQ_NATS_DEDUP_S_DEFAULT. */
int mq_nats_dedup_s(void);

/* Sets err from a libnats status (and JetStream error code, 0 if none) with
 * `what` in front; returns the rpc_status it maps to: timeouts are
 * DEADLINE_EXCEEDED, a cluster without leader or connection UNAVAILABLE
 * (both retried by the producer), a missing stream or consumer NOT_FOUND. */
rpc_status mq_nats_status(natsStatus s, jsErrCode jerr, const char *what, shop_error *err);

/* Makes the stream of `kind`/`name` unless this link has seen it already. */
rpc_status mq_nats_ensure_stream(mq_nats_link *l, mq_nats_kind kind, const char *name,
                                 mq_nats_names *names, shop_error *err);

/* Forgets the streams seen, so that each is looked up (and made) again:
 * after a publish nobody answered or a consumer whose stream is gone (a
 * stream deleted by an operator is made again on the next use). */
void mq_nats_forget_streams(mq_nats_link *l);

/* Makes (or updates the limits of) the durable pull consumer `durable` on
 * `stream`: explicit acks, AckWait, MaxAckPending, MaxDeliver. */
typedef struct mq_nats_consumer_cfg {
    const char *stream, *subject, *durable;
    int64_t ack_wait_ms;
    int64_t max_ack_pending;
    int64_t max_deliver;
} mq_nats_consumer_cfg;

rpc_status mq_nats_ensure_consumer(mq_nats_link *l, const mq_nats_consumer_cfg *cfg,
                                   shop_error *err);

#endif
