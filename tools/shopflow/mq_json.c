/* The broker's and mq-delayd's answers as JSON (mq_json.h). */
#include "tools/shopflow/mq_json.h"
#include "tools/shopflow/mq_cli.h"

#include <string.h>

json_t *mq_json_stats(const Shop__Mq__StatsReply *r)
{
    json_t *topics = json_array(), *groups = json_array();
    for (size_t i = 0; i < r->n_topics; i++)
        json_array_append_new(topics,
                              json_pack("{s:s, s:I, s:I, s:I}", "topic", r->topics[i]->topic,
                                        "start_offset", (json_int_t)r->topics[i]->start_offset,
                                        "end_offset", (json_int_t)r->topics[i]->end_offset, "bytes",
                                        (json_int_t)r->topics[i]->bytes));
    for (size_t i = 0; i < r->n_groups; i++) {
        const Shop__Mq__GroupStats *g = r->groups[i];
        json_array_append_new(
            groups,
            json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:s}", "group", g->group,
                      "topic", g->topic, "end_offset", (json_int_t)g->end_offset, "committed",
                      (json_int_t)g->committed, "lag", (json_int_t)g->lag, "inflight",
                      (json_int_t)g->inflight, "retrying", (json_int_t)g->retrying, "dlq_size",
                      (json_int_t)g->dlq_size, "consumers", (int)g->consumers, "mode",
                      g->mode && *g->mode ? g->mode : "clustering"));
    }
    return json_pack("{s:I, s:I, s:I, s:f, s:o, s:o}", "segments", (json_int_t)r->segments,
                     "store_bytes", (json_int_t)r->store_bytes, "syncs", (json_int_t)r->syncs,
                     "sync_mean_us", r->syncs ? (double)r->sync_us_total / (double)r->syncs : 0.0,
                     "topics", topics, "groups", groups);
}

static const char *prop(const Shop__Mq__Record *r, const char *key)
{
    const char *v = mq_cli_prop(r, key);
    return v != NULL ? v : "";
}

json_t *mq_json_dlq(const char *group, const Shop__Mq__DlqReply *r, int redrive)
{
    json_t *records = json_array();
    for (size_t i = 0; i < r->n_records; i++) {
        const Shop__Mq__Delivery *d = r->records[i];
        Shop__Mq__Record *rec = shop__mq__record__unpack(NULL, d->record.len, d->record.data);
        if (rec == NULL)
            continue;
        json_array_append_new(
            records, json_pack("{s:I, s:s, s:s, s:s, s:s, s:I}", "offset", (json_int_t)d->offset,
                               "id", rec->id, "origin_topic", prop(rec, "%ORIGIN_TOPIC"), "key",
                               rec->key, "reconsume_times", prop(rec, "%RECONSUME_TIMES"), "len",
                               (json_int_t)rec->body.len));
        shop__mq__record__free_unpacked(rec, NULL);
    }
    json_t *o = json_pack("{s:s, s:I, s:I, s:o}", "group", group, "total", (json_int_t)r->total,
                          "listed", (json_int_t)json_array_size(records), "records", records);
    if (o != NULL && redrive)
        json_object_set_new(o, "redriven", json_integer((json_int_t)r->redriven));
    return o;
}

json_t *mq_json_delay_stats(const char *url, const mq_delay_stats *s)
{
    json_t *topics = json_array();
    for (size_t i = 0; i < s->n_topics; i++)
        json_array_append_new(topics,
                              json_pack("{s:s, s:I, s:I}", "topic", s->topics[i].topic, "pending",
                                        (json_int_t)s->topics[i].pending, "next_due_us",
                                        (json_int_t)s->topics[i].next_due_us));
    return json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:o}", "url", url, "pending",
        (json_int_t)s->pending, "next_due_us", (json_int_t)s->next_due_us, "delivered",
        (json_int_t)s->delivered, "cancelled", (json_int_t)s->cancelled, "sink_failures",
        (json_int_t)s->sink_failures, "segments", (json_int_t)s->segments, "lateness_us", "samples",
        (json_int_t)s->lateness_samples, "p50", (json_int_t)s->lateness_p50_us, "p99",
        (json_int_t)s->lateness_p99_us, "max", (json_int_t)s->lateness_max_us, "topics", topics);
}
