/* The state file of a running `shopflow up`: one `key=value` per line. */
#include "tools/shopflow/up_state.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/pg/shop_pg.h"

void up_state_path(const char *prefix, char *out, size_t outlen)
{
    /* beside the stack's data: <var>/pg -> <var>/stack/ (as stack_async.c) */
    char var[512];
    snprintf(var, sizeof var, "%s", shop_pg_var_dir());
    char *slash = strrchr(var, '/');
    if (slash != NULL && strcmp(slash, "/pg") == 0)
        *slash = '\0';
    snprintf(out, outlen, "%s/stack/%sup.state", var, prefix != NULL ? prefix : "");
}

rpc_status up_state_write(const char *path, const up_state *s, shop_error *err)
{
    char dir[600], tmp[640];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
        mkdir(dir, 0755);
    }
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    FILE *f = fopen(tmp, "we");
    if (f == NULL)
        return shop_error_errno(err, errno, "writing %s", tmp);
    fprintf(f, "pid=%d\ncontrol=%s\narch=%s\n", (int)s->pid, s->control_url, s->arch);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return shop_error_errno(err, e, "writing %s", path);
    }
    return RPC_OK;
}

rpc_status up_state_read(const char *path, up_state *s, shop_error *err)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT)
            return shop_error_set(err, RPC_NOT_FOUND,
                                  "no stack is running (no %s); start one with `shopflow up`",
                                  path);
        return shop_error_errno(err, errno, "reading %s", path);
    }
    char line[256];
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "pid=", 4) == 0)
            s->pid = (pid_t)atoi(line + 4);
        else if (strncmp(line, "control=", 8) == 0)
            snprintf(s->control_url, sizeof s->control_url, "%s", line + 8);
        else if (strncmp(line, "arch=", 5) == 0)
            snprintf(s->arch, sizeof s->arch, "%s", line + 5);
    }
    fclose(f);
    if (s->pid <= 0 || strncmp(s->control_url, "tcp://127.0.0.1:", 16) != 0)
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "%s does not name a pid and a loopback control URL; remove it and "
                              "start the stack with `shopflow up`",
                              path);
    if (kill(s->pid, 0) != 0 && errno == ESRCH)
        return shop_error_set(err, RPC_FAILED_PRECONDITION,
                              "no stack is running: %s names pid %d, which is gone (its daemons "
                              "ended with it); start one with `shopflow up`",
                              path, (int)s->pid);
    return RPC_OK;
}
