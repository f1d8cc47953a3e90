/* The stats and dlq requests: per topic and per group figures, and listing
 * or re-driving a group's dead letters. */
#include "mq/broker/broker.h"
#include "mq/broker/tags.h"

#include <stdio.h>
#include <string.h>

#include "base/status.h"

uint64_t bk_group_retrying(const bk_group *g)
{
    uint64_t n = 0;
    for (size_t j = 0; j < g->nq; j++)
        if (g->queues[j]->retry)
            n += g->queues[j]->t->end - g->queues[j]->base;
    return n;
}

uint64_t bk_group_consumers(mq_broker *b, bk_group *g)
{
    uint64_t n = 0;
    for (size_t i = 0; i < b->ncons; i++)
        n += b->cons[i] && b->cons[i]->g == g;
    return n;
}

/* Dead letters of g not yet re-driven. */
uint64_t bk_dlq_size(mq_broker *b, bk_group *g, uint64_t *from)
{
    char name[300];
    snprintf(name, sizeof name, "%s%s", BK_DLQ_PREFIX, g->name);
    mq_topic *t = mq_store_topic(b->store, name, 0);
    if (!t)
        return 0;
    snprintf(name, sizeof name, "%s%s", BK_REDRIVE_PREFIX, g->name);
    bk_group *cur = bk_group_get(b, name, 0);
    bk_queue *q = cur && cur->nq ? cur->queues[0] : NULL;
    uint64_t start = q && q->base > t->start ? q->base : t->start;
    if (from)
        *from = start;
    return t->end - start;
}

void bk_stats(mq_broker *b, Shop__Mq__Reply *rep, bk_arena *a)
{
    Shop__Mq__StatsReply *sr = bk_alloc(a, sizeof *sr);
    size_t nt = mq_store_topic_count(b->store), ng = 0;
    for (size_t i = 0; i < b->ngroups; i++)
        ng += b->groups[i]->nq;
    Shop__Mq__TopicStats *ts = bk_alloc(a, (nt + 1) * sizeof *ts);
    Shop__Mq__TopicStats **tp = bk_alloc(a, (nt + 1) * sizeof *tp);
    Shop__Mq__GroupStats *gs = bk_alloc(a, (ng + 1) * sizeof *gs);
    Shop__Mq__GroupStats **gp = bk_alloc(a, (ng + 1) * sizeof *gp);
    if (!sr || !ts || !tp || !gs || !gp) {
        rep->status = RPC_RESOURCE_EXHAUSTED;
        rep->message = "out of memory";
        return;
    }
    shop__mq__stats_reply__init(sr);
    for (size_t i = 0; i < nt; i++) {
        mq_topic *t = mq_store_topic_at(b->store, i);
        shop__mq__topic_stats__init(&ts[i]);
        ts[i].topic = t->name;
        ts[i].start_offset = t->start;
        ts[i].end_offset = t->end;
        ts[i].bytes = t->bytes;
        tp[i] = &ts[i];
    }
    size_t k = 0;
    for (size_t i = 0; i < b->ngroups; i++) {
        bk_group *g = b->groups[i];
        if (strncmp(g->name, BK_REDRIVE_PREFIX, strlen(BK_REDRIVE_PREFIX)) == 0)
            continue;
        uint64_t retrying = bk_group_retrying(g), dlq = bk_dlq_size(b, g, NULL);
        for (size_t j = 0; j < g->nq; j++) {
            bk_queue *q = g->queues[j];
            if (q->retry)
                continue;
            Shop__Mq__GroupStats *s = &gs[k];
            shop__mq__group_stats__init(s);
            s->group = g->name;
            s->topic = q->t->name;
            s->end_offset = q->t->end;
            s->committed = q->base;
            s->lag = q->t->end - q->base;
            s->inflight = q->inflight;
            s->retrying = retrying;
            s->dlq_size = dlq;
            s->consumers = (uint32_t)bk_group_consumers(b, g);
            s->tags = q->filter ? q->filter->text : "";
            s->filtered = q->filtered;
            gp[k++] = s;
        }
    }
    sr->n_topics = nt;
    sr->topics = tp;
    sr->n_groups = k;
    sr->groups = gp;
    mq_store_usage(b->store, &sr->segments, &sr->store_bytes);
    mq_store_sync_stats(b->store, &sr->syncs, &sr->sync_us_total);
    rep->body_case = SHOP__MQ__REPLY__BODY_STATS;
    rep->stats = sr;
}

void bk_dlq(mq_broker *b, const Shop__Mq__Dlq *req, Shop__Mq__Reply *rep, bk_arena *a)
{
    bk_group *g = req->group ? bk_group_get(b, req->group, 0) : NULL;
    if (!g) {
        rep->status = RPC_NOT_FOUND;
        rep->message = "no such consumer group";
        return;
    }
    Shop__Mq__DlqReply *dr = bk_alloc(a, sizeof *dr);
    uint32_t max = req->max ? req->max : 100;
    if (max > 10000)
        max = 10000;
    Shop__Mq__Delivery *ds = bk_alloc(a, (max + 1) * sizeof *ds);
    Shop__Mq__Delivery **dp = bk_alloc(a, (max + 1) * sizeof *dp);
    if (!dr || !ds || !dp) {
        rep->status = RPC_RESOURCE_EXHAUSTED;
        rep->message = "out of memory";
        return;
    }
    shop__mq__dlq_reply__init(dr);
    uint64_t from = 0;
    dr->total = bk_dlq_size(b, g, &from);
    char name[300];
    snprintf(name, sizeof name, "%s%s", BK_DLQ_PREFIX, g->name);
    mq_topic *t = mq_store_topic(b->store, name, 0);
    for (uint64_t off = from; t && off < t->end && dr->n_records < max; off++) {
        const uint8_t *data;
        size_t len;
        if (mq_store_read(b->store, t, off, &data, &len) != 0)
            continue;
        Shop__Mq__Delivery *d = &ds[dr->n_records];
        shop__mq__delivery__init(d);
        d->topic = t->name;
        d->offset = off;
        d->record.data = (uint8_t *)data;
        d->record.len = len;
        dp[dr->n_records++] = d;
    }
    dr->records = dp;
    if (req->redrive) {
        char err[256];
        if (bk_redrive(b, g, &dr->redriven, err, sizeof err) != 0) {
            rep->status = RPC_INTERNAL;
            char *m = bk_alloc(a, strlen(err) + 1);
            rep->message = m ? strcpy(m, err) : "redrive failed";
        }
    }
    rep->body_case = SHOP__MQ__REPLY__BODY_DLQ;
    rep->dlq = dr;
}
