/* The client side of `shopflow up`'s control service, for the commands that
 * act on a running stack (status, kill, pause, resume, start, restart,
 * fault): finds the stack (--control URL, $SHOPFLOW_CONTROL, else the state
 * file of --prefix P) and opens a channel to it. */
#ifndef SHOPFLOW_CTL_CLIENT_H
#define SHOPFLOW_CTL_CLIENT_H

#include "rpc/rpc.h"

typedef struct ctl_target {
    const char *prefix;  /* --prefix: the stack of `up --db-prefix P` */
    const char *control; /* --control URL */
} ctl_target;

/* Opens a channel to the stack's control service; on failure prints what to
 * do on stderr (as `cmd`) and returns 1. */
int ctl_open(const char *cmd, const ctl_target *t, rpc_channel **ch);

/* The URL of the stack's process `name` (broker, delayd, order, ...) as
 * its running `shopflow up` reports it, or with name "deliveries" the
 * broker's PUB URL; 0 when found, -1 (quietly) when no stack answers. */
int ctl_stack_url(const ctl_target *t, const char *name, char *out, size_t outlen);

/* Prints a failed call on stderr; returns 1. */
int ctl_failed(const char *cmd, rpc_status st, const rpc_error *err);

/* "1h02m", "3m05s", "12s" for a duration in ms. */
void ctl_format_uptime(long long ms, char *out, size_t outlen);

#endif
