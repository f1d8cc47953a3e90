/* Copy-forward compaction. Segments are deleted from the head only (marks
 * may refer to older segments), so one long-delayed message would pin every
 * later segment. When the oldest segment holds only a few pending messages,
 * the writer appends a copy of each (a new SEND with the same due time) and
 * a MOVED mark for the original in the same sync, then points the index at
 * the copies; the head then has nothing pending and is deleted.
 *
 * Races: only the writer appends or cancels, so no cancel can run meanwhile.
 * The timer may deliver an original while it is copied; its copy is then
 * cancelled by a mark right away (a crash in between only yields a duplicate,
 * which at-least-once allows). */
#include <stdlib.h>
#include <string.h>

#include "mq/delayd/delayd.h"
#include "base/log.h"

#define RELOCATE_MAX 4096   /* pending messages worth copying */
#define RELOCATE_MIN_SEGS 3 /* head, something, active */
#define SCAN_CHUNK 65536    /* slab entries looked at per lock hold */
#define RELOCATE_EVERY_US 200000

typedef struct move {
    uint32_t idx, old_off, new_seg, new_off;
} move;

/* Collects the pending entries of segment seg (mu taken per chunk). */
static size_t collect(delayd *d, uint32_t seg, move *mv, size_t max)
{
    size_t n = 0;
    for (uint32_t from = 0;; from += SCAN_CHUNK) {
        pthread_mutex_lock(&d->mu);
        uint32_t used = d->ix.used;
        for (uint32_t i = from; i < used && i < from + SCAN_CHUNK && n < max; i++) {
            const delay_entry *e = &d->ix.e[i];
            if (e->seg == seg && e->state == DELAY_PENDING) {
                mv[n++] = (move){i, e->off, 0, 0};
            }
        }
        pthread_mutex_unlock(&d->mu);
        if (from + SCAN_CHUNK >= used || n == max) {
            return n;
        }
    }
}

/* Appends the copy and the MOVED mark; 0 or -1 (record gone or I/O). */
static int copy_one(delayd *d, uint32_t seg, move *m)
{
    uint8_t *p, mark[9];
    uint32_t len;
    uint64_t old_id = DELAY_ID(seg, m->old_off), new_id, unused;
    if (delay_log_read(d->log, old_id, &p, &len) != 0) {
        return -1;
    }
    int rv = delay_log_append(d->log, p, len, &new_id);
    free(p);
    if (rv != 0) {
        return -1;
    }
    delay_rec_mark_encode(DELAY_REC_MOVED, old_id, mark);
    if (delay_log_append(d->log, mark, sizeof mark, &unused) != 0) {
        return -1;
    }
    m->new_seg = DELAY_ID_SEG(new_id);
    m->new_off = DELAY_ID_OFF(new_id);
    return 0;
}

int delayd_relocate_head(delayd *d)
{
    static int64_t last_try_us; /* writer thread only */
    uint32_t seg;
    int64_t live, now = delayd_wall_us();
    if (now - last_try_us < RELOCATE_EVERY_US) {
        return 0;
    }
    last_try_us = now;
    if (delay_log_segments(d->log) < RELOCATE_MIN_SEGS || delay_log_head(d->log, &seg, &live) ||
        live <= 0 || live > RELOCATE_MAX) {
        return 0;
    }
    move *mv = calloc(RELOCATE_MAX, sizeof *mv);
    if (!mv) {
        return 0;
    }
    size_t n = collect(d, seg, mv, RELOCATE_MAX), copied = 0, orphans = 0;
    for (size_t i = 0; i < n; i++) {
        if (copy_one(d, seg, &mv[i]) == 0) {
            copied++;
        } else {
            mv[i].new_seg = 0;
        }
    }
    if (copied == 0 || delay_log_sync(d->log) != 0) {
        free(mv); /* nothing indexed changed: the originals stay valid */
        return 0;
    }
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < n; i++) {
        move *m = &mv[i];
        delay_entry *e = &d->ix.e[m->idx];
        if (!m->new_seg) {
            continue;
        }
        if (e->state == DELAY_PENDING && e->seg == seg && e->off == m->old_off) {
            delay_index_move(&d->ix, m->idx, m->new_seg, m->new_off);
            delay_log_ref(d->log, m->new_seg, 1);
            delay_log_ref(d->log, seg, -1);
        } else {
            uint8_t mark[9];
            uint64_t unused;
            delay_rec_mark_encode(DELAY_REC_CANCELLED, DELAY_ID(m->new_seg, m->new_off), mark);
            orphans += delay_log_append(d->log, mark, sizeof mark, &unused) == 0;
        }
    }
    pthread_mutex_unlock(&d->mu);
    if (orphans && delay_log_sync(d->log) != 0) {
        shop_log_error("fdatasync after relocation failed");
    }
    shop_log_info("relocated pending records segment=%u moved=%zu raced=%zu", seg, copied - orphans,
                  orphans);
    free(mv);
    return (int)(copied - orphans);
}
