/* The state file of a running `shopflow up`: <var>/stack/<prefix>up.state,
 * written when the stack is ready and removed when up ends. It names up's
 * pid and the loopback URL of its control service (proto/stack_control.proto),
 * so `shopflow status`, `kill`, `fault` ... find the stack from another
 * terminal. A file whose pid is gone is stale (up crashed: its daemons got
 * SIGTERM with it) and is reported as such, never trusted. */
#ifndef SHOPFLOW_UP_STATE_H
#define SHOPFLOW_UP_STATE_H

#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

typedef struct up_state {
    pid_t pid;
    char control_url[64];
    char arch[16];
} up_state;

/* The state file's path for a stack started with --db-prefix `prefix` ("" or
 * NULL: the default stack). */
void up_state_path(const char *prefix, char *out, size_t outlen);

/* Writes the file atomically (temporary file + rename). */
rpc_status up_state_write(const char *path, const up_state *s, shop_error *err);

/* Reads it: NOT_FOUND when there is no file, FAILED_PRECONDITION when it is
 * stale (its up is gone), INVALID_ARGUMENT when it does not parse; each with
 * a message saying what to do. */
rpc_status up_state_read(const char *path, up_state *s, shop_error *err);

#endif
