/* RECONSUME_LATER: the message is stored again in the group's %RETRY% topic
 * with its due time (RocketMQ's delay levels 3.., scaled by --retry-scale),
 * or in %DLQ%<group> after max_reconsume; then the original counts as acked.
 * Re-driving moves dead letters back into the retry topic, due at once.
 * A copy that a failed write drops (a full disk) is kept in memory and
 * stored again once the log takes writes: its original is acked already. */
#include "mq/broker/broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "mq/broker/trace.h"

/* RocketMQ's 18 delay levels in seconds. */
static const int64_t delay_levels_s[] = {1,   5,   10,  30,  60,  120,  180,  240,  300,
                                         360, 420, 480, 540, 600, 1200, 1800, 3600, 7200};

int64_t bk_retry_delay_ms(const mq_broker *b, unsigned times)
{
    unsigned level = 3 + times; /* the first retry waits level 3 (10 s), as RocketMQ */
    if (level > 18)
        level = 18;
    double ms = (double)delay_levels_s[level - 1] * 1000.0 * b->o.retry_scale;
    return ms < 1 ? 1 : (int64_t)ms;
}

static const char *prop_get(const Shop__Mq__Record *r, const char *key)
{
    for (size_t i = 0; i < r->n_properties; i++)
        if (strcmp(r->properties[i]->key, key) == 0)
            return r->properties[i]->value;
    return NULL;
}

/* Stores a copy of `r` in `topic` with the internal properties replaced. */
static int store_copy(mq_broker *b, const Shop__Mq__Record *r, const char *topic,
                      const char *origin, unsigned times, int64_t due, char *err, size_t errlen)
{
    size_t n = 0;
    Shop__Mq__Property *props = calloc(r->n_properties + 3, sizeof *props);
    Shop__Mq__Property **pp = calloc(r->n_properties + 3, sizeof *pp);
    char times_s[16], due_s[24];
    int rc = -1;
    if (!props || !pp) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < r->n_properties; i++)
        if (r->properties[i]->key[0] != '%')
            props[n++] = *r->properties[i];
    snprintf(times_s, sizeof times_s, "%u", times);
    snprintf(due_s, sizeof due_s, "%lld", (long long)due);
    const char *kv[3][2] = {
        {BK_PROP_ORIGIN, origin}, {BK_PROP_TIMES, times_s}, {BK_PROP_DUE, due_s}};
    for (int i = 0; i < 3; i++) {
        shop__mq__property__init(&props[n]);
        props[n].key = (char *)kv[i][0];
        props[n++].value = (char *)kv[i][1];
    }
    for (size_t i = 0; i < n; i++)
        pp[i] = &props[i];
    Shop__Mq__Record c = *r;
    c.topic = (char *)topic;
    c.properties = pp;
    c.n_properties = n;
    uint64_t off;
    rc = mq_store_append(b->store, &c, &off, err, errlen);
    if (rc == 0)
        b->appended = 1;
done:
    free(props);
    free(pp);
    return rc;
}

int bk_reconsume_later(mq_broker *b, bk_queue *q, uint64_t off, char *err, size_t errlen)
{
    const uint8_t *data;
    size_t len;
    if (mq_store_read(b->store, q->t, off, &data, &len) != 0)
        return 0; /* no longer stored: nothing to retry */
    Shop__Mq__Record *r = shop__mq__record__unpack(NULL, len, data);
    if (!r) {
        snprintf(err, errlen, "stored record %s/%llu does not decode", q->t->name,
                 (unsigned long long)off);
        return -1;
    }
    const char *origin = prop_get(r, BK_PROP_ORIGIN);
    origin = origin ? origin : r->topic;
    unsigned times = q->win[off % BK_WINDOW].reconsume;
    char topic[300];
    int rc;
    if (times >= q->g->max_reconsume) {
        snprintf(topic, sizeof topic, "%s%s", BK_DLQ_PREFIX, q->g->name);
        rc = store_copy(b, r, topic, origin, times, 0, err, errlen);
        shop_log_info("dead letter group=%s topic=%s id=%s times=%u", q->g->name, origin, r->id,
                      times);
    } else {
        snprintf(topic, sizeof topic, "%s%s", BK_RETRY_PREFIX, q->g->name);
        int64_t due = shop_wall_ms() + bk_retry_delay_ms(b, times);
        rc = store_copy(b, r, topic, origin, times + 1, due, err, errlen);
        if (rc == 0)
            bk_queue_get(b, q->g, topic, 1);
    }
    shop__mq__record__free_unpacked(r, NULL);
    return rc;
}

int bk_redrive(mq_broker *b, bk_group *g, uint64_t *count, char *err, size_t errlen)
{
    char name[300], dlq[300], retry[300];
    snprintf(name, sizeof name, "%s%s", BK_REDRIVE_PREFIX, g->name);
    snprintf(dlq, sizeof dlq, "%s%s", BK_DLQ_PREFIX, g->name);
    snprintf(retry, sizeof retry, "%s%s", BK_RETRY_PREFIX, g->name);
    bk_group *cursor = bk_group_get(b, name, 1);
    bk_queue *q = cursor ? bk_queue_get(b, cursor, dlq, 1) : NULL;
    if (!q || !bk_queue_get(b, g, retry, 1)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *count = 0;
    uint64_t off = q->base > q->t->start ? q->base : q->t->start;
    int64_t now = shop_wall_ms();
    for (; off < q->t->end; off++) {
        const uint8_t *data;
        size_t len;
        if (mq_store_read(b->store, q->t, off, &data, &len) != 0)
            continue;
        Shop__Mq__Record *r = shop__mq__record__unpack(NULL, len, data);
        if (!r)
            continue;
        const char *origin = prop_get(r, BK_PROP_ORIGIN);
        bk_trace_note(b->trace, BK_TR_REDRIVEN, dlq, off, g->name, NULL, 0);
        int rc = store_copy(b, r, retry, origin ? origin : r->topic, 0, now, err, errlen);
        shop__mq__record__free_unpacked(r, NULL);
        if (rc != 0)
            return -1;
        (*count)++;
        q->base = q->next = off + 1;
        b->offsets_dirty = 1;
    }
    return 0;
}

void bk_orphans_keep(void *arg, const mq_topic *t, const uint8_t *rec, size_t len)
{
    mq_broker *b = arg;
    if (strncmp(t->name, BK_RETRY_PREFIX, strlen(BK_RETRY_PREFIX)) != 0 &&
        strncmp(t->name, BK_DLQ_PREFIX, strlen(BK_DLQ_PREFIX)) != 0)
        return; /* a producer's message: its send is refused */
    if (b->norphans == b->orphans_cap) {
        size_t cap = b->orphans_cap ? 2 * b->orphans_cap : 16;
        bk_orphan *n = realloc(b->orphans, cap * sizeof *n);
        if (!n) {
            shop_log_error("retry copy lost (out of memory) topic=%s", t->name);
            return;
        }
        b->orphans = n;
        b->orphans_cap = cap;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        shop_log_error("retry copy lost (out of memory) topic=%s", t->name);
        return;
    }
    memcpy(copy, rec, len);
    b->orphans[b->norphans].rec = copy;
    b->orphans[b->norphans].len = len;
    b->norphans++;
}

size_t bk_orphans_restore(mq_broker *b)
{
    size_t done = 0;
    for (; done < b->norphans; done++) {
        bk_orphan *o = &b->orphans[done];
        Shop__Mq__Record *r = shop__mq__record__unpack(NULL, o->len, o->rec);
        char err[400];
        uint64_t off;
        int rc = r ? mq_store_append(b->store, r, &off, err, sizeof err) : 0;
        if (r)
            shop__mq__record__free_unpacked(r, NULL);
        if (rc != 0)
            break; /* still no room: later */
        free(o->rec);
    }
    memmove(b->orphans, b->orphans + done, (b->norphans - done) * sizeof *b->orphans);
    b->norphans -= done;
    return done;
}

void bk_orphans_free(mq_broker *b)
{
    if (b->norphans > 0)
        shop_log_error(
            "retry copies not stored at shutdown count=%zu (their offsets were not saved)",
            b->norphans);
    for (size_t i = 0; i < b->norphans; i++)
        free(b->orphans[i].rec);
    free(b->orphans);
    b->orphans = NULL;
    b->norphans = b->orphans_cap = 0;
}
