/* mq: the public client API of the shopflow broker (mq-broker).
 *
 * Producers send messages to topics over nng REQ/REP; a send returns only once
 * the broker has stored the message (durably, under the broker's default
 * --flush sync). Consumers belong to a group, subscribe to topics, receive
 * batches over nng PUB/SUB, and acknowledge over REQ/REP; the broker
 * redelivers whatever is not acknowledged, so delivery is at least once.
 *
 * A URL nats://host:port[,host:port...] runs the same calls on a NATS
 * JetStream cluster instead (mq/nats/, mq/README.md "Two backends").
 *
 * Every call returns an rpc_status code (base/status.h); a message for the user
 * goes into the result or error buffer. */
#ifndef SHOP_MQ_H
#define SHOP_MQ_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

#include "base/error.h"

#define MQ_DEFAULT_URL "tcp://127.0.0.1:7701"     /* requests: send, ack, stats */
#define MQ_DEFAULT_PUB_URL "tcp://127.0.0.1:7702" /* deliveries */
#define MQ_ID_LEN 33                              /* 32 hex digits + NUL */
#define MQ_ERRLEN 256

/* ---- producer ---- */

typedef struct mq_producer mq_producer;

typedef struct mq_producer_opts {
    int timeout_ms;        /* per attempt; 0: 5000 */
    int retries;           /* extra attempts on UNAVAILABLE/DEADLINE_EXCEEDED; <0: none, 0: 3 */
    int retry_backoff_ms;  /* first backoff, doubled per attempt; 0: 50 */
    const char *delay_url; /* mq-delayd, for delayed sends; NULL: $MQ_DELAY_URL or
                              tcp://127.0.0.1:7250 */
    /* Asynchronous and one-way sends (below). A send that would make more
     * than max_pending sends accepted and not yet completed blocks its
     * caller until one completes. */
    unsigned max_pending;    /* 0: 16384 */
    unsigned batch_max_msgs; /* messages per batch request; 0: 1024 */
    size_t batch_max_bytes;  /* and their bytes (bodies, topics, keys); 0: 1 MiB */
    unsigned max_requests;   /* batch requests in flight at once; 0: 4 */
} mq_producer_opts;

typedef struct mq_property {
    const char *key;
    const char *value;
} mq_property;

typedef struct mq_send_opts {
    /* A delayed send goes to mq-delayd (mq_producer_opts.delay_url), which
     * answers once it is durable and hands it to the broker when due; its
     * result carries mq-delayd's id ("delay-N") and no offset. Properties
     * and a caller-chosen id do not travel on that path. To cancel by key,
     * see mq_delay_cancel in mq/mq_delay.h. */
    int64_t delay_ms;
    int delay_level; /* RocketMQ's 1..18 (1 s ... 2 h) */
    const mq_property *properties;
    size_t n_properties;
    /* A message id to use (NULL: a fresh random one), at most 64 bytes. The
     * broker stores a message once per (topic, id) among its ~260k most
     * recent ids and answers a repeat with the first offset (duplicate=1):
     * give the same id only to the same message, e.g. an outbox row's key. */
    const char *id;
    /* RocketMQ's tag (NULL or "": none): 1..64 bytes, no '|', space or
     * control character. Consumers subscribe with a tag expression
     * (mq_consumer_opts.tags) and the broker filters on it. */
    const char *tag;
} mq_send_opts;

typedef struct mq_send_result {
    rpc_status status;
    char id[MQ_ID_LEN]; /* the message id (the same on every retry) */
    uint64_t offset;    /* the message's offset in its topic */
    int duplicate;      /* the broker had it already (a retried send) */
    char message[MQ_ERRLEN];
} mq_send_result;

/* One message of a batch send. */
typedef struct mq_message {
    const char *topic;
    const char *key; /* may be NULL */
    const void *body;
    size_t len;
    const mq_send_opts *opts; /* may be NULL */
} mq_message;

/* Opens a producer for the broker at `url` (NULL: $MQ_URL or MQ_DEFAULT_URL).
 * The producer is safe to use from several threads at once. */
rpc_status mq_producer_open(const char *url, const mq_producer_opts *opts, mq_producer **out);

/* Sends one message; `opts` may be NULL. Fills `res` (always) and returns its
 * status. Retries UNAVAILABLE with the same message id, so the broker stores
 * a retried message once and answers with its first offset. */
rpc_status mq_producer_send(mq_producer *p, const char *topic, const char *key, const void *body,
                            size_t len, const mq_send_opts *opts, mq_send_result *res);

/* Sends `n` messages in one request (one fsync on the broker). Each result
 * has its own status; returns OK when all are OK, else the first failure. */
rpc_status mq_producer_send_batch(mq_producer *p, const mq_message *msgs, size_t n,
                                  mq_send_result *results);

/* Asynchronous sends (RocketMQ's send with a SendCallback). The message is
 * copied and queued; a sender thread of the producer coalesces queued sends
 * into batch requests (up to batch_max_msgs / batch_max_bytes each, up to
 * max_requests of them in flight, so the broker's group commit covers many
 * sends with one fdatasync) and retries UNAVAILABLE and DEADLINE_EXCEEDED
 * with the same message ids, as mq_producer_send does.
 *
 * Returns OK once the send is queued: `cb` (may be NULL) is then called
 * exactly once with the same result a synchronous send fills. Callbacks run
 * on the producer's sender thread, one at a time, in the order of the
 * mq_producer_send_async calls that queued them (per producer; across
 * threads in the order their calls took the queue). The broker may store
 * two batches in flight at once in either order (their offsets then
 * interleave); max_requests = 1 keeps the log in send order. A callback may queue
 * further sends (they never block there) but must not call
 * mq_producer_flush or mq_producer_close.
 *
 * Blocks while max_pending sends are pending. Any other status means
 * nothing was queued and `cb` is not called: INVALID_ARGUMENT for a bad
 * message or a delayed send (delayed sends are synchronous only),
 * FAILED_PRECONDITION once the producer is closing, RESOURCE_EXHAUSTED
 * without memory. On a nats:// URL the send is made at once on the caller's
 * thread and `cb` is called there before this returns. */
typedef void (*mq_send_callback)(const mq_send_result *res, void *arg);
rpc_status mq_producer_send_async(mq_producer *p, const char *topic, const char *key,
                                  const void *body, size_t len, const mq_send_opts *opts,
                                  mq_send_callback cb, void *arg);

/* One-way sends (RocketMQ's sendOneway): queued and batched like an
 * asynchronous send, but nobody learns the outcome and nothing is retried:
 * a message can be lost if the broker or the connection fails. Returns as
 * mq_producer_send_async does. */
rpc_status mq_producer_send_oneway(mq_producer *p, const char *topic, const char *key,
                                   const void *body, size_t len, const mq_send_opts *opts);

/* Waits until every asynchronous and one-way send queued so far has
 * completed (its callback returned). timeout_ms <= 0: no limit. Returns OK,
 * DEADLINE_EXCEEDED, or FAILED_PRECONDITION when called from a callback. */
rpc_status mq_producer_flush(mq_producer *p, int timeout_ms);

/* Flushes (waiting for every outstanding callback), then frees the producer. */
void mq_producer_close(mq_producer *p);

/* Writes a fresh random message id (32 hex digits) into out[MQ_ID_LEN]. */
void mq_new_id(char out[MQ_ID_LEN]);

/* ---- consumer ---- */

typedef enum mq_consume_result {
    MQ_CONSUME_SUCCESS = 0,
    MQ_RECONSUME_LATER = 1, /* redeliver with backoff; DLQ after max_reconsume */
} mq_consume_result;

/* A delivered message; valid only during the handler call. */
typedef struct mq_msg {
    const char *id;
    const char *topic; /* the original topic (also for retries) */
    const char *key;
    const void *body;
    size_t len;
    uint64_t offset;          /* offset in the stored topic */
    const char *store_topic;  /* the stored topic (%RETRY%<group> for retries) */
    int64_t timestamp_ms;     /* when the broker stored it */
    unsigned reconsume_times; /* 0 on first delivery */
    const mq_property *properties;
    size_t n_properties;
    const char *tag; /* "" when the message has none */
} mq_msg;

typedef mq_consume_result (*mq_handler)(const mq_msg *msg, void *arg);

typedef struct mq_consumer_opts {
    const char *url;        /* NULL: $MQ_URL or MQ_DEFAULT_URL */
    const char *pub_url;    /* NULL: $MQ_PUB_URL or MQ_DEFAULT_PUB_URL */
    unsigned max_inflight;  /* unacked messages the broker may push; 0: 4096 */
    unsigned max_reconsume; /* RECONSUME_LATER before the DLQ; 0: 16 */
    int ack_batch;          /* acks sent together; 0: 256 */
    int ack_interval_ms;    /* and at least this often; 0: 20 */
    int heartbeat_ms;       /* 0: 300 */
    /* Fault injection for tests and drills: discard every Nth PUB/SUB batch
     * on arrival, as if the transport had dropped it (0: off). */
    int drop_every;
    /* RocketMQ's subscription expression for all of the consumer's topics:
     * NULL, "" or "*" every message; "A" or "A || B || ..." only messages
     * with one of these tags. The broker filters, so other messages never
     * reach the consumer; the group counts them as consumed (its committed
     * offset and lag move past them). All instances of a group should give
     * the same expression (the latest subscriber's holds for the group).
     * A malformed expression fails mq_consumer_start with INVALID_ARGUMENT. */
    const char *tags;
} mq_consumer_opts;

typedef struct mq_consumer mq_consumer;

/* Creates a consumer of `group` for `topics` (n_topics of them); the handler
 * runs on the consumer's own thread once mq_consumer_start is called. */
rpc_status mq_consumer_open(const char *group, const char *const *topics, size_t n_topics,
                            mq_handler handler, void *arg, const mq_consumer_opts *opts,
                            mq_consumer **out, shop_error *err);

/* Subscribes and starts the delivery thread. */
rpc_status mq_consumer_start(mq_consumer *c, shop_error *err);

/* Stops the thread after the handler in progress, sends the pending acks, and
 * frees the consumer. Unacked messages are redelivered to other instances. */
void mq_consumer_close(mq_consumer *c);

/* Counters for tests and tools. */
typedef struct mq_consumer_stats {
    uint64_t delivered; /* handler calls */
    uint64_t acked;
    uint64_t gaps;     /* missing PUB batches detected */
    uint64_t repaired; /* messages fetched by pull */
} mq_consumer_stats;

void mq_consumer_get_stats(mq_consumer *c, mq_consumer_stats *out);

/* ---- transactional messages (RocketMQ's TransactionMQProducer) ----
 *
 * A half message is stored durably by the broker but not delivered; after
 * its local transaction the producer ends it with COMMIT (delivered once
 * into its topic) or ROLLBACK (never delivered). A half left undecided
 * past the broker's --txn-check-ms is checked back: the broker asks any
 * live member of the producer group, over nng REQ/REP to the check-back
 * endpoint each member registers (and renews every second) with the
 * broker, so a producer that died after its half is answered for by
 * another member. UNKNOWN (or no member answering) is asked again, up to
 * the broker's --txn-check-max times, then the half is discarded. Not
 * offered on a nats:// URL (UNIMPLEMENTED). */

typedef enum mq_txn_state {
    MQ_TXN_UNKNOWN = 0,
    MQ_TXN_COMMIT = 1,
    MQ_TXN_ROLLBACK = 2,
} mq_txn_state;

/* The check-back: the state of the local transaction behind the half
 * message `msg` (its id, original topic, key, body and properties). Runs on
 * the producer's member thread, one call at a time. */
typedef mq_txn_state (*mq_txn_check_fn)(const mq_msg *msg, void *arg);

typedef struct mq_txn_producer_opts {
    int timeout_ms;        /* per attempt; 0: 5000 */
    int retries;           /* extra attempts on UNAVAILABLE/DEADLINE_EXCEEDED; <0: none, 0: 3 */
    int retry_backoff_ms;  /* first backoff, doubled per attempt; 0: 50 */
    const char *check_url; /* where this member answers check-backs; NULL:
                              tcp://127.0.0.1:0 (a free port, registered as bound) */
    const char *member_id; /* NULL: a random one */
    int heartbeat_ms;      /* registration renewed this often; 0: 1000 */
    int fail_fast;         /* no broker connected: UNAVAILABLE at once (else a send
                              waits up to 200 ms for the connection); open then
                              waits up to 1 s for the first connection */
} mq_txn_producer_opts;

typedef struct mq_txn_producer mq_txn_producer;

/* Opens a member of producer `group` on the broker at `url` (NULL: $MQ_URL
 * or MQ_DEFAULT_URL): listens for check-backs and registers with the
 * broker (again by itself while the broker is down or restarts). */
rpc_status mq_txn_producer_open(const char *url, const char *group, mq_txn_check_fn check,
                                void *arg, const mq_txn_producer_opts *opts,
                                mq_txn_producer **out, shop_error *err);

/* Sends a half message; res->id is its id (opts->id, else a fresh one),
 * res->offset its offset in the broker's %HALF% topic. Answered once it is
 * durable; retried with the same id (a repeat answers duplicate=1). Delayed
 * sends are refused (INVALID_ARGUMENT). */
rpc_status mq_producer_send_half(mq_txn_producer *p, const char *topic, const char *key,
                                 const void *body, size_t len, const mq_send_opts *opts,
                                 mq_send_result *res);

/* Ends the transaction of half message `id`: COMMIT or ROLLBACK is stored
 * durably before OK; UNKNOWN leaves it to the check-back. Repeating the same
 * decision is OK; the other one is FAILED_PRECONDITION; an id the broker
 * has no half of is NOT_FOUND. */
rpc_status mq_producer_end_txn(mq_txn_producer *p, const char *id, mq_txn_state state,
                               shop_error *err);

/* Unregisters the member and closes it. */
void mq_txn_producer_close(mq_txn_producer *p);

#endif
