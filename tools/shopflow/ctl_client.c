/* Finding and dialing a running `shopflow up` (ctl_client.h). */
#include "tools/shopflow/ctl_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/shopflow/up_state.h"

int ctl_open(const char *cmd, const ctl_target *t, rpc_channel **ch)
{
    up_state s = {0};
    shop_error err = {0};
    const char *url = t->control;
    if (url == NULL) {
        const char *env = getenv("SHOPFLOW_CONTROL");
        url = env != NULL && env[0] != '\0' ? env : NULL;
    }
    if (url == NULL) {
        char path[600];
        up_state_path(t->prefix, path, sizeof path);
        if (up_state_read(path, &s, &err) != RPC_OK) {
            fprintf(stderr, "shopflow %s: %s\n", cmd, err.message);
            return 1;
        }
        url = s.control_url;
    }
    rpc_channel_opts o = {.retry = {.max_attempts = 1}, .connect_wait_ms = 500};
    if (rpc_channel_open(ch, url, &o, &err) != RPC_OK) {
        fprintf(stderr, "shopflow %s: control service %s: %s\n", cmd, url, err.message);
        return 1;
    }
    return 0;
}

int ctl_failed(const char *cmd, rpc_status st, const rpc_error *err)
{
    if (st == RPC_UNAVAILABLE || st == RPC_DEADLINE_EXCEEDED)
        fprintf(stderr,
                "shopflow %s: the stack's control service does not answer (%s: %s); is `shopflow "
                "up` still running?\n",
                cmd, rpc_status_name(st), err->message);
    else
        fprintf(stderr, "shopflow %s: %s\n", cmd, err->message);
    return 1;
}

void ctl_format_uptime(long long ms, char *out, size_t outlen)
{
    long long s = ms / 1000;
    if (s >= 3600)
        snprintf(out, outlen, "%lldh%02lldm", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(out, outlen, "%lldm%02llds", s / 60, s % 60);
    else
        snprintf(out, outlen, "%llds", s);
}
