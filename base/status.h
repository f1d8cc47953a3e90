/* gRPC's 17 status codes, shared by rpc/, mq/ and the services. */
#ifndef SHOP_BASE_STATUS_H
#define SHOP_BASE_STATUS_H

typedef enum rpc_status {
    RPC_OK = 0,
    RPC_CANCELLED = 1,
    RPC_UNKNOWN = 2,
    RPC_INVALID_ARGUMENT = 3,
    RPC_DEADLINE_EXCEEDED = 4,
    RPC_NOT_FOUND = 5,
    RPC_ALREADY_EXISTS = 6,
    RPC_PERMISSION_DENIED = 7,
    RPC_RESOURCE_EXHAUSTED = 8,
    RPC_FAILED_PRECONDITION = 9,
    RPC_ABORTED = 10,
    RPC_OUT_OF_RANGE = 11,
    RPC_UNIMPLEMENTED = 12,
    RPC_INTERNAL = 13,
    RPC_UNAVAILABLE = 14,
    RPC_DATA_LOSS = 15,
    RPC_UNAUTHENTICATED = 16,
} rpc_status;

#define RPC_STATUS_COUNT 17

/* Canonical upper-case name ("DEADLINE_EXCEEDED"); "INVALID_STATUS" if out of range. */
const char *rpc_status_name(int status);

/* Parses a canonical name back to its code; -1 if unknown. */
int rpc_status_from_name(const char *name);

#endif
