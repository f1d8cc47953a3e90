/* A background thread that keeps one preallocated segment file ready. */
#include "mq/broker/spare.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mq_spare {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char path[600];
    size_t size;
    int ready, stop;
};

int mq_zero_fill(int fd, size_t from, size_t size)
{
    static const unsigned char zeros[1 << 16];
    while (from < size) {
        size_t n = size - from < sizeof zeros ? size - from : sizeof zeros;
        ssize_t w = pwrite(fd, zeros, n, (off_t)from);
        if (w <= 0)
            return -1;
        from += (size_t)w;
    }
    return fdatasync(fd);
}

static void *spare_main(void *arg)
{
    mq_spare *sp = arg;
    pthread_mutex_lock(&sp->mu);
    while (!sp->stop) {
        if (sp->ready) {
            pthread_cond_wait(&sp->cv, &sp->mu);
            continue;
        }
        pthread_mutex_unlock(&sp->mu);
        int fd = open(sp->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int ok = fd >= 0 && mq_zero_fill(fd, 0, sp->size) == 0;
        if (fd >= 0)
            close(fd);
        if (!ok) /* a partial spare would hold space a full disk needs */
            unlink(sp->path);
        pthread_mutex_lock(&sp->mu);
        sp->ready = ok;
        if (!ok) /* a full disk: try again at the next roll, which works without */
            pthread_cond_wait(&sp->cv, &sp->mu);
    }
    pthread_mutex_unlock(&sp->mu);
    return NULL;
}

mq_spare *mq_spare_start(const char *dir, size_t size)
{
    mq_spare *sp = calloc(1, sizeof *sp);
    if (!sp)
        return NULL;
    snprintf(sp->path, sizeof sp->path, "%s/spare.tmp", dir);
    sp->size = size;
    pthread_mutex_init(&sp->mu, NULL);
    pthread_cond_init(&sp->cv, NULL);
    if (pthread_create(&sp->thread, NULL, spare_main, sp) != 0) {
        pthread_mutex_destroy(&sp->mu);
        pthread_cond_destroy(&sp->cv);
        free(sp);
        return NULL;
    }
    return sp;
}

int mq_spare_take(mq_spare *sp, const char *path)
{
    if (!sp)
        return -1;
    int fd = -1;
    pthread_mutex_lock(&sp->mu);
    if (sp->ready && rename(sp->path, path) == 0)
        fd = open(path, O_RDWR | O_CLOEXEC);
    sp->ready = 0;
    pthread_cond_signal(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
    return fd;
}

void mq_spare_stop(mq_spare *sp)
{
    if (!sp)
        return;
    pthread_mutex_lock(&sp->mu);
    sp->stop = 1;
    pthread_cond_signal(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
    pthread_join(sp->thread, NULL);
    unlink(sp->path);
    pthread_mutex_destroy(&sp->mu);
    pthread_cond_destroy(&sp->cv);
    free(sp);
}
