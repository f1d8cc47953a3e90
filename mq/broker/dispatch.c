/* Delivery: hands ready and new records to the group's consumers in
 * round-robin chunks, publishes them in batches over PUB/SUB, and on every
 * tick redelivers what timed out, releases retries that are due and drops
 * consumers that stopped heartbeating. */
#include "mq/broker/broker.h"
#include "mq/broker/tags.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "mq/broker/trace.h"

#define BK_CHUNK 64            /* messages to one consumer before moving to the next */
#define BK_FILTER_LOOKAHEAD 64 /* records scanned ahead of the filter's prefetch */

int bk_delivery_fill(mq_broker *b, bk_queue *q, uint64_t off, Shop__Mq__Delivery *d)
{
    const uint8_t *data;
    size_t len;
    if (mq_store_read(b->store, q->t, off, &data, &len) != 0)
        return -1;
    shop__mq__delivery__init(d);
    d->topic = q->t->name;
    d->offset = off;
    d->reconsume_times = q->win[off % BK_WINDOW].reconsume;
    d->record.data = (uint8_t *)data;
    d->record.len = len;
    return 0;
}

/* Whether the queue's tag expression (tags.c) rejects the record at off:
 * on the tag hash kept in the topic index, and only for a hash that
 * matches, on the tag read from the record (two tags can share a hash). */
static int bk_filtered_out(mq_broker *b, bk_queue *q, uint64_t off)
{
    if (!q->filter)
        return 0;
    if (!bk_tags_hash_may_match(q->filter, mq_store_record_tag(q->t, off)))
        return 1;
    const uint8_t *data;
    size_t len;
    if (mq_store_read(b->store, q->t, off, &data, &len) != 0)
        return 0;
    return !bk_tags_match(q->filter, data, len);
}

static int consumer_takes(const bk_consumer *c, const bk_queue *q)
{
    if (c->inflight >= c->max_inflight || c->nout >= BK_BATCH_MAX)
        return 0;
    if (q->retry)
        return 1;
    for (size_t i = 0; i < c->ntopics; i++)
        if (strcmp(c->topics[i], q->t->name) == 0)
            return 1;
    return 0;
}

/* The next consumer of g that takes from q, keeping one for BK_CHUNK in a row. */
static int32_t pick_consumer(mq_broker *b, bk_group *g, bk_queue *q)
{
    if (b->ncons == 0)
        return -1;
    for (size_t tried = 0; tried <= b->ncons; tried++) {
        size_t i = g->rr % b->ncons;
        bk_consumer *c = b->cons[i];
        /* Ordered: heads one by one, so that keys (their owners) spread. */
        if (c && c->g == g && g->chunk < (q->keys ? 1 : BK_CHUNK) && consumer_takes(c, q)) {
            g->chunk++;
            return (int32_t)i;
        }
        g->rr++;
        g->chunk = 0;
    }
    return -1;
}

/* For a retry record: its due time and reconsume count from its properties. */
static void retry_meta(mq_broker *b, bk_queue *q, uint64_t off, int64_t *due, uint16_t *times)
{
    const uint8_t *data;
    size_t len;
    *due = 0;
    *times = 0;
    if (mq_store_read(b->store, q->t, off, &data, &len) != 0)
        return;
    Shop__Mq__Record *r = shop__mq__record__unpack(NULL, len, data);
    if (!r)
        return;
    for (size_t i = 0; i < r->n_properties; i++) {
        if (strcmp(r->properties[i]->key, BK_PROP_DUE) == 0)
            *due = strtoll(r->properties[i]->value, NULL, 10);
        else if (strcmp(r->properties[i]->key, BK_PROP_TIMES) == 0)
            *times = (uint16_t)strtoul(r->properties[i]->value, NULL, 10);
    }
    shop__mq__record__free_unpacked(r, NULL);
}

/* A group on a few tags reads records far apart, where the CPU's own
 * prefetch does not help: the records of its tags in the next
 * BK_FILTER_LOOKAHEAD offsets past `from` are asked for now, each once. */
static void prefetch_filtered(mq_broker *b, bk_queue *q, uint64_t from)
{
    uint64_t until = from + BK_FILTER_LOOKAHEAD;
    if (q->prefetched <= from || q->prefetched > until)
        q->prefetched = from + 1;
    while (q->prefetched < until) {
        uint64_t m =
            mq_store_next_tagged(q->t, q->prefetched, until, q->filter->hash, q->filter->n);
        if (m >= until || m >= q->t->end)
            break;
        mq_store_prefetch(b->store, q->t, m);
        q->prefetched = m + 1;
    }
}

/* Moves a tag-filtered queue past the run of records at q->next its
 * expression rejects by their index hash alone (at most the window's room,
 * only durable ones): a tight scan of the index instead of one window entry
 * per record. With nothing outstanding the committed offset jumps over the
 * run; otherwise the run waits in the window, acked, for the base to pass.
 * The record that ends the run goes through bk_filtered_out as before. */
static void skip_filtered_run(mq_broker *b, bk_queue *q, uint64_t durable)
{
    uint64_t limit = q->base + BK_WINDOW;
    uint64_t stop = mq_store_next_tagged(q->t, q->next, limit, q->filter->hash, q->filter->n);
    prefetch_filtered(b, q, stop);
    if (stop <= q->next || mq_store_record_position(q->t, stop - 1) >= durable)
        return; /* nothing to skip, or a record of the run is not yet durable */
    q->filtered += stop - q->next;
    if (q->base == q->next) {
        q->base = q->next = stop;
        b->offsets_dirty = 1;
        return;
    }
    for (uint64_t off = q->next; off < stop; off++)
        q->win[off % BK_WINDOW] = (bk_entry){.state = BK_ACKED, .consumer = -1};
    q->next = stop;
}

/* The next offset of q to deliver: a redelivery first, then a new record. */
static int next_offset(mq_broker *b, bk_queue *q, int64_t now_wall, uint64_t *off)
{
    while (q->ready_len > 0) {
        *off = q->ready[q->ready_head];
        q->ready_head = (q->ready_head + 1) % q->ready_cap;
        q->ready_len--;
        if (*off >= q->base && *off < q->next && q->win[*off % BK_WINDOW].state == BK_READY)
            return 1;
    }
    uint64_t durable = atomic_load(&b->durable);
    while (q->next < q->t->end && q->next - q->base < BK_WINDOW) {
        if (q->filter && !q->retry) {
            skip_filtered_run(b, q, durable);
            if (q->next >= q->t->end || q->next - q->base >= BK_WINDOW)
                break;
        }
        if (mq_store_record_position(q->t, q->next) >= durable)
            return 0; /* flush=sync: not delivered before it is durable */
        *off = q->next++;
        bk_entry *e = &q->win[*off % BK_WINDOW];
        *e = (bk_entry){.state = BK_READY, .consumer = -1};
        if (!q->retry && bk_filtered_out(b, q, *off)) {
            e->state = BK_ACKED; /* consumed for the group, never sent */
            q->filtered++;
            bk_queue_advance(b, q);
            continue;
        }
        if (q->keys && !bk_ordered_admit(b, q, *off))
            continue; /* its key has an earlier record not yet acknowledged */
        if (!q->retry)
            return 1;
        int64_t due;
        retry_meta(b, q, *off, &due, &e->reconsume);
        if (due <= now_wall)
            return 1;
        e->state = BK_WAITING;
        e->when_ms = due;
        q->waiting++;
    }
    return 0;
}

int bk_give(mq_broker *b, bk_queue *q, uint64_t off, int32_t slot)
{
    bk_consumer *c = b->cons[slot];
    bk_entry *e = &q->win[off % BK_WINDOW];
    if (bk_delivery_fill(b, q, off, &c->out[c->nout]) != 0)
        return -1;
    e->state = BK_INFLIGHT;
    e->consumer = slot;
    e->when_ms = shop_now_ms() + b->o.ack_timeout_ms;
    q->inflight++;
    c->inflight++;
    c->out_bytes += c->out[c->nout].record.len;
    e->seq = (uint32_t)(c->seq + 1); /* the batch it goes out in, for pulls */
    bk_trace_note(b->trace, BK_TR_DELIVERED, q->t->name, off, q->g->name, c->id, e->reconsume + 1u);
    c->nout++;
    if (c->nout == BK_BATCH_MAX || c->out_bytes >= BK_BATCH_BYTES)
        bk_publish(b, c);
    return 0;
}

/* Hands out at most `quota` records of q; returns how many. */
static int dispatch_queue(mq_broker *b, bk_queue *q, int64_t now_wall, int quota)
{
    int given = 0;
    while (given < quota) {
        int32_t slot = pick_consumer(b, q->g, q);
        uint64_t off;
        if (slot < 0 || !next_offset(b, q, now_wall, &off))
            break;
        if (q->keys) /* a key held back by RECONSUME_LATER goes back to its owner */
            slot = bk_ordered_owner(b, q, off, slot);
        if (bk_give(b, q, off, slot) != 0) {
            q->win[off % BK_WINDOW].state = BK_ACKED; /* deleted by retention or corrupt */
            if (q->keys)
                bk_ordered_release(b, q, off);
            bk_queue_advance(b, q);
            continue;
        }
        if (q->keys)
            bk_ordered_sent(b, q, off, slot);
        given++;
    }
    return given;
}

void bk_dispatch(mq_broker *b)
{
    int64_t now_wall = shop_wall_ms();
    /* In rounds of a quantum per queue, so that one topic's backlog does not
     * starve the group's other topics or its retries. */
    int progress;
    do {
        progress = 0;
        for (size_t i = 0; i < b->ngroups; i++) {
            bk_group *g = b->groups[i];
            size_t first = g->nq ? g->qnext++ % g->nq : 0; /* who goes first rotates */
            for (size_t j = 0; j < g->nq; j++)
                progress += dispatch_queue(b, g->queues[(first + j) % g->nq], now_wall, 256);
        }
    } while (progress > 0);
    for (size_t i = 0; i < b->ncons; i++)
        if (b->cons[i] && b->cons[i]->nout > 0)
            bk_publish(b, b->cons[i]);
}

void bk_publish(mq_broker *b, bk_consumer *c)
{
    Shop__Mq__Deliver d = SHOP__MQ__DELIVER__INIT;
    for (size_t i = 0; i < c->nout; i++)
        c->outp[i] = &c->out[i];
    d.seq = ++c->seq;
    d.n_deliveries = c->nout;
    d.deliveries = c->outp;
    size_t idlen = strlen(c->id);
    size_t len = shop__mq__deliver__get_packed_size(&d);
    nng_msg *m;
    if (nng_msg_alloc(&m, idlen + 1 + len) == 0) {
        uint8_t *p = nng_msg_body(m);
        memcpy(p, c->id, idlen);
        p[idlen] = '\n';
        shop__mq__deliver__pack(&d, p + idlen + 1);
        if (nng_sendmsg(b->pub, m, NNG_FLAG_NONBLOCK) != 0)
            nng_msg_free(m); /* the consumer sees the gap and pulls */
    }
    c->nout = 0;
    c->out_bytes = 0;
}

static void tick_queue(mq_broker *b, bk_queue *q, int64_t now, int64_t now_wall)
{
    if (q->next < q->t->start) { /* retention passed the unread part */
        memset(q->win, 0, BK_WINDOW * sizeof *q->win);
        q->base = q->next = q->t->start;
        q->inflight = q->waiting = q->ready_len = 0;
        bk_ordered_clear(q);
        b->offsets_dirty = 1;
        return;
    }
    for (uint64_t off = q->base; off < q->next; off++) {
        bk_entry *e = &q->win[off % BK_WINDOW];
        if (e->state == BK_INFLIGHT && e->when_ms <= now && q->keys) {
            bk_ordered_timeout(b, q, off, now);
        } else if (e->state == BK_INFLIGHT && e->when_ms <= now) {
            bk_consumer *c =
                e->consumer >= 0 && (size_t)e->consumer < b->ncons ? b->cons[e->consumer] : NULL;
            if (c && c->inflight > 0)
                c->inflight--;
            q->inflight--;
            e->state = BK_READY;
            bk_queue_push_ready(q, off);
            bk_trace_note(b->trace, BK_TR_TIMEOUT, q->t->name, off, q->g->name, c ? c->id : NULL,
                          e->reconsume + 1u);
        } else if (e->state == BK_WAITING && e->when_ms <= now_wall) {
            q->waiting--;
            e->state = BK_READY;
            bk_queue_push_ready(q, off);
        }
    }
}

void bk_tick(mq_broker *b, int64_t now)
{
    for (size_t i = 0; i < b->ncons; i++)
        if (b->cons[i] && now - b->cons[i]->last_seen_ms > b->o.consumer_timeout_ms)
            bk_consumer_remove(b, (int32_t)i, "heartbeat timeout");
    int64_t now_wall = shop_wall_ms();
    for (size_t i = 0; i < b->ngroups; i++)
        for (size_t j = 0; j < b->groups[i]->nq; j++)
            tick_queue(b, b->groups[i]->queues[j], now, now_wall);
}
