/* The stack's lifecycle: databases and fixtures, then the daemons. */
#include "services/stack/shop_stack.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "rpc/rpc.h"
#include "base/spawn.h"
#include "services/coupon/coupon_logic.h"
#include "services/pg/shop_pg.h"
#include "services/stack/stack_async.h"
#include "services/stack/stack_db_ha.h"
#include "services/stack/stack_hosts.h"
#include "services/stack/stack_metrics.h"
#include "services/stack/stack_nats.h"
#include "services/stack/stack_net.h"
#include "services/stock/stock_logic.h"

static const char *const proc_names[SHOP_STACK_NPROCS] = {"order", "stock", "coupon"};

shop_stack_opts shop_stack_defaults(void)
{
    shop_stack_opts o = {
        .arch = "sync",
        .goods = 100,
        .stock = 1000,
        .price_cents = 1999,
        .users = 1000,
        .discount_cents = 300,
        .db_prefix = "",
        .ready_timeout_ms = 15000,
    };
    return o;
}

shop_stack_proc *shop_stack_find(shop_stack *st, const char *name)
{
    for (int i = 0; i < SHOP_STACK_NPROCS; i++)
        if (strcmp(st->procs[i].name, name) == 0)
            return &st->procs[i];
    for (int i = 0; i < SHOP_STACK_NMQ && stack_async_on(st); i++)
        if (strcmp(st->mq[i].name, name) == 0)
            return &st->mq[i];
    return NULL;
}

static void find_bin_dir(shop_stack *st)
{
    if (st->opts.bin_dir != NULL) {
        snprintf(st->bin_dir, sizeof st->bin_dir, "%s", st->opts.bin_dir);
        return;
    }
    const char *env = getenv("SHOP_BIN_DIR");
    if (env != NULL && env[0] != '\0') {
        snprintf(st->bin_dir, sizeof st->bin_dir, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    snprintf(st->bin_dir, sizeof st->bin_dir, "%s", n > 0 ? dirname(exe) : "build/bin");
}

/* Recreates one database and loads its fixtures. */
static rpc_status fresh_db(shop_stack *st, shop_stack_proc *p, const char *service, shop_error *err)
{
    char sql_dir[512], conninfo[SHOP_PG_CONNLEN];
    const char *url = shop_stack_pg_url(st, p);
    shop_pg_sql_dir(service, sql_dir, sizeof sql_dir);
    /* a formation is new with every stack: nothing to drop */
    if (!st->opts.keep_data && st->pg_ha == NULL && shop_pg_drop_database(url, p->db, err) != 0)
        return shop_error_code(err);
    if (shop_pg_ensure_database(url, p->db, sql_dir, err) != 0 ||
        shop_pg_conninfo(url, p->db, conninfo, sizeof conninfo, err) != 0)
        return shop_error_code(err);
    if (st->opts.keep_data || strcmp(service, "order") == 0)
        return RPC_OK;
    PGconn *c = PQconnectdb(conninfo);
    rpc_status st_db = RPC_OK;
    if (PQstatus(c) != CONNECTION_OK) {
        st_db = shop_error_set(err, RPC_UNAVAILABLE, "connect %s: %s", p->db, PQerrorMessage(c));
    } else if (strcmp(service, "stock") == 0) {
        st_db = stock_logic_prepare(c, err);
        if (st_db == RPC_OK)
            st_db = stock_seed(c, 1, st->opts.goods, st->opts.stock, st->opts.price_cents, err);
    } else {
        st_db = coupon_logic_prepare(c, err);
        if (st_db == RPC_OK)
            st_db = coupon_seed(c, 1, st->opts.users, st->opts.discount_cents, err);
    }
    PQfinish(c);
    return st_db;
}

static void add_arg(char **argv, int *argc, char *buf, size_t buflen, const char *flag,
                    long long value)
{
    if (value <= 0)
        return;
    snprintf(buf, buflen, "%s=%lld", flag, value);
    argv[(*argc)++] = buf;
}

/* Starts one daemon, its output in its log file (if any). */
static rpc_status spawn(shop_stack *st, shop_stack_proc *p, shop_error *err)
{
    char metrics[96], path[PATH_MAX], listen[96], db[160], pg[1100], stock[96], coupon[96], w[32],
        pw[48], ci[48], mt[48], async[4][600];
    snprintf(path, sizeof path, "%s/shop-%s", st->bin_dir, p->name);
    snprintf(listen, sizeof listen, "--listen=%s", p->url);
    snprintf(db, sizeof db, "--db=%s", p->db);
    snprintf(pg, sizeof pg, "--pg=%s", shop_stack_pg_url(st, p));
    char *argv[24] = {path, listen, db, pg};
    int argc = 4;
    if (stack_async_is_mq(st, p)) {
        argc = stack_async_mq_argv(st, p, argv, async);
        snprintf(path, sizeof path, "%s", argv[0]);
    }
    add_arg(argv, &argc, w, sizeof w, "--workers", st->opts.workers);
    snprintf(metrics, sizeof metrics, "--metrics-url=%s", p->metrics_url);
    argv[argc++] = metrics;
    if (strcmp(p->name, "order") == 0 && !stack_async_is_mq(st, p)) {
        snprintf(stock, sizeof stock, "--stock=%s", st->procs[SHOP_STACK_STOCK].url);
        snprintf(coupon, sizeof coupon, "--coupon=%s", st->procs[SHOP_STACK_COUPON].url);
        argv[argc++] = stock;
        argv[argc++] = coupon;
        argv[argc++] = "--arch=sync";
        add_arg(argv, &argc, pw, sizeof pw, "--pay-window-ms", st->opts.pay_window_ms);
        add_arg(argv, &argc, ci, sizeof ci, "--close-interval-ms", st->opts.close_interval_ms);
        add_arg(argv, &argc, mt, sizeof mt, "--member-timeout-ms", st->opts.member_timeout_ms);
    }
    if (stack_async_on(st) && !stack_async_is_mq(st, p))
        argc = stack_async_service_args(st, argv, argc, async); /* last: --arch=async wins */
    argv[argc] = NULL;
    if (access(path, X_OK) != 0) {
        return shop_error_set(err, RPC_NOT_FOUND, "%s: %s (build it with scripts/build.sh)", path,
                              strerror(errno));
    }
    /* SIGTERM when the stack's owner ends: a daemon never outlives it. */
    shop_spawn_opts so = {.log_path = p->log_path[0] != '\0' ? p->log_path : NULL,
                          .death_signal = SIGTERM};
    shop_host *host = stack_hosts_of(st, p);
    if (host != NULL) { /* multi-host mode: into its own network namespace */
        so.in_child = shop_hosts_enter_child;
        so.in_child_arg = host;
    }
    pid_t pid = 0;
    shop_error spawn_err = {0};
    if (shop_spawn(argv, &so, &pid, &spawn_err) != RPC_OK) {
        return shop_error_set(err, RPC_INTERNAL, "%s", spawn_err.message);
    }
    p->pid = pid;
    p->paused = 0;
    return RPC_OK;
}

/* Reaps `p` if it exited; returns 1 while it runs. */
static int alive(shop_stack_proc *p)
{
    if (p->pid <= 0)
        return 0;
    int status;
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
        p->last_status = status;
        p->pid = 0;
        return 0;
    }
    return 1;
}

static rpc_status wait_ready(shop_stack *st, shop_stack_proc *p, shop_error *err)
{
    int64_t until = shop_now_ms() + st->opts.ready_timeout_ms;
    while (shop_now_ms() < until) {
        if (!alive(p)) {
            return shop_error_set(err, RPC_UNAVAILABLE,
                                  "shop-%s exited during start (status %d)%s%s", p->name,
                                  WIFEXITED(p->last_status) ? WEXITSTATUS(p->last_status) : -1,
                                  p->log_path[0] ? "; see " : "", p->log_path);
        }
        if (rpc_probe_tcp(stack_hosts_addr(st, p), p->port, 500))
            return RPC_OK;
        shop_sleep_ms(10);
    }
    return shop_error_set(err, RPC_UNAVAILABLE, "shop-%s not listening on %s after %d ms", p->name,
                          p->url, st->opts.ready_timeout_ms);
}

static rpc_status setup_procs(shop_stack *st, shop_error *err)
{
    for (int i = 0; i < SHOP_STACK_NPROCS; i++) {
        shop_stack_proc *p = &st->procs[i];
        snprintf(p->name, sizeof p->name, "%s", proc_names[i]);
        snprintf(p->db, sizeof p->db, "%s%s_db", st->opts.db_prefix, proc_names[i]);
        p->port = st->opts.port_base > 0 ? st->opts.port_base + i : shop_stack_free_port();
        if (p->port <= 0) {
            return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "no free TCP port on 127.0.0.1");
        }
        snprintf(p->url, sizeof p->url, "tcp://127.0.0.1:%d", p->port);
        if (stack_metrics_url(st, p, i) != RPC_OK)
            return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "no free TCP port on 127.0.0.1");
        if (st->opts.log_dir != NULL)
            snprintf(p->log_path, sizeof p->log_path, "%s/shop-%s.log", st->opts.log_dir,
                     proc_names[i]);
    }
    return RPC_OK;
}

rpc_status shop_stack_start(shop_stack *st, const shop_stack_opts *opts, shop_error *err)
{
    memset(st, 0, sizeof *st);
    st->opts = *opts;
    if (st->opts.db_prefix == NULL)
        st->opts.db_prefix = "";
    if (st->opts.ready_timeout_ms <= 0)
        st->opts.ready_timeout_ms = 15000;
    if (st->opts.arch != NULL && strcmp(st->opts.arch, "sync") != 0 && !stack_async_on(st)) {
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "unknown architecture '%s' (sync or async)", st->opts.arch);
    }
    find_bin_dir(st);
    shop_pg_status pgst;
    if (shop_pg_start(&pgst, err) != 0 || shop_pg_base_url(st->pg_url, sizeof st->pg_url, err) != 0)
        return shop_error_code(err);
    if (setup_procs(st, err) != 0)
        return shop_error_code(err);
    if (stack_async_on(st) && stack_async_setup(st, err) != RPC_OK)
        return shop_error_code(err);
    if (stack_hosts_on(st) && stack_hosts_setup(st, err) != RPC_OK)
        return shop_error_code(err);
    if (stack_db_ha_on(st) && stack_db_ha_start(st, err) != RPC_OK) {
        shop_stack_stop(st);
        return shop_error_code(err);
    }
    static const char *const services[SHOP_STACK_NPROCS] = {"order", "stock", "coupon"};
    for (int i = 0; i < SHOP_STACK_NPROCS; i++)
        if (fresh_db(st, &st->procs[i], services[i], err) != 0) {
            shop_stack_stop(st);
            return shop_error_code(err);
        }
    /* async: the broker and the delay queue before any service */
    for (int i = 0; i < SHOP_STACK_NMQ && stack_async_on(st); i++) {
        shop_stack_proc *p = &st->mq[i];
        if (i == SHOP_STACK_BROKER && stack_nats_on(st)) {
            if (stack_nats_start(st, err) != RPC_OK) {
                shop_stack_stop(st);
                return shop_error_code(err);
            }
            continue;
        }
        if (spawn(st, p, err) != 0 || wait_ready(st, p, err) != 0) {
            shop_stack_stop(st);
            return shop_error_code(err);
        }
    }
    /* Members first, so the order service's channels connect at once. */
    const int order[] = {SHOP_STACK_STOCK, SHOP_STACK_COUPON, SHOP_STACK_ORDER};
    for (int i = 0; i < SHOP_STACK_NPROCS; i++) {
        shop_stack_proc *p = &st->procs[order[i]];
        if (spawn(st, p, err) != 0 || wait_ready(st, p, err) != 0) {
            shop_stack_stop(st);
            return shop_error_code(err);
        }
    }
    return RPC_OK;
}

static int send_signal(shop_stack *st, const char *name, int sig)
{
    shop_stack_proc *p = shop_stack_find(st, name);
    if (p == &st->mq[SHOP_STACK_BROKER] && stack_nats_on(st))
        return stack_nats_signal(st, sig);
    if (p == NULL || !alive(p))
        return -1;
    if (kill(p->pid, sig) != 0)
        return -1;
    if (sig == SIGSTOP || sig == SIGCONT)
        p->paused = sig == SIGSTOP;
    return 0;
}

int shop_stack_pause(shop_stack *st, const char *name)
{
    return send_signal(st, name, SIGSTOP);
}

int shop_stack_resume(shop_stack *st, const char *name)
{
    return send_signal(st, name, SIGCONT);
}

int shop_stack_kill(shop_stack *st, const char *name)
{
    shop_stack_proc *p = shop_stack_find(st, name);
    if (p == &st->mq[SHOP_STACK_BROKER] && stack_nats_on(st))
        return stack_nats_signal(st, SIGKILL); /* the leading node, reaped */
    if (send_signal(st, name, SIGKILL) != 0)
        return -1;
    int status;
    if (waitpid(p->pid, &status, 0) == p->pid)
        p->last_status = status;
    p->pid = 0;
    p->paused = 0;
    return 0;
}

rpc_status shop_stack_restart(shop_stack *st, const char *name, shop_error *err)
{
    shop_stack_proc *p = shop_stack_find(st, name);
    if (p == NULL) {
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "no service named '%s'", name);
    }
    if (p == &st->mq[SHOP_STACK_BROKER] && stack_nats_on(st))
        return stack_nats_restart(st, err);
    if (alive(p)) {
        return shop_error_set(err, RPC_FAILED_PRECONDITION, "shop-%s is still running (pid %d)",
                              name, (int)p->pid);
    }
    if (spawn(st, p, err) != 0)
        return shop_error_code(err);
    return wait_ready(st, p, err);
}

void shop_stack_data_dir(const shop_stack *st, const char *what, char *out, size_t len)
{
    char var[PATH_MAX];
    snprintf(var, sizeof var, "%s", shop_pg_var_dir());
    char *slash = strrchr(var, '/');
    if (slash != NULL && strcmp(slash, "/pg") == 0)
        *slash = '\0';
    snprintf(out, len, "%s/stack/%s%s", var, st->opts.db_prefix, what);
}

const char *shop_stack_pg_url(const shop_stack *st, const shop_stack_proc *p)
{
    return p->pg_url[0] != '\0' ? p->pg_url : st->pg_url;
}

int shop_stack_poll(shop_stack *st)
{
    int n = 0;
    for (int i = 0; i < SHOP_STACK_NPROCS; i++)
        n += alive(&st->procs[i]);
    for (int i = 0; i < SHOP_STACK_NMQ; i++)
        n += alive(&st->mq[i]);
    return n + (stack_nats_running(st) > 0); /* the cluster, in the broker's place */
}

static int stop_procs(shop_stack_proc *procs, int n)
{
    for (int i = 0; i < n; i++) {
        shop_stack_proc *p = &procs[i];
        if (!alive(p))
            continue;
        if (p->paused)
            kill(p->pid, SIGCONT);
        kill(p->pid, SIGTERM);
    }
    int rc = 0;
    int64_t until = shop_now_ms() + 10000;
    for (int i = 0; i < n; i++) {
        shop_stack_proc *p = &procs[i];
        while (alive(p) && shop_now_ms() < until)
            shop_sleep_ms(10);
        if (alive(p)) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &p->last_status, 0);
            p->pid = 0;
            rc = -1;
        } else if (p->last_status != 0) {
            rc = -1;
        }
        p->last_status = 0;
    }
    return rc;
}

int shop_stack_stop(shop_stack *st)
{
    int rc = stop_procs(st->procs, SHOP_STACK_NPROCS);
    /* async: the broker and the delay queue last, once the services drained */
    if (stop_procs(st->mq, SHOP_STACK_NMQ) != 0)
        rc = -1;
    stack_nats_stop(st);
    stack_db_ha_stop(st);
    stack_hosts_destroy(st); /* once nothing runs inside them */
    return rc;
}
