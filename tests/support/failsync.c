/* Test-only fault injection, preloaded into a daemon (LD_PRELOAD): fsync
 * and fdatasync fail with ENOSPC while the file named by $SHOP_FAIL_SYNC_IF
 * exists, as on a full thin-provisioned or network disk, where the space is
 * only found missing at writeback. tmpfs cannot fail a sync by itself. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

__attribute__((constructor)) static void failsync_init(void)
{
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
}

static int failing(void)
{
    const char *flag = getenv("SHOP_FAIL_SYNC_IF");
    return flag && *flag && access(flag, F_OK) == 0;
}

int fsync(int fd)
{
    if (failing()) {
        errno = ENOSPC;
        return -1;
    }
    return real_fsync(fd);
}

int fdatasync(int fd)
{
    if (failing()) {
        errno = ENOSPC;
        return -1;
    }
    return real_fdatasync(fd);
}
