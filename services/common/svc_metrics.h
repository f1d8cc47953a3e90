/* A shop daemon's metrics: the registry, the /metrics endpoint (--metrics-url,
 * $<PREFIX>_METRICS_URL, default per daemon, "none" turns it off) and the
 * collectors every shop daemon has: its RPC server, its connection pool, and
 * from its database the outbox backlog and relay lag and, for the order
 * service, the orders by state. */
#ifndef SHOP_SVC_METRICS_H
#define SHOP_SVC_METRICS_H

#include "services/common/svc_daemon.h"

/* Resolves the URL and creates the registry with the common collectors
 * (after shop_daemon_open made the pool and the server). 0 or -1. */
int svc_metrics_open(shop_daemon *d);

/* Starts serving; a port that cannot be bound is logged, not fatal: the
 * daemon serves its customers without its metrics. */
void svc_metrics_start(shop_daemon *d);

/* Stops serving and frees the registry (before the pool and server go). */
void svc_metrics_close(shop_daemon *d);

#endif
