/* Internals of the delay log shared by its two files: delay_log.c (records,
 * recovery, reads, compaction) and delay_segfile.c (segment files and the
 * spare-segment thread). */
#ifndef SHOP_MQ_DELAY_LOG_INT_H
#define SHOP_MQ_DELAY_LOG_INT_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "delay_log.h"

typedef struct seg {
    uint32_t no;
    int fd;
    int64_t live;
} seg;

struct delay_log {
    char dir[PATH_MAX];
    int dirfd;
    size_t seg_size;
    pthread_mutex_t mu; /* guards segs/n for readers against roll and compaction */
    seg *segs;
    size_t n, cap;
    /* writer state */
    uint8_t *buf;
    size_t buf_len, buf_cap;
    uint64_t buf_off; /* offset in the active segment where buf starts */
    int dirty_old_fd; /* a rolled-over segment still to be synced, or -1 */
    /* spare segment preparation (under mu) */
    pthread_t spare_thread;
    pthread_cond_t spare_cv;
    int spare_started, spare_want, spare_ready, spare_stop;
};

void delay_log_seg_path(const delay_log *l, uint32_t no, char *out, size_t outlen);
int delay_log_push_seg(delay_log *l, uint32_t no, int fd);
/* Creates segment `no` (the spare renamed into place, else written now),
 * makes it the active one and asks for a new spare. Returns 0 or -errno. */
int delay_log_create_seg(delay_log *l, uint32_t no);
/* The spare thread's body (arg: the log). */
void *delay_log_spare_main(void *arg);

#endif
