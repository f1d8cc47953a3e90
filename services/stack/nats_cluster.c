/* The loopback nats-server cluster of nats_cluster.h: configs, child
 * processes started with shop_spawn, readiness by the monitor port's
 * /healthz, and the leader of a stream by the JetStream API. */
#include "services/stack/nats_cluster.h"

#include <arpa/inet.h>
#include <errno.h>
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
#include "base/spawn.h"
#include "mq/nats/nats_admin.h"
#include "services/stack/stack_net.h"

static int find_bin(char *out, size_t len)
{
    const char *env = getenv("NATS_SERVER");
    if (env != NULL && *env != '\0') { /* when given, that one or none */
        snprintf(out, len, "%s", env);
        return access(env, X_OK) == 0 ? 0 : -1;
    }
    static const char *const dirs[] = {"/usr/sbin", "/usr/bin", "/usr/local/bin",
                                       "/usr/local/sbin"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(out, len, "%s/nats-server", dirs[i]);
        if (access(out, X_OK) == 0)
            return 0;
    }
    const char *path = getenv("PATH");
    for (const char *p = path; p != NULL && *p;) {
        size_t n = strcspn(p, ":");
        snprintf(out, len, "%.*s/nats-server", (int)n, p);
        if (n > 0 && access(out, X_OK) == 0)
            return 0;
        p += n + (p[n] == ':');
    }
    return -1;
}

static rpc_status write_conf(const nats_cluster *c, int i, shop_error *err)
{
    const nats_node *nd = &c->nodes[i];
    FILE *f = fopen(nd->conf, "w");
    if (f == NULL)
        return shop_error_errno(err, errno, "writing %s", nd->conf);
    fprintf(f,
            "# written by services/stack/nats_cluster.c\n"
            "server_name: %s\nlisten: %s:%d\nhttp: %s:%d\n"
            "jetstream { store_dir: \"%s\" }\n",
            nd->name, nd->addr, nd->client_port, nd->addr, nd->monitor_port, nd->store);
    if (c->n > 1) {
        fprintf(f, "cluster {\n  name: shopflow\n  listen: %s:%d\n  routes: [\n", nd->addr,
                nd->cluster_port);
        for (int j = 0; j < c->n; j++)
            if (j != i)
                fprintf(f, "    nats-route://%s:%d\n", c->nodes[j].addr, c->nodes[j].cluster_port);
        fprintf(f, "  ]\n}\n");
    }
    if (fclose(f) != 0)
        return shop_error_errno(err, errno, "writing %s", nd->conf);
    return RPC_OK;
}

/* nats://<addr>:<client port>,... and every node's config. */
static rpc_status write_all(nats_cluster *c, shop_error *err)
{
    size_t off = (size_t)snprintf(c->url, sizeof c->url, "nats://");
    for (int i = 0; i < c->n; i++)
        off += (size_t)snprintf(c->url + off, sizeof c->url - off, "%s%s:%d", i > 0 ? "," : "",
                                c->nodes[i].addr, c->nodes[i].client_port);
    for (int i = 0; i < c->n; i++) {
        rpc_status st = write_conf(c, i, err);
        if (st != RPC_OK)
            return st;
    }
    return RPC_OK;
}

rpc_status nats_cluster_place(nats_cluster *c, int i, const char *addr, int (*enter)(void *),
                              void *arg, shop_error *err)
{
    if (i < 0 || i >= c->n)
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "no node %d", i);
    snprintf(c->nodes[i].addr, sizeof c->nodes[i].addr, "%s", addr);
    c->nodes[i].enter = enter;
    c->nodes[i].enter_arg = arg;
    return write_all(c, err);
}

rpc_status nats_cluster_init(nats_cluster *c, const char *dir, int n, shop_error *err)
{
    memset(c, 0, sizeof *c);
    c->n = n > 0 ? n : 3;
    if (c->n > NATS_CLUSTER_MAX)
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "at most %d nodes", NATS_CLUSTER_MAX);
    if (find_bin(c->bin, sizeof c->bin) != 0)
        return shop_error_set(err, RPC_FAILED_PRECONDITION,
                              "nats-server not found ($NATS_SERVER, /usr/sbin, PATH): install "
                              "it with scripts/deps.sh (Debian package nats-server)");
    char d[sizeof c->dir];
    snprintf(d, sizeof d, "%s", dir); /* `dir` may be c->dir itself */
    snprintf(c->dir, sizeof c->dir, "%s", d);
    if (mkdir(d, 0755) != 0 && errno != EEXIST)
        return shop_error_errno(err, errno, "mkdir %s", d);
    for (int i = 0; i < c->n; i++) {
        nats_node *nd = &c->nodes[i];
        snprintf(nd->name, sizeof nd->name, "n%d", i);
        snprintf(nd->addr, sizeof nd->addr, "127.0.0.1");
        nd->client_port = shop_stack_free_port();
        nd->cluster_port = shop_stack_free_port();
        nd->monitor_port = shop_stack_free_port();
        if (nd->client_port < 0 || nd->cluster_port < 0 || nd->monitor_port < 0)
            return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "no free port on 127.0.0.1");
        snprintf(nd->store, sizeof nd->store, "%s/n%d", d, i);
        snprintf(nd->conf, sizeof nd->conf, "%s/n%d.conf", d, i);
        snprintf(nd->log, sizeof nd->log, "%s/n%d.log", d, i);
    }
    return write_all(c, err);
}

/* GET /healthz on the monitor port into buf (the body, or "" when the node
 * does not answer): healthy is 200 and "ok", once JetStream is current. */
static int healthz(const nats_cluster *c, int i, char *out, size_t outlen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->nodes[i].monitor_port)};
    inet_pton(AF_INET, c->nodes[i].addr, &a.sin_addr);
    struct timeval tv = {.tv_sec = 1};
    char buf[512];
    size_t got = 0;
    out[0] = '\0';
    if (fd < 0)
        return 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static const char req[] = "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
        ssize_t r;
        while (got < sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
            got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    const char *body = strstr(buf, "\r\n\r\n");
    snprintf(out, outlen, "%s", body != NULL ? body + 4 : "");
    return strncmp(buf, "HTTP/1.", 7) == 0 && strstr(buf, " 200 ") != NULL &&
           strstr(buf, "\"ok\"") != NULL;
}

int nats_cluster_node_healthy(const nats_cluster *c, int i)
{
    char body[256];
    return healthz(c, i, body, sizeof body);
}

static rpc_status spawn_node(nats_cluster *c, int i, shop_error *err)
{
    nats_node *nd = &c->nodes[i];
    if (nd->pid > 0)
        return RPC_OK;
    char *argv[] = {"nats-server", "-c", nd->conf, NULL};
    shop_spawn_opts so = {.exec_path = c->bin,
                          .log_path = nd->log,
                          .stdin_null = true,
                          .death_signal = c->death_signal,
                          .in_child = nd->enter,
                          .in_child_arg = nd->enter_arg};
    rpc_status st = shop_spawn(argv, &so, &nd->pid, err);
    if (st != RPC_OK) {
        nd->pid = 0;
        return shop_error_wrap(err, "starting nats-server %s", nd->name);
    }
    return RPC_OK;
}

static rpc_status wait_healthy(nats_cluster *c, int i, int64_t until, shop_error *err)
{
    nats_node *nd = &c->nodes[i];
    char body[256] = "";
    while (!healthz(c, i, body, sizeof body)) {
        int status;
        if (waitpid(nd->pid, &status, WNOHANG) == nd->pid) {
            nd->pid = 0;
            return shop_error_set(err, RPC_INTERNAL, "nats-server %s exited, see %s", nd->name,
                                  nd->log);
        }
        if (shop_now_ms() > until)
            return shop_error_set(err, RPC_DEADLINE_EXCEEDED,
                                  "nats-server %s not healthy in time (/healthz: %.120s), see %s",
                                  nd->name, body, nd->log);
        shop_sleep_ms(50);
    }
    return RPC_OK;
}

rpc_status nats_cluster_start(nats_cluster *c, shop_error *err)
{
    rpc_status st = RPC_OK;
    for (int i = 0; i < c->n && st == RPC_OK; i++)
        st = spawn_node(c, i, err);
    int64_t until = shop_now_ms() + (c->ready_timeout_ms > 0 ? c->ready_timeout_ms : 60000);
    for (int i = 0; i < c->n && st == RPC_OK; i++)
        st = wait_healthy(c, i, until, err);
    return st;
}

rpc_status nats_cluster_node_start(nats_cluster *c, int i, shop_error *err)
{
    if (i < 0 || i >= c->n)
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "no node %d", i);
    rpc_status st = spawn_node(c, i, err);
    int64_t until = shop_now_ms() + (c->ready_timeout_ms > 0 ? c->ready_timeout_ms : 60000);
    return st == RPC_OK ? wait_healthy(c, i, until, err) : st;
}

rpc_status nats_cluster_node_stop(nats_cluster *c, int i, int sig, shop_error *err)
{
    if (i < 0 || i >= c->n)
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "no node %d", i);
    nats_node *nd = &c->nodes[i];
    if (nd->pid <= 0)
        return RPC_OK;
    if (kill(nd->pid, sig) != 0 && errno != ESRCH)
        return shop_error_errno(err, errno, "kill %s", nd->name);
    kill(nd->pid, SIGCONT); /* a paused (SIGSTOP) node acts on the signal only once resumed */
    while (waitpid(nd->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    nd->pid = 0;
    return RPC_OK;
}

rpc_status nats_cluster_node_restart(nats_cluster *c, int i, shop_error *err)
{
    rpc_status st = nats_cluster_node_stop(c, i, SIGTERM, err);
    return st == RPC_OK ? nats_cluster_node_start(c, i, err) : st;
}

void nats_cluster_stop(nats_cluster *c)
{
    for (int i = 0; i < c->n; i++)
        if (c->nodes[i].pid > 0) {
            kill(c->nodes[i].pid, SIGTERM);
            kill(c->nodes[i].pid, SIGCONT); /* also a paused one */
        }
    for (int i = 0; i < c->n; i++)
        nats_cluster_node_stop(c, i, SIGTERM, NULL);
}

rpc_status nats_cluster_leader(const nats_cluster *c, const char *topic, int *node, shop_error *err)
{
    char leader[64];
    rpc_status st = mq_nats_stream_leader(c->url, topic, leader, sizeof leader, err);
    if (st != RPC_OK)
        return st;
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->nodes[i].name, leader) == 0) {
            *node = i;
            return RPC_OK;
        }
    return shop_error_set(err, RPC_NOT_FOUND, "leader %s is not a node of this cluster", leader);
}

void nats_cluster_destroy(nats_cluster *c)
{
    nats_cluster_stop(c);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
    if (c->dir[0] != '\0' && system(cmd) != 0)
        fprintf(stderr, "nats_cluster: cannot remove %s\n", c->dir);
}
