/* Finds the share and var folders of a build or an installed prefix. */
#include "base/paths.h"

#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SHOP_SOURCE_DIR
#define SHOP_SOURCE_DIR "."
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char share_dir[PATH_MAX];
static char var_dir[PATH_MAX];

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Writes the prefix the running executable lives under (<prefix>/bin/exe)
 * into out; returns -1 when /proc/self/exe cannot be read. */
static int exe_prefix(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (slash == NULL)
            return -1;
        *slash = '\0';
    }
    snprintf(out, len, "%s", exe[0] != '\0' ? exe : "/");
    return 0;
}

static void resolve(void)
{
    char prefix[PATH_MAX], installed[PATH_MAX + 32] = "";
    if (exe_prefix(prefix, sizeof prefix) == 0) {
        snprintf(installed, sizeof installed, "%s/share/shopflow", prefix);
        if (!is_dir(installed))
            installed[0] = '\0';
    }
    const char *env = getenv("SHOPFLOW_SHARE");
    snprintf(share_dir, sizeof share_dir, "%s", env != NULL && env[0] != '\0' ? env : installed);
    if (installed[0] != '\0')
        snprintf(var_dir, sizeof var_dir, "%s/var/shopflow", prefix);
    else
        snprintf(var_dir, sizeof var_dir, "%s/var", SHOP_SOURCE_DIR);
}

const char *shop_share_dir(void)
{
    pthread_once(&once, resolve);
    return share_dir[0] != '\0' ? share_dir : NULL;
}

const char *shop_default_var_dir(void)
{
    pthread_once(&once, resolve);
    return var_dir;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int shop_remove_tree(const char *path)
{
    if (access(path, F_OK) != 0)
        return 0;
    return nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS);
}
