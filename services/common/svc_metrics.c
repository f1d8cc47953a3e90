/* The metrics every shop daemon exports: RPC (rpc/metrics.c), the pool, and
 * figures read from the service's own database at scrape time. */
#include "services/common/svc_metrics.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "rpc/metrics_http.h"

static void pool_metrics(shop_metrics_out *o, void *arg)
{
    shop_daemon *d = arg;
    int in_use = 0, waiting = 0;
    shop_pool_usage(d->pool, &in_use, &waiting);
    shop_metrics_family(o, "shop_db_pool_connections", SHOP_METRIC_GAUGE,
                        "PostgreSQL connections in the pool.");
    shop_metrics_sample(o, "shop_db_pool_connections", NULL, shop_pool_size(d->pool));
    shop_metrics_family(o, "shop_db_pool_in_use_connections", SHOP_METRIC_GAUGE,
                        "PostgreSQL connections handed out now.");
    shop_metrics_sample(o, "shop_db_pool_in_use_connections", NULL, in_use);
    shop_metrics_family(o, "shop_db_pool_waiting_threads", SHOP_METRIC_GAUGE,
                        "Threads waiting for a free PostgreSQL connection.");
    shop_metrics_sample(o, "shop_db_pool_waiting_threads", NULL, waiting);
}

static const char *const states[] = {"PENDING", "CONFIRMED", "PAID", "CANCELLED", "CLOSED"};

static void orders(shop_metrics_out *o, PGconn *c, const char *arch)
{
    PGresult *r = PQexec(c, "SELECT status, count(*) FROM orders GROUP BY status");
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        shop_metrics_family(o, "shop_orders", SHOP_METRIC_GAUGE,
                            "Orders in the order database, by state and architecture.");
        for (size_t s = 0; s < sizeof states / sizeof states[0]; s++) {
            double n = 0;
            for (int i = 0; i < PQntuples(r); i++)
                if (strcmp(PQgetvalue(r, i, 0), states[s]) == 0)
                    n = atof(PQgetvalue(r, i, 1));
            const char *labels[] = {"arch", arch, "state", states[s], NULL};
            shop_metrics_sample(o, "shop_orders", labels, n);
        }
    }
    PQclear(r);
}

static void outbox(shop_metrics_out *o, PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - "
                            "min(created_at)), 0) FROM outbox WHERE published_at IS NULL "
                            "AND failed_at IS NULL");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        shop_metrics_family(o, "shop_outbox_backlog_messages", SHOP_METRIC_GAUGE,
                            "Outbox rows not yet published to the broker or delay queue.");
        shop_metrics_sample(o, "shop_outbox_backlog_messages", NULL, atof(PQgetvalue(r, 0, 0)));
        shop_metrics_family(o, "shop_outbox_relay_lag_seconds", SHOP_METRIC_GAUGE,
                            "Age of the oldest unpublished outbox row (0 when none).");
        shop_metrics_sample(o, "shop_outbox_relay_lag_seconds", NULL, atof(PQgetvalue(r, 0, 1)));
    }
    PQclear(r);
}

static void db_metrics(shop_metrics_out *o, void *arg)
{
    shop_daemon *d = arg;
    PGconn *c = NULL;
    if (shop_pool_acquire(d->pool, 200, &c, NULL) != RPC_OK)
        return; /* a busy pool: this scrape goes without its database figures */
    if (strcmp(d->service, "order") == 0)
        orders(o, c, d->arch != NULL ? d->arch : "sync");
    outbox(o, c);
    shop_pool_release(d->pool, c);
}

int svc_metrics_open(shop_daemon *d)
{
    snprintf(d->metrics_url, sizeof d->metrics_url, "%s",
             shop_daemon_str(d, "METRICS_URL", d->cli_metrics,
                             d->default_metrics != NULL ? d->default_metrics : "none"));
    shop_error err = {0};
    if (rpc_metrics_url_off(d->metrics_url))
        return 0;
    if (shop_metrics_new(&d->metrics, &err) != RPC_OK ||
        shop_metrics_add_collector(d->metrics, rpc_server_metrics, d->server, &err) != RPC_OK ||
        shop_metrics_add_collector(d->metrics, pool_metrics, d, &err) != RPC_OK ||
        shop_metrics_add_collector(d->metrics, db_metrics, d, &err) != RPC_OK) {
        shop_log_error("metrics failed error=\"%s\"", err.message);
        return -1;
    }
    return 0;
}

void svc_metrics_start(shop_daemon *d)
{
    if (d->metrics == NULL)
        return;
    rpc_error err = {0};
    if (rpc_metrics_http_start(d->metrics_url, d->metrics, &d->metrics_http, &err) != RPC_OK)
        shop_log_error("metrics endpoint unavailable url=%s status=%s error=\"%s\"", d->metrics_url,
                       rpc_status_name(err.code), err.message);
}

void svc_metrics_close(shop_daemon *d)
{
    rpc_metrics_http_stop(d->metrics_http);
    d->metrics_http = NULL;
    shop_metrics_free(d->metrics);
    d->metrics = NULL;
}
