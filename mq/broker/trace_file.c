/* The trace's files: <data dir>/trace.0 and trace.1, written alternately.
 * Each starts with a generation record, then the names in use, then events
 * and names as they come; a record is u32 length | u32 CRC32C | type byte |
 * payload, as in the log. When the current file holds half the ring's events
 * the other one is truncated and becomes current, so the two together hold
 * about one ring: the trace is bounded on disk as in memory. Records are
 * written with write(2) by the broker (at every group commit and every 5 ms
 * loop turn), which survives a kill -9; fdatasync runs once a second, so a
 * power loss may cost the last second of trace. Loading reads the older file
 * first and cuts a torn tail off the newer one. */
#include "mq/broker/trace_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "mq/crc32c.h"

#define WBUF_MAX (64u << 20)
#define REC_HEADER 8

void bk_trace_buf_add(bk_trace *t, char type, const void *payload, size_t len)
{
    size_t need = t->wlen + REC_HEADER + 1 + len;
    if (need > t->wcap) {
        size_t cap = t->wcap ? t->wcap : 1u << 16;
        while (cap < need)
            cap *= 2;
        uint8_t *n = cap <= WBUF_MAX ? realloc(t->wbuf, cap) : NULL;
        if (!n) {
            if (!t->write_failed)
                shop_log_error("trace: write buffer full; events kept in memory only");
            t->write_failed = 1;
            return;
        }
        t->wbuf = n;
        t->wcap = cap;
    }
    uint8_t *p = t->wbuf + t->wlen;
    uint32_t l32 = (uint32_t)(1 + len);
    p[REC_HEADER] = (uint8_t)type;
    memcpy(p + REC_HEADER + 1, payload, len);
    uint32_t crc = mq_crc32c(p + REC_HEADER, 1 + len);
    memcpy(p, &l32, 4);
    memcpy(p + 4, &crc, 4);
    t->wlen = need;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Makes path[cur] a fresh file of generation `gen` holding every name. */
static int start_file(bk_trace *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = open(t->path[t->cur], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (t->fd < 0)
        return -1;
    t->file_events = 0;
    t->wlen = 0;
    bk_trace_buf_add(t, BK_TRACE_REC_GEN, &t->gen, sizeof t->gen);
    for (uint32_t id = 1; id <= t->nnames; id++) {
        if (!t->names[id])
            continue;
        uint8_t rec[4 + 256];
        size_t n = strlen(t->names[id]) < 256 ? strlen(t->names[id]) : 255;
        memcpy(rec, &id, 4);
        memcpy(rec + 4, t->names[id], n);
        bk_trace_buf_add(t, BK_TRACE_REC_NAME, rec, 4 + n);
    }
    int rc = write_all(t->fd, t->wbuf, t->wlen);
    t->wlen = 0;
    return rc;
}

void bk_trace_flush(bk_trace *t)
{
    if (!t || t->fd < 0 || t->wlen == 0)
        return;
    size_t events = 0;
    for (size_t at = 0; at + REC_HEADER < t->wlen;) {
        uint32_t l32;
        memcpy(&l32, t->wbuf + at, 4);
        events += t->wbuf[at + REC_HEADER] == BK_TRACE_REC_EVENT;
        at += REC_HEADER + l32;
    }
    if (write_all(t->fd, t->wbuf, t->wlen) != 0 && !t->write_failed) {
        shop_log_error("trace: cannot write %s: %s (events kept in memory)", t->path[t->cur],
                       strerror(errno));
        t->write_failed = 1;
    }
    t->wlen = 0;
    t->file_events += events;
    if (t->file_events < t->cap / 2)
        return;
    t->cur ^= 1;
    t->gen++;
    if (start_file(t) != 0)
        shop_log_error("trace: cannot start %s: %s", t->path[t->cur], strerror(errno));
}

int bk_trace_sync_fd(bk_trace *t)
{
    return t && t->fd >= 0 ? dup(t->fd) : -1;
}

typedef struct trace_file {
    uint8_t *data;
    size_t len;
    uint64_t gen;
} trace_file;

static void file_read(const char *path, trace_file *f)
{
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0 ||
        !(f->data = malloc((size_t)st.st_size))) {
        if (fd >= 0)
            close(fd);
        return;
    }
    ssize_t n = read(fd, f->data, (size_t)st.st_size);
    close(fd);
    f->len = n > 0 ? (size_t)n : 0;
    /* the generation: the first record */
    uint32_t l32, crc;
    if (f->len >= REC_HEADER + 1 + 8) {
        memcpy(&l32, f->data, 4);
        memcpy(&crc, f->data + 4, 4);
        if (l32 == 9 && f->data[REC_HEADER] == BK_TRACE_REC_GEN &&
            mq_crc32c(f->data + REC_HEADER, 9) == crc)
            memcpy(&f->gen, f->data + REC_HEADER + 1, 8);
    }
}

/* Replays a file's records; returns the length of its intact prefix. */
static size_t file_replay(bk_trace *t, const trace_file *f, size_t *events)
{
    size_t at = 0;
    *events = 0;
    while (at + REC_HEADER <= f->len) {
        uint32_t l32, crc;
        memcpy(&l32, f->data + at, 4);
        memcpy(&crc, f->data + at + 4, 4);
        if (l32 == 0 || l32 > 1 + 4 + 256 || at + REC_HEADER + l32 > f->len ||
            mq_crc32c(f->data + at + REC_HEADER, l32) != crc)
            break;
        const uint8_t *p = f->data + at + REC_HEADER;
        if (p[0] == BK_TRACE_REC_EVENT && l32 == 1 + sizeof(bk_trace_ev)) {
            bk_trace_ev e;
            memcpy(&e, p + 1, sizeof e);
            bk_trace_push(t, &e);
            (*events)++;
        } else if (p[0] == BK_TRACE_REC_NAME && l32 > 5) {
            char name[257];
            uint32_t id;
            memcpy(&id, p + 1, 4);
            memcpy(name, p + 5, l32 - 5);
            name[l32 - 5] = '\0';
            if (id > 0 && id <= BK_TRACE_NAMES_MAX)
                bk_trace_intern_id(t, name, id);
        }
        at += REC_HEADER + l32;
    }
    return at;
}

int bk_trace_files_load(bk_trace *t, const char *dir, char *err, size_t errlen)
{
    trace_file f[2];
    for (int i = 0; i < 2; i++) {
        snprintf(t->path[i], sizeof t->path[i], "%s/trace.%d", dir, i);
        file_read(t->path[i], &f[i]);
    }
    int newer = f[1].gen > f[0].gen;
    size_t events = 0, good = 0;
    if (f[!newer].gen > 0)
        file_replay(t, &f[!newer], &events);
    if (f[newer].gen > 0)
        good = file_replay(t, &f[newer], &events);
    t->wlen = 0; /* the names replayed are in the files already */
    t->cur = newer;
    t->gen = f[newer].gen;
    int rc = 0;
    if (t->gen == 0) {
        t->gen = 1;
        rc = start_file(t);
    } else {
        t->fd = open(t->path[t->cur], O_WRONLY | O_APPEND | O_CLOEXEC);
        if (t->fd < 0 || ftruncate(t->fd, (off_t)good) != 0)
            rc = -1;
        if (good < f[newer].len)
            shop_log_warn("trace: torn tail cut file=%s at=%zu len=%zu", t->path[t->cur], good,
                          f[newer].len);
        t->file_events = events;
    }
    if (rc != 0)
        snprintf(err, errlen, "trace file %s: %s", t->path[t->cur], strerror(errno));
    else
        shop_log_info("trace loaded events=%llu names=%u", (unsigned long long)t->head, t->nnames);
    free(f[0].data);
    free(f[1].data);
    return rc;
}

void bk_trace_close(bk_trace *t)
{
    if (!t)
        return;
    bk_trace_flush(t);
    if (t->fd >= 0)
        close(t->fd);
    for (uint32_t i = 0; t->names && i <= t->nnames; i++)
        free(t->names[i]);
    free(t->names);
    free(t->slots);
    free(t->ring);
    free(t->wbuf);
    free(t);
}
