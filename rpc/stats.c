/* Per-method call statistics: count, errors by status, and a log-scale
 * latency histogram (buckets 2^(i/4) us wide, so percentiles are within ~19%). */
#include <math.h>
#include <string.h>

#include "rpc/internal.h"
#include "rpc/log.h"

static int bucket_of(int64_t us)
{
    if (us < 1)
        return 0;
    int b = (int)(4.0 * log2((double)us)) + 1;
    return b >= RPC_HIST_BUCKETS ? RPC_HIST_BUCKETS - 1 : b;
}

static uint64_t bucket_upper(int b)
{
    return (uint64_t)ceil(pow(2.0, (double)b / 4.0));
}

void rpc__stats_init(rpc_method_stats *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
}

void rpc__stats_destroy(rpc_method_stats *st)
{
    pthread_mutex_destroy(&st->mu);
}

void rpc__stats_record(rpc_method_stats *st, rpc_status code, int64_t us)
{
    int b = bucket_of(us);
    pthread_mutex_lock(&st->mu);
    st->count++;
    if (code >= 0 && code < RPC_STATUS_COUNT)
        st->by_code[code]++;
    st->hist[b]++;
    pthread_mutex_unlock(&st->mu);
}

uint64_t rpc__stats_percentile(rpc_method_stats *st, double q)
{
    pthread_mutex_lock(&st->mu);
    uint64_t total = st->count, seen = 0, want = (uint64_t)ceil(q * (double)total);
    uint64_t out = 0;
    for (int b = 0; b < RPC_HIST_BUCKETS && total > 0; b++) {
        seen += st->hist[b];
        if (seen >= want && st->hist[b] > 0) {
            out = bucket_upper(b);
            break;
        }
    }
    pthread_mutex_unlock(&st->mu);
    return out;
}

void rpc_server_log_stats(rpc_server *s)
{
    for (size_t i = 0; i < s->n_methods; i++) {
        rpc_method *m = &s->methods[i];
        if (m->stats.count == 0)
            continue;
        uint64_t errors = m->stats.count - m->stats.by_code[RPC_OK];
        shop_info("rpc stats method=%s count=%llu errors=%llu p50_us=%llu p99_us=%llu", m->name,
                  (unsigned long long)m->stats.count, (unsigned long long)errors,
                  (unsigned long long)rpc__stats_percentile(&m->stats, 0.5),
                  (unsigned long long)rpc__stats_percentile(&m->stats, 0.99));
    }
}
