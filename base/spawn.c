/* fork + exec with only the three standard descriptors (see spawn.h). */
#include "base/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

void shop_close_from(int lowest)
{
    if (close_range((unsigned)lowest, ~0u, 0) == 0)
        return;
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 1 << 20)
        max = 1 << 20;
    for (long fd = lowest; fd < max; fd++)
        close((int)fd);
}

/* Points `target` at `path`; leaves it as it was when the file won't open. */
static bool redirect(int target, const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0644);
    if (fd < 0)
        return false;
    if (fd != target) {
        dup2(fd, target); /* the copy does not inherit O_CLOEXEC */
        close(fd);
    } else {
        fcntl(fd, F_SETFD, 0);
    }
    return true;
}

static void child_main(char *const argv[], const shop_spawn_opts *o, bool from_main)
{
    if (from_main && o->death_signal > 0)
        prctl(PR_SET_PDEATHSIG, o->death_signal);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (o->in_child != NULL && o->in_child(o->in_child_arg) != 0)
        _exit(126);
    if (o->log_path != NULL) {
        int flags = O_WRONLY | O_CREAT | (o->log_truncate ? O_TRUNC : O_APPEND);
        if (redirect(STDOUT_FILENO, o->log_path, flags))
            dup2(STDOUT_FILENO, STDERR_FILENO);
    }
    if (o->stdin_null)
        redirect(STDIN_FILENO, "/dev/null", O_RDONLY);
    if (o->cwd != NULL && chdir(o->cwd) != 0)
        _exit(126);
    shop_close_from(STDERR_FILENO + 1);
    const char *file = o->exec_path != NULL ? o->exec_path : argv[0];
    if (o->search_path)
        execvp(file, argv);
    else
        execv(file, argv);
    dprintf(STDERR_FILENO, "exec %s: %s\n", file, strerror(errno));
    _exit(127);
}

rpc_status shop_spawn(char *const argv[], const shop_spawn_opts *opts, pid_t *pid_out,
                      shop_error *err)
{
    static const shop_spawn_opts defaults = {0};
    const shop_spawn_opts *o = opts != NULL ? opts : &defaults;
    bool from_main = (pid_t)syscall(SYS_gettid) == getpid();
    pid_t pid = fork();
    if (pid < 0)
        return shop_error_errno(err, errno, "fork %s", argv[0]);
    if (pid == 0)
        child_main(argv, o, from_main);
    *pid_out = pid;
    return RPC_OK;
}
