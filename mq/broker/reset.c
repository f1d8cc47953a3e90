/* The reset-offset request, for `shopflow mq reset-offset`: a group's
 * cursor on one topic moved to an offset, or to the first record stored at
 * or after a time (a binary search on the records' broker timestamps, which
 * the broker's clock makes non-decreasing within a topic). The queue's
 * window is emptied as retention does when it passes a cursor: what was
 * ready or in flight is forgotten (the consumers' counts given back; a late
 * ack falls outside [base, next) and is ignored), and the next dispatch
 * reads from the new offset, so the group's consumers get deliveries from
 * there on. The new offset is persisted with the others (offsets_dirty). */
#include <string.h>

#include "mq/broker/broker.h"

#include "base/status.h"

/* The record's broker timestamp, -1 when it cannot be read. */
static int64_t stamp_at(mq_broker *b, const mq_topic *t, uint64_t off)
{
    const uint8_t *data;
    size_t len;
    if (mq_store_read(b->store, t, off, &data, &len) != 0)
        return -1;
    Shop__Mq__Record *r = shop__mq__record__unpack(NULL, len, data);
    int64_t ts = r ? r->timestamp_ms : -1;
    if (r)
        shop__mq__record__free_unpacked(r, NULL);
    return ts;
}

/* The first retained offset whose record was stored at or after ts_ms. */
static uint64_t offset_at_time(mq_broker *b, const mq_topic *t, int64_t ts_ms)
{
    uint64_t lo = t->start, hi = t->end;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int64_t s = stamp_at(b, t, mid);
        if (s >= 0 && s < ts_ms)
            lo = mid + 1;
        else
            hi = mid; /* a missing record counts as late: never skip past it */
    }
    return lo;
}

void bk_reset_offset(mq_broker *b, const Shop__Mq__ResetOffset *req, Shop__Mq__Reply *rep,
                     bk_arena *a)
{
    bk_group *g = req->group && req->group[0] ? bk_group_get(b, req->group, 0) : NULL;
    bk_queue *q = g && req->topic && req->topic[0] ? bk_queue_get(b, g, req->topic, 0) : NULL;
    Shop__Mq__ResetOffsetReply *rr = bk_alloc(a, sizeof *rr);
    if (!g || !q || q->retry) {
        rep->status = RPC_NOT_FOUND;
        rep->message = !g ? "no such consumer group" : "the group does not consume that topic";
        return;
    }
    if (!rr) {
        rep->status = RPC_RESOURCE_EXHAUSTED;
        rep->message = "out of memory";
        return;
    }
    shop__mq__reset_offset_reply__init(rr);
    const mq_topic *t = q->t;
    uint64_t to = req->by_time ? offset_at_time(b, t, req->timestamp_ms) : req->offset;
    if (to < t->start)
        to = t->start;
    if (to > t->end)
        to = t->end;
    rr->old_offset = q->base;
    for (uint64_t off = q->base; off < q->next; off++) {
        bk_entry *e = &q->win[off % BK_WINDOW];
        if (e->state != BK_INFLIGHT)
            continue;
        bk_consumer *c =
            e->consumer >= 0 && (size_t)e->consumer < b->ncons ? b->cons[e->consumer] : NULL;
        if (c && c->inflight > 0)
            c->inflight--;
        rr->forgotten_inflight++;
    }
    memset(q->win, 0, BK_WINDOW * sizeof *q->win);
    bk_ordered_clear(q);
    q->base = q->next = to;
    q->inflight = q->waiting = 0;
    q->ready_head = q->ready_len = 0;
    b->offsets_dirty = 1;
    rr->new_offset = to;
    rep->body_case = SHOP__MQ__REPLY__BODY_RESET_OFFSET;
    rep->reset_offset = rr;
}
