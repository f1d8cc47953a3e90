/* services/hosts: making and removing the hosts (namespaces on a bridge),
 * finding them, and moving a child into one. Links are hosts_link.c. */
#include "services/hosts/hosts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/hosts/hosts_cmd.h"

#define NETNS_DIR "/run/netns"

rpc_status shop_hosts_capable(shop_error *err)
{
    if (geteuid() != 0)
        return shop_error_set(err, RPC_FAILED_PRECONDITION,
                              "multi-host mode makes network namespaces: it needs root "
                              "(CAP_NET_ADMIN); run it as root or with sudo");
    char *probe[] = {"ip", "netns", "list", NULL};
    if (hosts_cmd(probe, err) != RPC_OK)
        return shop_error_wrap(err, "multi-host mode needs iproute2's `ip netns`");
    return RPC_OK;
}

/* Takes a free subnet: the bridge's name is the lock (a second creator of
 * the same name fails with "File exists" and tries the next). */
static rpc_status make_bridge(shop_hosts *h, shop_error *err)
{
    rpc_status st = RPC_RESOURCE_EXHAUSTED;
    for (int k = 1; k <= 250; k++) {
        char bridge[16];
        snprintf(bridge, sizeof bridge, "sfbr%d", k);
        char *add[] = {"ip", "link", "add", bridge, "type", "bridge", NULL};
        if ((st = hosts_cmd(add, err)) != RPC_OK) {
            if (strstr(err != NULL ? err->message : "", "File exists") != NULL)
                continue;
            return st;
        }
        h->k = k;
        snprintf(h->bridge, sizeof h->bridge, "%s", bridge);
        snprintf(h->gateway, sizeof h->gateway, "10.231.%d.1", k);
        char cidr[24];
        snprintf(cidr, sizeof cidr, "%s/24", h->gateway);
        char *addr[] = {"ip", "addr", "add", cidr, "dev", bridge, NULL};
        char *up[] = {"ip", "link", "set", bridge, "up", NULL};
        if ((st = hosts_cmd(addr, err)) != RPC_OK || (st = hosts_cmd(up, err)) != RPC_OK)
            return st;
        return RPC_OK;
    }
    return shop_error_set(err, st,
                          "no free subnet 10.231.1-250.0/24 (shopflow down --hosts "
                          "netns removes what crashed runs left)");
}

/* One host: namespace, loopback up, a veth pair with one end on the bridge
 * and the other, addressed, inside. */
static rpc_status make_host(shop_hosts *h, int i, const char *name, shop_error *err)
{
    shop_host *x = &h->hosts[i];
    snprintf(x->name, sizeof x->name, "%s", name);
    snprintf(x->netns, sizeof x->netns, "shopflow%d-%s", h->k, name);
    snprintf(x->veth, sizeof x->veth, "sf%dv%d", h->k, i);
    snprintf(x->addr, sizeof x->addr, "10.231.%d.%d", h->k, 10 + i);
    char peer[16], cidr[24];
    snprintf(peer, sizeof peer, "sf%dp%d", h->k, i);
    snprintf(cidr, sizeof cidr, "%s/24", x->addr);
    char *steps[][12] = {
        {"ip", "netns", "add", x->netns, NULL},
        {"ip", "-n", x->netns, "link", "set", "lo", "up", NULL},
        {"ip", "link", "add", x->veth, "type", "veth", "peer", "name", peer, NULL},
        {"ip", "link", "set", peer, "netns", x->netns, NULL},
        {"ip", "link", "set", x->veth, "master", h->bridge, NULL},
        {"ip", "link", "set", x->veth, "up", NULL},
        {"ip", "-n", x->netns, "addr", "add", cidr, "dev", peer, NULL},
        {"ip", "-n", x->netns, "link", "set", peer, "up", NULL},
        {"ip", "-n", x->netns, "route", "add", "default", "via", h->gateway, NULL},
    };
    for (size_t s = 0; s < sizeof steps / sizeof *steps; s++) {
        rpc_status st = hosts_cmd(steps[s], err);
        if (st != RPC_OK)
            return shop_error_wrap(err, "host %s", name);
    }
    return RPC_OK;
}

rpc_status shop_hosts_create(shop_hosts *h, const char *const *names, int n, shop_error *err)
{
    memset(h, 0, sizeof *h);
    if (n < 1 || n > SHOP_HOSTS_MAX)
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "1 to %d hosts, not %d", SHOP_HOSTS_MAX,
                              n);
    rpc_status st = shop_hosts_capable(err);
    if (st == RPC_OK)
        st = make_bridge(h, err);
    for (int i = 0; st == RPC_OK && i < n; i++) {
        h->n = i + 1; /* so that destroy removes a half-made host too */
        st = make_host(h, i, names[i], err);
    }
    if (st != RPC_OK)
        shop_hosts_destroy(h);
    return st;
}

shop_host *shop_hosts_find(shop_hosts *h, const char *name)
{
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->hosts[i].name, name) == 0)
            return &h->hosts[i];
    return NULL;
}

const char *shop_hosts_addr(const shop_hosts *h, const char *name)
{
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->hosts[i].name, name) == 0)
            return h->hosts[i].addr;
    return NULL;
}

int shop_hosts_enter_child(void *host)
{
    const shop_host *x = host;
    char path[64] = NETNS_DIR "/";
    /* no snprintf between fork and exec: plain copies only */
    size_t at = strlen(path);
    for (size_t i = 0; x->netns[i] != '\0' && at + 1 < sizeof path; i++)
        path[at++] = x->netns[i];
    path[at] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = setns(fd, CLONE_NEWNET);
    close(fd);
    return rc;
}

void shop_hosts_destroy(shop_hosts *h)
{
    for (int i = 0; i < h->n; i++) {
        char *del_ns[] = {"ip", "netns", "del", h->hosts[i].netns, NULL};
        char *del_veth[] = {"ip", "link", "del", h->hosts[i].veth, NULL};
        hosts_cmd(del_veth, NULL); /* gone with its namespace's peer, usually */
        hosts_cmd(del_ns, NULL);
    }
    if (h->bridge[0] != '\0') {
        char *del_br[] = {"ip", "link", "del", h->bridge, NULL};
        hosts_cmd(del_br, NULL);
    }
    h->n = 0;
    h->bridge[0] = '\0';
}

/* "sfbr12" or "sf12v3": the links this module makes. */
static int ours(const char *link)
{
    int k, i, end = 0;
    if (sscanf(link, "sfbr%d%n", &k, &end) == 1 && link[end] == '\0')
        return 1;
    end = 0;
    return sscanf(link, "sf%dv%d%n", &k, &i, &end) == 2 && link[end] == '\0';
}

rpc_status shop_hosts_cleanup(int *removed, shop_error *err)
{
    *removed = 0;
    rpc_status st = shop_hosts_capable(err);
    if (st != RPC_OK)
        return st;
    DIR *d = opendir(NETNS_DIR);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, "shopflow", 8) != 0)
            continue;
        int killed = 0;
        shop_hosts_kill_all(e->d_name, &killed, NULL); /* a crashed run's database hosts */
        char *del[] = {"ip", "netns", "del", e->d_name, NULL};
        if (hosts_cmd(del, err) == RPC_OK)
            ++*removed;
    }
    if (d != NULL)
        closedir(d);
    d = opendir("/sys/class/net");
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        if (!ours(e->d_name))
            continue;
        char *del[] = {"ip", "link", "del", e->d_name, NULL};
        if (hosts_cmd(del, err) == RPC_OK)
            ++*removed;
    }
    if (d != NULL)
        closedir(d);
    return RPC_OK;
}
