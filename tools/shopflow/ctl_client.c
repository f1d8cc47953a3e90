/* Finding and dialing a running `shopflow up` (ctl_client.h). */
#include "tools/shopflow/ctl_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack_control.rpc.h"
#include "tools/shopflow/up_state.h"

/* The control URL: --control, $SHOPFLOW_CONTROL, else the state file. */
static rpc_status control_url(const ctl_target *t, up_state *s, const char **url, shop_error *err)
{
    *url = t->control;
    if (*url == NULL) {
        const char *env = getenv("SHOPFLOW_CONTROL");
        *url = env != NULL && env[0] != '\0' ? env : NULL;
    }
    if (*url != NULL)
        return RPC_OK;
    char path[600];
    up_state_path(t->prefix, path, sizeof path);
    if (up_state_read(path, s, err) != RPC_OK)
        return shop_error_code(err);
    *url = s->control_url;
    return RPC_OK;
}

int ctl_open(const char *cmd, const ctl_target *t, rpc_channel **ch)
{
    up_state s = {0};
    shop_error err = {0};
    const char *url = NULL;
    if (control_url(t, &s, &url, &err) != RPC_OK) {
        fprintf(stderr, "shopflow %s: %s\n", cmd, err.message);
        return 1;
    }
    rpc_channel_opts o = {.retry = {.max_attempts = 1}, .connect_wait_ms = 500};
    if (rpc_channel_open(ch, url, &o, &err) != RPC_OK) {
        fprintf(stderr, "shopflow %s: control service %s: %s\n", cmd, url, err.message);
        return 1;
    }
    return 0;
}

int ctl_stack_url(const ctl_target *t, const char *name, char *out, size_t outlen)
{
    up_state s = {0};
    const char *url = NULL;
    rpc_channel *ch = NULL;
    rpc_channel_opts o = {.retry = {.max_attempts = 1}, .connect_wait_ms = 500};
    if (control_url(t, &s, &url, NULL) != RPC_OK || rpc_channel_open(&ch, url, &o, NULL) != RPC_OK)
        return -1;
    Shop__Stack__StatusRequest req = SHOP__STACK__STATUS_REQUEST__INIT;
    Shop__Stack__StatusReply *rep = NULL;
    rpc_call_opts co = {.timeout_ms = 5000};
    int rc = -1;
    if (shop_stack_Control_Status(ch, &req, &rep, &co, NULL) == RPC_OK) {
        int pub = strcmp(name, "deliveries") == 0;
        for (size_t i = 0; i < rep->n_processes; i++)
            if (strcmp(rep->processes[i]->name, pub ? "broker" : name) == 0) {
                snprintf(out, outlen, "%s",
                         pub ? rep->processes[i]->pub_url : rep->processes[i]->url);
                rc = 0;
            }
        shop__stack__status_reply__free_unpacked(rep, NULL);
    }
    rpc_channel_close(ch);
    return rc;
}

int ctl_failed(const char *cmd, rpc_status st, const rpc_error *err)
{
    /* the channel's own words for "no answer"; anything else is up's reply */
    int silent = strncmp(err->message, "no server connected", 19) == 0 ||
                 strncmp(err->message, "connection to the server was lost", 33) == 0 ||
                 strncmp(err->message, "deadline exceeded", 17) == 0;
    if ((st == RPC_UNAVAILABLE || st == RPC_DEADLINE_EXCEEDED) && silent)
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
