/* The broker's state, owned by its single event-loop thread: the store,
 * consumer groups with one delivery window per stored topic, the connected
 * consumers, and the sockets. nng callbacks only queue requests for it. */
#ifndef SHOP_MQ_BROKER_H
#define SHOP_MQ_BROKER_H

#include <nng/nng.h>
#include <stdatomic.h>
#include <stdint.h>

#include "mq.pb-c.h"
#include "base/status.h"
#include "mq/broker/store.h"

#define BK_WINDOW (1u << 16) /* entries a queue tracks past its committed offset */
#define BK_BATCH_MAX 256     /* records per PUB/SUB message */
#define BK_BATCH_BYTES (256u << 10)
#define BK_ORDER_DEPTH 16 /* ordered: a key's records in flight to its owner at once */
#define BK_RETRY_PREFIX "%RETRY%"
#define BK_DLQ_PREFIX "%DLQ%"
#define BK_REDRIVE_PREFIX "%REDRIVE%"
#define BK_PROP_ORIGIN "%ORIGIN_TOPIC"
#define BK_PROP_TIMES "%RECONSUME_TIMES"
#define BK_PROP_DUE "%DELIVER_AT"

typedef struct mq_broker_opts {
    const char *url, *pub_url, *data_dir;
    int flush_sync;
    int flush_interval_ms;
    uint64_t segment_bytes, retention_bytes;
    int64_t retention_ms;
    int ack_timeout_ms;
    int consumer_timeout_ms;
    double retry_scale;
    unsigned max_inflight;
    int contexts;
    const char *metrics_url; /* GET /metrics there; NULL or "none": off */
    int txn_check_ms;        /* a half undecided this long is checked back (txn.h) */
    int txn_check_max;       /* check-backs before an undecided half is discarded */
    size_t trace_events;     /* the message trace's ring (trace.h); 0: off */
} mq_broker_opts;

/* BK_BLOCKED: ordered groups only, a record whose key has an earlier record
 * not yet acknowledged (ordered.c). */
enum { BK_FREE = 0, BK_READY, BK_INFLIGHT, BK_WAITING, BK_ACKED, BK_BLOCKED };

typedef struct bk_entry {
    uint8_t state;
    uint16_t reconsume;
    int32_t consumer; /* slot in broker.cons while INFLIGHT */
    uint32_t seq;     /* while INFLIGHT: the consumer's batch it went out in (low bits) */
    int64_t when_ms;  /* ack deadline (INFLIGHT) or due time (WAITING) */
} bk_entry;

typedef struct bk_group bk_group;
typedef struct bk_keys bk_keys;

/* One group's cursor on one stored topic. */
typedef struct bk_queue {
    bk_group *g;
    mq_topic *t;
    int retry;      /* the group's %RETRY% topic: entries wait until due */
    uint64_t base;  /* committed: every offset below is acknowledged */
    uint64_t next;  /* next offset to read from the log */
    uint64_t saved; /* base as last persisted */
    bk_entry *win;  /* win[off % BK_WINDOW] for base <= off < next */
    uint64_t *ready;
    size_t ready_head, ready_len, ready_cap;
    uint64_t inflight, waiting;
    bk_keys *keys;            /* ordered groups (not on %RETRY%): each key's unacked records */
    struct bk_tagset *filter; /* the subscription's tag expression (NULL: "*"), tags.c */
    uint64_t filtered;        /* records skipped by it since start (acked for the group) */
    uint64_t prefetched;      /* with a filter: offsets below were scanned for prefetch */
} bk_queue;

struct bk_group {
    char *name;
    bk_queue **queues;
    size_t nq;
    uint32_t max_reconsume;
    size_t rr;     /* round-robin position among consumers */
    int chunk;     /* messages given to the current consumer in a row */
    size_t qnext;  /* the queue served first in the next delivery round */
    int ordered;   /* one record per key at a time, in offset order (ordered.c) */
    int broadcast; /* the position of one broadcast instance (broadcast.c) */
};

typedef struct bk_consumer {
    char *id;
    bk_group *g;
    char **topics;
    size_t ntopics;
    int64_t last_seen_ms;
    uint32_t inflight, max_inflight;
    uint64_t seq; /* last batch published */
    Shop__Mq__Delivery *out;
    Shop__Mq__Delivery **outp;
    size_t nout, out_bytes;
} bk_consumer;

/* A retry or dead-letter copy a failed write dropped (see retry.c). */
typedef struct bk_orphan {
    uint8_t *rec; /* the packed Record */
    size_t len;
} bk_orphan;

typedef struct mq_broker {
    mq_broker_opts o;
    mq_store *store;
    nng_socket rep, pub;
    bk_group **groups;
    size_t ngroups;
    bk_consumer **cons;
    size_t ncons;
    int appended; /* records written by the request being handled */
    /* Records starting below this log position are durable and may be
     * delivered (flush=sync); set by the syncer thread. */
    _Atomic uint64_t durable;
    int offsets_dirty;
    bk_orphan *orphans; /* offsets are not saved while any waits */
    size_t norphans, orphans_cap;
    struct bk_txn *txn;     /* undecided half messages (txn.h) */
    struct bk_trace *trace; /* the message trace (trace.h); NULL: off */
} mq_broker;

/* server.c: publishes a durable log position (records below may be delivered). */
void bk_durable_advance(mq_broker *b, uint64_t pos);

/* requests.c: why a message cannot be stored (NULL: it can), and whether a
 * name (topic, group, consumer) is 1..max printable characters. */
const char *bk_message_invalid(const Shop__Mq__Message *m);
int bk_name_ok(const char *s, size_t max, int allow_internal);

/* groups.c */
bk_group *bk_group_get(mq_broker *b, const char *name, int create);
bk_queue *bk_queue_get(mq_broker *b, bk_group *g, const char *topic, int create);
bk_consumer *bk_consumer_find(mq_broker *b, const char *id, int32_t *slot);
bk_consumer *bk_consumer_add(mq_broker *b, const char *id, bk_group *g);
void bk_consumer_remove(mq_broker *b, int32_t slot, const char *why);
void bk_queue_advance(mq_broker *b, bk_queue *q);
void bk_queue_push_ready(bk_queue *q, uint64_t off);
/* Drops every consumer and group (at shutdown). */
void bk_groups_free(mq_broker *b);

/* ordered.c: ordered groups. A key's records are handed out one at a time:
 * only the oldest unacknowledged record of a key (its head) is ever ready or
 * waiting; while it is in flight, up to BK_ORDER_DEPTH of the key's next
 * records may follow it to the same consumer (the key's owner); the others
 * are BK_BLOCKED behind them. */
/* Turns ordering on or off for g (nobody connected): the windows restart
 * at the committed offsets. 0 or -1 (out of memory). */
int bk_group_set_ordered(mq_broker *b, bk_group *g, int ordered);
int bk_ordered_enable(bk_queue *q);
void bk_ordered_free(bk_queue *q);
/* Forgets every key (the window was emptied). */
void bk_ordered_clear(bk_queue *q);
/* A record just read into the window at `off` (READY): 1 if it may go out
 * now, 0 if its key is busy (it is BK_BLOCKED then). */
int bk_ordered_admit(mq_broker *b, bk_queue *q, uint64_t off);
/* The record at `off` was acknowledged: the next one of its key is ready
 * (or, already on its way to the key's owner, more follow it). */
void bk_ordered_release(mq_broker *b, bk_queue *q, uint64_t off);
/* Only a key's head may be acknowledged (1: off is one, or has no key). */
int bk_ordered_is_head(bk_queue *q, uint64_t off);
/* The consumer a ready head goes to: its key's owner if it has a live one
 * (a head held back by RECONSUME_LATER returns to it), else `picked`. */
int32_t bk_ordered_owner(mq_broker *b, bk_queue *q, uint64_t off, int32_t picked);
/* The head at `off` went to `slot`: it owns the key; its next records follow. */
void bk_ordered_sent(mq_broker *b, bk_queue *q, uint64_t off, int32_t slot);
/* A record in flight is taken back (ack timeout, its consumer gone): a head
 * is ready again and its key's records in flight go back behind it
 * (returns 1); another record goes back with its head (0). */
int bk_ordered_requeue(mq_broker *b, bk_queue *q, uint64_t off);
/* A record in flight past its ack timeout. A head whose instance is still
 * connected is sent to it again (a lost delivery or ack; the key stays
 * there, so it never runs on two instances at once); else as requeue. */
void bk_ordered_timeout(mq_broker *b, bk_queue *q, uint64_t off, int64_t now);
/* RECONSUME_LATER in an ordered group: the record waits in place (its key
 * stays held) until its retry delay passes: returns 0. After max_reconsume
 * it goes to the DLQ instead: returns 1 (the caller acknowledges it).
 * -1 with err when the DLQ copy cannot be stored. */
int bk_ordered_hold(mq_broker *b, bk_queue *q, uint64_t off, char *err, size_t errlen);

/* broadcast.c: a broadcast instance's position is the internal group
 * "<group>@<instance>". Writes it to out; NULL with a reason if the
 * instance name is not valid. */
const char *bk_broadcast_group(const char *group, const char *instance, char *out, size_t outlen);

/* dispatch.c */
/* Puts the record at `off` into slot's next batch (INFLIGHT); -1 when it
 * cannot be read (nothing changed). */
int bk_give(mq_broker *b, bk_queue *q, uint64_t off, int32_t slot);
void bk_dispatch(mq_broker *b);
void bk_tick(mq_broker *b, int64_t now_ms);
void bk_publish(mq_broker *b, bk_consumer *c);
int bk_delivery_fill(mq_broker *b, bk_queue *q, uint64_t off, Shop__Mq__Delivery *d);

/* retry.c: RECONSUME_LATER and the DLQ */
int bk_reconsume_later(mq_broker *b, bk_queue *q, uint64_t off, char *err, size_t errlen);
int bk_redrive(mq_broker *b, bk_group *g, uint64_t *count, char *err, size_t errlen);
int64_t bk_retry_delay_ms(const mq_broker *b, unsigned times);
/* The store's drop hook (arg: the broker): keeps the retry and dead-letter
 * copies a failed write dropped, as their originals are acknowledged. */
void bk_orphans_keep(void *arg, const mq_topic *t, const uint8_t *rec, size_t len);
/* Appends the kept copies again; returns how many (the caller syncs them).
 * Those that cannot be written yet stay. */
size_t bk_orphans_restore(mq_broker *b);
void bk_orphans_free(mq_broker *b);

/* offsets.c */
int bk_offsets_load(mq_broker *b, char *err, size_t errlen);
/* The file's new contents (malloc'd), taken under the broker lock. */
char *bk_offsets_snapshot(mq_broker *b);
/* Writes a snapshot durably; call after the log is synced. */
int bk_offsets_write(const char *dir, const char *text);

/* arena.c: allocations that live until a reply is packed */
typedef struct bk_arena {
    void **ptrs;
    size_t n, cap;
} bk_arena;
void *bk_alloc(bk_arena *a, size_t size);
void bk_arena_free(bk_arena *a);

/* requests.c: one request frame in, the packed reply out (NULL: no memory).
 * Untrusted bytes: anything that does not decode gets INVALID_ARGUMENT. */
nng_msg *bk_handle(mq_broker *b, const uint8_t *data, size_t len);

/* The status and message for a store failure (`err` a positive errno, `what`
 * the store's message): ENOSPC and EDQUOT are RESOURCE_EXHAUSTED with
 * "disk full: <what>", ENOMEM RESOURCE_EXHAUSTED, EMSGSIZE INVALID_ARGUMENT,
 * anything else INTERNAL. */
rpc_status bk_write_failure(int err, const char *what, char *out, size_t outlen);

/* A reply carrying only a status and message (NULL: no memory). */
nng_msg *bk_status_reply(rpc_status st, const char *message);

/* stats.c: the stats and dlq requests */
uint64_t bk_group_consumers(mq_broker *b, bk_group *g);
/* Messages of g waiting in its retry topic. */
uint64_t bk_group_retrying(const bk_group *g);
/* Dead letters of g not yet re-driven (*from: the first one's offset). */
uint64_t bk_dlq_size(mq_broker *b, bk_group *g, uint64_t *from);
void bk_stats(mq_broker *b, Shop__Mq__Reply *rep, bk_arena *a);
void bk_dlq(mq_broker *b, const Shop__Mq__Dlq *req, Shop__Mq__Reply *rep, bk_arena *a);
/* The peek request (peek.c): stored records of a topic by offset. */
void bk_peek(mq_broker *b, const Shop__Mq__Peek *req, Shop__Mq__Reply *rep, bk_arena *a);
/* The reset-offset request (reset.c): a group's offset on a topic moved. */
void bk_reset_offset(mq_broker *b, const Shop__Mq__ResetOffset *req, Shop__Mq__Reply *rep,
                     bk_arena *a);
/* The get request (peek.c): stored records by id or by key. */
void bk_get(mq_broker *b, const Shop__Mq__Get *req, Shop__Mq__Reply *rep, bk_arena *a);

/* trace_query.c: the trace request (events of one message id). */
void bk_trace_query(mq_broker *b, const Shop__Mq__TraceQuery *req, Shop__Mq__Reply *rep,
                    bk_arena *a);

/* metrics.c: the broker's families for GET /metrics (broker lock held). */
struct shop_metrics_out;
void bk_metrics(mq_broker *b, struct shop_metrics_out *o);

#endif
