/* The peek request: stored records of one topic by offset, for `shopflow mq
 * peek`. Read-only (no group, no ack, no offset moves). The request is
 * untrusted: the count is clamped to 1..1000 and the reply to 4 MiB of
 * records (at least one, so a large record is still readable), an unknown
 * topic is NOT_FOUND, an offset past the end gives an empty list. */
#include <string.h>

#include "mq/broker/broker.h"

#include "base/status.h"

#define PEEK_DEFAULT 10
#define PEEK_MAX 1000
#define PEEK_MAX_BYTES (4u << 20)

void bk_peek(mq_broker *b, const Shop__Mq__Peek *req, Shop__Mq__Reply *rep, bk_arena *a)
{
    mq_topic *t = req->topic && req->topic[0] ? mq_store_topic(b->store, req->topic, 0) : NULL;
    if (!t) {
        rep->status = RPC_NOT_FOUND;
        rep->message = "no such topic";
        return;
    }
    uint32_t max = req->count == 0 ? PEEK_DEFAULT : req->count > PEEK_MAX ? PEEK_MAX : req->count;
    Shop__Mq__PeekReply *pr = bk_alloc(a, sizeof *pr);
    Shop__Mq__Delivery *ds = bk_alloc(a, (max + 1) * sizeof *ds);
    Shop__Mq__Delivery **dp = bk_alloc(a, (max + 1) * sizeof *dp);
    if (!pr || !ds || !dp) {
        rep->status = RPC_RESOURCE_EXHAUSTED;
        rep->message = "out of memory";
        return;
    }
    shop__mq__peek_reply__init(pr);
    pr->start_offset = t->start;
    pr->end_offset = t->end;
    size_t bytes = 0;
    uint64_t off = req->offset < t->start ? t->start : req->offset;
    for (; off < t->end && pr->n_records < max && (bytes < PEEK_MAX_BYTES || !pr->n_records);
         off++) {
        const uint8_t *data;
        size_t len;
        if (mq_store_read(b->store, t, off, &data, &len) != 0)
            continue; /* a corrupt record skipped at recovery */
        Shop__Mq__Delivery *d = &ds[pr->n_records];
        shop__mq__delivery__init(d);
        d->topic = t->name;
        d->offset = off;
        d->record.data = (uint8_t *)data;
        d->record.len = len;
        dp[pr->n_records++] = d;
        bytes += len;
    }
    pr->records = dp;
    rep->body_case = SHOP__MQ__REPLY__BODY_PEEK;
    rep->peek = pr;
}
