/* pg_ha.h: starting and stopping pg_auto_failover's monitor and nodes, each
 * `pg_autoctl` run as the PostgreSQL user inside its host's namespace. */
#include "services/pg/pg_ha.h"

#include <errno.h>
#include <grp.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/paths.h"
#include "base/spawn.h"
#include "services/pg/pg_user.h"

/* Seconds, not the defaults' tens of seconds, before a lost primary is
 * replaced: health checks every second, a node unhealthy after 3 s. */
static const char monitor_tuning[] = "\n# shopflow: notice a lost primary within seconds\n"
                                     "pgautofailover.health_check_period = 1000\n"
                                     "pgautofailover.health_check_timeout = 1000\n"
                                     "pgautofailover.health_check_max_retries = 1\n"
                                     "pgautofailover.health_check_retry_delay = 500\n"
                                     "pgautofailover.node_considered_unhealthy_timeout = 3000\n"
                                     "pgautofailover.primary_demote_timeout = 3000\n"
                                     "shared_buffers = '32MB'\n";

/* pg_autoctl sizes shared_buffers to a quarter of the machine; seven nodes
 * share this one. The standby inherits it through the base backup. */
static const char node_tuning[] = "\n# shopflow: seven nodes share one machine\n"
                                  "shared_buffers = '64MB'\n"
                                  "effective_cache_size = '512MB'\n"
                                  "maintenance_work_mem = '64MB'\n";

typedef struct ha_child {
    const shop_host *host;
    uid_t uid;
    gid_t gid;
    bool death_signal; /* spawned from the main thread: SIGTERM when it ends */
} ha_child;

/* In the child: into the host's namespace, then the PostgreSQL user (which
 * clears the parent-death signal, so it is set again after). */
static int enter_as_pg(void *arg)
{
    const ha_child *c = arg;
    if (shop_hosts_enter_child((void *)c->host) != 0)
        return -1;
    if (geteuid() == 0) {
        gid_t g = c->gid;
        if (setgroups(1, &g) != 0 || setgid(c->gid) != 0 || setuid(c->uid) != 0)
            return -1;
    }
    if (c->death_signal)
        prctl(PR_SET_PDEATHSIG, SIGTERM);
    return 0;
}

/* Runs `pg_autoctl args...` for node `n` with its own HOME and XDG folders;
 * waits for it (and checks the exit code) unless `pid` is given. */
static rpc_status autoctl(shop_pg_ha_node *n, const char *const *args, pid_t *pid, shop_error *err)
{
    char bindir[512], home[600], cfg[620], share[620], run[620], path[700];
    if (pg_bin_path("pg_ctl", bindir, sizeof bindir, err) != RPC_OK)
        return shop_error_code(err);
    char *slash = strrchr(bindir, '/');
    if (slash != NULL)
        *slash = '\0';
    snprintf(home, sizeof home, "HOME=%s", n->dir);
    snprintf(cfg, sizeof cfg, "XDG_CONFIG_HOME=%s/cfg", n->dir);
    snprintf(share, sizeof share, "XDG_DATA_HOME=%s/share", n->dir);
    snprintf(run, sizeof run, "XDG_RUNTIME_DIR=%s/run", n->dir);
    snprintf(path, sizeof path, "PATH=%s:/usr/bin:/bin", bindir);
    char *argv[40] = {"/usr/bin/env", home, cfg, share, run, path, "pg_autoctl"};
    int argc = 7;
    for (int i = 0; args[i] != NULL && argc < 39; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    ha_child child = {.host = n->host, .death_signal = (pid_t)syscall(SYS_gettid) == getpid()};
    if (pg_user_ids(&child.uid, &child.gid, err) != RPC_OK)
        return shop_error_code(err);
    shop_spawn_opts so = {.log_path = n->log,
                          .stdin_null = true,
                          .cwd = "/",
                          .in_child = enter_as_pg,
                          .in_child_arg = &child};
    pid_t child_pid = 0;
    if (shop_spawn(argv, &so, &child_pid, err) != RPC_OK)
        return shop_error_code(err);
    if (pid != NULL) {
        *pid = child_pid;
        return RPC_OK;
    }
    int status;
    while (waitpid(child_pid, &status, 0) < 0)
        if (errno != EINTR)
            return shop_error_errno(err, errno, "waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return shop_error_set(err, RPC_INTERNAL, "pg_autoctl %s for %s failed (status %d); see %s",
                              args[0], n->name, status, n->log);
    return RPC_OK;
}

/* The node's folder, owned by the PostgreSQL user. */
static rpc_status node_init(shop_pg_ha *ha, shop_pg_ha_node *n, const char *name,
                            const shop_host *host, int port, shop_error *err)
{
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", name);
    n->host = host;
    n->port = port;
    snprintf(n->dir, sizeof n->dir, "%s/%s", ha->dir, name);
    snprintf(n->log, sizeof n->log, "%s/pg_autoctl.log", n->dir);
    if (mkdir(n->dir, 0700) != 0 && errno != EEXIST)
        return shop_error_errno(err, errno, "mkdir %s", n->dir);
    return pg_user_chown(n->dir, err);
}

static rpc_status append_file(const char *path, const char *text, shop_error *err)
{
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return shop_error_errno(err, errno, "open %s", path);
    int ok = fputs(text, f) >= 0;
    if (fclose(f) != 0 || !ok)
        return shop_error_errno(err, errno, "write %s", path);
    return RPC_OK;
}

/* The services, the tools and the stack's setup reach every database from
 * the private bridge's /24 (pg_autoctl's --pg-hba-lan opens only --dbname);
 * the standby inherits the rule with the base backup. */
static void lan_rule(const char *addr, char *out, size_t len)
{
    const char *dot = strrchr(addr, '.');
    int prefix = dot != NULL ? (int)(dot - addr) : (int)strlen(addr);
    snprintf(out, len, "\n# shopflow: the private bridge\nhost all all %.*s.0/24 trust\n", prefix,
             addr);
}

rpc_status shop_pg_ha_capable(shop_error *err)
{
    if (access("/usr/bin/pg_autoctl", X_OK) != 0)
        return shop_error_set(err, RPC_FAILED_PRECONDITION,
                              "database failover needs pg_auto_failover: apt-get install "
                              "pg-auto-failover-cli postgresql-15-auto-failover "
                              "(scripts/deps.sh installs them)");
    return RPC_OK;
}

rpc_status shop_pg_ha_start(shop_pg_ha *ha, const char *dir, const shop_host *host, int port_base,
                            shop_error *err)
{
    memset(ha, 0, sizeof *ha);
    snprintf(ha->dir, sizeof ha->dir, "%s", dir);
    if (shop_pg_ha_capable(err) != RPC_OK)
        return shop_error_code(err);
    shop_remove_tree(dir); /* a crashed run's nodes */
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return shop_error_errno(err, errno, "mkdir %s", dir);
    shop_pg_ha_node *m = &ha->monitor;
    if (node_init(ha, m, "pg-monitor", host, port_base, err) != RPC_OK)
        return shop_error_code(err);
    char pgdata[600], port[16], pgctl[512];
    snprintf(pgdata, sizeof pgdata, "%s/data", m->dir);
    snprintf(port, sizeof port, "%d", m->port);
    if (pg_bin_path("pg_ctl", pgctl, sizeof pgctl, err) != RPC_OK)
        return shop_error_code(err);
    const char *create[] = {"create", "monitor", "--pgdata", pgdata,       "--pgport",
                            port,     "--pgctl", pgctl,      "--hostname", host->addr,
                            "--auth", "trust",   "--no-ssl", NULL};
    char conf[640];
    snprintf(conf, sizeof conf, "%s/postgresql.auto.conf", pgdata);
    const char *run[] = {"run", "--pgdata", pgdata, NULL};
    if (autoctl(m, create, NULL, err) != RPC_OK ||
        append_file(conf, monitor_tuning, err) != RPC_OK ||
        autoctl(m, run, &m->keeper, err) != RPC_OK)
        return shop_error_code(err);
    snprintf(ha->monitor_url, sizeof ha->monitor_url,
             "postgresql://autoctl_node@%s:%d/pg_auto_failover?connect_timeout=2", host->addr,
             m->port);
    /* the monitor answers once its keeper has started PostgreSQL */
    for (int64_t until = shop_now_ms() + 30000; shop_now_ms() < until; shop_sleep_ms(100)) {
        PGconn *c = PQconnectdb(ha->monitor_url);
        int up = PQstatus(c) == CONNECTION_OK;
        PQfinish(c);
        if (up)
            return RPC_OK;
        if (waitpid(m->keeper, NULL, WNOHANG) == m->keeper) {
            m->keeper = 0;
            return shop_error_set(err, RPC_INTERNAL, "the pg_auto_failover monitor exited; see %s",
                                  m->log);
        }
    }
    return shop_error_set(err, RPC_UNAVAILABLE, "the monitor did not answer in 30 s; see %s",
                          m->log);
}

rpc_status shop_pg_ha_add(shop_pg_ha *ha, const char *name, const char *dbname, const shop_host *a,
                          const shop_host *b, shop_error *err)
{
    if (ha->n >= SHOP_PG_HA_MAX)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "at most %d formations", SHOP_PG_HA_MAX);
    shop_pg_ha_formation *f = &ha->formations[ha->n];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->dbname, sizeof f->dbname, "%s", dbname);
    ha->n++;
    char mdata[600];
    snprintf(mdata, sizeof mdata, "%s/data", ha->monitor.dir);
    const char *formation[] = {"create", "formation", "--pgdata", mdata,  "--formation", name,
                               "--kind", "pgsql",     "--dbname", dbname, NULL};
    if (autoctl(&ha->monitor, formation, NULL, err) != RPC_OK)
        return shop_error_code(err);
    const shop_host *hosts[2] = {a, b};
    char monitor[300], pgctl[512];
    snprintf(monitor, sizeof monitor,
             "postgresql://autoctl_node@%s:%d/pg_auto_failover?sslmode=disable",
             ha->monitor.host->addr, ha->monitor.port);
    if (pg_bin_path("pg_ctl", pgctl, sizeof pgctl, err) != RPC_OK)
        return shop_error_code(err);
    int port0 = ha->monitor.port + 1 + 2 * (ha->n - 1);
    snprintf(f->url, sizeof f->url,
             "postgresql://postgres@%s:%d,%s:%d/"
             "?target_session_attrs=read-write&connect_timeout=2",
             a->addr, port0, b->addr, port0 + 1);
    for (int i = 0; i < 2; i++) {
        shop_pg_ha_node *n = &f->nodes[i];
        if (node_init(ha, n, hosts[i]->name, hosts[i], port0 + i, err) != RPC_OK)
            return shop_error_code(err);
        char pgdata[600], pgport[16];
        snprintf(pgdata, sizeof pgdata, "%s/data", n->dir);
        snprintf(pgport, sizeof pgport, "%d", n->port);
        const char *create[] = {"create",
                                "postgres",
                                "--pgdata",
                                pgdata,
                                "--pgport",
                                pgport,
                                "--pgctl",
                                pgctl,
                                "--hostname",
                                n->host->addr,
                                "--name",
                                n->name,
                                "--auth",
                                "trust",
                                "--no-ssl",
                                "--pg-hba-lan",
                                "--monitor",
                                monitor,
                                "--formation",
                                name,
                                "--dbname",
                                dbname,
                                i == 1 ? "--run" : NULL,
                                NULL};
        if (i == 1) /* the standby: cloned from the primary, then kept running */
            return autoctl(n, create, &n->keeper, err);
        char conf[640], hba[640], lan[80];
        snprintf(conf, sizeof conf, "%s/postgresql.auto.conf", pgdata);
        snprintf(hba, sizeof hba, "%s/pg_hba.conf", pgdata);
        lan_rule(n->host->addr, lan, sizeof lan);
        const char *run[] = {"run", "--pgdata", pgdata, NULL};
        if (autoctl(n, create, NULL, err) != RPC_OK ||
            append_file(conf, node_tuning, err) != RPC_OK || append_file(hba, lan, err) != RPC_OK ||
            autoctl(n, run, &n->keeper, err) != RPC_OK)
            return shop_error_code(err);
    }
    return RPC_OK;
}

shop_pg_ha_formation *shop_pg_ha_find(shop_pg_ha *ha, const char *name)
{
    for (int i = 0; i < ha->n; i++)
        if (strcmp(ha->formations[i].name, name) == 0)
            return &ha->formations[i];
    return NULL;
}

static void stop_keepers(shop_pg_ha *ha, int sig)
{
    for (int i = 0; i < ha->n; i++)
        for (int j = 0; j < 2; j++)
            if (ha->formations[i].nodes[j].keeper > 0)
                kill(ha->formations[i].nodes[j].keeper, sig);
    if (ha->monitor.keeper > 0)
        kill(ha->monitor.keeper, sig);
}

/* Reaps keeper `n` if it exited; 1 while it runs. */
static int keeper_runs(shop_pg_ha_node *n)
{
    if (n->keeper <= 0)
        return 0;
    if (waitpid(n->keeper, NULL, WNOHANG) == n->keeper) {
        n->keeper = 0;
        return 0;
    }
    return 1;
}

static int keepers_running(shop_pg_ha *ha)
{
    int n = keeper_runs(&ha->monitor);
    for (int i = 0; i < ha->n; i++)
        for (int j = 0; j < 2; j++)
            n += keeper_runs(&ha->formations[i].nodes[j]);
    return n;
}

void shop_pg_ha_stop(shop_pg_ha *ha)
{
    if (ha->dir[0] == '\0')
        return;
    stop_keepers(ha, SIGTERM); /* each stops its PostgreSQL (fast shutdown) */
    int64_t until = shop_now_ms() + 15000;
    while (keepers_running(ha) > 0 && shop_now_ms() < until)
        shop_sleep_ms(50);
    stop_keepers(ha, SIGKILL);
    while (keepers_running(ha) > 0)
        shop_sleep_ms(10);
    int killed = 0;
    if (ha->monitor.host != NULL)
        shop_hosts_kill_all(ha->monitor.host->netns, &killed, NULL);
    for (int i = 0; i < ha->n; i++)
        for (int j = 0; j < 2; j++)
            if (ha->formations[i].nodes[j].host != NULL)
                shop_hosts_kill_all(ha->formations[i].nodes[j].host->netns, &killed, NULL);
    shop_remove_tree(ha->dir);
    ha->dir[0] = '\0';
}
