/* The store's sync figures for metrics: fdatasync latency and how many
 * records each sync made durable (group commit at work), kept under
 * sync_mu by the thread that syncs. */
#include <stdlib.h>
#include <string.h>

#include "mq/broker/store_int.h"

void mq_store_sync_observe(mq_store *s, int64_t ns)
{
    s->sync_ns += (uint64_t)ns;
    s->syncs++;
    if (s->sync_us_hist == NULL && (s->sync_us_hist = malloc(sizeof *s->sync_us_hist)) != NULL)
        shop_hist_reset(s->sync_us_hist);
    if (s->sync_msgs_hist == NULL &&
        (s->sync_msgs_hist = malloc(sizeof *s->sync_msgs_hist)) != NULL)
        shop_hist_reset(s->sync_msgs_hist);
    uint64_t appends = atomic_load_explicit(&s->appends, memory_order_relaxed);
    if (s->sync_us_hist != NULL)
        shop_hist_record(s->sync_us_hist, ns / 1000);
    if (s->sync_msgs_hist != NULL && appends > s->appends_synced)
        shop_hist_record(s->sync_msgs_hist, (int64_t)(appends - s->appends_synced));
    s->appends_synced = appends;
}

void mq_store_sync_hists(mq_store *s, shop_hist *latency_us, shop_hist *records)
{
    pthread_mutex_lock(&s->sync_mu);
    if (s->sync_us_hist != NULL)
        memcpy(latency_us, s->sync_us_hist, sizeof *latency_us);
    else
        shop_hist_reset(latency_us);
    if (s->sync_msgs_hist != NULL)
        memcpy(records, s->sync_msgs_hist, sizeof *records);
    else
        shop_hist_reset(records);
    pthread_mutex_unlock(&s->sync_mu);
}

void mq_store_metrics_free(mq_store *s)
{
    free(s->sync_us_hist);
    free(s->sync_msgs_hist);
    s->sync_us_hist = s->sync_msgs_hist = NULL;
}
