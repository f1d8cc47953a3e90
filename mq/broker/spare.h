/* The next segment file, zero-filled and synced ahead of time by a
 * background thread, so that a segment roll costs a rename, not 64 MiB of
 * writes under the broker lock. */
#ifndef SHOP_MQ_SPARE_H
#define SHOP_MQ_SPARE_H

#include <stddef.h>

typedef struct mq_spare mq_spare;

/* Starts preparing <dir>/spare.tmp of `size` bytes. NULL: no spare (rolls
 * then create their segment themselves). */
mq_spare *mq_spare_start(const char *dir, size_t size);

/* If a spare is ready, renames it to `path` and returns its open fd (the
 * caller fsyncs the directory); else -1. Starts preparing the next one. */
int mq_spare_take(mq_spare *sp, const char *path);

void mq_spare_stop(mq_spare *sp);

/* Writes zeros from `from` to `size` and fdatasyncs: later appends into the
 * range change no file metadata, so their fdatasync has nothing to journal. */
int mq_zero_fill(int fd, size_t from, size_t size);

#endif
