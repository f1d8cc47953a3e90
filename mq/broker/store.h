/* The broker's log: one append-only commit log of preallocated segment files
 * shared by all topics (so one fdatasync makes a whole batch durable), with
 * an in-memory index per topic from logical offset to (segment, position).
 *
 * A record on disk: u32 length | u32 CRC32C of the payload | payload, where
 * the payload is a packed shop.mq.Record (id, topic, key, timestamp,
 * properties, body, offset). Zeros after the last record mark the end of a
 * preallocated segment. Single-threaded except mq_store_sync_async. */
#ifndef SHOP_MQ_STORE_H
#define SHOP_MQ_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/hist.h"
#include "mq.pb-c.h"
#include "mq/broker/keyindex.h"

#define MQ_RECORD_HEADER 8
#define MQ_RECORD_MAX (8u << 20)

typedef struct mq_store mq_store;

typedef struct mq_index_entry {
    uint32_t seg; /* segment number; UINT32_MAX: missing (a corrupt record) */
    uint32_t pos; /* record start inside the segment */
    uint32_t tag; /* mq_tag_hash of the record's tag (0: none), as RocketMQ's
                     ConsumeQueue keeps a tag hash: filtering reads no record */
} mq_index_entry;

typedef struct mq_topic {
    char *name;
    uint64_t start; /* first retained offset */
    uint64_t end;   /* next offset to append */
    uint64_t idx_base;
    mq_index_entry *idx; /* idx[off - idx_base] for start <= off < end */
    size_t idx_cap;
    uint64_t bytes; /* the retained records' size with their headers (start..end) */
} mq_topic;

typedef struct mq_store_opts {
    const char *dir;
    uint64_t segment_bytes;
    uint64_t retention_bytes; /* 0: unlimited */
    int64_t retention_ms;     /* 0: unlimited */
} mq_store_opts;

/* Opens or creates the store in opts->dir and recovers it: every segment is
 * scanned with length and CRC checks; a torn or corrupt tail of the last
 * segment is cut off (and logged), a corrupt record elsewhere is skipped. */
int mq_store_open(mq_store **out, const mq_store_opts *opts, char *err, size_t errlen);
void mq_store_close(mq_store *s);

/* Appends `rec` to topic rec->topic (created on first use); sets rec->offset
 * and rec->timestamp_ms. Staged in memory: mq_store_flush writes the staged
 * records with one pwrite (reads flush by themselves), mq_store_sync makes
 * written records durable. Returns 0 or -errno: -ENOSPC / -EDQUOT (disk full),
 * -EIO and others from the file system, -EMSGSIZE, -ENOMEM; err says what
 * could not be written ("cannot create segment PATH: No space left on
 * device"). While the store is broken (below) it fails at once. */
int mq_store_append(mq_store *s, Shop__Mq__Record *rec, uint64_t *offset, char *err, size_t errlen);

/* The log position after the last append, (segment << 32 | offset): every
 * record starting below a synced position is durable. */
uint64_t mq_store_position(mq_store *s);

/* The position where record `offset` of `t` starts (UINT64_MAX: none). */
uint64_t mq_store_record_position(const mq_topic *t, uint64_t offset);

/* Asks the CPU to load the first 512 bytes of record `offset` of `t` into
 * its cache (a hint: never faults, never blocks). */
void mq_store_prefetch(mq_store *s, const mq_topic *t, uint64_t offset);

/* A tag's 32-bit hash (FNV-1a; 0 only for no tag). */
uint32_t mq_tag_hash(const char *tag, size_t len);

/* The tag hash of record `offset` of `t` (0: no tag, or no such record). */
uint32_t mq_store_record_tag(const mq_topic *t, uint64_t offset);

/* The first offset in [from, limit) of t whose tag hash is one of the n
 * in `hashes` (limit when none is): the scan a tag-filtered group makes
 * over records it skips, on the index alone. limit is clamped to t->end. */
uint64_t mq_store_next_tagged(const mq_topic *t, uint64_t from, uint64_t limit,
                              const uint32_t *hashes, size_t n);

/* Sets the tag hash of an indexed record (append and recovery). */
void mq_store_record_tag_set(mq_topic *t, uint64_t offset, const char *tag);

/* Writes the staged appends to the segment file (loop thread only). -1 with
 * errno when the write fails: the broker must not acknowledge them. */
int mq_store_flush(mq_store *s);

/* fdatasync of everything written so far. Safe from another thread. -1 with
 * errno when it fails, or when another write or sync failed since the last
 * mq_store_abort: after a failed fdatasync the kernel may have dropped the
 * dirty pages and a later fdatasync can succeed without them (PostgreSQL's
 * "fsyncgate"), so no later sync vouches for anything until the abort. */
int mq_store_sync(mq_store *s);

/* Write failures. A failed pwrite or fdatasync makes the store "broken":
 * flush, sync and append fail at once with that errno until the owner of the
 * pending replies calls mq_store_abort, answers all of them with the failure
 * and never acknowledges them. The abort drops every record past the last
 * synced position (keep_written: past the last written one, for flush=async
 * where written records are already acknowledged) from the topic indexes and
 * the recent-id table, so their offsets are handed out again and a resend of
 * the same id is stored afresh, and rewinds the append position. The file
 * range they occupied is zeroed and synced before the next append (retried
 * by every append while that fails, e.g. while the disk stays full), so that
 * recovery never finds a half or unacknowledged record there. Returns the
 * failure's errno (0 if the store was not broken) and its message; *kept is
 * the position every kept record starts below (durable under flush=sync). */
int mq_store_broken(mq_store *s);
int mq_store_abort(mq_store *s, int keep_written, uint64_t *kept, char *msg, size_t msglen);

/* Called by mq_store_abort for every record it drops (the packed Record, its
 * topic), before it is gone: the broker keeps the retry and dead-letter copies
 * it made for consumers, whose originals count as acknowledged already. */
typedef void (*mq_store_drop_fn)(void *arg, const mq_topic *t, const uint8_t *rec, size_t len);
void mq_store_on_drop(mq_store *s, mq_store_drop_fn fn, void *arg);

/* Called by mq_store_append for every record it takes (offset and time set):
 * the broker's message trace. */
typedef void (*mq_store_append_fn)(void *arg, const Shop__Mq__Record *rec);
void mq_store_on_append(mq_store *s, mq_store_append_fn fn, void *arg);

/* The topic called `name`, or NULL (created when `create`). */
mq_topic *mq_store_topic(mq_store *s, const char *name, int create);
size_t mq_store_topic_count(mq_store *s);
mq_topic *mq_store_topic_at(mq_store *s, size_t i);

/* The packed Record at `offset` of `t` (pointing into the segment's mapping,
 * valid until retention runs); -1 when not retained or missing. */
int mq_store_read(mq_store *s, const mq_topic *t, uint64_t offset, const uint8_t **data,
                  size_t *len);

/* The offset already stored for message id in topic, if it is among the
 * recent ids the store remembers. Returns 1 when found. */
int mq_store_find_id(mq_store *s, const char *topic, const char *id, uint64_t *offset);

/* The key index (keyindex.h): candidates to read back and check. */
const mq_keyindex *mq_store_keys(mq_store *s);

/* Deletes the oldest segments past the retention limits (never the active
 * one). Returns the number deleted. */
int mq_store_retention(mq_store *s);

void mq_store_usage(mq_store *s, uint64_t *segments, uint64_t *bytes);

/* fdatasync calls on the log so far and their total time. */
void mq_store_sync_stats(mq_store *s, uint64_t *count, uint64_t *total_us);
/* Copies of the fdatasync latency (us) and records-per-sync histograms. */
void mq_store_sync_hists(mq_store *s, shop_hist *latency_us, shop_hist *records);

#endif
