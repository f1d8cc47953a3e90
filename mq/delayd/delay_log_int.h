/* Internals of the delay log shared by its two files: delay_log.c (records,
 * recovery, reads, compaction) and delay_segfile.c (segment files and the
 * spare-segment thread). */
#ifndef SHOP_MQ_DELAY_LOG_INT_H
#define SHOP_MQ_DELAY_LOG_INT_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "mq/delayd/delay_log.h"

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
    /* durability and write failures (see delay_log_rewind) */
    uint64_t synced_off;         /* the active segment is durable below this offset */
    uint64_t tried_end;          /* end of what pwrite was asked to write in the active segment */
    uint64_t zero_from, zero_to; /* a range to zero and sync before the next append */
    int broken;                  /* errno of a failed write or sync not yet rewound, 0: none */
    char error[PATH_MAX + 96];   /* what the last failure could not write */
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
