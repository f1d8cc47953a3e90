/* The delay queue's append-only log: numbered, preallocated segment files of
 * CRC-checked records. One writer thread appends and syncs; any thread reads
 * a record back by id (segment number << 32 | offset). Segments are deleted
 * from the head once none of their messages is pending any more. */
#ifndef SHOP_MQ_DELAY_LOG_H
#define SHOP_MQ_DELAY_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define DELAY_LOG_HEADER 8 /* u32 payload length, u32 CRC32C of the payload */

typedef struct delay_log delay_log;

#define DELAY_ID(seg, off) (((uint64_t)(seg) << 32) | (uint32_t)(off))
#define DELAY_ID_SEG(id) ((uint32_t)((id) >> 32))
#define DELAY_ID_OFF(id) ((uint32_t)(id))

/* Opens (creating) the log directory. seg_size is the size of new segments. */
rpc_status delay_log_open(const char *dir, size_t seg_size, delay_log **out, shop_error *err);
void delay_log_close(delay_log *l);

/* Scans every segment oldest first, calling visit for each valid record; a
 * segment's scan stops at its first empty, torn or corrupt record. Then
 * starts a fresh active segment. */
typedef void (*delay_log_visit)(void *arg, uint64_t id, const uint8_t *payload, uint32_t len);
rpc_status delay_log_recover(delay_log *l, delay_log_visit visit, void *arg, shop_error *err);

/* Writer thread only: buffers one record and returns its id. Returns 0 or
 * -errno: -ENOSPC / -EDQUOT when the disk is full (a segment could not be
 * created, a write failed), -EIO..., -EMSGSIZE, -ENOMEM; delay_log_error then
 * says what could not be written. Fails at once while the log is broken. */
int delay_log_append(delay_log *l, const uint8_t *payload, uint32_t len, uint64_t *id);
/* Writer thread only: writes the buffered records and fdatasyncs. 0 or
 * -errno; a failed write or fdatasync leaves the log broken (below). */
int delay_log_sync(delay_log *l);

/* Write failures (writer thread only). After a failed pwrite or fdatasync
 * the log is broken: append and sync fail with that errno and no later
 * fdatasync vouches for anything (after a failed one the kernel may have
 * dropped the dirty pages: PostgreSQL's "fsyncgate"). The writer answers
 * what it staged by delay_log_durable (a record is durable when it lies
 * below the last successful sync: in an older segment, as a roll syncs the
 * old one, or below the active segment's synced offset), then calls
 * delay_log_rewind: everything past the last sync is dropped, its ids are
 * handed out again, and the range is zeroed and synced before the next
 * append (retried by every append while that fails, e.g. while the disk
 * stays full), so recovery never finds a half or unacknowledged record. */
int delay_log_durable(const delay_log *l, uint64_t id);
int delay_log_rewind(delay_log *l);
/* What the last failed append or sync could not write ("cannot create
 * segment PATH: No space left on device"). */
const char *delay_log_error(const delay_log *l);

/* Reads a record back (payload malloc'd, CRC checked). Returns 0 or -errno. */
int delay_log_read(delay_log *l, uint64_t id, uint8_t **payload, uint32_t *len);

/* Pending-message counts per segment, which decide compaction. */
void delay_log_ref(delay_log *l, uint32_t seg, int64_t delta);
/* Deletes head segments with nothing pending; returns how many. */
int delay_log_compact(delay_log *l);
size_t delay_log_segments(delay_log *l);
/* The oldest segment and its pending count; -1 if it is the active one. */
int delay_log_head(delay_log *l, uint32_t *seg, int64_t *live);
/* This log's random instance tag (16 hex digits), made on first use. */
int delay_log_instance_tag(delay_log *l, char out[17]);

#endif
