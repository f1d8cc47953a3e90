/* The broker's message trace (RocketMQ's message trace, kept by the broker
 * itself): events per stored record (stored, delivered, acked, retried,
 * dead-lettered, re-driven, transaction decisions), in a bounded ring in
 * memory that is also written to two alternating files in the data dir, so
 * that it survives a kill -9. Every function takes the broker lock's
 * protection from its caller and accepts a NULL trace (tracing off). */
#ifndef SHOP_MQ_BROKER_TRACE_H
#define SHOP_MQ_BROKER_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "mq.pb-c.h"

enum bk_trace_kind {
    BK_TR_STORED = 1,
    BK_TR_DELIVERED,
    BK_TR_ACKED,
    BK_TR_RECONSUME, /* RECONSUME_LATER: a retry copy follows */
    BK_TR_TIMEOUT,   /* unacknowledged past the ack timeout: delivered again */
    BK_TR_DLQ,       /* RECONSUME_LATER past max_reconsume: a dead letter follows */
    BK_TR_REDRIVEN,  /* a dead letter copied back into its group's retry topic */
    BK_TR_COMMIT,    /* a half message committed (by its producer or a check-back) */
    BK_TR_ROLLBACK,
    BK_TR_CHECK,   /* the broker asked the producer group about a half message */
    BK_TR_DISCARD, /* a half message still undecided after the last check */
    BK_TR_KINDS
};

/* One event, as kept in the ring and (after a type byte) in the files. */
typedef struct bk_trace_ev {
    int64_t ts_ms;                   /* broker wall clock */
    uint64_t offset;                 /* the stored record it concerns */
    uint64_t id_hash;                /* STORED only: the message id's hash */
    uint32_t topic, group, consumer; /* interned names, 0: none */
    uint16_t attempt;
    uint8_t kind, pad;
} bk_trace_ev;

typedef struct bk_trace bk_trace;

/* Opens the trace in `dir` with room for `events` events (0: tracing off,
 * *out = NULL) and loads what the files hold (a torn tail is cut off). */
int bk_trace_open(bk_trace **out, const char *dir, size_t events, char *err, size_t errlen);
void bk_trace_close(bk_trace *t);

/* A record was appended to the log (the store's append hook). */
void bk_trace_stored(void *trace, const Shop__Mq__Record *rec);
/* Any other event about record (topic, offset). */
void bk_trace_note(bk_trace *t, int kind, const char *topic, uint64_t offset, const char *group,
                   const char *consumer, unsigned attempt);

/* Writes the events noted since the last call to the current file (write(2):
 * page cache, so they survive a kill -9 of the broker). */
void bk_trace_flush(bk_trace *t);
/* A duplicate of the current file's descriptor to fdatasync outside the
 * broker lock (-1: none); the caller closes it. */
int bk_trace_sync_fd(bk_trace *t);

/* The events of message `id`, oldest first, at most `max` (*truncated: more). */
size_t bk_trace_find(bk_trace *t, const char *id, const char *const *topics, const uint64_t *offs,
                     size_t nkeys, bk_trace_ev *out, size_t max, int *truncated);
const char *bk_trace_name(const bk_trace *t, uint32_t id);
const char *bk_trace_kind_name(int kind);

#endif
