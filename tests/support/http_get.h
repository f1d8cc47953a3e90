/* A plain HTTP GET for tests, over nng's HTTP client (the daemons' /metrics
 * endpoints, the dashboard). */
#ifndef SHOP_TESTS_HTTP_GET_H
#define SHOP_TESTS_HTTP_GET_H

#include <stddef.h>

/* GETs `url` within timeout_ms: 0 with the HTTP status and the body
 * (malloc'd, NUL-terminated, caller frees), or -1 when no answer came. */
int ts_http_get(const char *url, int timeout_ms, int *status, char **body, size_t *len);

#endif
