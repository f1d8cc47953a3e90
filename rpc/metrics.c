/* The RPC server's per-method statistics (rpc/stats.c) as Prometheus
 * families: read at scrape time, so serving calls costs nothing more. */
#include <stdlib.h>
#include <string.h>

#include "rpc/internal.h"
#include "rpc/metrics_http.h"

static void calls(shop_metrics_out *o, rpc_server *s)
{
    shop_metrics_family(o, "rpc_server_calls_total", SHOP_METRIC_COUNTER,
                        "RPC calls handled, by full method name and status code.");
    for (size_t i = 0; i < s->n_methods; i++) {
        rpc_method *m = &s->methods[i];
        uint64_t by_code[RPC_STATUS_COUNT];
        pthread_mutex_lock(&m->stats.mu);
        memcpy(by_code, m->stats.by_code, sizeof by_code);
        pthread_mutex_unlock(&m->stats.mu);
        for (int c = 0; c < RPC_STATUS_COUNT; c++) {
            if (by_code[c] == 0 && c != RPC_OK)
                continue;
            const char *labels[] = {"method", m->name, "code", rpc_status_name((rpc_status)c),
                                    NULL};
            shop_metrics_sample(o, "rpc_server_calls_total", labels, (double)by_code[c]);
        }
    }
}

static void latency(shop_metrics_out *o, rpc_server *s, shop_hist *copy)
{
    shop_metrics_family(o, "rpc_server_call_duration_seconds", SHOP_METRIC_HISTOGRAM,
                        "Time from a call's arrival to its reply, by method.");
    for (size_t i = 0; i < s->n_methods; i++) {
        rpc_method *m = &s->methods[i];
        pthread_mutex_lock(&m->stats.mu);
        memcpy(copy, m->stats.latency_us, sizeof *copy);
        pthread_mutex_unlock(&m->stats.mu);
        const char *labels[] = {"method", m->name, NULL};
        shop_metrics_hist(o, "rpc_server_call_duration_seconds", labels, copy, 1e-6);
    }
}

void rpc_server_metrics(shop_metrics_out *o, void *server)
{
    rpc_server *s = server;
    if (!s->started)
        return;
    shop_hist *copy = malloc(sizeof *copy);
    if (copy == NULL)
        return;
    calls(o, s);
    latency(o, s, copy);
    free(copy);
    shop_metrics_family(o, "rpc_server_calls_in_progress", SHOP_METRIC_GAUGE,
                        "Handlers running now, by method.");
    for (size_t i = 0; i < s->n_methods; i++) {
        const char *labels[] = {"method", s->methods[i].name, NULL};
        shop_metrics_sample(o, "rpc_server_calls_in_progress", labels,
                            (double)atomic_load(&s->methods[i].stats.active));
    }
    pthread_mutex_lock(&s->mu);
    int queued = s->queued;
    pthread_mutex_unlock(&s->mu);
    shop_metrics_family(o, "rpc_server_queued_calls", SHOP_METRIC_GAUGE,
                        "Calls admitted and waiting for a worker.");
    shop_metrics_sample(o, "rpc_server_queued_calls", NULL, (double)queued);
    shop_metrics_family(o, "rpc_server_rejected_total", SHOP_METRIC_COUNTER,
                        "Calls refused before a handler ran (queue full, shutting down).");
    shop_metrics_sample(o, "rpc_server_rejected_total", NULL, (double)atomic_load(&s->rejected));
}
