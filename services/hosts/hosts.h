/* Hosts in network namespaces, for the multi-host mode (`--hosts netns`):
 * each host is a network namespace with loopback and one address on a
 * private bridge in the root namespace, so processes on different hosts
 * talk over a real link that can be cut or slowed.
 *
 *   shop_hosts h;
 *   const char *names[] = {"order", "stock", "coupon"};
 *   shop_hosts_create(&h, names, 3, &err);     // shopflow<k>-order ..., 10.231.<k>.0/24
 *   shop_hosts_addr(&h, "stock")                -> "10.231.<k>.11"
 *   shop_spawn_opts so = {.in_child = shop_hosts_enter_child, .in_child_arg = &h.hosts[1]};
 *   shop_hosts_partition(&h, "coupon", &err);   // its link down: both directions cut
 *   shop_hosts_heal(&h, "coupon", &err);
 *   shop_hosts_bandwidth(&h, "stock", "1mbit", &err);  // tbf on both ends; NULL: clear
 *   shop_hosts_destroy(&h);                     // namespaces, bridge and links removed
 *
 * Addresses are 10.231.<k>.0/24, a range used only inside what this module
 * creates; the root namespace is 10.231.<k>.1 (the bridge), so the tools
 * and the load generator reach every host. Needs CAP_NET_ADMIN (root) and
 * iproute2 (`ip`, `tc`). Names carry the prefix "shopflow" (namespaces) and
 * "sf" (links), which shop_hosts_cleanup removes after a crash. */
#ifndef SHOP_SERVICES_HOSTS_H
#define SHOP_SERVICES_HOSTS_H

#include "base/error.h"

#define SHOP_HOSTS_MAX 16

typedef struct shop_host {
    char name[16];   /* "order", "broker", ... */
    char netns[40];  /* shopflow<k>-<name>, in /run/netns */
    char veth[16];   /* the root side of its link, on the bridge: sf<k>v<i> */
    char addr[20];   /* 10.231.<k>.<10+i> */
    int partitioned; /* its link is down */
} shop_host;

typedef struct shop_hosts {
    int k;            /* the subnet 10.231.<k>.0/24, free when created */
    char bridge[16];  /* sfbr<k> */
    char gateway[20]; /* 10.231.<k>.1, the root namespace's address */
    int n;
    shop_host hosts[SHOP_HOSTS_MAX];
} shop_hosts;

/* FAILED_PRECONDITION, saying why, when this process cannot make network
 * namespaces (not root, no CAP_NET_ADMIN, no iproute2). */
rpc_status shop_hosts_capable(shop_error *err);

/* Makes the bridge and one namespace per name (on failure removes what it
 * made). */
rpc_status shop_hosts_create(shop_hosts *h, const char *const *names, int n, shop_error *err);

/* The host named `name`, NULL if none. */
shop_host *shop_hosts_find(shop_hosts *h, const char *name);

/* Its address, NULL if no such host. */
const char *shop_hosts_addr(const shop_hosts *h, const char *name);

/* For shop_spawn_opts.in_child (arg: a shop_host *): moves the child into
 * the host's namespace before exec; async-signal-safe. */
int shop_hosts_enter_child(void *host);

/* Cuts the host's link (both directions) / restores it. */
rpc_status shop_hosts_partition(shop_hosts *h, const char *name, shop_error *err);
rpc_status shop_hosts_heal(shop_hosts *h, const char *name, shop_error *err);

/* Limits the host's link to `rate` (tc's syntax: "1mbit", "500kbit") in
 * both directions with a token bucket; NULL removes the limit. */
rpc_status shop_hosts_bandwidth(shop_hosts *h, const char *name, const char *rate, shop_error *err);

/* A host lost at once: SIGKILL to every process in its namespace (found
 * through /proc/<pid>/ns/net), until none is left; *killed counts them. */
rpc_status shop_hosts_lose(shop_hosts *h, const char *name, int *killed, shop_error *err);

/* The same for a namespace by its name in /run/netns. */
rpc_status shop_hosts_kill_all(const char *netns, int *killed, shop_error *err);

/* Removes the namespaces, links and bridge (processes inside must be gone;
 * a namespace whose processes still run is removed from /run/netns but
 * lives on until they exit). */
void shop_hosts_destroy(shop_hosts *h);

/* Removes every namespace, veth and bridge of this module left by any run
 * (`shopflow down --hosts netns` after a crash), killing the processes still
 * inside a namespace first; *removed counts the namespaces and links. */
rpc_status shop_hosts_cleanup(int *removed, shop_error *err);

#endif
