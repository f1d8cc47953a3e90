/* mq_delay: the client of mq-delayd, the durable delay queue.
 *
 * A delayed send is answered only once mq-delayd has the message on disk
 * (pwrite + fdatasync, group commit across clients). When it is due the
 * daemon hands it to its sink (the broker, or any endpoint that speaks the
 * Delivery protocol, see mq_delay_receiver_*) and then marks it delivered.
 * Delivery is at least once and never early. Every function returns an
 * rpc_status code; `err` (when given) receives a message a user can act on. */
#ifndef SHOP_MQ_DELAY_H
#define SHOP_MQ_DELAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

#define MQ_DELAY_LEVELS 18
#define MQ_DELAY_MAX_MS_DEFAULT (40LL * 24 * 3600 * 1000)
#define MQ_DELAY_MAX_TOPIC 200 /* printable, not starting with '%' (the broker's rule) */
#define MQ_DELAY_MAX_KEY 255
#define MQ_DELAY_MAX_BODY (4u << 20)
#define MQ_DELAY_URL_DEFAULT "tcp://127.0.0.1:7250"

/* RocketMQ's 18 levels: 1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m
 * 1h 2h. Returns the delay of `level` (1..18) in ms, or -1 if invalid. */
int64_t mq_delay_level_ms(int level);

/* The URL used when NULL is given: $MQ_DELAY_URL, else MQ_DELAY_URL_DEFAULT. */
const char *mq_delay_default_url(void);

typedef struct mq_delay_client mq_delay_client;

/* Dials mq-delayd at `url` (NULL: $MQ_DELAY_URL, else MQ_DELAY_URL_DEFAULT);
 * calls wait at most timeout_ms (0: 5000). */
rpc_status mq_delay_client_open(const char *url, int timeout_ms, mq_delay_client **out,
                                shop_error *err);
void mq_delay_client_close(mq_delay_client *c);

typedef struct mq_delay_msg {
    const char *topic;
    const char *key; /* may be NULL or "": then it cannot be cancelled */
    const void *body;
    size_t len;
    int64_t delay_ms; /* used when delay_level is 0 */
    int delay_level;  /* 1..18, or 0 */
    /* W3C traceparent (NULL: none): kept with the message and sent to the
     * broker as its "traceparent" property when due. */
    const char *traceparent;
} mq_delay_msg;

typedef struct mq_delay_result {
    int status; /* rpc_status of this message */
    uint64_t id;
    int64_t due_us;  /* wall clock, microseconds since the epoch */
    char error[256]; /* why, when status is not OK ("disk full: ..."), as mq-delayd said */
} mq_delay_result;

/* Sends one delayed message; returns when it is durable (or refused). */
rpc_status mq_delay_send(mq_delay_client *c, const char *topic, const char *key, const void *body,
                         size_t len, int64_t delay_ms, int delay_level, mq_delay_result *result,
                         shop_error *err);

/* Sends n messages in one request, made durable by one fdatasync. Returns
 * OK if the call went through; each result carries its message's status. */
rpc_status mq_delay_send_batch(mq_delay_client *c, const mq_delay_msg *msgs, size_t n,
                               mq_delay_result *results, shop_error *err);

/* Cancels every pending message with this topic and key; NOT_FOUND if none
 * is pending any more (already delivered, being delivered, or unknown). */
rpc_status mq_delay_cancel(mq_delay_client *c, const char *topic, const char *key,
                           unsigned *cancelled, shop_error *err);

typedef struct mq_delay_topic_stats {
    char topic[MQ_DELAY_MAX_TOPIC + 1];
    uint64_t pending;
    int64_t next_due_us;
} mq_delay_topic_stats;

typedef struct mq_delay_stats {
    uint64_t pending, delivered, cancelled, sink_failures, segments, lateness_samples;
    int64_t next_due_us; /* 0 if nothing is pending */
    int64_t lateness_p50_us, lateness_p99_us, lateness_max_us;
    size_t n_topics;
    mq_delay_topic_stats *topics; /* malloc'd; free with mq_delay_stats_free */
} mq_delay_stats;

rpc_status mq_delay_get_stats(mq_delay_client *c, mq_delay_stats *out, shop_error *err);
void mq_delay_stats_free(mq_delay_stats *s);

#define MQ_DELAY_LIST_MAX 1000

typedef struct mq_delay_pending {
    char topic[MQ_DELAY_MAX_TOPIC + 1];
    char key[MQ_DELAY_MAX_KEY + 1];
    uint64_t id;
    int64_t due_us; /* wall clock, microseconds since the epoch */
    uint32_t body_len;
} mq_delay_pending;

/* The pending messages (of `topic`, all when NULL or ""), earliest due first,
 * at most `limit` (1..MQ_DELAY_LIST_MAX; 0: 100). *out is malloc'd (free()
 * it), *n its length, *matched how many pending messages match in all. */
rpc_status mq_delay_list(mq_delay_client *c, const char *topic, unsigned limit,
                         mq_delay_pending **out, size_t *n, uint64_t *matched, shop_error *err);

/* Prints the stats of the mq-delayd at `url` (NULL as above) as a table, for
 * `shopflow mq stats`. */
int mq_delay_print_stats(const char *url, FILE *out);

/* A sink endpoint: listens on `url` and calls `on_delivery` for each message
 * mq-delayd hands over; its return value (an rpc_status) is the ack, and any
 * status but OK makes mq-delayd retry later. Callbacks run on nng threads. */
typedef struct mq_delay_delivery {
    const char *topic;
    const char *key;
    const void *body;
    size_t len;
    uint64_t id;
    int64_t due_us;
    const char *traceparent; /* "" when the message carries none */
} mq_delay_delivery;

typedef int (*mq_delay_on_delivery)(const mq_delay_delivery *d, void *arg);
typedef struct mq_delay_receiver mq_delay_receiver;

rpc_status mq_delay_receiver_start(const char *url, mq_delay_on_delivery cb, void *arg,
                                   mq_delay_receiver **out, shop_error *err);
void mq_delay_receiver_stop(mq_delay_receiver *r);

#endif
