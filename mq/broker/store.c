/* The commit log: preallocated, zero-filled segment files written with
 * pwrite (so fdatasync has no metadata to journal), read through mmap,
 * trimmed by retention; recovery lives in recover.c, write failures in
 * store_fail.c. */
#include "mq/broker/store.h"
#include "mq/crc32c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

#include "mq/broker/store_int.h"

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h | 1; /* never 0: 0 marks an empty slot */
}

void mq_store_dedup_put(mq_store *s, const char *topic, const char *id, uint64_t off)
{
    if (!id || !*id)
        return;
    uint64_t h = hash_str(id);
    dedup_slot *d = &s->dedup[h & (DEDUP_SLOTS - 1)];
    *d = (dedup_slot){h, hash_str(topic), off};
}

const mq_keyindex *mq_store_keys(mq_store *s)
{
    return s->keys;
}

int mq_store_find_id(mq_store *s, const char *topic, const char *id, uint64_t *offset)
{
    if (!id || !*id)
        return 0;
    uint64_t h = hash_str(id);
    dedup_slot *d = &s->dedup[h & (DEDUP_SLOTS - 1)];
    if (d->id_hash != h || d->topic_hash != hash_str(topic))
        return 0;
    *offset = d->offset;
    return 1;
}

void mq_store_seg_path(const mq_store *s, uint32_t no, const char *suffix, char *out, size_t n)
{
    snprintf(out, n, "%s/%010u.seg%s", s->dir, no, suffix);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int mq_store_seg_map(mq_seg *g, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(g->fd, &st) != 0 || st.st_size <= 0) {
        snprintf(err, errlen, "segment %u: cannot stat or empty", g->no);
        return -1;
    }
    g->size = (size_t)st.st_size;
    g->map = mmap(NULL, g->size, PROT_READ, MAP_SHARED, g->fd, 0);
    if (g->map == MAP_FAILED) {
        g->map = NULL;
        snprintf(err, errlen, "segment %u: mmap: %s", g->no, strerror(errno));
        return -1;
    }
    return 0;
}

mq_seg *mq_store_seg_push(mq_store *s)
{
    if (s->nsegs == s->segs_cap) {
        size_t cap = s->segs_cap ? 2 * s->segs_cap : 16;
        mq_seg *n = realloc(s->segs, cap * sizeof *n);
        if (!n)
            return NULL;
        s->segs = n;
        s->segs_cap = cap;
    }
    mq_seg *g = &s->segs[s->nsegs++];
    memset(g, 0, sizeof *g);
    g->fd = -1;
    return g;
}

/* Creates segment `no` zero-filled under a temporary name, then renames it.
 * A failed creation leaves no partial file behind (it would hold the space
 * a full disk needs back). */
int mq_store_seg_create(mq_store *s, uint32_t no, char *err, size_t errlen)
{
    char tmp[600], path[600];
    mq_store_seg_path(s, no, ".tmp", tmp, sizeof tmp);
    mq_store_seg_path(s, no, "", path, sizeof path);
    int fd = mq_spare_take(s->spare, path);
    if (fd >= 0) {
        if (fsync_dir(s->dir) != 0) {
            int e = errno;
            snprintf(err, errlen, "cannot create segment %s: %s", path, strerror(e));
            close(fd);
            return -e;
        }
    } else if ((fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ||
               mq_zero_fill(fd, 0, s->opts.segment_bytes) != 0 || rename(tmp, path) != 0 ||
               fsync_dir(s->dir) != 0) {
        int e = errno ? errno : EIO;
        snprintf(err, errlen, "cannot create segment %s: %s", path, strerror(e));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        return -e;
    }
    mq_seg *g = mq_store_seg_push(s);
    if (!g) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    g->no = no;
    g->fd = fd;
    return mq_store_seg_map(g, err, errlen) == 0 ? 0 : -EIO;
}

static void topic_free(mq_topic *t)
{
    free(t->name);
    free(t->idx);
    free(t);
}

mq_topic *mq_store_topic(mq_store *s, const char *name, int create)
{
    for (size_t i = 0; i < s->ntopics; i++)
        if (strcmp(s->topics[i]->name, name) == 0)
            return s->topics[i];
    if (!create)
        return NULL;
    if (s->ntopics == s->topics_cap) {
        size_t cap = s->topics_cap ? 2 * s->topics_cap : 16;
        mq_topic **n = realloc(s->topics, cap * sizeof *n);
        if (!n)
            return NULL;
        s->topics = n;
        s->topics_cap = cap;
    }
    mq_topic *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        return NULL;
    }
    s->topics[s->ntopics++] = t;
    return t;
}

size_t mq_store_topic_count(mq_store *s)
{
    return s->ntopics;
}

mq_topic *mq_store_topic_at(mq_store *s, size_t i)
{
    return i < s->ntopics ? s->topics[i] : NULL;
}

/* Records entry `off` of `t`; offsets below t->end are ignored, a jump
 * leaves "missing" entries (corrupt records skipped by recovery). */
int mq_store_topic_index(mq_topic *t, uint64_t off, uint32_t seg, uint32_t pos)
{
    if (t->end == 0 && t->start == 0 && t->idx_base == 0 && off > 0 && !t->idx) {
        t->start = t->end = t->idx_base = off; /* older segments were deleted */
    }
    if (off < t->end)
        return 0;
    if (t->start - t->idx_base > t->idx_cap / 2 && t->start > t->idx_base) {
        size_t drop = (size_t)(t->start - t->idx_base);
        memmove(t->idx, t->idx + drop, (size_t)(t->end - t->start) * sizeof *t->idx);
        t->idx_base = t->start;
    }
    size_t need = (size_t)(off - t->idx_base) + 1;
    if (need > t->idx_cap) {
        size_t cap = t->idx_cap ? t->idx_cap : 1024;
        while (cap < need)
            cap *= 2;
        mq_index_entry *n = realloc(t->idx, cap * sizeof *n);
        if (!n)
            return -1;
        t->idx = n;
        t->idx_cap = cap;
    }
    for (uint64_t o = t->end; o < off; o++)
        t->idx[o - t->idx_base] = (mq_index_entry){UINT32_MAX, 0, 0};
    t->idx[off - t->idx_base] = (mq_index_entry){seg, pos, 0};
    t->end = off + 1;
    return 0;
}

int mq_store_open(mq_store **out, const mq_store_opts *opts, char *err, size_t errlen)
{
    *out = NULL;
    mq_store *s = calloc(1, sizeof *s);
    if (!s || !(s->dedup = calloc(DEDUP_SLOTS, sizeof *s->dedup)) ||
        !(s->keys = mq_keyindex_new())) {
        if (s)
            free(s->dedup);
        free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->opts = *opts;
    if (s->opts.segment_bytes < (1u << 16))
        s->opts.segment_bytes = 1u << 16;
    snprintf(s->dir, sizeof s->dir, "%s", opts->dir);
    s->opts.dir = s->dir;
    pthread_mutex_init(&s->sync_mu, NULL);
    pthread_mutex_init(&s->err_mu, NULL);
    /* mkdir -p: the default var/mq may be the first thing under var/. */
    for (char *slash = strchr(s->dir + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(s->dir, 0755);
        *slash = '/';
    }
    if (mkdir(s->dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "create data dir %s: %s", s->dir, strerror(errno));
        mq_store_close(s);
        return -1;
    }
    if (mq_store_recover(s, err, errlen) != 0) {
        mq_store_close(s);
        return -1;
    }
    s->synced = mq_store_position(s); /* recovery synced what it kept */
    atomic_store(&s->written, s->synced);
    s->tried = s->pos;
    s->spare = mq_spare_start(s->dir, s->opts.segment_bytes);
    *out = s;
    return 0;
}

void mq_store_close(mq_store *s)
{
    if (!s)
        return;
    if (s->nsegs > 0 && mq_store_flush(s) != 0)
        shop_log_error("final write of the log failed: %s", strerror(errno));
    mq_spare_stop(s->spare);
    mq_store_metrics_free(s);
    for (size_t i = 0; i < s->nsegs; i++) {
        if (s->segs[i].map)
            munmap(s->segs[i].map, s->segs[i].size);
        if (s->segs[i].fd >= 0)
            close(s->segs[i].fd);
    }
    for (size_t i = 0; i < s->ntopics; i++)
        topic_free(s->topics[i]);
    pthread_mutex_destroy(&s->sync_mu);
    pthread_mutex_destroy(&s->err_mu);
    free(s->segs);
    free(s->topics);
    free(s->wbuf);
    free(s->dedup);
    mq_keyindex_free(s->keys);
    free(s);
}

int mq_store_sync(mq_store *s)
{
    pthread_mutex_lock(&s->sync_mu);
    uint64_t upto = atomic_load(&s->written);
    mq_seg *g = &s->segs[s->nsegs - 1];
    int64_t t0 = shop_now_ns();
    int rc = fdatasync(g->fd), e = errno;
    mq_store_sync_observe(s, shop_now_ns() - t0);
    if (rc != 0) {
        char path[600];
        mq_store_seg_path(s, g->no, "", path, sizeof path);
        mq_store_fail(s, e, "cannot sync segment %s: %s", path, strerror(e));
    } else if ((e = atomic_load(&s->broken)) != 0) {
        rc = -1; /* a failure before this sync: it vouches for nothing */
    } else if (upto > s->synced) {
        s->synced = upto;
    }
    pthread_mutex_unlock(&s->sync_mu);
    errno = e;
    return rc;
}

/* Syncs the full segment and starts the next one. A failed creation (a full
 * disk) leaves the store as it was, the old segment synced to its end. */
static int store_roll(mq_store *s, char *err, size_t errlen)
{
    uint32_t next = s->segs[s->nsegs - 1].no + 1;
    if (mq_store_flush(s) != 0 || mq_store_sync(s) != 0) {
        int e = errno;
        mq_store_broken_error(s, err, errlen);
        return -e;
    }
    pthread_mutex_lock(&s->sync_mu);
    int rc = mq_store_seg_create(s, next, err, errlen);
    if (rc == 0) {
        s->pos = s->wpos = s->tried = 0;
        s->synced = mq_pos(next, 0);
        atomic_store(&s->written, s->synced);
    }
    pthread_mutex_unlock(&s->sync_mu);
    return rc;
}

int mq_store_append(mq_store *s, Shop__Mq__Record *rec, uint64_t *offset, char *err, size_t errlen)
{
    int rc = mq_store_writable(s, err, errlen);
    if (rc != 0)
        return rc;
    mq_topic *t = mq_store_topic(s, rec->topic, 1);
    if (!t) {
        snprintf(err, errlen, "out of memory for topic");
        return -ENOMEM;
    }
    rec->offset = t->end;
    rec->timestamp_ms = shop_wall_ms();
    size_t len = shop__mq__record__get_packed_size(rec);
    if (len > MQ_RECORD_MAX || len + MQ_RECORD_HEADER > s->opts.segment_bytes) {
        snprintf(err, errlen, "record of %zu bytes exceeds the limit", len);
        return -EMSGSIZE;
    }
    size_t need = len + MQ_RECORD_HEADER;
    mq_seg *g = &s->segs[s->nsegs - 1];
    if (s->pos + need > g->size) {
        if ((rc = store_roll(s, err, errlen)) != 0)
            return rc;
        g = &s->segs[s->nsegs - 1];
    }
    if (s->pos - s->wpos + need > MQ_WBUF_MAX && s->pos > s->wpos && mq_store_flush(s) != 0) {
        rc = -errno;
        mq_store_broken_error(s, err, errlen);
        return rc;
    }
    size_t used = s->pos - s->wpos;
    if (used + need > s->wbuf_cap) {
        size_t cap = used + need > MQ_WBUF_MAX ? used + need : MQ_WBUF_MAX;
        uint8_t *b = realloc(s->wbuf, cap);
        if (!b) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        s->wbuf = b;
        s->wbuf_cap = cap;
    }
    uint8_t *out = s->wbuf + used;
    shop__mq__record__pack(rec, out + MQ_RECORD_HEADER);
    uint32_t l32 = (uint32_t)len, crc = mq_crc32c(out + MQ_RECORD_HEADER, len);
    memcpy(out, &l32, 4);
    memcpy(out + 4, &crc, 4);
    if (mq_store_topic_index(t, rec->offset, g->no, (uint32_t)s->pos) != 0) {
        snprintf(err, errlen, "out of memory for the index");
        return -ENOMEM;
    }
    mq_store_record_tag_set(t, rec->offset, rec->tag);
    s->pos += len + MQ_RECORD_HEADER;
    t->bytes += len + MQ_RECORD_HEADER;
    g->last_ts = rec->timestamp_ms;
    mq_store_dedup_put(s, rec->topic, rec->id, rec->offset);
    mq_keyindex_put(s->keys, rec->topic, rec->key, rec->offset);
    atomic_fetch_add_explicit(&s->appends, 1, memory_order_relaxed);
    *offset = rec->offset;
    if (s->on_append)
        s->on_append(s->on_append_arg, rec);
    return 0;
}

static mq_seg *seg_find(mq_store *s, uint32_t no)
{
    if (s->nsegs == 0 || no < s->segs[0].no)
        return NULL;
    size_t i = no - s->segs[0].no;
    return i < s->nsegs && s->segs[i].no == no ? &s->segs[i] : NULL;
}

int mq_store_flush(mq_store *s)
{
    int e = atomic_load(&s->broken);
    if (e) {
        errno = e;
        return -1;
    }
    if (s->pos == s->wpos)
        return 0;
    mq_seg *g = &s->segs[s->nsegs - 1];
    size_t n = s->pos - s->wpos, done = 0;
    if (s->pos > s->tried)
        s->tried = s->pos;
    while (done < n) {
        ssize_t w = pwrite(g->fd, s->wbuf + done, n - done, (off_t)(s->wpos + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) { /* a short write is retried once more to learn why */
            e = w < 0 ? errno : EIO;
            char path[600];
            mq_store_seg_path(s, g->no, "", path, sizeof path);
            mq_store_fail(s, e, "cannot append to segment %s: %s", path, strerror(e));
            return -1;
        }
        done += (size_t)w;
    }
    s->wpos = s->pos;
    atomic_store(&s->written, mq_pos(g->no, s->wpos));
    return 0;
}

void mq_store_dedup_forget(mq_store *s, const char *topic, uint64_t from)
{
    uint64_t th = hash_str(topic);
    for (size_t i = 0; i < DEDUP_SLOTS; i++) {
        dedup_slot *d = &s->dedup[i];
        if (d->id_hash && d->topic_hash == th && d->offset >= from)
            *d = (dedup_slot){0};
    }
}

int mq_store_read(mq_store *s, const mq_topic *t, uint64_t offset, const uint8_t **data,
                  size_t *len)
{
    if (offset < t->start || offset >= t->end)
        return -1;
    mq_index_entry e = t->idx[offset - t->idx_base];
    if (e.seg == s->segs[s->nsegs - 1].no && e.pos >= s->wpos && mq_store_flush(s) != 0)
        return -1;
    mq_seg *g = e.seg == UINT32_MAX ? NULL : seg_find(s, e.seg);
    if (!g)
        return -1;
    uint32_t l;
    memcpy(&l, g->map + e.pos, 4);
    *data = g->map + e.pos + MQ_RECORD_HEADER;
    *len = l;
    return 0;
}

/* Moves each topic's start past the entries of deleted segment `no`. */
/* Segment `g` is about to go: every topic's start moves past its records
 * (their sizes read from the still mapped segment). */
static void topics_forget(mq_store *s, const mq_seg *g)
{
    for (size_t i = 0; i < s->ntopics; i++) {
        mq_topic *t = s->topics[i];
        while (t->start < t->end) {
            mq_index_entry e = t->idx[t->start - t->idx_base];
            if (e.seg != UINT32_MAX && e.seg > g->no)
                break;
            if (e.seg == g->no && e.pos + MQ_RECORD_HEADER <= g->size) {
                uint32_t len;
                memcpy(&len, g->map + e.pos, 4);
                t->bytes -= t->bytes >= len + MQ_RECORD_HEADER ? len + MQ_RECORD_HEADER : t->bytes;
            }
            t->start++;
        }
    }
}

int mq_store_retention(mq_store *s)
{
    int deleted = 0;
    int64_t now = shop_wall_ms();
    while (s->nsegs > 1) {
        uint64_t total = 0;
        for (size_t i = 0; i < s->nsegs; i++)
            total += s->segs[i].size;
        mq_seg *g = &s->segs[0];
        int by_size = s->opts.retention_bytes && total > s->opts.retention_bytes;
        int by_age = s->opts.retention_ms && g->last_ts && now - g->last_ts > s->opts.retention_ms;
        if (!by_size && !by_age)
            break;
        char path[600];
        mq_store_seg_path(s, g->no, "", path, sizeof path);
        shop_log_info("retention deleted segment=%u reason=%s", g->no, by_size ? "size" : "age");
        topics_forget(s, g);
        munmap(g->map, g->size);
        close(g->fd);
        unlink(path);
        pthread_mutex_lock(&s->sync_mu);
        memmove(&s->segs[0], &s->segs[1], (s->nsegs - 1) * sizeof *s->segs);
        s->nsegs--;
        pthread_mutex_unlock(&s->sync_mu);
        deleted++;
    }
    return deleted;
}

void mq_store_usage(mq_store *s, uint64_t *segments, uint64_t *bytes)
{
    *segments = s->nsegs;
    *bytes = 0;
    for (size_t i = 0; i < s->nsegs; i++)
        *bytes += s->segs[i].size;
}

uint64_t mq_store_position(mq_store *s)
{
    return (uint64_t)s->segs[s->nsegs - 1].no << 32 | s->pos;
}

uint64_t mq_store_record_position(const mq_topic *t, uint64_t offset)
{
    if (offset < t->start || offset >= t->end)
        return UINT64_MAX;
    mq_index_entry e = t->idx[offset - t->idx_base];
    return e.seg == UINT32_MAX ? 0 : (uint64_t)e.seg << 32 | e.pos;
}

uint32_t mq_tag_hash(const char *tag, size_t len)
{
    if (len == 0)
        return 0;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)tag[i]) * 16777619u;
    return h ? h : 1;
}

void mq_store_prefetch(mq_store *s, const mq_topic *t, uint64_t offset)
{
    if (offset < t->start || offset >= t->end)
        return;
    mq_index_entry e = t->idx[offset - t->idx_base];
    mq_seg *g = e.seg == UINT32_MAX ? NULL : seg_find(s, e.seg);
    if (!g || (size_t)e.pos + 512 > g->size)
        return;
    for (int line = 0; line < 512; line += 64)
        __builtin_prefetch(g->map + e.pos + line);
}

uint32_t mq_store_record_tag(const mq_topic *t, uint64_t offset)
{
    if (offset < t->start || offset >= t->end)
        return 0;
    return t->idx[offset - t->idx_base].tag;
}

uint64_t mq_store_next_tagged(const mq_topic *t, uint64_t from, uint64_t limit,
                              const uint32_t *hashes, size_t n)
{
    if (limit > t->end)
        limit = t->end;
    if (from < t->start)
        return from; /* deleted by retention: the caller reads and drops it */
    for (uint64_t off = from; off < limit; off++) {
        uint32_t tag = t->idx[off - t->idx_base].tag;
        for (size_t i = 0; i < n; i++)
            if (hashes[i] == tag)
                return off;
    }
    return limit > from ? limit : from;
}

void mq_store_record_tag_set(mq_topic *t, uint64_t offset, const char *tag)
{
    if (offset >= t->start && offset < t->end && tag)
        t->idx[offset - t->idx_base].tag = mq_tag_hash(tag, strlen(tag));
}

void mq_store_sync_stats(mq_store *s, uint64_t *count, uint64_t *total_us)
{
    pthread_mutex_lock(&s->sync_mu);
    *count = s->syncs;
    *total_us = s->sync_ns / 1000;
    pthread_mutex_unlock(&s->sync_mu);
}
