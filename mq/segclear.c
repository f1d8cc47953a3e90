/* Clearing a dropped range of a segment file (see segclear.h). */
#include "mq/segclear.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static int write_zeros(int fd, uint64_t from, uint64_t to)
{
    static const uint8_t zeros[1 << 16];
    while (from < to) {
        size_t n = to - from < sizeof zeros ? (size_t)(to - from) : sizeof zeros;
        ssize_t w = pwrite(fd, zeros, n, (off_t)from);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        from += (uint64_t)w;
    }
    return 0;
}

int mq_segment_clear(int fd, uint64_t from, uint64_t to)
{
    if (to <= from)
        return 0;
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)from,
                  (off_t)(to - from)) != 0) {
        if (errno != EOPNOTSUPP && errno != ENOSYS)
            return -errno;
        int rv = write_zeros(fd, from, to);
        if (rv != 0)
            return rv;
    }
    return fsync(fd) == 0 ? 0 : -errno;
}
