/* The stack's messaging processes for --arch async. */
#include "services/stack/stack_async.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/pg/shop_pg.h"
#include "services/stack/stack_metrics.h"
#include "services/stack/stack_net.h"

int stack_async_on(const shop_stack *st)
{
    return st->opts.arch != NULL && strcmp(st->opts.arch, "async") == 0;
}

int stack_async_is_mq(const shop_stack *st, const shop_stack_proc *p)
{
    return p == &st->mq[SHOP_STACK_BROKER] || p == &st->mq[SHOP_STACK_DELAYD];
}

static int port_for(const shop_stack *st, int offset)
{
    return st->opts.port_base > 0 ? st->opts.port_base + offset : shop_stack_free_port();
}

/* Removes a data directory this stack owns (fresh start). */
static rpc_status empty_dir(const char *dir, shop_error *err)
{
    char cmd[PATH_MAX + 32];
    if (access(dir, F_OK) != 0)
        return RPC_OK;
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    if (system(cmd) != 0) {
        return shop_error_set(err, RPC_INTERNAL, "cannot empty %s", dir);
    }
    return RPC_OK;
}

rpc_status stack_async_setup(shop_stack *st, shop_error *err)
{
    static const char *const names[SHOP_STACK_NMQ] = {"broker", "delayd"};
    for (int i = 0; i < SHOP_STACK_NMQ; i++) {
        shop_stack_proc *p = &st->mq[i];
        snprintf(p->name, sizeof p->name, "%s", names[i]);
        p->port = port_for(st, SHOP_STACK_NPROCS + i); /* after order, stock, coupon */
        if (p->port <= 0) {
            return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "no free TCP port on 127.0.0.1");
        }
        snprintf(p->url, sizeof p->url, "tcp://127.0.0.1:%d", p->port);
        if (stack_metrics_url(st, p, SHOP_STACK_NPROCS + i) != RPC_OK)
            return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "no free TCP port on 127.0.0.1");
        if (st->opts.log_dir != NULL)
            snprintf(p->log_path, sizeof p->log_path, "%s/mq-%s.log", st->opts.log_dir, names[i]);
    }
    int pub = port_for(st, SHOP_STACK_NPROCS + SHOP_STACK_NMQ);
    if (pub <= 0) {
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "no free TCP port on 127.0.0.1");
    }
    snprintf(st->mq_pub_url, sizeof st->mq_pub_url, "tcp://127.0.0.1:%d", pub);
    shop_stack_data_dir(st, "mq", st->mq_dir, sizeof st->mq_dir);
    shop_stack_data_dir(st, "delayd", st->delay_dir, sizeof st->delay_dir);
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", st->mq_dir);
    *strrchr(parent, '/') = '\0';
    mkdir(parent, 0755); /* the daemons create their own folder inside */
    if (st->opts.keep_data)
        return RPC_OK;
    rpc_status st_dir = empty_dir(st->mq_dir, err);
    return st_dir != RPC_OK ? st_dir : empty_dir(st->delay_dir, err);
}

int stack_async_mq_argv(const shop_stack *st, const shop_stack_proc *p, char **argv,
                        char bufs[][600])
{
    const shop_stack_proc *b = &st->mq[SHOP_STACK_BROKER];
    int n = 0;
    if (p == b) {
        snprintf(bufs[0], 600, "%s/mq-broker", st->bin_dir);
        snprintf(bufs[1], 600, "--url=%s", b->url);
        snprintf(bufs[2], 600, "--pub-url=%s", st->mq_pub_url);
        snprintf(bufs[3], 600, "--data-dir=%s", st->mq_dir);
    } else {
        snprintf(bufs[0], 600, "%s/mq-delayd", st->bin_dir);
        snprintf(bufs[1], 600, "--listen=%s", p->url);
        snprintf(bufs[2], 600, "--broker=%s", b->url);
        snprintf(bufs[3], 600, "--data-dir=%s", st->delay_dir);
    }
    for (; n < 4; n++)
        argv[n] = bufs[n];
    argv[n] = NULL;
    return n;
}

int stack_async_service_args(const shop_stack *st, char **argv, int argc, char bufs[][600])
{
    argv[argc++] = "--arch=async";
    snprintf(bufs[0], 600, "--mq=%s", st->mq[SHOP_STACK_BROKER].url);
    snprintf(bufs[1], 600, "--mq-pub=%s", st->mq_pub_url);
    snprintf(bufs[2], 600, "--delay=%s", st->mq[SHOP_STACK_DELAYD].url);
    for (int i = 0; i < 3; i++)
        argv[argc++] = bufs[i];
    argv[argc] = NULL;
    return argc;
}
