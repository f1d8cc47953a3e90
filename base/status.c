/* Names of gRPC's status codes. */
#include "base/status.h"

#include <string.h>

static const char *const status_names[RPC_STATUS_COUNT] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *rpc_status_name(int status)
{
    if (status < 0 || status >= RPC_STATUS_COUNT)
        return "INVALID_STATUS";
    return status_names[status];
}

int rpc_status_from_name(const char *name)
{
    for (int i = 0; i < RPC_STATUS_COUNT; i++)
        if (strcmp(status_names[i], name) == 0)
            return i;
    return -1;
}
