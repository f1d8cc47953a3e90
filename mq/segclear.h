/* Clearing a dropped range of a preallocated segment file, shared by the
 * broker's and the delay queue's stores (library mqcrc). */
#ifndef SHOP_MQ_SEGCLEAR_H
#define SHOP_MQ_SEGCLEAR_H

#include <stdint.h>

/* Makes [from, to) of the file read as zeros again, durably: the range is
 * punched out, which frees blocks instead of needing them and so works on a
 * full disk (the file keeps its size; a later write there allocates again),
 * or overwritten with zeros where the file system cannot punch; then fsync,
 * as a punch changes metadata. Returns 0 or -errno. */
int mq_segment_clear(int fd, uint64_t from, uint64_t to);

#endif
