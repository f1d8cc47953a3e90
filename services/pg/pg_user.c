/* Running PostgreSQL's programs as an unprivileged user when we are root. */
#include "services/pg/pg_user.h"

#include "base/spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *pg_user_name(void)
{
    const char *name = getenv("SHOPFLOW_PG_USER");
    return name != NULL && name[0] != '\0' ? name : "postgres";
}

rpc_status pg_user_ids(uid_t *uid, gid_t *gid, shop_error *err)
{
    if (geteuid() != 0) {
        *uid = geteuid();
        *gid = getegid();
        return RPC_OK;
    }
    struct passwd *pw = getpwnam(pg_user_name());
    if (pw == NULL) {
        return shop_error_set(
            err, RPC_INTERNAL,
            "running as root, and PostgreSQL refuses root: no user '%s' to run it as "
            "(install the postgresql package or set SHOPFLOW_PG_USER)",
            pg_user_name());
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return RPC_OK;
}

rpc_status pg_user_chown(const char *path, shop_error *err)
{
    if (geteuid() != 0)
        return RPC_OK;
    uid_t uid;
    gid_t gid;
    if (pg_user_ids(&uid, &gid, err) != 0)
        return shop_error_code(err);
    if (chown(path, uid, gid) != 0) {
        return shop_error_errno(err, errno, "chown %s", path);
    }
    return RPC_OK;
}

/* In the child: become the cluster user. */
static int drop_privileges(void)
{
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(pg_user_name());
    if (pw == NULL)
        return -1;
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0)
        return -1;
    return 0;
}

/* In the child: become the cluster user, or say why not. */
static int become_pg_user(void *arg)
{
    (void)arg;
    if (drop_privileges() == 0)
        return 0;
    dprintf(STDERR_FILENO, "cannot switch to user %s: %s\n", pg_user_name(), strerror(errno));
    return -1;
}

rpc_status pg_user_run(char *const argv[], const char *log_path, int *exit_code, shop_error *err)
{
    /* The log is opened as the cluster user, so it is its own; that user may
     * not be allowed into our working directory. */
    shop_spawn_opts so = {
        .log_path = log_path, .stdin_null = true, .cwd = "/", .in_child = become_pg_user};
    pid_t pid = 0;
    if (shop_spawn(argv, &so, &pid, err) != RPC_OK)
        return shop_error_code(err);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return shop_error_errno(err, errno, "waitpid");
        }
    }
    if (WIFEXITED(status)) {
        *exit_code = WEXITSTATUS(status);
        return RPC_OK;
    }
    return shop_error_set(err, RPC_INTERNAL, "%s killed by signal %d", argv[0], WTERMSIG(status));
}

static int pg_user_can_access(const char *dir, int mode)
{
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0)
        _exit(drop_privileges() == 0 && access(dir, mode) == 0 ? 0 : 1);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int pg_user_can_write(const char *dir)
{
    return pg_user_can_access(dir, W_OK | X_OK);
}

int pg_user_can_reach(const char *dir)
{
    return pg_user_can_access(dir, X_OK);
}

rpc_status pg_bin_path(const char *program, char *out, size_t outlen, shop_error *err)
{
    const char *bindir = getenv("SHOPFLOW_PG_BINDIR");
    if (bindir != NULL && bindir[0] != '\0') {
        snprintf(out, outlen, "%s/%s", bindir, program);
        if (access(out, X_OK) == 0)
            return RPC_OK;
        return shop_error_set(err, RPC_NOT_FOUND, "%s not found in SHOPFLOW_PG_BINDIR=%s", program,
                              bindir);
    }
    int best = -1;
    DIR *d = opendir("/usr/lib/postgresql");
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            int v = atoi(e->d_name);
            char path[512];
            snprintf(path, sizeof path, "/usr/lib/postgresql/%s/bin/%s", e->d_name, program);
            if (v > best && access(path, X_OK) == 0)
                best = v;
        }
        closedir(d);
    }
    if (best >= 0) {
        snprintf(out, outlen, "/usr/lib/postgresql/%d/bin/%s", best, program);
        return RPC_OK;
    }
    const char *path = getenv("PATH");
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path != NULL ? path : "/usr/bin:/bin");
    for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir != NULL;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, outlen, "%s/%s", dir, program);
        if (access(out, X_OK) == 0)
            return RPC_OK;
    }
    shop_error_set(err, RPC_NOT_FOUND,
                   "%s not found: install the postgresql package (scripts/deps.sh does) or set "
                   "SHOPFLOW_PG_BINDIR",
                   program);
    return shop_error_code(err);
}
