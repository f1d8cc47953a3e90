/* Segment files, record framing, recovery scan and compaction of the delay
 * log. Invariants: records never span segments; the active segment is the
 * last; a segment is deleted only when it and every older segment have no
 * pending message, because the delivered/cancelled marks it holds may refer
 * to records of older segments. A restart always opens a new segment, so a
 * torn tail left by a crash is never appended after. */
#include "mq/delayd/delay_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mq/crc32c.h"
#include "mq/segclear.h"
#include "base/log.h"

#include "mq/delayd/delay_log_int.h"

void delay_log_seg_path(const delay_log *l, uint32_t no, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%010u.dlog", l->dir, no);
}

rpc_status delay_log_open(const char *dir, size_t seg_size, delay_log **out, shop_error *err)
{
    delay_log *l = calloc(1, sizeof *l);
    if (!l) {
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    l->seg_size = seg_size;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->spare_cv, NULL);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        rpc_status st = shop_error_errno(err, errno, "cannot create data dir %s", dir);
        free(l);
        return st;
    }
    l->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (l->dirfd < 0) {
        rpc_status st = shop_error_errno(err, errno, "cannot open data dir %s", dir);
        free(l);
        return st;
    }
    *out = l;
    return RPC_OK;
}

void delay_log_close(delay_log *l)
{
    if (!l) {
        return;
    }
    if (l->spare_started) {
        pthread_mutex_lock(&l->mu);
        l->spare_stop = 1;
        pthread_cond_signal(&l->spare_cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->spare_thread, NULL);
    }
    pthread_cond_destroy(&l->spare_cv);
    for (size_t i = 0; i < l->n; i++) {
        close(l->segs[i].fd);
    }
    close(l->dirfd);
    pthread_mutex_destroy(&l->mu);
    free(l->segs);
    free(l->buf);
    free(l);
}

int delay_log_push_seg(delay_log *l, uint32_t no, int fd)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        seg *s = realloc(l->segs, cap * sizeof *s);
        if (!s) {
            return -ENOMEM;
        }
        l->segs = s;
        l->cap = cap;
    }
    l->segs[l->n++] = (seg){no, fd, 0};
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Scans one segment file; returns the number of valid records. */
static uint64_t scan_seg(uint32_t no, int fd, delay_log_visit visit, void *arg)
{
    struct stat st;
    uint64_t count = 0;
    if (fstat(fd, &st) != 0 || st.st_size < DELAY_LOG_HEADER) {
        return 0;
    }
    size_t size = (size_t)st.st_size;
    const uint8_t *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        return 0;
    }
    madvise((void *)m, size, MADV_SEQUENTIAL);
    size_t off = 0;
    while (off + DELAY_LOG_HEADER <= size) {
        uint32_t len, crc;
        memcpy(&len, m + off, 4);
        memcpy(&crc, m + off + 4, 4);
        if (len == 0) {
            break; /* preallocated zeros: the end */
        }
        if (len > size - off - DELAY_LOG_HEADER) {
            shop_log_warn("torn record segment=%u offset=%zu", no, off);
            break;
        }
        if (mq_crc32c(m + off + DELAY_LOG_HEADER, len) != crc) {
            shop_log_warn("corrupt record, rest of segment ignored segment=%u offset=%zu", no, off);
            break;
        }
        visit(arg, DELAY_ID(no, off), m + off + DELAY_LOG_HEADER, len);
        count++;
        off += DELAY_LOG_HEADER + len;
    }
    munmap((void *)m, size);
    return count;
}

rpc_status delay_log_recover(delay_log *l, delay_log_visit visit, void *arg, shop_error *err)
{
    DIR *d = opendir(l->dir);
    uint32_t *nos = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rv = 0;
    if (!d) {
        return shop_error_errno(err, errno, "cannot list %s", l->dir);
    }
    while ((e = readdir(d)) != NULL) {
        unsigned no;
        char tail[16];
        if (sscanf(e->d_name, "%10u.%15s", &no, tail) == 2 && strcmp(tail, "dlog") == 0) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                uint32_t *p = realloc(nos, cap * sizeof *p);
                if (!p) {
                    rv = -ENOMEM;
                    shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory listing %s", l->dir);
                    goto fail;
                }
                nos = p;
            }
            nos[n++] = no;
        } else if (strstr(e->d_name, ".dlog.tmp") || strncmp(e->d_name, "spare.", 6) == 0) {
            unlinkat(l->dirfd, e->d_name, 0); /* a creation that crashed, or an old spare */
        }
    }
    if (n) {
        qsort(nos, n, sizeof *nos, cmp_u32);
    }
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX + 32];
        delay_log_seg_path(l, nos[i], path, sizeof path);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0 || (rv = delay_log_push_seg(l, nos[i], fd)) != 0) {
            rv = rv ? rv : -errno;
            shop_error_errno(err, -rv, "cannot open segment %s", path);
            goto fail;
        }
        uint64_t count = scan_seg(nos[i], fd, visit, arg);
        shop_log_debug("segment scanned segment=%u records=%llu", nos[i],
                       (unsigned long long)count);
    }
    rv = delay_log_create_seg(l, n ? nos[n - 1] + 1 : 1);
    if ((rv == -ENOSPC || rv == -EDQUOT) && n > 0) {
        /* A full disk: start anyway, for stats and due deliveries, on the
         * last segment closed for appends (its end taken as written), so the
         * first send rolls, and is refused while there is no room. */
        shop_log_warn("disk full: no new segment, sends refused until there is room dir=%s",
                      l->dir);
        l->buf_off = l->synced_off = l->tried_end = l->seg_size;
        rv = 0;
    }
    if (rv != 0) {
        shop_error_errno(err, -rv, "cannot create a segment in %s", l->dir);
    } else if (pthread_create(&l->spare_thread, NULL, delay_log_spare_main, l) == 0) {
        l->spare_started = 1;
    }
fail:
    closedir(d);
    free(nos);
    return rv == 0 ? RPC_OK : shop_error_code(err);
}

/* Says what could not be written to segment `no`; returns -e. */
static int log_failed(delay_log *l, int e, const char *what, uint32_t no)
{
    char path[PATH_MAX + 32];
    delay_log_seg_path(l, no, path, sizeof path);
    snprintf(l->error, sizeof l->error, "%s %s: %s", what, path, strerror(e));
    return -e;
}

static int write_buf(delay_log *l)
{
    if (l->buf_len == 0) {
        return 0;
    }
    int fd = l->segs[l->n - 1].fd;
    size_t done = 0;
    if (l->buf_off + l->buf_len > l->tried_end) {
        l->tried_end = l->buf_off + l->buf_len;
    }
    while (done < l->buf_len) {
        ssize_t w = pwrite(fd, l->buf + done, l->buf_len - done, (off_t)(l->buf_off + done));
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) { /* a short write is retried once more to learn why */
            l->broken = w < 0 ? errno : EIO;
            return log_failed(l, l->broken, "cannot append to segment", l->segs[l->n - 1].no);
        }
        done += (size_t)w;
    }
    l->buf_off += l->buf_len;
    l->buf_len = 0;
    return 0;
}

/* Syncs the full segment (so older segments are always durable) and starts
 * the next one. A failed creation (a full disk) leaves the log as it was. */
static int roll(delay_log *l)
{
    int rv = delay_log_sync(l);
    if (rv != 0) {
        return rv;
    }
    uint32_t next = l->segs[l->n - 1].no + 1;
    if ((rv = delay_log_create_seg(l, next)) != 0) {
        return log_failed(l, -rv, "cannot create segment", next);
    }
    l->synced_off = l->tried_end = 0;
    return 0;
}

/* Clears (zeroes, durably) what a rewind dropped; nothing is appended
 * before. */
static int repair(delay_log *l)
{
    const seg *s = &l->segs[l->n - 1];
    int rv = mq_segment_clear(s->fd, l->zero_from, l->zero_to);
    if (rv != 0) {
        return log_failed(l, -rv, "cannot clear the unsynced tail of segment", s->no);
    }
    shop_log_info("unsynced tail cleared segment=%u from=%llu to=%llu", s->no,
                  (unsigned long long)l->zero_from, (unsigned long long)l->zero_to);
    l->zero_from = l->zero_to = 0;
    return 0;
}

int delay_log_append(delay_log *l, const uint8_t *payload, uint32_t len, uint64_t *id)
{
    size_t need = DELAY_LOG_HEADER + (size_t)len;
    int rv;
    if (l->broken) {
        return -l->broken;
    }
    if (need > l->seg_size) {
        snprintf(l->error, sizeof l->error, "a record of %zu bytes does not fit in a segment",
                 need);
        return -EMSGSIZE;
    }
    if (l->zero_to > l->zero_from && (rv = repair(l)) != 0) {
        return rv;
    }
    if (l->buf_off + l->buf_len + need > l->seg_size && (rv = roll(l)) != 0) {
        return rv;
    }
    if (l->buf_len + need > l->buf_cap) {
        size_t cap = l->buf_cap ? l->buf_cap : 1 << 20;
        while (cap < l->buf_len + need) {
            cap *= 2;
        }
        uint8_t *b = realloc(l->buf, cap);
        if (!b) {
            snprintf(l->error, sizeof l->error, "out of memory");
            return -ENOMEM;
        }
        l->buf = b;
        l->buf_cap = cap;
    }
    uint32_t crc = mq_crc32c(payload, len);
    uint8_t *p = l->buf + l->buf_len;
    memcpy(p, &len, 4);
    memcpy(p + 4, &crc, 4);
    memcpy(p + DELAY_LOG_HEADER, payload, len);
    *id = DELAY_ID(l->segs[l->n - 1].no, l->buf_off + l->buf_len);
    l->buf_len += need;
    return 0;
}

int delay_log_sync(delay_log *l)
{
    if (l->broken) {
        return -l->broken;
    }
    int rv = write_buf(l);
    if (rv != 0) {
        return rv;
    }
    if (fdatasync(l->segs[l->n - 1].fd) != 0) {
        l->broken = errno;
        return log_failed(l, l->broken, "cannot sync segment", l->segs[l->n - 1].no);
    }
    l->synced_off = l->buf_off;
    return 0;
}

int delay_log_durable(const delay_log *l, uint64_t id)
{
    uint32_t active = l->segs[l->n - 1].no;
    return DELAY_ID_SEG(id) < active ||
           (DELAY_ID_SEG(id) == active && DELAY_ID_OFF(id) < l->synced_off);
}

int delay_log_rewind(delay_log *l)
{
    int e = l->broken;
    if (!e) {
        return 0;
    }
    uint64_t dirty = l->tried_end > l->buf_off ? l->tried_end : l->buf_off;
    if (dirty > l->synced_off) {
        if (l->zero_to <= l->zero_from || l->synced_off < l->zero_from) {
            l->zero_from = l->synced_off;
        }
        if (dirty > l->zero_to) {
            l->zero_to = dirty;
        }
    }
    shop_log_warn("unsynced records dropped segment=%u from=%llu to=%llu", l->segs[l->n - 1].no,
                  (unsigned long long)l->synced_off, (unsigned long long)(l->buf_off + l->buf_len));
    l->buf_off = l->tried_end = l->synced_off;
    l->buf_len = 0;
    l->broken = 0;
    /* At once, so that a restart finds no refused record either; punching
     * needs no space. If it fails, the next append tries again. */
    if (l->zero_to > l->zero_from) {
        repair(l);
    }
    return e;
}

const char *delay_log_error(const delay_log *l)
{
    return l->error;
}

static seg *find_seg(delay_log *l, uint32_t no)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (l->segs[mid].no < no) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < l->n && l->segs[lo].no == no ? &l->segs[lo] : NULL;
}

int delay_log_read(delay_log *l, uint64_t id, uint8_t **payload, uint32_t *len)
{
    uint8_t hdr[DELAY_LOG_HEADER];
    uint32_t n, crc;
    int rv = 0;
    uint8_t *p = NULL;
    pthread_mutex_lock(&l->mu);
    seg *s = find_seg(l, DELAY_ID_SEG(id));
    off_t off = DELAY_ID_OFF(id);
    if (!s) {
        rv = -ENOENT;
        goto out;
    }
    if (pread(s->fd, hdr, sizeof hdr, off) != (ssize_t)sizeof hdr) {
        rv = -EIO;
        goto out;
    }
    memcpy(&n, hdr, 4);
    memcpy(&crc, hdr + 4, 4);
    if (n == 0 || n > l->seg_size || !(p = malloc(n))) {
        rv = n ? -ENOMEM : -EIO;
        goto out;
    }
    if (pread(s->fd, p, n, off + DELAY_LOG_HEADER) != (ssize_t)n || mq_crc32c(p, n) != crc) {
        rv = -EIO;
    }
out:
    pthread_mutex_unlock(&l->mu);
    if (rv != 0) {
        free(p);
        return rv;
    }
    *payload = p;
    *len = n;
    return 0;
}

void delay_log_ref(delay_log *l, uint32_t no, int64_t delta)
{
    pthread_mutex_lock(&l->mu);
    seg *s = find_seg(l, no);
    if (s) {
        s->live += delta;
    }
    pthread_mutex_unlock(&l->mu);
}

int delay_log_compact(delay_log *l)
{
    int removed = 0;
    pthread_mutex_lock(&l->mu);
    while (l->n > 1 && l->segs[0].live <= 0) {
        char path[PATH_MAX + 32];
        delay_log_seg_path(l, l->segs[0].no, path, sizeof path);
        if (unlink(path) != 0) {
            shop_log_warn("cannot delete segment path=%s err=%s", path, strerror(errno));
            break;
        }
        close(l->segs[0].fd);
        memmove(l->segs, l->segs + 1, (l->n - 1) * sizeof *l->segs);
        l->n--;
        removed++;
    }
    pthread_mutex_unlock(&l->mu);
    return removed;
}

int delay_log_head(delay_log *l, uint32_t *seg, int64_t *live)
{
    int rv = -1;
    pthread_mutex_lock(&l->mu);
    if (l->n > 1) {
        *seg = l->segs[0].no;
        *live = l->segs[0].live;
        rv = 0;
    }
    pthread_mutex_unlock(&l->mu);
    return rv;
}

size_t delay_log_segments(delay_log *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->n;
    pthread_mutex_unlock(&l->mu);
    return n;
}

int delay_log_instance_tag(delay_log *l, char out[17])
{
    uint64_t v = 0;
    int fd = openat(l->dirfd, "instance", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, out, 16);
        close(fd);
        out[n == 16 ? 16 : 0] = '\0';
        if (n == 16) {
            return 0;
        }
    }
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        return -EIO;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)v);
    fd = openat(l->dirfd, "instance.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    int ok = write(fd, out, 16) == 16 && fsync(fd) == 0;
    close(fd);
    if (!ok || renameat(l->dirfd, "instance.tmp", l->dirfd, "instance") != 0 ||
        fsync(l->dirfd) != 0) {
        return -EIO;
    }
    return 0;
}
