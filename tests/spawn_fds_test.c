/* Children get stdin, stdout and stderr and nothing else of their parent:
 * the spawn helper itself, a whole stack of daemons (services/stack), a
 * test-support daemon, and PostgreSQL's programs run as the cluster user. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/spawn.h"
#include "services/pg/pg_user.h"
#include "tests/svc_support.h"

/* A file and a socket a careless caller would hand down: no O_CLOEXEC, and
 * the file locked, like the lock file of the issue that found this. */
typedef struct leaky {
    char path[128];
    int file, sock;
} leaky;

static void leaky_open(leaky *l)
{
    snprintf(l->path, sizeof l->path, "%s/shopflow-fds-%d.lock", ts_tmp_dir(), (int)getpid());
    l->file = open(l->path, O_RDWR | O_CREAT, 0600);
    cr_assert_geq(l->file, 0);
    cr_assert_eq(flock(l->file, LOCK_EX | LOCK_NB), 0);
    l->sock = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(l->sock, 0);
}

static void leaky_close(leaky *l)
{
    close(l->file);
    close(l->sock);
    unlink(l->path);
}

/* What /proc/PID/fd/N points to, or "" once it is gone. */
static void fd_target(pid_t pid, const char *fd, char *out, size_t outlen)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/%d/fd/%s", (int)pid, fd);
    ssize_t n = readlink(link, out, outlen - 1);
    out[n > 0 ? n : 0] = '\0';
}

/* Asserts that none of pid's descriptors is the leaky file or socket. */
static void expect_nothing_inherited(pid_t pid, const char *who, const leaky *l)
{
    char dir[64], sock[64], target[PATH_MAX];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    fd_target(getpid(), "", target, sizeof target);
    char num[16];
    snprintf(num, sizeof num, "%d", l->sock);
    fd_target(getpid(), num, sock, sizeof sock);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s (%s) is not running", who, dir);
    int seen = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        fd_target(pid, e->d_name, target, sizeof target);
        cr_expect_str_neq(target, l->path, "%s holds the parent's locked file as fd %s", who,
                          e->d_name);
        cr_expect_str_neq(target, sock, "%s holds the parent's socket as fd %s", who, e->d_name);
        seen++;
    }
    closedir(d);
    cr_expect_geq(seen, 3, "%s: read its descriptor table", who);
}

/* Waits until the child has exec'd `comm` (its descriptors are final). */
static void wait_for_exec(pid_t pid, const char *comm)
{
    char path[64], got[64] = "";
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    for (int64_t until = shop_now_ms() + 5000; shop_now_ms() < until; shop_sleep_ms(2)) {
        FILE *f = fopen(path, "re");
        if (f != NULL && fgets(got, sizeof got, f) != NULL)
            got[strcspn(got, "\n")] = '\0';
        if (f != NULL)
            fclose(f);
        if (strcmp(got, comm) == 0)
            return;
    }
    cr_assert_fail("pid %d never became %s (comm '%s')", (int)pid, comm, got);
}

Test(spawn_fds, a_spawned_child_has_exactly_stdin_stdout_and_stderr)
{
    leaky l;
    leaky_open(&l);
    char *argv[] = {"sleep", "30", NULL};
    shop_error err = {0};
    shop_spawn_opts so = {.search_path = true};
    pid_t pid = 0;
    cr_assert_eq(shop_spawn(argv, &so, &pid, &err), RPC_OK, "%s", err.message);
    wait_for_exec(pid, "sleep");
    char dir[64], fds[64] = "";
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    /* Right after exec the dynamic loader briefly holds a library open as
     * fd 3; an inherited descriptor would stay. */
    for (int64_t until = shop_now_ms() + 2000; shop_now_ms() < until; shop_sleep_ms(10)) {
        DIR *d = opendir(dir);
        cr_assert_not_null(d);
        fds[0] = '\0';
        for (struct dirent *e; (e = readdir(d)) != NULL;)
            if (e->d_name[0] != '.')
                snprintf(fds + strlen(fds), sizeof fds - strlen(fds), " %s", e->d_name);
        closedir(d);
        if (strcmp(fds, " 0 1 2") == 0)
            break;
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    leaky_close(&l);
    cr_expect_str_eq(fds, " 0 1 2", "the child's descriptors:%s", fds);
}

Test(spawn_fds, every_daemon_of_a_stack_holds_no_descriptor_of_its_parent)
{
    leaky l;
    leaky_open(&l);
    svc_env e;
    svc_up(&e, "fds", svc_opts(1, 10, 1));
    for (int i = 0; i < SHOP_STACK_NPROCS; i++)
        expect_nothing_inherited(e.st.procs[i].pid, e.st.procs[i].name, &l);
    svc_down(&e);
    leaky_close(&l);
}

Test(spawn_fds, a_test_support_daemon_holds_no_descriptor_of_its_parent)
{
    leaky l;
    leaky_open(&l);
    char dir[128], url[64], pub[64];
    snprintf(dir, sizeof dir, "%s/shopflow-fds-broker-%d", ts_tmp_dir(), (int)getpid());
    int port = ts_free_port();
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    snprintf(pub, sizeof pub, "tcp://127.0.0.1:%d", ts_free_port());
    ts_proc p;
    char *argv[] = {"mq-broker", "--url", url, "--pub-url", pub, "--data-dir", dir, NULL};
    cr_assert_eq(ts_spawn(&p, argv), 0);
    cr_assert_eq(ts_wait_port(&p, port, 10000), 0);
    expect_nothing_inherited(p.pid, "mq-broker", &l);
    cr_expect_eq(ts_stop(&p, SIGTERM, 10000), 0);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    unlink(p.log_path);
    leaky_close(&l);
}

Test(spawn_fds, postgresql_programs_run_as_the_cluster_user_inherit_nothing)
{
    leaky l;
    leaky_open(&l);
    char dir[128], log[160];
    shop_error err = {0};
    snprintf(dir, sizeof dir, "%s/shopflow-fds-pg-%d", ts_tmp_dir(), (int)getpid());
    cr_assert_eq(mkdir(dir, 0755), 0, "%s: %s", dir, strerror(errno));
    cr_assert_eq(pg_user_chown(dir, &err), 0, "%s", err.message); /* its log is its own */
    snprintf(log, sizeof log, "%s/fds.log", dir);
    /* pg_user_run starts pg_ctl (and so the postmaster) the same way. */
    char *argv[] = {"/bin/ls", "/proc/self/fd", NULL};
    int code = -1;
    cr_assert_eq(pg_user_run(argv, log, &code, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(code, 0, "ls exited %d", code);
    char out[256] = "";
    FILE *f = fopen(log, "re");
    cr_assert_not_null(f, "%s", log);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    unlink(log);
    rmdir(dir);
    leaky_close(&l);
    /* ls itself has the directory (3) open while it lists it. */
    cr_expect_str_eq(out, "0\n1\n2\n3\n", "descriptors: %s", out);
}
