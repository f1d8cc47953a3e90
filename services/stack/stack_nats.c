/* The stack's JetStream cluster (stack_nats.h): where its data lives, which
 * node a broker fault acts on, and its part in start, restart and stop. */
#include "services/stack/stack_nats.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/hosts/hosts.h"
#include "services/pg/shop_pg.h"
#include "services/stack/nats_cluster.h"

int stack_nats_on(const shop_stack *st)
{
    return st->nats != NULL || (st->opts.mq != NULL && strcmp(st->opts.mq, "nats") == 0 &&
                                st->opts.arch != NULL && strcmp(st->opts.arch, "async") == 0);
}

rpc_status stack_nats_start(shop_stack *st, shop_error *err)
{
    nats_cluster *c = calloc(1, sizeof *c);
    if (c == NULL)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    char dir[sizeof c->dir];
    shop_stack_data_dir(st, "nats", dir, sizeof dir);
    if (!st->opts.keep_data && access(dir, F_OK) == 0) {
        char cmd[sizeof dir + 32];
        snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
        if (system(cmd) != 0) {
            free(c);
            return shop_error_set(err, RPC_INTERNAL, "cannot empty %s", dir);
        }
    }
    rpc_status st_init = nats_cluster_init(c, dir, st->opts.nats_nodes, err);
    if (st_init != RPC_OK) {
        free(c);
        return st_init;
    }
    /* like the daemons: a cluster never outlives the stack's owner */
    c->death_signal = SIGTERM;
    st->nats = c;
    for (int i = 0; i < c->n && st->hosts != NULL; i++) { /* multi-host: node i on nats-n<i> */
        char name[16];
        snprintf(name, sizeof name, "nats-n%d", i);
        shop_host *h = shop_hosts_find(st->hosts, name);
        if (h == NULL)
            return shop_error_set(err, RPC_INTERNAL, "no host %s for JetStream node %d", name, i);
        if (nats_cluster_place(c, i, h->addr, shop_hosts_enter_child, h, err) != RPC_OK)
            return shop_error_code(err);
    }
    rpc_status started = nats_cluster_start(c, err);
    if (started != RPC_OK)
        return shop_error_wrap(err, "nats-server cluster in %s", dir);
    shop_stack_proc *b = &st->mq[SHOP_STACK_BROKER];
    snprintf(b->name, sizeof b->name, "broker");
    snprintf(b->url, sizeof b->url, "%.*s", (int)sizeof b->url - 1, c->url);
    return RPC_OK;
}

/* The node leading the stream every order goes through, or any running
 * node while that stream has no leader (or does not exist yet). */
static int target_node(const nats_cluster *c)
{
    int node = -1;
    if (nats_cluster_leader(c, STACK_NATS_LEADER_TOPIC, &node, NULL) == RPC_OK && node >= 0 &&
        c->nodes[node].pid > 0)
        return node;
    for (int i = 0; i < c->n; i++)
        if (c->nodes[i].pid > 0)
            return i;
    return -1;
}

int stack_nats_signal(shop_stack *st, int sig)
{
    nats_cluster *c = st->nats;
    if (c == NULL)
        return -1;
    if (sig == SIGCONT) {
        for (int i = 0; i < c->n; i++)
            if (c->nodes[i].pid > 0)
                kill(c->nodes[i].pid, SIGCONT);
        st->mq[SHOP_STACK_BROKER].paused = 0;
        return 0;
    }
    int node = target_node(c);
    if (node < 0)
        return -1;
    if (sig == SIGKILL)
        return nats_cluster_node_stop(c, node, SIGKILL, NULL) == RPC_OK ? 0 : -1;
    if (kill(c->nodes[node].pid, sig) != 0)
        return -1;
    if (sig == SIGSTOP)
        st->mq[SHOP_STACK_BROKER].paused = 1;
    return 0;
}

rpc_status stack_nats_restart(shop_stack *st, shop_error *err)
{
    if (st->nats == NULL)
        return shop_error_set(err, RPC_FAILED_PRECONDITION, "no JetStream cluster in this stack");
    return nats_cluster_start(st->nats, err);
}

int stack_nats_nodes(const shop_stack *st)
{
    if (!stack_nats_on(st))
        return 0;
    return st->opts.nats_nodes > 0 ? st->opts.nats_nodes : 3;
}

int stack_nats_running(const shop_stack *st)
{
    int n = 0;
    for (int i = 0; st->nats != NULL && i < st->nats->n; i++)
        n += st->nats->nodes[i].pid > 0;
    return n;
}

void stack_nats_stop(shop_stack *st)
{
    if (st->nats == NULL)
        return;
    stack_nats_signal(st, SIGCONT); /* a paused node cannot take its SIGTERM */
    nats_cluster_stop(st->nats);
    free(st->nats);
    st->nats = NULL;
}
