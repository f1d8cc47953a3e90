/* mq-delayd's figures for GET /metrics: pending messages (all and per
 * topic), when the next one is due, deliveries, cancels, sink failures and
 * the lateness histogram. Read under the daemon's lock at scrape time; all
 * O(1) or O(topics), so a scrape never walks a million pending entries. */
#include <stdlib.h>
#include <string.h>

#include "base/metrics.h"
#include "mq/delayd/delayd.h"

static void counter(shop_metrics_out *o, const char *name, const char *help, uint64_t v)
{
    shop_metrics_family(o, name, SHOP_METRIC_COUNTER, help);
    shop_metrics_sample(o, name, NULL, (double)v);
}

void delayd_metrics(shop_metrics_out *o, void *arg)
{
    delayd *d = arg;
    shop_hist *late = malloc(sizeof *late);
    if (late == NULL)
        return;
    int64_t now_us = delayd_wall_us();
    pthread_mutex_lock(&d->mu);
    uint64_t pending = d->ix.pending, delivered = d->delivered, cancelled = d->cancelled,
             failures = d->sink_failures;
    int64_t next = d->ix.heap_n ? delay_index_next_due(&d->ix) : 0;
    memcpy(late, &d->lateness_us, sizeof *late);
    shop_metrics_family(o, "mq_delay_topic_pending_messages", SHOP_METRIC_GAUGE,
                        "Delayed messages held, not yet handed to the broker, by topic.");
    for (uint32_t i = 0; i < d->ix.n_topics; i++) {
        const char *labels[] = {"topic", d->ix.topics[i].name, NULL};
        shop_metrics_sample(o, "mq_delay_topic_pending_messages", labels,
                            (double)d->ix.topics[i].pending);
    }
    pthread_mutex_unlock(&d->mu);
    shop_metrics_family(o, "mq_delay_pending_messages", SHOP_METRIC_GAUGE,
                        "Delayed messages held, not yet handed to the broker.");
    shop_metrics_sample(o, "mq_delay_pending_messages", NULL, (double)pending);
    shop_metrics_family(o, "mq_delay_next_due_timestamp_seconds", SHOP_METRIC_GAUGE,
                        "Unix time at which the earliest pending message is due (0: none).");
    shop_metrics_sample(o, "mq_delay_next_due_timestamp_seconds", NULL, (double)next / 1e6);
    shop_metrics_family(o, "mq_delay_next_due_in_seconds", SHOP_METRIC_GAUGE,
                        "Seconds until the earliest pending message is due (0: none; "
                        "negative: overdue).");
    shop_metrics_sample(o, "mq_delay_next_due_in_seconds", NULL,
                        next != 0 ? (double)(next - now_us) / 1e6 : 0);
    counter(o, "mq_delay_delivered_total", "Messages handed to the broker when due.", delivered);
    counter(o, "mq_delay_cancelled_total", "Delayed messages cancelled by key.", cancelled);
    counter(o, "mq_delay_sink_failures_total",
            "Hand-overs to the broker that failed (retried with backoff).", failures);
    shop_metrics_family(o, "mq_delay_lateness_seconds", SHOP_METRIC_HISTOGRAM,
                        "Time from a message's due time to its hand-over (never negative).");
    shop_metrics_hist(o, "mq_delay_lateness_seconds", NULL, late, 1e-6);
    free(late);
}
