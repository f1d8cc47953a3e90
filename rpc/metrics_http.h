/* GET /metrics over nng's own HTTP server (loopback only), and the RPC
 * server's per-method figures as metrics.
 *
 *   rpc_metrics_http *h;
 *   rpc_metrics_http_start("http://127.0.0.1:9302", registry, &h, err);  -> h NULL when "none"
 *   ...
 *   rpc_metrics_http_stop(h);   (before the registry and what its collectors read are freed) */
#ifndef SHOP_RPC_METRICS_HTTP_H
#define SHOP_RPC_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/metrics.h"
#include "rpc/rpc.h"

typedef struct rpc_metrics_http rpc_metrics_http;

/* True for the values that turn the endpoint off: NULL, "", "0", "none". */
bool rpc_metrics_url_off(const char *url);

/* Serves `m` at `url`'s host and port, path /metrics (and / as an index);
 * m NULL: no pages yet (add them with the calls below).
 * The host must be a loopback address (127.0.0.0/8, ::1, localhost):
 * INVALID_ARGUMENT otherwise; UNAVAILABLE when the port is taken. A URL that
 * is off (rpc_metrics_url_off) gives *out = NULL and OK. Pages are rendered
 * on the endpoint's own thread, never on nng's, so a collector that waits
 * for a database connection does not hold up RPC traffic. */
rpc_status rpc_metrics_http_start(const char *url, shop_metrics *m, rpc_metrics_http **out,
                                  rpc_error *err);

/* For a daemon whose metrics are one collector: an endpoint with its own
 * registry. Logs "metrics url=..." when serving; logs the error and returns
 * NULL when it cannot start (the daemon serves on without metrics), and
 * returns NULL quietly when the URL is off. */
rpc_metrics_http *rpc_metrics_http_serve(const char *url, shop_metrics_collect_fn fn, void *arg);

/* A dynamic page: fn makes the body (malloc'd; the endpoint frees it) on
 * the endpoint's thread for each GET of `path`. Up to 8 per endpoint. */
typedef rpc_status (*rpc_http_render_fn)(void *arg, char **body, size_t *len, rpc_error *err);
rpc_status rpc_metrics_http_add_page(rpc_metrics_http *h, const char *path, const char *type,
                                     rpc_http_render_fn fn, void *arg, rpc_error *err);

/* A page compiled into the program (data must outlive the endpoint). */
rpc_status rpc_metrics_http_add_static(rpc_metrics_http *h, const char *path, const char *type,
                                       const void *data, size_t len, rpc_error *err);

/* Stops serving, answers nothing more, frees (NULL: nothing); with
 * rpc_metrics_http_serve, its registry too. */
void rpc_metrics_http_stop(rpc_metrics_http *h);

/* A collector (shop_metrics_add_collector with the rpc_server as arg):
 * rpc_server_calls_total{method,code}, rpc_server_call_duration_seconds,
 * rpc_server_calls_in_progress, rpc_server_rejected_total. */
void rpc_server_metrics(shop_metrics_out *o, void *server);

#endif
