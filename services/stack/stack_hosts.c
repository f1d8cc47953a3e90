/* stack_hosts.h: one host per daemon, named after it, and the stack's URLs
 * rewritten to the hosts' addresses. */
#include "services/stack/stack_hosts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/stack/stack_async.h"
#include "services/stack/stack_db_ha.h"
#include "services/stack/nats_cluster.h"
#include "services/stack/stack_nats.h"

int stack_hosts_on(const shop_stack *st)
{
    return st->hosts != NULL || (st->opts.hosts != NULL && strcmp(st->opts.hosts, "netns") == 0);
}

/* tcp://<addr>:<port> */
static void point_at(char *url, size_t len, const char *addr, int port)
{
    snprintf(url, len, "tcp://%s:%d", addr, port);
}

/* A daemon on a host serves /metrics on its host's address too. */
static void point_metrics_at(shop_stack_proc *p, const char *addr)
{
    const char *colon = strrchr(p->metrics_url, ':');
    int port = colon != NULL ? atoi(colon + 1) : 0;
    snprintf(p->metrics_url, sizeof p->metrics_url, "http://%s:%d", addr, port);
}

rpc_status stack_hosts_setup(shop_stack *st, shop_error *err)
{
    const char *names[SHOP_HOSTS_MAX];
    int n = 0;
    for (int i = 0; i < SHOP_STACK_NPROCS; i++)
        names[n++] = st->procs[i].name;
    char nats_names[NATS_CLUSTER_MAX][16];
    for (int i = 0; i < SHOP_STACK_NMQ && stack_async_on(st); i++)
        if (i != SHOP_STACK_BROKER || !stack_nats_on(st))
            names[n++] = st->mq[i].name;
    for (int i = 0; i < stack_nats_nodes(st); i++) { /* JetStream: a host per node */
        snprintf(nats_names[i], sizeof nats_names[i], "nats-n%d", i);
        names[n++] = nats_names[i];
    }
    if (stack_db_ha_on(st))
        stack_db_ha_host_names(names, &n);
    shop_hosts *h = calloc(1, sizeof *h);
    if (h == NULL)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    rpc_status made = shop_hosts_create(h, names, n, err);
    if (made != RPC_OK) {
        free(h);
        return made;
    }
    st->hosts = h;
    for (int i = 0; i < SHOP_STACK_NPROCS; i++) {
        const char *addr = shop_hosts_addr(h, st->procs[i].name);
        point_at(st->procs[i].url, sizeof st->procs[i].url, addr, st->procs[i].port);
        point_metrics_at(&st->procs[i], addr);
    }
    for (int i = 0; i < SHOP_STACK_NMQ && stack_async_on(st); i++)
        if (i != SHOP_STACK_BROKER || !stack_nats_on(st)) { /* the cluster's URL comes later */
            const char *addr = shop_hosts_addr(h, st->mq[i].name);
            point_at(st->mq[i].url, sizeof st->mq[i].url, addr, st->mq[i].port);
            point_metrics_at(&st->mq[i], addr);
        }
    if (stack_async_on(st) && !stack_nats_on(st)) {
        /* the broker's deliveries leave from the broker's host */
        const char *port = strrchr(st->mq_pub_url, ':');
        point_at(st->mq_pub_url, sizeof st->mq_pub_url,
                 shop_hosts_addr(h, st->mq[SHOP_STACK_BROKER].name),
                 port != NULL ? atoi(port + 1) : 0);
    }
    return RPC_OK;
}

shop_host *stack_hosts_of(shop_stack *st, const shop_stack_proc *p)
{
    return st->hosts != NULL ? shop_hosts_find(st->hosts, p->name) : NULL;
}

const char *stack_hosts_addr(const shop_stack *st, const shop_stack_proc *p)
{
    return st->hosts != NULL ? shop_hosts_addr(st->hosts, p->name) : NULL;
}

void stack_hosts_destroy(shop_stack *st)
{
    if (st->hosts == NULL)
        return;
    shop_hosts_destroy(st->hosts);
    free(st->hosts);
    st->hosts = NULL;
}
