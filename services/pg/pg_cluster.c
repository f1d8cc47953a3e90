/* The private PostgreSQL cluster under var/pg: initdb on first use, start on a
 * unix socket plus a free port on 127.0.0.1 (fsync on), stop, status, reset.
 * State lives in files, never in a daemon of ours: postmaster.pid says whether
 * it runs, var/pg/port remembers the port for the next start. */
#include "services/pg/shop_pg.h"
#include "services/pg/pg_user.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/paths.h"

#ifndef SHOP_SOURCE_DIR
#define SHOP_SOURCE_DIR "."
#endif

typedef struct cluster_paths {
    char pg[PATH_MAX];   /* var/pg */
    char data[PATH_MAX]; /* var/pg/data */
    char run[PATH_MAX];  /* unix socket directory */
    char log[PATH_MAX];  /* server log */
    char port[PATH_MAX]; /* remembered port */
} cluster_paths;

/* The parent of `path` that exists, for the reachability check below. */
static void existing_parent(const char *path, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", path);
    while (access(out, F_OK) != 0) {
        char *slash = strrchr(out, '/');
        if (slash == NULL || slash == out) {
            snprintf(out, outlen, "/");
            return;
        }
        *slash = '\0';
    }
}

const char *shop_pg_var_dir(void)
{
    static char dir[PATH_MAX];
    if (dir[0] != '\0')
        return dir;
    const char *var = getenv("SHOPFLOW_VAR");
    if (var != NULL && var[0] != '\0') {
        snprintf(dir, sizeof dir, "%s/pg", var);
        return dir;
    }
    snprintf(dir, sizeof dir, "%s/pg", shop_default_var_dir());
    /* As root the cluster runs as an unprivileged user, who may not be let
     * through the folders above the source tree (a clone under /root): then
     * the cluster lives under /var/tmp, keyed by the source path. */
    if (geteuid() == 0) {
        char probe[PATH_MAX];
        existing_parent(dir, probe, sizeof probe);
        if (!pg_user_can_reach(probe)) {
            unsigned long h = 5381;
            for (const char *c = SHOP_SOURCE_DIR; *c != '\0'; c++)
                h = h * 33 + (unsigned char)*c;
            snprintf(dir, sizeof dir, "/var/tmp/shopflow-%lx/pg", h);
        }
    }
    return dir;
}

static void cluster_paths_init(cluster_paths *p)
{
    snprintf(p->pg, sizeof p->pg, "%s", shop_pg_var_dir());
    snprintf(p->data, sizeof p->data, "%s/data", p->pg);
    snprintf(p->log, sizeof p->log, "%s/postgres.log", p->pg);
    snprintf(p->port, sizeof p->port, "%s/port", p->pg);
    /* A unix socket path must fit in 108 bytes: fall back to /tmp. */
    snprintf(p->run, sizeof p->run, "%s/run", p->pg);
    if (strlen(p->run) + sizeof "/.s.PGSQL.65535.lock" > 100) {
        unsigned long h = 5381;
        for (const char *c = p->pg; *c != '\0'; c++)
            h = h * 33 + (unsigned char)*c;
        snprintf(p->run, sizeof p->run, "/tmp/shopflow-pg-%lx", h);
    }
}

static rpc_status mkdir_owned(const char *dir, shop_error *err)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return shop_error_errno(err, errno, "mkdir %s", dir);
    }
    return pg_user_chown(dir, err);
}

static rpc_status mkdir_parents(const char *dir, shop_error *err)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            return shop_error_errno(err, errno, "mkdir %s", tmp);
        }
        *p = '/';
    }
    return RPC_OK;
}

static int port_is_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int read_int_file(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    int v = -1;
    if (fscanf(f, "%d", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

/* Whether `pid` is a live postgres process (not a reused pid). */
static int pid_is_postgres(int pid)
{
    if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
        return 0;
    char path[64], comm[64] = "";
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    if (fgets(comm, sizeof comm, f) == NULL)
        comm[0] = '\0';
    fclose(f);
    return strncmp(comm, "postgres", 8) == 0 || strncmp(comm, "postmaster", 10) == 0;
}

/* postmaster.pid: line 1 pid, line 4 port, line 5 socket directory. */
static void read_pid_file(const cluster_paths *p, shop_pg_status *st)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/postmaster.pid", p->data);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    char line[PATH_MAX];
    for (int n = 1; fgets(line, sizeof line, f) != NULL && n <= 5; n++) {
        line[strcspn(line, "\n")] = '\0';
        if (n == 1)
            st->pid = atoi(line);
        else if (n == 4)
            st->port = atoi(line);
        else if (n == 5)
            snprintf(st->socket_dir, sizeof st->socket_dir, "%s", line);
    }
    fclose(f);
}

static int server_answers(const char *socket_dir, int port)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    const char *keys[] = {"host", "port", "dbname", "user", "connect_timeout", NULL};
    const char *vals[] = {socket_dir, portstr, "postgres", "shopflow", "3", NULL};
    return PQpingParams(keys, vals, 0) == PQPING_OK;
}

rpc_status shop_pg_get_status(shop_pg_status *st, shop_error *err)
{
    (void)err;
    memset(st, 0, sizeof *st);
    const char *ext = getenv("SHOPFLOW_PG");
    if (ext != NULL && ext[0] != '\0') {
        st->external = 1;
        st->running = PQping(ext) == PQPING_OK;
        return RPC_OK;
    }
    cluster_paths p;
    cluster_paths_init(&p);
    snprintf(st->data_dir, sizeof st->data_dir, "%s", p.data);
    read_pid_file(&p, st);
    if (st->pid > 0 && pid_is_postgres(st->pid) && st->port > 0)
        st->running = server_answers(st->socket_dir, st->port);
    if (!st->running) {
        st->pid = 0;
        st->port = read_int_file(p.port);
        snprintf(st->socket_dir, sizeof st->socket_dir, "%s", p.run);
    }
    return RPC_OK;
}

static rpc_status append_config(const cluster_paths *p, shop_error *err)
{
    char conf[PATH_MAX + 32];
    snprintf(conf, sizeof conf, "%s/postgresql.conf", p->data);
    FILE *f = fopen(conf, "ae");
    if (f == NULL) {
        return shop_error_errno(err, errno, "open %s", conf);
    }
    fprintf(f,
            "\n# shopflow: private cluster, loopback only, durable.\n"
            "listen_addresses = '127.0.0.1'\n"
            "unix_socket_directories = '%s'\n"
            "fsync = on\n"
            "synchronous_commit = on\n"
            "max_connections = 300\n"
            "shared_buffers = 128MB\n"
            "logging_collector = off\n"
            "log_min_messages = warning\n",
            p->run);
    fclose(f);
    return RPC_OK;
}

static rpc_status cluster_initdb(const cluster_paths *p, shop_error *err)
{
    char initdb[PATH_MAX];
    if (pg_bin_path("initdb", initdb, sizeof initdb, err) != 0)
        return shop_error_code(err);
    if (mkdir_owned(p->data, err) != 0)
        return shop_error_code(err);
    char *argv[] = {initdb, "-D",   (char *)p->data, "-U",        "shopflow", "--auth=trust",
                    "-E",   "UTF8", "--no-locale",   "--no-sync", NULL};
    int code = 0;
    if (pg_user_run(argv, p->log, &code, err) != RPC_OK)
        return shop_error_wrap(err, "initdb failed; see %s", p->log);
    if (code != 0)
        return shop_error_set(err, RPC_INTERNAL, "initdb failed (exit code %d); see %s", code,
                              p->log);
    return append_config(p, err);
}

static rpc_status cluster_pg_ctl_start(const cluster_paths *p, int port, shop_error *err)
{
    char pg_ctl[PATH_MAX];
    if (pg_bin_path("pg_ctl", pg_ctl, sizeof pg_ctl, err) != 0)
        return shop_error_code(err);
    char opts[64];
    snprintf(opts, sizeof opts, "-p %d", port);
    char *argv[] = {pg_ctl, "-D", (char *)p->data, "-l", (char *)p->log, "-w", "-t", "60",
                    "-o",   opts, "start",         NULL};
    int code = 0;
    if (pg_user_run(argv, p->log, &code, err) != RPC_OK)
        return shop_error_wrap(err, "pg_ctl start failed; see %s", p->log);
    if (code != 0)
        return shop_error_set(err, RPC_UNAVAILABLE, "pg_ctl start failed (exit code %d); see %s",
                              code, p->log);
    return RPC_OK;
}

/* Removes a postmaster.pid whose process is gone or is not postgres. */
static void clear_stale_pid_file(const cluster_paths *p)
{
    shop_pg_status st = {0};
    read_pid_file(p, &st);
    if (st.pid > 0 && !pid_is_postgres(st.pid)) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/postmaster.pid", p->data);
        unlink(path);
    }
}

/* Whether the last few KiB of the server log mention `needle`. */
static int log_tail_contains(const char *log, const char *needle)
{
    FILE *f = fopen(log, "re");
    if (f == NULL)
        return 0;
    char buf[4096];
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, needle) != NULL;
}

static rpc_status cluster_start(shop_pg_status *st, shop_error *err)
{
    cluster_paths p;
    cluster_paths_init(&p);
    if (shop_pg_get_status(st, err) != 0)
        return shop_error_code(err);
    if (st->running)
        return RPC_OK;
    if (mkdir_parents(p.pg, err) != 0 || mkdir_owned(p.pg, err) != 0 ||
        mkdir_owned(p.run, err) != 0)
        return shop_error_code(err);
    if (!pg_user_can_write(p.pg)) {
        shop_error_set(err, RPC_PERMISSION_DENIED,
                       "the PostgreSQL user cannot write %s (a parent folder is closed to it); "
                       "set SHOPFLOW_VAR to a folder it can reach",
                       p.pg);
        return shop_error_code(err);
    }
    char version[PATH_MAX + 32];
    snprintf(version, sizeof version, "%s/PG_VERSION", p.data);
    if (access(version, F_OK) != 0 && cluster_initdb(&p, err) != 0)
        return shop_error_code(err);

    int port = read_int_file(p.port);
    if (port <= 0 || !port_is_free(port))
        port = free_port();
    if (port <= 0) {
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "no free TCP port on 127.0.0.1");
    }
    FILE *f = fopen(p.port, "we");
    if (f != NULL) {
        fprintf(f, "%d\n", port);
        fclose(f);
    }
    /* After a SIGKILL of the postmaster its children may hold the shared
     * memory block for a moment: retry that case for a while. */
    int64_t give_up = shop_now_ms() + 15000;
    for (;;) {
        clear_stale_pid_file(&p);
        if (cluster_pg_ctl_start(&p, port, err) == 0)
            break;
        if (shop_now_ms() > give_up || !log_tail_contains(p.log, "shared memory block"))
            return shop_error_code(err);
        shop_sleep_ms(250);
    }
    return shop_pg_get_status(st, err);
}

rpc_status shop_pg_start(shop_pg_status *st, shop_error *err)
{
    const char *ext = getenv("SHOPFLOW_PG");
    if (ext != NULL && ext[0] != '\0') {
        shop_pg_get_status(st, err);
        if (!st->running) {
            return shop_error_set(err, RPC_UNAVAILABLE, "SHOPFLOW_PG server does not answer");
        }
    } else if (cluster_start(st, err) != 0) {
        return shop_error_code(err);
    }
    for (int i = 0; i < 3; i++) {
        char dbname[64], sql_dir[PATH_MAX];
        snprintf(dbname, sizeof dbname, "%s_db", shop_pg_services[i]);
        shop_pg_sql_dir(shop_pg_services[i], sql_dir, sizeof sql_dir);
        if (shop_pg_ensure_database(NULL, dbname, sql_dir, err) != 0)
            return shop_error_code(err);
    }
    return RPC_OK;
}

rpc_status shop_pg_stop(shop_error *err)
{
    if (getenv("SHOPFLOW_PG") != NULL && getenv("SHOPFLOW_PG")[0] != '\0')
        return RPC_OK;
    cluster_paths p;
    cluster_paths_init(&p);
    shop_pg_status st;
    shop_pg_get_status(&st, err);
    if (st.pid == 0)
        return RPC_OK;
    char pg_ctl[PATH_MAX];
    if (pg_bin_path("pg_ctl", pg_ctl, sizeof pg_ctl, err) != 0)
        return shop_error_code(err);
    char *argv[] = {pg_ctl, "-D", p.data, "-m", "fast", "-w", "-t", "60", "stop", NULL};
    int code = 0;
    if (pg_user_run(argv, p.log, &code, err) != RPC_OK)
        return shop_error_wrap(err, "pg_ctl stop failed");
    if (code != 0)
        return shop_error_set(err, RPC_INTERNAL, "pg_ctl stop failed (exit code %d)", code);
    return RPC_OK;
}

rpc_status shop_pg_reset(shop_error *err)
{
    if (getenv("SHOPFLOW_PG") != NULL && getenv("SHOPFLOW_PG")[0] != '\0') {
        return shop_error_set(err, RPC_INTERNAL,
                              "reset works on the private cluster only (SHOPFLOW_PG is set)");
    }
    if (shop_pg_stop(err) != 0)
        return shop_error_code(err);
    cluster_paths p;
    cluster_paths_init(&p);
    if (shop_remove_tree(p.pg) != 0 || shop_remove_tree(p.run) != 0) {
        return shop_error_set(err, RPC_INTERNAL, "could not remove %s", p.pg);
    }
    return RPC_OK;
}
