/* The store's write failures: a failed pwrite or fdatasync makes it broken
 * until the abort drops every record past the last sync, hands the dropped
 * ones to the broker's hook and clears their file range (see store.h). */
#include "mq/broker/store.h"
#include "mq/segclear.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"

#include "mq/broker/store_int.h"

void mq_store_fail(mq_store *s, int e, const char *fmt, ...)
{
    pthread_mutex_lock(&s->err_mu);
    if (!atomic_load(&s->broken)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->broken_msg, sizeof s->broken_msg, fmt, ap);
        va_end(ap);
        atomic_store(&s->broken, e);
        shop_log_error("log write failed, what it covered is refused, not acknowledged err=\"%s\"",
                       s->broken_msg);
    }
    pthread_mutex_unlock(&s->err_mu);
    errno = e;
}

int mq_store_broken_error(mq_store *s, char *msg, size_t msglen)
{
    pthread_mutex_lock(&s->err_mu);
    int e = atomic_load(&s->broken);
    if (msglen)
        snprintf(msg, msglen, "%s", e ? s->broken_msg : "");
    pthread_mutex_unlock(&s->err_mu);
    return e;
}

/* Clears (zeroes, durably) the range an abort left behind; until that
 * succeeds, nothing is appended after it. */
static int store_repair(mq_store *s, char *err, size_t errlen)
{
    mq_seg *g = &s->segs[s->nsegs - 1];
    pthread_mutex_lock(&s->sync_mu);
    int rc = mq_segment_clear(g->fd, s->zero_from, s->zero_to);
    pthread_mutex_unlock(&s->sync_mu);
    if (rc != 0) {
        char path[600];
        mq_store_seg_path(s, g->no, "", path, sizeof path);
        snprintf(err, errlen, "cannot clear the unsynced tail of segment %s: %s", path,
                 strerror(-rc));
        return rc;
    }
    shop_log_info("unsynced tail cleared segment=%u from=%zu to=%zu", g->no, s->zero_from,
                  s->zero_to);
    s->zero_from = s->zero_to = 0;
    return 0;
}

int mq_store_writable(mq_store *s, char *err, size_t errlen)
{
    int e = mq_store_broken_error(s, err, errlen);
    if (e)
        return -e;
    if (s->zero_to > s->zero_from)
        return store_repair(s, err, errlen);
    return 0;
}

void mq_store_on_drop(mq_store *s, mq_store_drop_fn fn, void *arg)
{
    s->on_drop = fn;
    s->on_drop_arg = arg;
}

void mq_store_on_append(mq_store *s, mq_store_append_fn fn, void *arg)
{
    s->on_append = fn;
    s->on_append_arg = arg;
}

/* Hands the records of `t` from offset `from` on (all at or past the
 * active segment's position `to`) to the drop hook: written ones from the
 * mapping, staged ones from the write buffer. Returns their size with
 * headers (what the topic's byte count loses). */
static uint64_t report_dropped(mq_store *s, const mq_topic *t, uint64_t from)
{
    const mq_seg *g = &s->segs[s->nsegs - 1];
    uint64_t bytes = 0;
    for (uint64_t off = from; off < t->end; off++) {
        mq_index_entry e = t->idx[off - t->idx_base];
        if (e.seg != g->no)
            continue;
        const uint8_t *rec = e.pos >= s->wpos ? s->wbuf + (e.pos - s->wpos) : g->map + e.pos;
        uint32_t len;
        memcpy(&len, rec, 4);
        bytes += len + MQ_RECORD_HEADER;
        if (s->on_drop)
            s->on_drop(s->on_drop_arg, t, rec + MQ_RECORD_HEADER, len);
    }
    return bytes > t->bytes ? t->bytes : bytes;
}

int mq_store_broken(mq_store *s)
{
    return atomic_load(&s->broken);
}

int mq_store_abort(mq_store *s, int keep_written, uint64_t *kept, char *msg, size_t msglen)
{
    int e = mq_store_broken_error(s, msg, msglen);
    mq_seg *g = &s->segs[s->nsegs - 1];
    pthread_mutex_lock(&s->sync_mu);
    uint64_t synced = s->synced;
    pthread_mutex_unlock(&s->sync_mu);
    /* A roll syncs the old segment to its end, so synced is in the active one. */
    size_t to = keep_written ? s->wpos : synced >> 32 == g->no ? (size_t)(uint32_t)synced : 0;
    if (to > s->wpos)
        to = s->wpos;
    uint64_t cut = mq_pos(g->no, to);
    *kept = cut;
    for (size_t i = 0; i < s->ntopics; i++) {
        mq_topic *t = s->topics[i];
        uint64_t end = t->end, keep = t->end;
        while (keep > t->start) {
            uint64_t at = mq_store_record_position(t, keep - 1);
            if (at == UINT64_MAX || at < cut)
                break;
            keep--;
        }
        t->bytes -= report_dropped(s, t, keep);
        t->end = keep;
        if (t->end < end) {
            shop_log_warn("unsynced records dropped topic=%s offsets=%llu..%llu", t->name,
                          (unsigned long long)t->end, (unsigned long long)end - 1);
            mq_store_dedup_forget(s, t->name, t->end);
        }
    }
    size_t dirty = s->tried > s->wpos ? s->tried : s->wpos;
    if (dirty > to) {
        if (s->zero_to <= s->zero_from || to < s->zero_from)
            s->zero_from = to;
        if (dirty > s->zero_to)
            s->zero_to = dirty;
    }
    s->pos = s->wpos = s->tried = to;
    atomic_store(&s->written, cut);
    pthread_mutex_lock(&s->err_mu);
    atomic_store(&s->broken, 0);
    pthread_mutex_unlock(&s->err_mu);
    /* At once, so that a restart finds no refused record either; punching
     * needs no space. If it fails, the next append tries again. */
    if (s->zero_to > s->zero_from) {
        char unused[400];
        store_repair(s, unused, sizeof unused);
    }
    return e;
}
