/* services/hosts: the processes on a host, found by the network namespace
 * they live in, and a host lost at once (every one of them killed), which is
 * how the multi-host mode takes a database host away. */
#include "services/hosts/hosts.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"

#define NETNS_DIR "/run/netns"

/* Signals every process whose network namespace is the file `ns_path`;
 * returns how many were signalled (0: none left). */
static int signal_namespace(const char *ns_path, int sig)
{
    struct stat ns;
    if (stat(ns_path, &ns) != 0)
        return 0;
    int n = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 1 || pid == (long)getpid())
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/ns/net", pid);
        struct stat st;
        if (stat(path, &st) != 0 || st.st_ino != ns.st_ino || st.st_dev != ns.st_dev)
            continue;
        if (kill((pid_t)pid, sig) == 0 || errno == EPERM)
            n++;
    }
    if (d != NULL)
        closedir(d);
    return n;
}

rpc_status shop_hosts_kill_all(const char *netns, int *killed, shop_error *err)
{
    char path[96];
    snprintf(path, sizeof path, "%s/%s", NETNS_DIR, netns);
    *killed = signal_namespace(path, SIGKILL);
    /* Children that were forking while we looked are caught on a pass after. */
    int64_t until = shop_now_ms() + 2000;
    while (signal_namespace(path, SIGKILL) > 0) {
        if (shop_now_ms() > until)
            return shop_error_set(err, RPC_INTERNAL, "processes on host %s survive SIGKILL", netns);
        shop_sleep_ms(20);
    }
    return RPC_OK;
}

rpc_status shop_hosts_lose(shop_hosts *h, const char *name, int *killed, shop_error *err)
{
    shop_host *x = shop_hosts_find(h, name);
    if (x == NULL)
        return shop_error_set(err, RPC_NOT_FOUND, "no host named '%s'", name);
    return shop_hosts_kill_all(x->netns, killed, err);
}
