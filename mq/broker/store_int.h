/* Internal to the store (store.c, recover.c): the segment table, the
 * recent-id table and the store itself. */
#ifndef SHOP_MQ_STORE_INT_H
#define SHOP_MQ_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "mq/broker/spare.h"
#include "mq/broker/keyindex.h"
#include "mq/broker/store.h"

#define DEDUP_SLOTS (1u << 18)
#define MQ_WBUF_MAX (1u << 20)

typedef struct mq_seg {
    uint32_t no;
    int fd;
    uint8_t *map;
    size_t size;
    int64_t last_ts; /* newest record, for retention by age */
} mq_seg;

typedef struct dedup_slot {
    uint64_t id_hash, topic_hash, offset;
} dedup_slot;

struct mq_store {
    mq_store_opts opts;
    char dir[512];
    mq_seg *segs;
    size_t nsegs, segs_cap;
    size_t pos;    /* end of the records appended to the active (last) segment */
    size_t wpos;   /* end of what has been written to the file; wbuf holds [wpos, pos) */
    uint8_t *wbuf; /* appends of the current batch, written with one pwrite */
    size_t wbuf_cap;
    mq_topic **topics;
    size_t ntopics, topics_cap;
    dedup_slot *dedup;
    mq_keyindex *keys;         /* key -> recent records (keyindex.h) */
    pthread_mutex_t sync_mu;   /* the active fd, against the async flusher */
    mq_spare *spare;           /* the next segment, prepared in the background */
    uint64_t syncs, sync_ns;   /* under sync_mu */
    _Atomic uint64_t appends;  /* records appended since open */
    uint64_t appends_synced;   /* under sync_mu: appends covered by the last sync */
    shop_hist *sync_us_hist;   /* under sync_mu: fdatasync latency (store_metrics.c) */
    shop_hist *sync_msgs_hist; /* under sync_mu: records made durable per fdatasync */
    /* Durability. Positions are (segment << 32 | offset), as mq_store_position. */
    _Atomic uint64_t written; /* end of what pwrite has written */
    uint64_t synced;          /* under sync_mu: everything below is durable */
    size_t tried;             /* end of what pwrite was asked to write in the active segment */
    /* Write failures (see mq_store_abort): errno of the first failed write or
     * sync since the last abort, 0 when none, and its message (under err_mu). */
    _Atomic int broken;
    pthread_mutex_t err_mu;
    char broken_msg[400];
    size_t zero_from, zero_to; /* active-segment range to zero and sync before the next append */
    mq_store_drop_fn on_drop;
    void *on_drop_arg;
    mq_store_append_fn on_append;
    void *on_append_arg;
};

/* store_metrics.c: records one sync of `ns` (under sync_mu); frees the histograms. */
void mq_store_sync_observe(mq_store *s, int64_t ns);
void mq_store_metrics_free(mq_store *s);

void mq_store_dedup_put(mq_store *s, const char *topic, const char *id, uint64_t off);
void mq_store_seg_path(const mq_store *s, uint32_t no, const char *suffix, char *out, size_t n);
int mq_store_seg_map(mq_seg *g, char *err, size_t errlen);
mq_seg *mq_store_seg_push(mq_store *s);
/* Creates segment `no` (from the spare when ready) and appends it to the table.
 * Returns 0 or -errno (err says what could not be written). */
int mq_store_seg_create(mq_store *s, uint32_t no, char *err, size_t errlen);
/* Records entry `off` of `t`; offsets below t->end are ignored, a jump
 * leaves "missing" entries (corrupt records skipped by recovery). */
int mq_store_topic_index(mq_topic *t, uint64_t off, uint32_t seg, uint32_t pos);

/* Forgets the recent ids of `topic` at offsets from `from` on. */
void mq_store_dedup_forget(mq_store *s, const char *topic, uint64_t from);

/* A log position (as mq_store_position). */
static inline uint64_t mq_pos(uint32_t seg, size_t off)
{
    return (uint64_t)seg << 32 | off;
}

/* store_fail.c. Makes the store broken with errno `e` (the first failure
 * wins; fmt says what could not be written) and leaves errno set to e. */
void mq_store_fail(mq_store *s, int e, const char *fmt, ...);
/* The broken store's errno (0: not broken) and its message. */
int mq_store_broken_error(mq_store *s, char *msg, size_t msglen);
/* May an append go ahead? Not while broken, nor before an abort's range is
 * cleared (tried here). 0 or -errno with err. */
int mq_store_writable(mq_store *s, char *err, size_t errlen);

/* recover.c: scans every segment, rebuilds the index, cuts a torn tail. */
int mq_store_recover(mq_store *s, char *err, size_t errlen);

#endif
