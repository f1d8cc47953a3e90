/* The broker's state as Prometheus families: per topic end offsets, per
 * group and topic the committed offset, lag, in-flight and retrying
 * messages, the DLQ size, and the store's fsync figures. Read under the
 * broker lock at scrape time; the request path records nothing extra. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/metrics.h"
#include "mq/broker/broker.h"
#include "mq/broker/txn.h"

static int hidden(const bk_group *g)
{
    return strncmp(g->name, BK_REDRIVE_PREFIX, strlen(BK_REDRIVE_PREFIX)) == 0;
}

static void topics(mq_broker *b, shop_metrics_out *o)
{
    size_t nt = mq_store_topic_count(b->store);
    shop_metrics_family(o, "mq_topic_end_offset", SHOP_METRIC_GAUGE,
                        "Next offset to be written in each topic (messages stored so far).");
    for (size_t i = 0; i < nt; i++) {
        mq_topic *t = mq_store_topic_at(b->store, i);
        const char *labels[] = {"topic", t->name, NULL};
        shop_metrics_sample(o, "mq_topic_end_offset", labels, (double)t->end);
    }
}

/* One family over every (group, topic) queue; `what` picks the figure. */
static void group_family(mq_broker *b, shop_metrics_out *o, const char *name, const char *help,
                         int what)
{
    shop_metrics_family(o, name, SHOP_METRIC_GAUGE, help);
    for (size_t i = 0; i < b->ngroups; i++) {
        bk_group *g = b->groups[i];
        if (hidden(g))
            continue;
        uint64_t retrying = bk_group_retrying(g);
        for (size_t j = 0; j < g->nq; j++) {
            bk_queue *q = g->queues[j];
            if (q->retry)
                continue;
            double v = what == 0   ? (double)q->base
                       : what == 1 ? (double)(q->t->end - q->base)
                       : what == 2 ? (double)q->inflight
                                   : (double)retrying;
            const char *labels[] = {"group", g->name, "topic", q->t->name, NULL};
            shop_metrics_sample(o, name, labels, v);
        }
    }
}

static void groups(mq_broker *b, shop_metrics_out *o)
{
    group_family(b, o, "mq_group_committed_offset",
                 "Offset below which a consumer group has acknowledged every message.", 0);
    group_family(b, o, "mq_group_lag_messages",
                 "Messages of a topic not yet acknowledged by a consumer group.", 1);
    group_family(b, o, "mq_group_inflight_messages",
                 "Messages delivered to a group's consumers and not yet acknowledged.", 2);
    group_family(b, o, "mq_group_retrying_messages",
                 "Messages of a group waiting in its retry topic for redelivery.", 3);
    shop_metrics_family(o, "mq_group_dlq_messages", SHOP_METRIC_GAUGE,
                        "Dead letters of a consumer group not yet re-driven.");
    shop_metrics_family(o, "mq_group_consumers", SHOP_METRIC_GAUGE,
                        "Consumers connected to a consumer group.");
    for (size_t i = 0; i < b->ngroups; i++) {
        bk_group *g = b->groups[i];
        if (hidden(g))
            continue;
        const char *labels[] = {"group", g->name, NULL};
        shop_metrics_sample(o, "mq_group_dlq_messages", labels, (double)bk_dlq_size(b, g, NULL));
        shop_metrics_sample(o, "mq_group_consumers", labels, (double)bk_group_consumers(b, g));
    }
}

static void fsyncs(mq_broker *b, shop_metrics_out *o)
{
    shop_hist *lat = malloc(sizeof *lat), *recs = malloc(sizeof *recs);
    if (lat != NULL && recs != NULL) {
        mq_store_sync_hists(b->store, lat, recs);
        shop_metrics_family(o, "mq_store_fsync_duration_seconds", SHOP_METRIC_HISTOGRAM,
                            "fdatasync of the log: latency (its _count is the number of syncs).");
        shop_metrics_hist(o, "mq_store_fsync_duration_seconds", NULL, lat, 1e-6);
        shop_metrics_family(o, "mq_store_fsync_messages", SHOP_METRIC_HISTOGRAM,
                            "Messages made durable by one fdatasync (group commit).");
        shop_metrics_hist_in(o, "mq_store_fsync_messages", NULL, recs, 1, shop_metrics_count_bounds,
                             shop_metrics_ncount_bounds);
    }
    free(lat);
    free(recs);
    uint64_t segs = 0, bytes = 0;
    mq_store_usage(b->store, &segs, &bytes);
    shop_metrics_family(o, "mq_store_segments", SHOP_METRIC_GAUGE, "Segment files of the log.");
    shop_metrics_sample(o, "mq_store_segments", NULL, (double)segs);
    shop_metrics_family(o, "mq_store_size_bytes", SHOP_METRIC_GAUGE, "Bytes of the log on disk.");
    shop_metrics_sample(o, "mq_store_size_bytes", NULL, (double)bytes);
}

void bk_metrics(mq_broker *b, shop_metrics_out *o)
{
    topics(b, o);
    groups(b, o);
    fsyncs(b, o);
    shop_metrics_family(o, "mq_txn_pending_halves", SHOP_METRIC_GAUGE,
                        "Transactional half messages not decided yet (commit, rollback or "
                        "check-back to come).");
    shop_metrics_sample(o, "mq_txn_pending_halves", NULL, (double)bk_txn_pending(b));
}
