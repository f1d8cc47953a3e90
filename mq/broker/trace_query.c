/* The trace request: the events of one message id, oldest first. Its stored
 * copies are found by the STORED events that carry the id's hash, and also
 * by the store's table of recent ids (per topic), so that a copy whose
 * STORED event left the ring is still found. */
#include "mq/broker/broker.h"

#include <stdlib.h>
#include <string.h>

#include "mq/broker/trace.h"
#include "mq/broker/txn.h"

#define TRACE_MAX 10000

void bk_trace_query(mq_broker *b, const Shop__Mq__TraceQuery *req, Shop__Mq__Reply *rep,
                    bk_arena *a)
{
    if (!req->id || !*req->id || strlen(req->id) > 64) {
        rep->status = RPC_INVALID_ARGUMENT;
        rep->message = "a trace names a message id (1..64 characters)";
        return;
    }
    if (!b->trace) {
        rep->status = RPC_FAILED_PRECONDITION;
        rep->message = "the broker runs without a message trace (--trace-events 0)";
        return;
    }
    size_t max = req->max ? req->max : 1000, nt = mq_store_topic_count(b->store), nk = 0;
    if (max > TRACE_MAX)
        max = TRACE_MAX;
    const char **topics = bk_alloc(a, (nt + 1) * sizeof *topics);
    uint64_t *offs = bk_alloc(a, (nt + 1) * sizeof *offs);
    bk_trace_ev *evs = bk_alloc(a, max * sizeof *evs);
    Shop__Mq__TraceReply *tr = bk_alloc(a, sizeof *tr);
    Shop__Mq__TraceEvent *te = bk_alloc(a, max * sizeof *te);
    Shop__Mq__TraceEvent **tp = bk_alloc(a, max * sizeof *tp);
    if (!topics || !offs || !evs || !tr || !te || !tp) {
        rep->status = RPC_RESOURCE_EXHAUSTED;
        rep->message = "out of memory";
        return;
    }
    for (size_t i = 0; i < nt; i++) {
        mq_topic *t = mq_store_topic_at(b->store, i);
        if (mq_store_find_id(b->store, t->name, req->id, &offs[nk]))
            topics[nk++] = t->name;
    }
    int truncated;
    size_t n = bk_trace_find(b->trace, req->id, topics, offs, nk, evs, max, &truncated), k = 0;
    shop__mq__trace_reply__init(tr);
    for (size_t i = 0; i < n; i++) {
        if (evs[i].kind == BK_TR_STORED &&
            strcmp(bk_trace_name(b->trace, evs[i].topic), BK_TXN_OP_TOPIC) == 0)
            continue; /* a decision record: its COMMIT/ROLLBACK event says it */
        Shop__Mq__TraceEvent *e = &te[k];
        shop__mq__trace_event__init(e);
        e->timestamp_ms = evs[i].ts_ms;
        e->kind = (char *)bk_trace_kind_name(evs[i].kind);
        e->topic = (char *)bk_trace_name(b->trace, evs[i].topic);
        e->offset = evs[i].offset;
        e->group = (char *)bk_trace_name(b->trace, evs[i].group);
        e->consumer = (char *)bk_trace_name(b->trace, evs[i].consumer);
        e->attempt = evs[i].attempt;
        if (evs[i].kind == BK_TR_STORED && strcmp(e->topic, BK_HALF_TOPIC) == 0)
            e->kind = "HALF";
        tp[k++] = e;
    }
    tr->events = tp;
    tr->n_events = k;
    tr->truncated = truncated;
    rep->body_case = SHOP__MQ__REPLY__BODY_TRACE;
    rep->trace = tr;
}
