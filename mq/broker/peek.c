/* The admin's reads, for `shopflow mq peek` and `mq get`: stored records of
 * one topic by offset (Peek), or by message id or key (Get). Read-only (no
 * group, no ack, no offset moves). Requests are untrusted: a peek's count
 * is clamped to 1..1000 and its reply to 4 MiB of records (at least one, so
 * a large record is still readable), an unknown topic is NOT_FOUND, an
 * offset past the end gives an empty list; a get answers at most
 * GET_MAX records, each read back and checked against the id or key asked
 * for (the indexes only give candidates). */
#include <stdlib.h>
#include <string.h>

#include "mq/broker/broker.h"

#include "base/status.h"

#define PEEK_DEFAULT 10
#define PEEK_MAX 1000
#define PEEK_MAX_BYTES (4u << 20)

/* A reply with room for max records (pr->records), or NULL with rep failed. */
static Shop__Mq__PeekReply *reply_new(Shop__Mq__Reply *rep, bk_arena *a, size_t max,
                                      Shop__Mq__Delivery **ds)
{
    Shop__Mq__PeekReply *pr = bk_alloc(a, sizeof *pr);
    *ds = bk_alloc(a, (max + 1) * sizeof **ds);
    Shop__Mq__Delivery **dp = bk_alloc(a, (max + 1) * sizeof *dp);
    if (!pr || !*ds || !dp) {
        rep->status = RPC_RESOURCE_EXHAUSTED;
        rep->message = "out of memory";
        return NULL;
    }
    shop__mq__peek_reply__init(pr);
    pr->records = dp;
    rep->body_case = SHOP__MQ__REPLY__BODY_PEEK;
    rep->peek = pr;
    return pr;
}

static void no_topic(Shop__Mq__Reply *rep)
{
    rep->status = RPC_NOT_FOUND;
    rep->message = "no such topic";
}

void bk_peek(mq_broker *b, const Shop__Mq__Peek *req, Shop__Mq__Reply *rep, bk_arena *a)
{
    mq_topic *t = req->topic && req->topic[0] ? mq_store_topic(b->store, req->topic, 0) : NULL;
    if (!t) {
        no_topic(rep);
        return;
    }
    uint32_t max = req->count == 0 ? PEEK_DEFAULT : req->count > PEEK_MAX ? PEEK_MAX : req->count;
    Shop__Mq__Delivery *ds = NULL;
    Shop__Mq__PeekReply *pr = reply_new(rep, a, max, &ds);
    if (!pr)
        return;
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
        pr->records[pr->n_records++] = d;
        bytes += len;
    }
}

#define GET_MAX 16

/* Appends the record at t/off to the reply when its id or key is the one
 * asked for. */
static void get_check(mq_broker *b, mq_topic *t, uint64_t off, const Shop__Mq__Get *req,
                      Shop__Mq__PeekReply *pr, Shop__Mq__Delivery *ds)
{
    const uint8_t *data;
    size_t len;
    if (pr->n_records >= GET_MAX || mq_store_read(b->store, t, off, &data, &len) != 0)
        return;
    Shop__Mq__Record *rec = shop__mq__record__unpack(NULL, len, data);
    int match = rec != NULL &&
                (req->id[0] ? strcmp(rec->id, req->id) == 0 : strcmp(rec->key, req->key) == 0);
    if (rec != NULL)
        shop__mq__record__free_unpacked(rec, NULL);
    for (size_t i = 0; match && i < pr->n_records; i++)
        if (pr->records[i]->offset == off && strcmp(pr->records[i]->topic, t->name) == 0)
            match = 0; /* the key index may name a record twice */
    if (!match)
        return;
    Shop__Mq__Delivery *d = &ds[pr->n_records];
    shop__mq__delivery__init(d);
    d->topic = t->name;
    d->offset = off;
    d->record.data = (uint8_t *)data;
    d->record.len = len;
    pr->records[pr->n_records++] = d;
}

/* The store's topic whose name hashes to h (and is `only`, when given). */
static mq_topic *topic_by_hash(mq_broker *b, uint64_t h, const char *only)
{
    for (size_t i = 0; i < mq_store_topic_count(b->store); i++) {
        mq_topic *t = mq_store_topic_at(b->store, i);
        if (mq_keyindex_hash(t->name) == h && (!only || strcmp(t->name, only) == 0))
            return t;
    }
    return NULL;
}

void bk_get(mq_broker *b, const Shop__Mq__Get *req, Shop__Mq__Reply *rep, bk_arena *a)
{
    if ((req->id[0] == '\0') == (req->key[0] == '\0')) {
        rep->status = RPC_INVALID_ARGUMENT;
        rep->message = "a get names an id or a key (one of them)";
        return;
    }
    const char *only = req->topic[0] ? req->topic : NULL;
    if (only && !mq_store_topic(b->store, only, 0)) {
        no_topic(rep);
        return;
    }
    Shop__Mq__Delivery *ds = NULL;
    Shop__Mq__PeekReply *pr = reply_new(rep, a, GET_MAX, &ds);
    if (!pr)
        return;
    if (req->id[0]) {
        for (size_t i = 0; i < mq_store_topic_count(b->store); i++) {
            mq_topic *t = mq_store_topic_at(b->store, i);
            uint64_t off;
            if ((!only || strcmp(t->name, only) == 0) &&
                mq_store_find_id(b->store, t->name, req->id, &off))
                get_check(b, t, off, req, pr, ds);
        }
    } else {
        mq_keyhit hits[KEYIDX_WAYS];
        size_t n = mq_keyindex_find(mq_store_keys(b->store), req->key, hits, KEYIDX_WAYS);
        for (size_t i = 0; i < n; i++) {
            mq_topic *t = topic_by_hash(b, hits[i].topic_hash, only);
            if (t)
                get_check(b, t, hits[i].offset, req, pr, ds);
        }
    }
}
