/* Per-method call statistics: count, errors by status, and a latency
 * histogram (the project's one, base/hist.h: percentiles within 0.4%). */
#include <stdlib.h>
#include <string.h>

#include "rpc/internal.h"
#include "base/log.h"

int rpc__stats_init(rpc_method_stats *st)
{
    memset(st, 0, sizeof *st);
    if ((st->latency_us = malloc(sizeof *st->latency_us)) == NULL)
        return -1;
    shop_hist_reset(st->latency_us);
    pthread_mutex_init(&st->mu, NULL);
    return 0;
}

void rpc__stats_destroy(rpc_method_stats *st)
{
    if (st->latency_us == NULL)
        return;
    pthread_mutex_destroy(&st->mu);
    free(st->latency_us);
    st->latency_us = NULL;
}

void rpc__stats_record(rpc_method_stats *st, rpc_status code, int64_t us)
{
    pthread_mutex_lock(&st->mu);
    st->count++;
    if (code >= 0 && code < RPC_STATUS_COUNT)
        st->by_code[code]++;
    shop_hist_record(st->latency_us, us);
    pthread_mutex_unlock(&st->mu);
}

uint64_t rpc__stats_percentile(rpc_method_stats *st, double q)
{
    pthread_mutex_lock(&st->mu);
    int64_t v = shop_hist_percentile(st->latency_us, q * 100.0);
    pthread_mutex_unlock(&st->mu);
    return v > 0 ? (uint64_t)v : 0;
}

void rpc_server_log_stats(rpc_server *s)
{
    for (size_t i = 0; i < s->n_methods; i++) {
        rpc_method *m = &s->methods[i];
        if (m->stats.count == 0)
            continue;
        uint64_t errors = m->stats.count - m->stats.by_code[RPC_OK];
        shop_log_info("rpc stats method=%s count=%llu errors=%llu p50_us=%llu p99_us=%llu", m->name,
                      (unsigned long long)m->stats.count, (unsigned long long)errors,
                      (unsigned long long)rpc__stats_percentile(&m->stats, 0.5),
                      (unsigned long long)rpc__stats_percentile(&m->stats, 0.99));
    }
}
