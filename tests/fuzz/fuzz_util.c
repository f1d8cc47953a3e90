/* Helpers shared by the fuzz targets: frame splitting, scratch directories
 * and files, and the invariant check that stops a run. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mq/crc32c.h"
#include "base/log.h"
#include "tests/fuzz/fuzz.h"

void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "fuzz: invariant broken at %s:%d: %s\n", file, line, what);
    abort();
}

int fuzz_next_frame(fuzz_frames *f, const uint8_t **frame, size_t *len)
{
    if (f->left < 2)
        return 0;
    size_t n = (size_t)f->p[0] | (size_t)f->p[1] << 8;
    f->p += 2;
    f->left -= 2;
    if (n > f->left)
        n = f->left;
    *frame = f->p;
    *len = n;
    f->p += n;
    f->left -= n;
    return 1;
}

static char dirs[8][256];
static const char *names[8];

static void remove_dirs(void)
{
    for (int i = 0; i < 8 && names[i] != NULL; i++) {
        fuzz_dir_clear(dirs[i]);
        rmdir(dirs[i]);
    }
}

const char *fuzz_dir(const char *name)
{
    for (int i = 0; i < 8 && names[i] != NULL; i++)
        if (strcmp(names[i], name) == 0)
            return dirs[i];
    int i = 0;
    while (i < 8 && names[i] != NULL)
        i++;
    if (i == 8)
        fuzz_fail(__FILE__, __LINE__, "too many scratch directories");
    struct stat st;
    const char *root = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(dirs[i], sizeof dirs[i], "%s/shopflow-fuzz-%s-%d", root, name, (int)getpid());
    if (mkdir(dirs[i], 0755) != 0 && access(dirs[i], W_OK) != 0)
        fuzz_fail(__FILE__, __LINE__, "cannot create the scratch directory");
    if (i == 0)
        atexit(remove_dirs);
    names[i] = name;
    return dirs[i];
}

void fuzz_dir_clear(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

void fuzz_write_file(const char *dir, const char *file, const uint8_t *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        fuzz_fail(__FILE__, __LINE__, "cannot create a scratch file");
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w <= 0)
            fuzz_fail(__FILE__, __LINE__, "cannot write a scratch file");
        data += w;
        len -= (size_t)w;
    }
    close(fd);
}

void fuzz_quiet_logs(void)
{
    shop_log_set_level(SHOP_LOG_ERROR);
}

/* Rewrites the CRC of every record that the length fields frame. */
static void fix_crcs(uint8_t *seg, size_t size)
{
    size_t pos = 0;
    while (pos + 8 <= size) {
        uint32_t len;
        memcpy(&len, seg + pos, 4);
        if (len == 0 || len > size - pos - 8)
            return;
        uint32_t crc = mq_crc32c(seg + pos + 8, len);
        memcpy(seg + pos + 4, &crc, 4);
        pos += 8 + len;
    }
}

fuzz_frames fuzz_write_segments(const char *dir, const char *suffix, const uint8_t *data,
                                size_t len)
{
    fuzz_frames f = {data, 0};
    if (len < 1)
        return f;
    int fix = data[0] & 1;
    f = (fuzz_frames){data + 1, len - 1};
    const uint8_t *seg;
    size_t slen;
    for (uint32_t no = 1; no <= 3 && fuzz_next_frame(&f, &seg, &slen); no++) {
        if (slen == 0)
            continue; /* the stores create segments whole, never empty */
        uint8_t *copy = malloc(slen);
        if (copy == NULL)
            fuzz_fail(__FILE__, __LINE__, "out of memory");
        memcpy(copy, seg, slen);
        if (fix)
            fix_crcs(copy, slen);
        char name[64];
        snprintf(name, sizeof name, "%010u%s", no, suffix);
        fuzz_write_file(dir, name, copy, slen);
        free(copy);
    }
    return f;
}
