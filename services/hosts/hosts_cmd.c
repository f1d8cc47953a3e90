/* hosts_cmd.h: spawn, wait, and on failure read back the first line the
 * command wrote (to a scratch file, removed at once). */
#include "services/hosts/hosts_cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/spawn.h"
#include "base/tmpdir.h"

/* "ip link add ..." for messages. */
static void joined(char *const argv[], char *out, size_t len)
{
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; argv[i] != NULL && at + 1 < len; i++) {
        int w = snprintf(out + at, len - at, "%s%s", i ? " " : "", argv[i]);
        if (w < 0)
            break;
        at += (size_t)w;
    }
}

rpc_status hosts_cmd(char *const argv[], shop_error *err)
{
    char log[512];
    snprintf(log, sizeof log, "%s/shopflow-hosts-%d-XXXXXX", shop_tmp_dir(), (int)getpid());
    int fd = mkstemp(log);
    if (fd < 0)
        return shop_error_errno(err, errno, "scratch file in %s", shop_tmp_dir());
    close(fd);
    shop_spawn_opts so = {
        .log_path = log, .log_truncate = true, .stdin_null = true, .search_path = true};
    pid_t pid = 0;
    char cmd[256];
    joined(argv, cmd, sizeof cmd);
    rpc_status st = shop_spawn(argv, &so, &pid, err);
    int status = 0;
    while (st == RPC_OK && waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            st = shop_error_errno(err, errno, "waitpid %s", argv[0]);
    }
    if (st == RPC_OK && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        char line[200] = "";
        FILE *f = fopen(log, "re");
        if (f != NULL) {
            if (fgets(line, sizeof line, f) == NULL)
                line[0] = '\0';
            fclose(f);
        }
        line[strcspn(line, "\n")] = '\0';
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        st = shop_error_set(err, code == 127 ? RPC_UNAVAILABLE : RPC_INTERNAL,
                            "`%s` failed (exit %d): %s", cmd, code,
                            code == 127 ? "not installed (iproute2)" : line);
    }
    unlink(log);
    return st;
}
