/* The delay queue's append-only log: numbered, preallocated segment files of
 * CRC-checked records. One writer thread appends and syncs; any thread reads
 * a record back by id (segment number << 32 | offset). Segments are deleted
 * from the head once none of their messages is pending any more. */
#ifndef SHOP_MQ_DELAY_LOG_H
#define SHOP_MQ_DELAY_LOG_H

#include <stddef.h>
#include <stdint.h>

#define DELAY_LOG_HEADER 8 /* u32 payload length, u32 CRC32C of the payload */

typedef struct delay_log delay_log;

#define DELAY_ID(seg, off) (((uint64_t)(seg) << 32) | (uint32_t)(off))
#define DELAY_ID_SEG(id) ((uint32_t)((id) >> 32))
#define DELAY_ID_OFF(id) ((uint32_t)(id))

/* Opens (creating) the log directory. seg_size is the size of new segments. */
int delay_log_open(const char *dir, size_t seg_size, delay_log **out, char *err, size_t errlen);
void delay_log_close(delay_log *l);

/* Scans every segment oldest first, calling visit for each valid record; a
 * segment's scan stops at its first empty, torn or corrupt record. Then
 * starts a fresh active segment. Returns 0 or -errno. */
typedef void (*delay_log_visit)(void *arg, uint64_t id, const uint8_t *payload, uint32_t len);
int delay_log_recover(delay_log *l, delay_log_visit visit, void *arg, char *err, size_t errlen);

/* Writer thread only: buffers one record and returns its id. */
int delay_log_append(delay_log *l, const uint8_t *payload, uint32_t len, uint64_t *id);
/* Writer thread only: writes the buffered records and fdatasyncs. */
int delay_log_sync(delay_log *l);

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
