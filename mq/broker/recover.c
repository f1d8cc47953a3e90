/* Store recovery: every segment is scanned with length and CRC checks and
 * decoded; the index and the recent-id table are rebuilt; a torn or corrupt
 * tail of the last segment is cut, a corrupt record elsewhere ends the scan
 * of its segment and is logged, never served. */
#include "mq/broker/store_int.h"
#include "mq/crc32c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/log.h"

/* Scans one segment; returns the end of its valid records. */
static size_t seg_scan(mq_store *s, mq_seg *g, int *corrupt)
{
    size_t pos = 0;
    *corrupt = 0;
    while (pos + MQ_RECORD_HEADER <= g->size) {
        uint32_t len, crc;
        memcpy(&len, g->map + pos, 4);
        memcpy(&crc, g->map + pos + 4, 4);
        if (len == 0 && crc == 0)
            break; /* the preallocated zeros */
        if (len > MQ_RECORD_MAX || len > g->size - pos - MQ_RECORD_HEADER ||
            mq_crc32c(g->map + pos + MQ_RECORD_HEADER, len) != crc) {
            *corrupt = 1;
            break;
        }
        Shop__Mq__Record *r = shop__mq__record__unpack(NULL, len, g->map + pos + MQ_RECORD_HEADER);
        if (!r || !r->topic || !*r->topic) {
            if (r)
                shop__mq__record__free_unpacked(r, NULL);
            *corrupt = 1;
            break;
        }
        mq_topic *t = mq_store_topic(s, r->topic, 1);
        uint64_t end_before = t ? t->end : 0;
        if (t && mq_store_topic_index(t, r->offset, g->no, (uint32_t)pos) == 0 &&
            t->end > end_before)
            t->bytes += MQ_RECORD_HEADER + len; /* indexed (not a duplicate offset) */
        if (t)
            mq_store_record_tag_set(t, r->offset, r->tag);
        mq_store_dedup_put(s, r->topic, r->id, r->offset);
        mq_keyindex_put(s->keys, r->topic, r->key, r->offset);
        if (r->timestamp_ms > g->last_ts)
            g->last_ts = r->timestamp_ms;
        shop__mq__record__free_unpacked(r, NULL);
        pos += MQ_RECORD_HEADER + len;
    }
    return pos;
}

/* Cuts a torn or corrupt tail: everything from `pos` is zeroed again. On a
 * full disk the rest is left a hole of the right size (it reads as zeros;
 * appends allocate it later), so that the broker still starts. */
static int seg_truncate(mq_store *s, mq_seg *g, size_t pos, char *err, size_t errlen)
{
    munmap(g->map, g->size);
    g->map = NULL;
    size_t size = g->size > s->opts.segment_bytes ? g->size : s->opts.segment_bytes;
    int rc = ftruncate(g->fd, (off_t)pos);
    if (rc == 0 && mq_zero_fill(g->fd, pos, size) != 0) {
        rc = -1;
        if (errno == ENOSPC || errno == EDQUOT) {
            shop_log_warn("disk full: segment %u tail left unallocated from=%zu", g->no, pos);
            rc = ftruncate(g->fd, (off_t)size) == 0 && fsync(g->fd) == 0 ? 0 : -1;
        }
    }
    if (rc != 0) {
        snprintf(err, errlen, "truncate segment %u: %s", g->no, strerror(errno));
        return -1;
    }
    return mq_store_seg_map(g, err, errlen);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The numbers of the existing segments, sorted. */
static int list_segments(mq_store *s, uint32_t **out, size_t *n, char *err, size_t errlen)
{
    size_t cap = 16;
    uint32_t *nos = malloc(cap * sizeof *nos);
    DIR *d = opendir(s->dir);
    *out = NULL;
    *n = 0;
    if (!d || !nos) {
        snprintf(err, errlen, "open data dir %s: %s", s->dir,
                 d ? "out of memory" : strerror(errno));
        goto fail;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned no;
        char tail[8];
        if (sscanf(e->d_name, "%10u.se%7s", &no, tail) != 2 || strcmp(tail, "g") != 0)
            continue;
        if (*n == cap) {
            uint32_t *m = realloc(nos, 2 * cap * sizeof *m);
            if (!m) { /* a partial list would make a middle segment look last */
                snprintf(err, errlen, "out of memory listing segments");
                goto fail;
            }
            nos = m;
            cap *= 2;
        }
        nos[(*n)++] = no;
    }
    closedir(d);
    qsort(nos, *n, sizeof *nos, cmp_u32);
    *out = nos;
    return 0;
fail:
    if (d)
        closedir(d);
    free(nos);
    *n = 0;
    return -1;
}

int mq_store_recover(mq_store *s, char *err, size_t errlen)
{
    uint32_t *nos;
    size_t n;
    if (list_segments(s, &nos, &n, err, errlen) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[600];
        mq_store_seg_path(s, nos[i], "", path, sizeof path);
        mq_seg *g = mq_store_seg_push(s);
        if (!g || (g->fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
            snprintf(err, errlen, "open %s: %s", path, strerror(errno));
            rc = -1;
            break;
        }
        g->no = nos[i];
        if (mq_store_seg_map(g, err, errlen) != 0) {
            rc = -1;
            break;
        }
        int corrupt;
        size_t end = seg_scan(s, g, &corrupt);
        int last = i + 1 == n;
        if (corrupt && !last)
            shop_log_error("corrupt record skipped segment=%u pos=%zu (rest of segment unreadable)",
                           g->no, end);
        if (last) {
            s->pos = s->wpos = end;
            if (corrupt || g->size < s->opts.segment_bytes) {
                shop_log_warn("recovery truncated torn tail segment=%u pos=%zu size=%zu", g->no,
                              end, g->size);
                rc = seg_truncate(s, g, end, err, errlen);
            }
        }
    }
    free(nos);
    if (rc == 0 && s->nsegs == 0) {
        rc = mq_store_seg_create(s, 1, err, errlen);
        s->pos = s->wpos = 0;
    }
    return rc;
}
