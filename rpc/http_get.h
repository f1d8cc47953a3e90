/* One HTTP GET over nng's HTTP client: how the tools, the dashboard, the
 * benchmarks and the tests read the daemons' GET /metrics pages. */
#ifndef SHOP_RPC_HTTP_GET_H
#define SHOP_RPC_HTTP_GET_H

#include <stddef.h>

#include "rpc/rpc.h"

/* GETs `url` within timeout_ms: OK with the HTTP status and the body
 * (malloc'd, NUL-terminated, the caller frees), or UNAVAILABLE /
 * DEADLINE_EXCEEDED / INVALID_ARGUMENT when no answer came. */
rpc_status rpc_http_get(const char *url, int timeout_ms, int *status, char **body, size_t *len,
                        rpc_error *err);

#endif
