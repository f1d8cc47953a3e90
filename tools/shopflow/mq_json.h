/* The broker's and mq-delayd's answers as JSON (jansson) for `shopflow mq
 * stats|dlq --json` and `shopflow delay stats --json`. Counters are plain
 * JSON numbers (exact up to 2^53, far beyond any count here). */
#ifndef SHOPFLOW_MQ_JSON_H
#define SHOPFLOW_MQ_JSON_H

#include <jansson.h>

#include "mq.pb-c.h"
#include "mq/mq_delay.h"

/* {"segments", "store_bytes", "syncs", "sync_mean_us", "topics": [...],
 * "groups": [...]}; a new reference. */
json_t *mq_json_stats(const Shop__Mq__StatsReply *r);

/* {"group", "total", "listed", "redriven", "records": [{offset, id,
 * origin_topic, key, reconsume_times, len}]}. */
json_t *mq_json_dlq(const char *group, const Shop__Mq__DlqReply *r, int redrive);

/* mq-delayd's stats: {"url", "pending", "next_due_us", "delivered", ...,
 * "lateness_us": {...}, "topics": [...]}. */
json_t *mq_json_delay_stats(const char *url, const mq_delay_stats *s);

#endif
