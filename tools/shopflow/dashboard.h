/* shopflow dashboard internals: the daemons it watches and the JSON the
 * page reads (/api/scrape: each daemon's GET /metrics text, or down). */
#ifndef SHOPFLOW_DASHBOARD_H
#define SHOPFLOW_DASHBOARD_H

#include <stddef.h>

#include "rpc/rpc.h"

#define DASHBOARD_TARGETS_MAX 16

typedef struct dashboard_target {
    char name[32]; /* "order", "broker", ... */
    char url[128]; /* http://127.0.0.1:7307 (its /metrics is read) */
} dashboard_target;

typedef struct dashboard_targets {
    dashboard_target v[DASHBOARD_TARGETS_MAX];
    int n;
    int timeout_ms;       /* per daemon and scrape */
    rpc_channel *control; /* `shopflow up`'s control service, or NULL */
} dashboard_targets;

/* An rpc_http_render_fn (arg: dashboard_targets): GETs every target's
 * /metrics and writes {"now_ms":..,"targets":[{"name","url","up","text"}],
 * "processes":[{"name","state","last_exit","fault_delay_ms","fault_drop",
 * "link","restarts"}] or null}. */
rpc_status dashboard_scrape(void *arg, char **body, size_t *len, rpc_error *err);

/* The page, compiled in (tools/shopflow/dashboard/index.html). */
extern const unsigned char shopflow_dashboard_html[];
extern const size_t shopflow_dashboard_html_len;

#endif
