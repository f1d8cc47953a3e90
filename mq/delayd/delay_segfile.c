/* Segment files of the delay log: each is created zero-filled and synced,
 * so that appends into it journal no metadata, and a spare thread keeps the
 * next one ready so that a roll on the send path is only a rename. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "mq/delayd/delay_log_int.h"

/* Makes `path` a zero-filled, synced file of seg_size bytes (written as tmp,
 * then renamed) so that later appends into it journal no metadata. Returns
 * its fd or -errno. */
static int make_zeroed(delay_log *l, const char *tmp, const char *path)
{
    static const uint8_t zeros[1 << 16];
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    for (size_t off = 0; off < l->seg_size; off += sizeof zeros) {
        size_t n = l->seg_size - off < sizeof zeros ? l->seg_size - off : sizeof zeros;
        if (pwrite(fd, zeros, n, (off_t)off) != (ssize_t)n) {
            goto fail;
        }
    }
    if (fdatasync(fd) != 0 || rename(tmp, path) != 0 || fsync(l->dirfd) != 0) {
        goto fail;
    }
    return fd;
fail:;
    int e = errno ? errno : EIO;
    close(fd);
    unlink(tmp);
    return -e;
}

/* The spare thread keeps one zero-filled segment ready, so that a roll is a
 * rename instead of writing a whole segment on the send path. */
void *delay_log_spare_main(void *arg)
{
    delay_log *l = arg;
    char tmp[PATH_MAX + 32], ready[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s/spare.dlog.tmp", l->dir);
    snprintf(ready, sizeof ready, "%s/spare.dlog.ready", l->dir);
    pthread_mutex_lock(&l->mu);
    while (!l->spare_stop) {
        if (!l->spare_want) {
            pthread_cond_wait(&l->spare_cv, &l->mu);
            continue;
        }
        l->spare_want = 0;
        pthread_mutex_unlock(&l->mu);
        int fd = make_zeroed(l, tmp, ready);
        if (fd >= 0) {
            close(fd);
        }
        pthread_mutex_lock(&l->mu);
        l->spare_ready = fd >= 0;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int delay_log_create_seg(delay_log *l, uint32_t no)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 40], ready[PATH_MAX + 32];
    int fd = -1;
    delay_log_seg_path(l, no, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(ready, sizeof ready, "%s/spare.dlog.ready", l->dir);
    pthread_mutex_lock(&l->mu);
    int spare = l->spare_ready;
    l->spare_ready = 0;
    pthread_mutex_unlock(&l->mu);
    if (spare && rename(ready, path) == 0 && fsync(l->dirfd) == 0) {
        fd = open(path, O_RDWR | O_CLOEXEC);
    }
    if (fd < 0 && (fd = make_zeroed(l, tmp, path)) < 0) {
        return fd;
    }
    pthread_mutex_lock(&l->mu);
    int rv = delay_log_push_seg(l, no, fd);
    l->spare_want = 1;
    pthread_cond_signal(&l->spare_cv);
    pthread_mutex_unlock(&l->mu);
    if (rv != 0) {
        close(fd);
        return rv;
    }
    l->buf_off = 0;
    return 0;
}
