/* Consumer groups, their per-topic queues (delivery windows) and the
 * connected consumers. A queue's base is the group's committed offset. */
#include "mq/broker/broker.h"
#include "mq/broker/tags.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"

bk_group *bk_group_get(mq_broker *b, const char *name, int create)
{
    for (size_t i = 0; i < b->ngroups; i++)
        if (strcmp(b->groups[i]->name, name) == 0)
            return b->groups[i];
    if (!create)
        return NULL;
    bk_group **n = realloc(b->groups, (b->ngroups + 1) * sizeof *n);
    if (!n)
        return NULL;
    b->groups = n;
    bk_group *g = calloc(1, sizeof *g);
    if (!g || !(g->name = strdup(name))) {
        free(g);
        return NULL;
    }
    g->max_reconsume = 16;
    b->groups[b->ngroups++] = g;
    return g;
}

bk_queue *bk_queue_get(mq_broker *b, bk_group *g, const char *topic, int create)
{
    for (size_t i = 0; i < g->nq; i++)
        if (strcmp(g->queues[i]->t->name, topic) == 0)
            return g->queues[i];
    if (!create)
        return NULL;
    mq_topic *t = mq_store_topic(b->store, topic, 1);
    bk_queue **n = t ? realloc(g->queues, (g->nq + 1) * sizeof *n) : NULL;
    if (!n)
        return NULL;
    g->queues = n;
    bk_queue *q = calloc(1, sizeof *q);
    if (!q || !(q->win = calloc(BK_WINDOW, sizeof *q->win))) {
        free(q);
        return NULL;
    }
    q->g = g;
    q->t = t;
    q->retry = strncmp(topic, BK_RETRY_PREFIX, strlen(BK_RETRY_PREFIX)) == 0;
    q->base = q->next = t->start; /* a new group reads from the earliest retained */
    q->saved = UINT64_MAX;        /* not persisted yet */
    g->queues[g->nq++] = q;
    b->offsets_dirty = 1;
    return q;
}

void bk_queue_push_ready(bk_queue *q, uint64_t off)
{
    if (q->ready_len == q->ready_cap) {
        size_t cap = q->ready_cap ? 2 * q->ready_cap : 256;
        uint64_t *n = malloc(cap * sizeof *n);
        if (!n)
            return; /* the ack timeout scan finds it again */
        for (size_t i = 0; i < q->ready_len; i++)
            n[i] = q->ready[(q->ready_head + i) % q->ready_cap];
        free(q->ready);
        q->ready = n;
        q->ready_cap = cap;
        q->ready_head = 0;
    }
    q->ready[(q->ready_head + q->ready_len++) % q->ready_cap] = off;
}

void bk_queue_advance(mq_broker *b, bk_queue *q)
{
    uint64_t before = q->base;
    while (q->base < q->next && q->win[q->base % BK_WINDOW].state == BK_ACKED) {
        q->win[q->base % BK_WINDOW].state = BK_FREE;
        q->base++;
    }
    if (q->base != before)
        b->offsets_dirty = 1;
}

bk_consumer *bk_consumer_find(mq_broker *b, const char *id, int32_t *slot)
{
    for (size_t i = 0; i < b->ncons; i++)
        if (b->cons[i] && strcmp(b->cons[i]->id, id) == 0) {
            if (slot)
                *slot = (int32_t)i;
            return b->cons[i];
        }
    return NULL;
}

bk_consumer *bk_consumer_add(mq_broker *b, const char *id, bk_group *g)
{
    size_t slot = b->ncons;
    for (size_t i = 0; i < b->ncons; i++)
        if (!b->cons[i]) {
            slot = i;
            break;
        }
    if (slot == b->ncons) {
        bk_consumer **n = realloc(b->cons, (b->ncons + 1) * sizeof *n);
        if (!n)
            return NULL;
        b->cons = n;
        b->cons[b->ncons++] = NULL;
    }
    bk_consumer *c = calloc(1, sizeof *c);
    if (!c || !(c->id = strdup(id)) || !(c->out = calloc(BK_BATCH_MAX, sizeof *c->out)) ||
        !(c->outp = calloc(BK_BATCH_MAX, sizeof *c->outp))) {
        if (c) {
            free(c->id);
            free(c->out);
            free(c->outp);
        }
        free(c);
        return NULL;
    }
    c->g = g;
    c->last_seen_ms = shop_now_ms();
    b->cons[slot] = c;
    return c;
}

/* Everything the consumer held goes back to its group at once. */
void bk_consumer_remove(mq_broker *b, int32_t slot, const char *why)
{
    bk_consumer *c = b->cons[slot];
    if (!c)
        return;
    if (c->nout > 0)
        bk_publish(b, c);
    size_t requeued = 0;
    for (size_t i = 0; i < c->g->nq; i++) {
        bk_queue *q = c->g->queues[i];
        for (uint64_t off = q->base; off < q->next; off++) {
            bk_entry *e = &q->win[off % BK_WINDOW];
            if (e->state == BK_INFLIGHT && e->consumer == slot) {
                e->state = BK_READY;
                q->inflight--;
                bk_queue_push_ready(q, off);
                requeued++;
            }
        }
    }
    shop_log_info("consumer left id=%s group=%s why=%s requeued=%zu", c->id, c->g->name, why,
                  requeued);
    for (size_t i = 0; i < c->ntopics; i++)
        free(c->topics[i]);
    free(c->topics);
    free(c->out);
    free(c->outp);
    free(c->id);
    free(c);
    b->cons[slot] = NULL;
}

void bk_groups_free(mq_broker *b)
{
    for (size_t i = 0; i < b->ncons; i++)
        if (b->cons[i])
            bk_consumer_remove(b, (int32_t)i, "broker stopping");
    for (size_t i = 0; i < b->ngroups; i++) {
        for (size_t j = 0; j < b->groups[i]->nq; j++) {
            free(b->groups[i]->queues[j]->win);
            free(b->groups[i]->queues[j]->ready);
            bk_tags_free(b->groups[i]->queues[j]->filter);
            free(b->groups[i]->queues[j]);
        }
        free(b->groups[i]->queues);
        free(b->groups[i]->name);
        free(b->groups[i]);
    }
    free(b->groups);
    free(b->cons);
    b->groups = NULL;
    b->cons = NULL;
    b->ngroups = b->ncons = 0;
}
