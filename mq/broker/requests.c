/* The broker's request handlers: send, subscribe, heartbeat, ack, pull,
 * stats, dlq. Every frame is untrusted: it is decoded and validated, and a
 * bad one gets INVALID_ARGUMENT with a reason; nothing here aborts. */
#include "mq/broker/broker.h"
#include "mq/broker/tags.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/status.h"
#include "mq/broker/trace.h"
#include "mq/broker/txn.h"

#define BK_BODY_MAX (4u << 20)

static void reply_fail(Shop__Mq__Reply *rep, rpc_status st, const char *msg, bk_arena *a)
{
    rep->status = st;
    char *m = bk_alloc(a, strlen(msg) + 1);
    if (m) {
        memcpy(m, msg, strlen(msg) + 1);
        rep->message = m;
    }
}

/* A name for a topic, group or consumer: printable, no tab or newline. */
int bk_name_ok(const char *s, size_t max, int allow_internal)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max || (!allow_internal && s[0] == '%'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

const char *bk_message_invalid(const Shop__Mq__Message *m)
{
    if (!bk_name_ok(m->topic, 200, 0))
        return "a topic is 1..200 printable characters and does not start with '%'";
    if (!m->id || strlen(m->id) > 64)
        return "a message id is at most 64 characters";
    if (m->key && strlen(m->key) > 1024)
        return "a key is at most 1024 bytes";
    if (m->body.len > BK_BODY_MAX)
        return "a body is at most 4 MiB";
    if (m->n_properties > 64)
        return "at most 64 properties";
    if (m->tag && *m->tag && !bk_tag_valid(m->tag))
        return "a tag is 1..64 bytes without '|', spaces or control characters";
    for (size_t i = 0; i < m->n_properties; i++)
        if (!m->properties[i]->key || !*m->properties[i]->key || m->properties[i]->key[0] == '%')
            return "property keys are not empty and do not start with '%'";
    return NULL;
}

static void handle_send(mq_broker *b, const Shop__Mq__SendRequest *req, Shop__Mq__Reply *rep,
                        bk_arena *a)
{
    Shop__Mq__SendReply *sr = bk_alloc(a, sizeof *sr);
    Shop__Mq__SendResult *res = bk_alloc(a, (req->n_messages + 1) * sizeof *res);
    Shop__Mq__SendResult **resp = bk_alloc(a, (req->n_messages + 1) * sizeof *resp);
    if (!sr || !res || !resp) {
        reply_fail(rep, RPC_RESOURCE_EXHAUSTED, "out of memory", a);
        return;
    }
    shop__mq__send_reply__init(sr);
    for (size_t i = 0; i < req->n_messages; i++) {
        const Shop__Mq__Message *m = req->messages[i];
        Shop__Mq__SendResult *r = &res[i];
        shop__mq__send_result__init(r);
        resp[i] = r;
        r->id = m->id;
        const char *bad = bk_message_invalid(m);
        if (bad) {
            r->status = RPC_INVALID_ARGUMENT;
            r->message = (char *)bad;
            continue;
        }
        if (*m->id && mq_store_find_id(b->store, m->topic, m->id, &r->offset)) {
            r->duplicate = 1;
            continue;
        }
        Shop__Mq__Record rec = SHOP__MQ__RECORD__INIT;
        rec.id = m->id;
        rec.topic = m->topic;
        rec.key = m->key;
        rec.body = m->body;
        rec.tag = m->tag;
        rec.n_properties = m->n_properties;
        rec.properties = m->properties;
        char err[400], msg[440];
        int rc = mq_store_append(b->store, &rec, &r->offset, err, sizeof err);
        if (rc != 0) {
            r->status = bk_write_failure(-rc, err, msg, sizeof msg);
            r->offset = 0;
            shop_log_error("append failed topic=%s status=%s err=\"%s\"", m->topic,
                           rpc_status_name(r->status), msg);
            char *copy = bk_alloc(a, strlen(msg) + 1);
            if (copy)
                r->message = strcpy(copy, msg);
            continue;
        }
        b->appended = 1;
    }
    sr->n_results = req->n_messages;
    sr->results = resp;
    rep->body_case = SHOP__MQ__REPLY__BODY_SEND;
    rep->send = sr;
}

/* The group's expression for a topic is the latest subscriber's (as in
 * RocketMQ, a group's instances share one subscription). */
static void bk_queue_filter(bk_queue *q, const bk_tagset *filter)
{
    if (!q)
        return;
    const char *old = q->filter ? q->filter->text : "*", *now = filter ? filter->text : "*";
    if (strcmp(old, now) == 0)
        return;
    bk_tagset *copy = filter ? malloc(sizeof *copy) : NULL;
    if (copy) {
        *copy = *filter;
        copy->text = strdup(filter->text);
        if (!copy->text) {
            free(copy);
            return; /* out of memory: the old filter stays */
        }
    } else if (filter) {
        return;
    }
    shop_log_info("tag filter group=%s topic=%s tags=\"%s\"", q->g->name, q->t->name, now);
    bk_tags_free(q->filter);
    q->filter = copy;
}

static void handle_subscribe(mq_broker *b, const Shop__Mq__Subscribe *s, Shop__Mq__Reply *rep,
                             bk_arena *a)
{
    if (!bk_name_ok(s->consumer_id, 120, 0) || !bk_name_ok(s->group, 120, 0) || s->n_topics == 0 ||
        s->n_topics > 64) {
        reply_fail(rep, RPC_INVALID_ARGUMENT,
                   "subscribe needs a consumer id, a group (1..120 printable characters, not "
                   "starting with '%') and 1..64 topics",
                   a);
        return;
    }
    for (size_t i = 0; i < s->n_topics; i++)
        if (!bk_name_ok(s->topics[i], 200, 0)) {
            reply_fail(rep, RPC_INVALID_ARGUMENT, "a topic name is not valid", a);
            return;
        }
    bk_tagset *filter = NULL;
    char why[300];
    if (bk_tags_parse(s->tags, &filter, why, sizeof why) != 0) {
        reply_fail(rep, RPC_INVALID_ARGUMENT, why, a);
        return;
    }
    bk_group *g = bk_group_get(b, s->group, 1);
    int32_t slot;
    bk_consumer *c = g ? bk_consumer_find(b, s->consumer_id, &slot) : NULL;
    if (c && c->g != g) {
        bk_tags_free(filter);
        reply_fail(rep, RPC_ALREADY_EXISTS, "this consumer id belongs to another group", a);
        return;
    }
    int fresh = !c;
    if (!c && g)
        c = bk_consumer_add(b, s->consumer_id, g);
    char **topics = c ? calloc(s->n_topics, sizeof *topics) : NULL;
    if (!topics) {
        bk_tags_free(filter);
        reply_fail(rep, RPC_RESOURCE_EXHAUSTED, "out of memory", a);
        return;
    }
    for (size_t i = 0; i < c->ntopics; i++)
        free(c->topics[i]);
    free(c->topics);
    c->topics = topics;
    c->ntopics = 0;
    char retry[300];
    snprintf(retry, sizeof retry, "%s%s", BK_RETRY_PREFIX, g->name);
    bk_queue_get(b, g, retry, 1);
    for (size_t i = 0; i < s->n_topics; i++) {
        if ((c->topics[c->ntopics] = strdup(s->topics[i])))
            c->ntopics++;
        bk_queue_filter(bk_queue_get(b, g, s->topics[i], 1), filter);
    }
    bk_tags_free(filter);
    c->max_inflight = s->max_inflight ? s->max_inflight : b->o.max_inflight;
    if (s->max_reconsume)
        g->max_reconsume = s->max_reconsume;
    c->last_seen_ms = shop_now_ms();
    if (fresh)
        shop_log_info("consumer joined id=%s group=%s topics=%zu", c->id, g->name, c->ntopics);
    Shop__Mq__SubscribeReply *sr = bk_alloc(a, sizeof *sr);
    if (!sr) {
        reply_fail(rep, RPC_RESOURCE_EXHAUSTED, "out of memory", a);
        return;
    }
    shop__mq__subscribe_reply__init(sr);
    sr->next_seq = c->seq + 1;
    rep->body_case = SHOP__MQ__REPLY__BODY_SUBSCRIBE;
    rep->subscribe = sr;
}

static bk_consumer *known_consumer(mq_broker *b, const char *id, int32_t *slot,
                                   Shop__Mq__Reply *rep, bk_arena *a)
{
    bk_consumer *c = id ? bk_consumer_find(b, id, slot) : NULL;
    if (!c) {
        reply_fail(rep, RPC_NOT_FOUND, "unknown consumer: subscribe first", a);
        return NULL;
    }
    c->last_seen_ms = shop_now_ms();
    return c;
}

static void handle_heartbeat(mq_broker *b, const Shop__Mq__Heartbeat *h, Shop__Mq__Reply *rep,
                             bk_arena *a)
{
    int32_t slot;
    bk_consumer *c = known_consumer(b, h->consumer_id, &slot, rep, a);
    if (!c)
        return;
    uint64_t last = c->seq;
    if (h->leaving)
        bk_consumer_remove(b, slot, "closed");
    Shop__Mq__HeartbeatReply *hr = bk_alloc(a, sizeof *hr);
    if (!hr) {
        reply_fail(rep, RPC_RESOURCE_EXHAUSTED, "out of memory", a);
        return;
    }
    shop__mq__heartbeat_reply__init(hr);
    hr->last_seq = last;
    rep->body_case = SHOP__MQ__REPLY__BODY_HEARTBEAT;
    rep->heartbeat = hr;
}

static void ack_entry(mq_broker *b, bk_consumer *c, const Shop__Mq__AckEntry *en)
{
    bk_queue *q = en->topic ? bk_queue_get(b, c->g, en->topic, 0) : NULL;
    if (!q || en->offset < q->base || en->offset >= q->next)
        return; /* stale: already committed or never delivered */
    bk_entry *e = &q->win[en->offset % BK_WINDOW];
    if (e->state != BK_INFLIGHT && e->state != BK_READY)
        return;
    unsigned times = e->reconsume;
    int kind = !en->reconsume_later           ? BK_TR_ACKED
               : times >= c->g->max_reconsume ? BK_TR_DLQ
                                              : BK_TR_RECONSUME;
    if (en->reconsume_later) {
        /* noted before the retry or dead-letter copy it makes */
        bk_trace_note(b->trace, kind, q->t->name, en->offset, c->g->name, c->id, times + 1);
        char err[256];
        if (bk_reconsume_later(b, q, en->offset, err, sizeof err) != 0) {
            shop_log_error("reconsume failed group=%s topic=%s offset=%llu err=%s", c->g->name,
                           q->t->name, (unsigned long long)en->offset, err);
            return; /* stays in flight: the ack timeout redelivers it */
        }
    }
    if (e->state == BK_INFLIGHT) {
        bk_consumer *holder = (size_t)e->consumer < b->ncons ? b->cons[e->consumer] : NULL;
        if (holder && holder->inflight > 0)
            holder->inflight--;
        q->inflight--;
    }
    e->state = BK_ACKED;
    if (kind == BK_TR_ACKED)
        bk_trace_note(b->trace, kind, q->t->name, en->offset, c->g->name, c->id, times + 1);
}

static void handle_ack(mq_broker *b, const Shop__Mq__Ack *ack, Shop__Mq__Reply *rep, bk_arena *a)
{
    int32_t slot;
    bk_consumer *c = known_consumer(b, ack->consumer_id, &slot, rep, a);
    if (!c)
        return;
    for (size_t i = 0; i < ack->n_entries; i++)
        ack_entry(b, c, ack->entries[i]);
    for (size_t i = 0; i < c->g->nq; i++)
        bk_queue_advance(b, c->g->queues[i]);
}

/* Is e one of c's deliveries from batches [from, to]? */
static int pulled(const bk_entry *e, int32_t slot, uint32_t from, uint32_t span)
{
    return e->state == BK_INFLIGHT && e->consumer == slot && (uint32_t)(e->seq - from) <= span;
}

/* The consumer missed batches [from, to]: whatever of them it still holds
 * unacknowledged comes back in the reply (found by the batch seq each
 * in-flight entry remembers, so any past batch can be repaired). */
static void handle_pull(mq_broker *b, const Shop__Mq__Pull *p, Shop__Mq__Reply *rep, bk_arena *a)
{
    int32_t slot;
    bk_consumer *c = known_consumer(b, p->consumer_id, &slot, rep, a);
    if (!c)
        return;
    uint64_t from = p->from_seq ? p->from_seq : 1, to = p->to_seq < c->seq ? p->to_seq : c->seq;
    size_t n = 0;
    uint32_t span = (uint32_t)(to - from);
    for (size_t i = 0; from <= to && to - from < (1u << 31) && i < c->g->nq; i++) {
        bk_queue *q = c->g->queues[i];
        for (uint64_t off = q->base; off < q->next; off++)
            n += pulled(&q->win[off % BK_WINDOW], slot, (uint32_t)from, span);
    }
    if (from > to || to - from >= (1u << 31))
        n = 0;
    Shop__Mq__Deliver *d = bk_alloc(a, sizeof *d);
    Shop__Mq__Delivery *ds = bk_alloc(a, (n + 1) * sizeof *ds);
    Shop__Mq__Delivery **dp = bk_alloc(a, (n + 1) * sizeof *dp);
    if (!d || !ds || !dp) {
        reply_fail(rep, RPC_RESOURCE_EXHAUSTED, "out of memory", a);
        return;
    }
    shop__mq__deliver__init(d);
    for (size_t i = 0; n > 0 && i < c->g->nq; i++) {
        bk_queue *q = c->g->queues[i];
        for (uint64_t off = q->base; off < q->next && d->n_deliveries < n; off++) {
            if (!pulled(&q->win[off % BK_WINDOW], slot, (uint32_t)from, span))
                continue;
            if (bk_delivery_fill(b, q, off, &ds[d->n_deliveries]) == 0) {
                dp[d->n_deliveries] = &ds[d->n_deliveries];
                d->n_deliveries++;
            }
        }
    }
    d->deliveries = dp;
    rep->body_case = SHOP__MQ__REPLY__BODY_PULL;
    rep->pull = d;
}

static void dispatch_request(mq_broker *b, const Shop__Mq__Request *req, Shop__Mq__Reply *rep,
                             bk_arena *a)
{
    switch (req->body_case) {
    case SHOP__MQ__REQUEST__BODY_SEND:
        handle_send(b, req->send, rep, a);
        break;
    case SHOP__MQ__REQUEST__BODY_SUBSCRIBE:
        handle_subscribe(b, req->subscribe, rep, a);
        break;
    case SHOP__MQ__REQUEST__BODY_HEARTBEAT:
        handle_heartbeat(b, req->heartbeat, rep, a);
        break;
    case SHOP__MQ__REQUEST__BODY_ACK:
        handle_ack(b, req->ack, rep, a);
        break;
    case SHOP__MQ__REQUEST__BODY_PULL:
        handle_pull(b, req->pull, rep, a);
        break;
    case SHOP__MQ__REQUEST__BODY_STATS:
        bk_stats(b, rep, a);
        break;
    case SHOP__MQ__REQUEST__BODY_DLQ:
        bk_dlq(b, req->dlq, rep, a);
        break;
    case SHOP__MQ__REQUEST__BODY_PEEK:
        bk_peek(b, req->peek, rep, a);
        break;
    case SHOP__MQ__REQUEST__BODY_GET:
        bk_get(b, req->get, rep, a);
        break;
    case SHOP__MQ__REQUEST__BODY_RESET_OFFSET:
        bk_reset_offset(b, req->reset_offset, rep, a);
        break;
    case SHOP__MQ__REQUEST__BODY_TXN_HALF:
        bk_txn_half(b, req->txn_half, rep, a);
        break;
    case SHOP__MQ__REQUEST__BODY_TXN_END:
        bk_txn_end(b, req->txn_end, rep, a);
        break;
    case SHOP__MQ__REQUEST__BODY_TXN_MEMBER:
        bk_txn_member(b, req->txn_member, rep, a);
        break;
    case SHOP__MQ__REQUEST__BODY_TRACE:
        bk_trace_query(b, req->trace, rep, a);
        break;
    default:
        reply_fail(rep, RPC_UNIMPLEMENTED, "empty or unknown request", a);
    }
}

rpc_status bk_write_failure(int err, const char *what, char *out, size_t outlen)
{
    if (err == ENOSPC || err == EDQUOT) {
        snprintf(out, outlen, "disk full: %s", what);
        return RPC_RESOURCE_EXHAUSTED;
    }
    snprintf(out, outlen, "%s", what);
    if (err == ENOMEM)
        return RPC_RESOURCE_EXHAUSTED;
    return err == EMSGSIZE ? RPC_INVALID_ARGUMENT : RPC_INTERNAL;
}

nng_msg *bk_status_reply(rpc_status st, const char *message)
{
    Shop__Mq__Reply rep = SHOP__MQ__REPLY__INIT;
    rep.status = st;
    rep.message = (char *)message;
    nng_msg *m;
    if (nng_msg_alloc(&m, shop__mq__reply__get_packed_size(&rep)) != 0)
        return NULL;
    shop__mq__reply__pack(&rep, nng_msg_body(m));
    return m;
}

nng_msg *bk_handle(mq_broker *b, const uint8_t *data, size_t len)
{
    Shop__Mq__Reply rep = SHOP__MQ__REPLY__INIT;
    bk_arena a = {0};
    Shop__Mq__Request *req = shop__mq__request__unpack(NULL, len, data);
    if (!req)
        reply_fail(&rep, RPC_INVALID_ARGUMENT, "request does not decode as shop.mq.Request", &a);
    else
        dispatch_request(b, req, &rep, &a);
    nng_msg *m = NULL;
    size_t n = shop__mq__reply__get_packed_size(&rep);
    if (nng_msg_alloc(&m, n) == 0)
        shop__mq__reply__pack(&rep, nng_msg_body(m));
    bk_arena_free(&a);
    if (req)
        shop__mq__request__free_unpacked(req, NULL);
    return m;
}
