/* services/hosts: faults on a host's link. A partition takes the root end
 * of its veth down (the bridge port, so nothing passes either way); a
 * bandwidth limit is a token bucket (tc tbf) on both ends, since a qdisc
 * shapes only what leaves its interface. */
#include "services/hosts/hosts.h"

#include <stdio.h>
#include <string.h>

#include "services/hosts/hosts_cmd.h"

static shop_host *host_or_fail(shop_hosts *h, const char *name, shop_error *err)
{
    shop_host *x = shop_hosts_find(h, name);
    if (x == NULL)
        shop_error_set(err, RPC_NOT_FOUND, "no host named '%s'", name);
    return x;
}

static rpc_status set_link(shop_hosts *h, const char *name, const char *state, shop_error *err)
{
    shop_host *x = host_or_fail(h, name, err);
    if (x == NULL)
        return RPC_NOT_FOUND;
    char *cmd[] = {"ip", "link", "set", x->veth, (char *)state, NULL};
    rpc_status st = hosts_cmd(cmd, err);
    if (st == RPC_OK)
        x->partitioned = strcmp(state, "down") == 0;
    return st;
}

rpc_status shop_hosts_partition(shop_hosts *h, const char *name, shop_error *err)
{
    return set_link(h, name, "down", err);
}

rpc_status shop_hosts_heal(shop_hosts *h, const char *name, shop_error *err)
{
    return set_link(h, name, "up", err);
}

rpc_status shop_hosts_bandwidth(shop_hosts *h, const char *name, const char *rate, shop_error *err)
{
    shop_host *x = host_or_fail(h, name, err);
    if (x == NULL)
        return RPC_NOT_FOUND;
    char peer[16];
    snprintf(peer, sizeof peer, "sf%dp%d", h->k, (int)(x - h->hosts));
    if (rate == NULL) {
        char *out[] = {"tc", "qdisc", "del", "dev", x->veth, "root", NULL};
        char *in[] = {"ip",  "netns", "exec", x->netns, "tc", "qdisc",
                      "del", "dev",   peer,   "root",   NULL};
        hosts_cmd(out, NULL); /* none set: nothing to clear */
        hosts_cmd(in, NULL);
        return RPC_OK;
    }
    char *out[] = {"tc",   "qdisc",      "replace", "dev",    x->veth,   "root",  "tbf",
                   "rate", (char *)rate, "burst",   "32kbit", "latency", "400ms", NULL};
    char *in[] = {"ip",         "netns", "exec",   x->netns,  "tc",    "qdisc",
                  "replace",    "dev",   peer,     "root",    "tbf",   "rate",
                  (char *)rate, "burst", "32kbit", "latency", "400ms", NULL};
    rpc_status st = hosts_cmd(out, err);
    if (st == RPC_OK)
        st = hosts_cmd(in, err);
    if (st != RPC_OK)
        return shop_error_wrap(err, "bandwidth %s on host %s", rate, name);
    return RPC_OK;
}
