/* Test support: private PostgreSQL databases and daemons as children. */
#include "tests/support/testsupport.h"
#include "services/pg/shop_pg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "rpc/rpc.h"
#include "base/spawn.h"
#include "base/tmpdir.h"

static void ts_fatal(const char *what, const char *why)
{
    fprintf(stderr, "test support: %s: %s\n", what, why);
    abort();
}

static char tmp_dir[256];

static void tmp_dir_make(void)
{
    const char *run = getenv("SHOP_TEST_TMPDIR");
    if (run == NULL || run[0] != '/') {
        snprintf(tmp_dir, sizeof tmp_dir, "%s", shop_tmp_dir());
        return;
    }
    /* The binary's name: Criterion's workers run as "boxfort-worker". */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    const char *slash = strrchr(exe, '/');
    snprintf(tmp_dir, sizeof tmp_dir, "%s/%s", run, slash != NULL ? slash + 1 : "test");
    if (mkdir(run, 0755) != 0 && errno != EEXIST)
        ts_fatal(run, strerror(errno));
    if (mkdir(tmp_dir, 0755) != 0 && errno != EEXIST)
        ts_fatal(tmp_dir, strerror(errno));
}

const char *ts_tmp_dir(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, tmp_dir_make);
    return tmp_dir;
}

void ts_pg_up(void)
{
    shop_pg_status st;
    shop_error err = {0};
    if (shop_pg_get_status(&st, &err) == 0 && st.running)
        return;
    if (shop_pg_start(&st, &err) != 0)
        ts_fatal("start PostgreSQL", err.message);
}

static void test_db_name(const char *test, const char *service, char *out, size_t outlen)
{
    snprintf(out, outlen, "t_%s_%s_db", test, service);
}

void ts_pg_fresh_db(const char *test, const char *service, char *out, size_t outlen)
{
    ts_pg_up();
    char dbname[128], sql_dir[512];
    shop_error err = {0};
    test_db_name(test, service, dbname, sizeof dbname);
    shop_pg_sql_dir(service, sql_dir, sizeof sql_dir);
    if (shop_pg_drop_database(NULL, dbname, &err) != 0 ||
        shop_pg_ensure_database(NULL, dbname, sql_dir, &err) != 0 ||
        shop_pg_conninfo(NULL, dbname, out, outlen, &err) != 0)
        ts_fatal(dbname, err.message);
}

void ts_pg_drop_db(const char *test, const char *service)
{
    char dbname[128];
    shop_error err = {0};
    test_db_name(test, service, dbname, sizeof dbname);
    if (shop_pg_drop_database(NULL, dbname, &err) != 0)
        fprintf(stderr, "test support: drop %s: %s\n", dbname, err.message);
}

const char *ts_bin(const char *name, char *out, size_t outlen)
{
    const char *dir = getenv("SHOP_BIN_DIR");
    snprintf(out, outlen, "%s/%s", dir != NULL ? dir : "build/bin", name);
    return out;
}

int ts_spawn(ts_proc *p, char *const argv[])
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", argv[0]);
    snprintf(p->log_path, sizeof p->log_path, "%s/%s-%lld.log", ts_tmp_dir(), argv[0],
             (long long)shop_now_us());
    char path[512];
    shop_error err = {0};
    ts_bin(argv[0], path, sizeof path);
    /* A daemon dies with the test process (from its main thread, see
     * shop_spawn_opts), so a failing test leaves no daemon behind. */
    shop_spawn_opts so = {
        .exec_path = path, .log_path = p->log_path, .log_truncate = true, .death_signal = SIGKILL};
    pid_t pid = 0;
    if (shop_spawn(argv, &so, &pid, &err) != RPC_OK) {
        fprintf(stderr, "test support: %s\n", err.message);
        return -1;
    }
    p->pid = pid;
    return 0;
}

static int child_alive(ts_proc *p)
{
    if (p->pid <= 0)
        return 0;
    int status;
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid) {
        p->exit_status = status;
        p->pid = 0;
        return 0;
    }
    return 1;
}

int ts_wait_until(ts_proc *p, int (*ready)(void *arg), void *arg, int timeout_ms)
{
    int64_t until = shop_now_ms() + timeout_ms;
    while (shop_now_ms() < until) {
        if (ready(arg))
            return 0;
        if (p != NULL && !child_alive(p)) {
            fprintf(stderr, "test support: %s exited before it was ready\n", p->name);
            ts_dump_log(p);
            return -1;
        }
        shop_sleep_ms(20);
    }
    fprintf(stderr, "test support: %s not ready after %d ms\n", p ? p->name : "wait", timeout_ms);
    if (p != NULL)
        ts_dump_log(p);
    return -1;
}

/* The SP handshake, not a bare connect: see rpc_probe_tcp. */
static int port_accepts(void *arg)
{
    return rpc_probe_tcp(NULL, *(int *)arg, 500);
}

int ts_wait_port(ts_proc *p, int port, int timeout_ms)
{
    return ts_wait_until(p, port_accepts, &port, timeout_ms);
}

int ts_signal(ts_proc *p, int sig)
{
    return p->pid > 0 ? kill(p->pid, sig) : -1;
}

int ts_stop(ts_proc *p, int sig, int timeout_ms)
{
    if (p->pid <= 0)
        goto done;
    if (sig != 0)
        kill(p->pid, sig);
    int64_t until = shop_now_ms() + timeout_ms;
    while (child_alive(p)) {
        if (shop_now_ms() > until) {
            kill(p->pid, SIGKILL);
            kill(p->pid, SIGCONT);
            waitpid(p->pid, &p->exit_status, 0);
            p->pid = 0;
            break;
        }
        shop_sleep_ms(10);
    }
done:
    if (WIFEXITED(p->exit_status))
        return WEXITSTATUS(p->exit_status);
    if (WIFSIGNALED(p->exit_status))
        return 128 + WTERMSIG(p->exit_status);
    return -1;
}

void ts_dump_log(const ts_proc *p)
{
    FILE *f = fopen(p->log_path, "re");
    if (f == NULL)
        return;
    fprintf(stderr, "---- output of %s (%s) ----\n", p->name, p->log_path);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stderr);
    fprintf(stderr, "---- end of %s ----\n", p->name);
    fclose(f);
}

int ts_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

int ts_shopflow(char *out, size_t outlen, const char *fmt, ...)
{
    char bin[512], args[2048], cmd[3072];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    ts_bin("shopflow", bin, sizeof bin);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void ts_printed_url(const ts_proc *p, const char *name, char *url, size_t len)
{
    url[0] = '\0';
    FILE *f = fopen(p->log_path, "r");
    if (f == NULL)
        return;
    char line[1024];
    size_t nl = strlen(name);
    while (fgets(line, sizeof line, f) != NULL) {
        char *u = strstr(line, "url=");
        if (strncmp(line, name, nl) == 0 && line[nl] == ' ' && u != NULL) {
            snprintf(url, len, "%s", u + 4);
            url[strcspn(url, " \n")] = '\0';
        }
    }
    fclose(f);
}

int ts_log_has(const ts_proc *p, const char *text)
{
    FILE *f = fopen(p->log_path, "r");
    if (f == NULL)
        return 0;
    char line[1024];
    int found = 0;
    while (fgets(line, sizeof line, f) != NULL)
        found |= strstr(line, text) != NULL;
    fclose(f);
    return found;
}

char *ts_slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}
