/* The fuzz targets' driver in the normal build (no libFuzzer): runs every
 * file named on the command line, or found in a directory named there (not
 * recursively, dot files skipped), through LLVMFuzzerTestOneInput, in name
 * order. CTest runs each target over its checked-in corpus and its
 * regressions this way (tests/fuzz/CMakeLists.txt); it also serves to
 * replay one crash file by hand, or as an AFL++-style `@@` driver.
 *
 *   fuzz-<target> [--min N] PATH...   fails unless at least N inputs ran (default 1) */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "fuzz replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0, n;
    uint8_t *buf = malloc(cap);
    while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *grown = realloc(buf, cap *= 2);
            if (grown == NULL)
                free(buf);
            buf = grown;
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (buf == NULL || failed) {
        fprintf(stderr, "fuzz replay: %s: cannot read\n", path);
        free(buf);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

/* Runs a file, or the files of a directory; returns how many ran, -1 on error. */
static long run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path) == 0 ? 1 : -1;
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "fuzz replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    long ran = 0;
    for (int i = 0; i < n; i++) {
        char file[4096];
        snprintf(file, sizeof file, "%s/%s", path, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(file) != 0)
                ran = -1;
            else if (ran >= 0)
                ran++;
        }
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    long min = 1, total = 0;
    int first = 1, rc = 0;
    if (argc > 2 && strcmp(argv[1], "--min") == 0) {
        min = atol(argv[2]);
        first = 3;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: %s [--min N] FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (int i = first; i < argc; i++) {
        long ran = run_path(argv[i]);
        if (ran < 0)
            rc = 1;
        else
            total += ran;
        printf("fuzz replay: %s: %ld inputs\n", argv[i], ran < 0 ? 0 : ran);
    }
    printf("fuzz replay: %ld inputs ran\n", total);
    if (total < min) {
        fprintf(stderr, "fuzz replay: only %ld inputs ran, expected at least %ld\n", total, min);
        rc = 1;
    }
    return rc;
}
