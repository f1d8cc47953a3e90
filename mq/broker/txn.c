/* Transactional messages on the broker: the half, end and member requests,
 * the table of undecided halves and its rebuild from the log at startup
 * (see txn.h). A commit stores the message in its topic unless its id is
 * stored there already (a commit repeated after a crash between the two
 * records), so it is delivered once; a rollback stores only the decision. */
#include "mq/broker/txn_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "mq/broker/keyindex.h"
#include "mq/broker/trace.h"

static const char *const decision_names[] = {"UNKNOWN", "COMMIT", "ROLLBACK", "DISCARD"};

static size_t bucket_of(const char *id)
{
    return mq_keyindex_hash(id) % BK_TXN_BUCKETS;
}

bk_half *bk_txn_find(bk_txn *x, const char *id)
{
    for (bk_half *h = x ? x->buckets[bucket_of(id)] : NULL; h; h = h->next)
        if (strcmp(h->id, id) == 0)
            return h;
    return NULL;
}

static void half_free(bk_half *h)
{
    free(h->id);
    free(h->group);
    free(h);
}

static void half_unlink(bk_txn *x, bk_half *h)
{
    for (bk_half **p = &x->buckets[bucket_of(h->id)]; *p; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            x->npending--;
            half_free(h);
            return;
        }
}

static int half_add(bk_txn *x, const char *id, const char *group, uint64_t offset, int64_t due)
{
    bk_half *h = calloc(1, sizeof *h);
    if (h) {
        h->id = strdup(id);
        h->group = strdup(group);
    }
    if (!h || !h->id || !h->group) {
        if (h)
            half_free(h);
        return -ENOMEM;
    }
    h->offset = offset;
    h->due_ms = due;
    size_t i = bucket_of(id);
    h->next = x->buckets[i];
    x->buckets[i] = h;
    x->npending++;
    return 0;
}

size_t bk_txn_pending(const mq_broker *b)
{
    return b->txn ? b->txn->npending : 0;
}

static const char *prop_of(const Shop__Mq__Record *r, const char *key)
{
    for (size_t i = 0; i < r->n_properties; i++)
        if (strcmp(r->properties[i]->key, key) == 0)
            return r->properties[i]->value;
    return NULL;
}

/* The half's message in its own topic, without the internal properties. */
static int append_committed(mq_broker *b, const Shop__Mq__Record *half, char *err, size_t errlen)
{
    const char *origin = prop_of(half, BK_PROP_ORIGIN);
    uint64_t off;
    if (!origin)
        return 0; /* not a half of ours: nothing to deliver */
    if (mq_store_find_id(b->store, origin, half->id, &off))
        return 0; /* committed before a crash that lost the decision record */
    Shop__Mq__Property **pp = calloc(half->n_properties + 1, sizeof *pp);
    if (!pp) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < half->n_properties; i++)
        if (half->properties[i]->key[0] != '%')
            pp[n++] = half->properties[i];
    Shop__Mq__Record c = *half;
    c.topic = (char *)origin;
    c.properties = pp;
    c.n_properties = n;
    int rc = mq_store_append(b->store, &c, &off, err, errlen);
    free(pp);
    return rc;
}

int bk_txn_decide(mq_broker *b, bk_half *h, int decision, const char *by, char *err, size_t errlen)
{
    mq_topic *ht = mq_store_topic(b->store, BK_HALF_TOPIC, 0);
    const uint8_t *data;
    size_t len;
    int rc = 0;
    if (decision == BK_DECIDE_COMMIT && ht &&
        mq_store_read(b->store, ht, h->offset, &data, &len) == 0) {
        Shop__Mq__Record *r = shop__mq__record__unpack(NULL, len, data);
        rc = r ? append_committed(b, r, err, errlen) : 0;
        if (r)
            shop__mq__record__free_unpacked(r, NULL);
    } else if (decision == BK_DECIDE_COMMIT) {
        shop_log_error("txn commit of a half no longer stored id=%s offset=%llu", h->id,
                       (unsigned long long)h->offset);
    }
    if (rc != 0)
        return rc;
    char off_s[24];
    snprintf(off_s, sizeof off_s, "%llu", (unsigned long long)h->offset);
    Shop__Mq__Property prop = SHOP__MQ__PROPERTY__INIT, *pp = &prop;
    prop.key = BK_PROP_HALF_OFFSET;
    prop.value = off_s;
    Shop__Mq__Record op = SHOP__MQ__RECORD__INIT;
    op.id = h->id;
    op.topic = BK_TXN_OP_TOPIC;
    op.key = (char *)decision_names[decision];
    op.properties = &pp;
    op.n_properties = 1;
    uint64_t off;
    if ((rc = mq_store_append(b->store, &op, &off, err, errlen)) != 0)
        return rc;
    static const int kinds[] = {0, BK_TR_COMMIT, BK_TR_ROLLBACK, BK_TR_DISCARD};
    bk_trace_note(b->trace, kinds[decision], BK_HALF_TOPIC, h->offset, h->group, by, h->checks);
    if (strcmp(by, "producer") == 0) /* the common case: one line per check-back only */
        shop_log_debug("txn %s id=%s group=%s by=producer", decision_names[decision], h->id,
                       h->group);
    else
        shop_log_info("txn %s id=%s group=%s by=%s checks=%u", decision_names[decision], h->id,
                      h->group, by, h->checks);
    half_unlink(b->txn, h);
    return 0;
}

static void reply_status(Shop__Mq__Reply *rep, rpc_status st, const char *msg, bk_arena *a)
{
    rep->status = st;
    char *m = bk_alloc(a, strlen(msg) + 1);
    if (m)
        rep->message = strcpy(m, msg);
}

void bk_txn_half(mq_broker *b, const Shop__Mq__TxnHalf *req, Shop__Mq__Reply *rep, bk_arena *a)
{
    const Shop__Mq__Message *m = req->message;
    const char *bad = !m ? "a half message needs a message" : bk_message_invalid(m);
    if (!bad && (!m->id || !*m->id))
        bad = "a half message needs an id";
    if (!bad && !bk_name_ok(req->group, 120, 0))
        bad = "a producer group is 1..120 printable characters, not starting with '%'";
    Shop__Mq__SendReply *sr = bk_alloc(a, sizeof *sr);
    Shop__Mq__SendResult *r = bk_alloc(a, sizeof *r);
    Shop__Mq__SendResult **rp = bk_alloc(a, sizeof *rp);
    if (!b->txn) {
        reply_status(rep, RPC_FAILED_PRECONDITION, "transactional messages are not open", a);
        return;
    }
    if (!sr || !r || !rp) {
        reply_status(rep, RPC_RESOURCE_EXHAUSTED, "out of memory", a);
        return;
    }
    if (bad) {
        reply_status(rep, RPC_INVALID_ARGUMENT, bad, a);
        return;
    }
    shop__mq__send_reply__init(sr);
    shop__mq__send_result__init(r);
    *rp = r;
    sr->results = rp;
    sr->n_results = 1;
    rep->body_case = SHOP__MQ__REPLY__BODY_SEND;
    rep->send = sr;
    r->id = m->id;
    if (mq_store_find_id(b->store, BK_HALF_TOPIC, m->id, &r->offset)) {
        r->duplicate = 1; /* a retried half: stored (and maybe decided) already */
        return;
    }
    Shop__Mq__Property extra[2], **pp = bk_alloc(a, (m->n_properties + 2) * sizeof *pp);
    if (!pp) {
        reply_status(rep, RPC_RESOURCE_EXHAUSTED, "out of memory", a);
        return;
    }
    for (size_t i = 0; i < m->n_properties; i++)
        pp[i] = m->properties[i];
    const char *kv[2][2] = {{BK_PROP_ORIGIN, m->topic}, {BK_PROP_TXN_GROUP, req->group}};
    for (int i = 0; i < 2; i++) {
        shop__mq__property__init(&extra[i]);
        extra[i].key = (char *)kv[i][0];
        extra[i].value = (char *)kv[i][1];
        pp[m->n_properties + i] = &extra[i];
    }
    Shop__Mq__Record rec = SHOP__MQ__RECORD__INIT;
    rec.id = m->id;
    rec.topic = BK_HALF_TOPIC;
    rec.key = m->key;
    rec.tag = m->tag; /* kept through the commit: tag-filtered groups see it */
    rec.body = m->body;
    rec.properties = pp;
    rec.n_properties = m->n_properties + 2;
    char err[400], msg[440];
    int rc = mq_store_append(b->store, &rec, &r->offset, err, sizeof err);
    if (rc == 0)
        rc = half_add(b->txn, m->id, req->group, r->offset, shop_wall_ms() + b->o.txn_check_ms);
    if (rc != 0) {
        r->status = bk_write_failure(-rc, err, msg, sizeof msg);
        reply_status(rep, r->status, msg, a);
        return;
    }
    b->appended = 1; /* answered once durable */
}

/* No undecided half with this id: was it decided already? */
static void end_decided(mq_broker *b, const Shop__Mq__TxnEnd *req, Shop__Mq__Reply *rep,
                        bk_arena *a)
{
    mq_topic *t = mq_store_topic(b->store, BK_TXN_OP_TOPIC, 0);
    const uint8_t *data;
    size_t len;
    uint64_t off;
    char msg[300];
    if (!t || !mq_store_find_id(b->store, BK_TXN_OP_TOPIC, req->id, &off) ||
        mq_store_read(b->store, t, off, &data, &len) != 0) {
        snprintf(msg, sizeof msg,
                 "no undecided half message with id %.80s (never sent, or decided longer ago "
                 "than the broker remembers ids)",
                 req->id);
        reply_status(rep, RPC_NOT_FOUND, msg, a);
        return;
    }
    Shop__Mq__Record *r = shop__mq__record__unpack(NULL, len, data);
    const char *was = r ? r->key : "?";
    int same =
        (req->decision == SHOP__MQ__TXN_DECISION__TXN_COMMIT && strcmp(was, "COMMIT") == 0) ||
        (req->decision == SHOP__MQ__TXN_DECISION__TXN_ROLLBACK && strcmp(was, "ROLLBACK") == 0);
    if (!same) {
        snprintf(msg, sizeof msg, "the half message %.80s was decided already: %s", req->id, was);
        reply_status(rep, RPC_FAILED_PRECONDITION, msg, a);
    }
    if (r)
        shop__mq__record__free_unpacked(r, NULL);
}

void bk_txn_end(mq_broker *b, const Shop__Mq__TxnEnd *req, Shop__Mq__Reply *rep, bk_arena *a)
{
    if (!req->id || !*req->id || strlen(req->id) > 64 || (unsigned)req->decision > 2) {
        reply_status(rep, RPC_INVALID_ARGUMENT,
                     "an end of transaction names a message id (1..64 characters) and a decision "
                     "(UNKNOWN, COMMIT or ROLLBACK)",
                     a);
        return;
    }
    bk_half *h = bk_txn_find(b->txn, req->id);
    if (!h) {
        if (req->decision != SHOP__MQ__TXN_DECISION__TXN_UNKNOWN)
            end_decided(b, req, rep, a);
        return;
    }
    if (req->group && *req->group && strcmp(req->group, h->group) != 0) {
        reply_status(rep, RPC_FAILED_PRECONDITION,
                     "the half message belongs to another producer group", a);
        return;
    }
    if (req->decision == SHOP__MQ__TXN_DECISION__TXN_UNKNOWN)
        return; /* the check-back will ask */
    char err[400], msg[440];
    int rc = bk_txn_decide(b, h, (int)req->decision, "producer", err, sizeof err);
    if (rc != 0) {
        rpc_status st = bk_write_failure(-rc, err, msg, sizeof msg);
        reply_status(rep, st, msg, a);
        return;
    }
    b->appended = 1;
}

static void member_drop(bk_txn *x, size_t i)
{
    free(x->members[i].group);
    free(x->members[i].member);
    free(x->members[i].url);
    x->members[i] = x->members[--x->nmembers];
}

void bk_txn_member(mq_broker *b, const Shop__Mq__TxnMember *req, Shop__Mq__Reply *rep, bk_arena *a)
{
    bk_txn *x = b->txn;
    if (!x) {
        reply_status(rep, RPC_FAILED_PRECONDITION, "transactional messages are not open", a);
        return;
    }
    if (!bk_name_ok(req->group, 120, 0) || !bk_name_ok(req->member_id, 120, 0) ||
        (!req->leaving && (!bk_name_ok(req->url, 250, 0) || !strstr(req->url, "://")))) {
        reply_status(rep, RPC_INVALID_ARGUMENT,
                     "a producer group member names its group, its id and the URL of its "
                     "check-back endpoint (printable, not starting with '%')",
                     a);
        return;
    }
    int64_t now = shop_now_ms();
    size_t i = 0;
    while (i < x->nmembers) {
        bk_txn_member_ent *m = &x->members[i];
        int same = strcmp(m->group, req->group) == 0 && strcmp(m->member, req->member_id) == 0;
        if (same || now - m->seen_ms > 20 * BK_TXN_MEMBER_LIVE_MS)
            member_drop(x, i); /* replaced below, left, or long gone */
        else
            i++;
    }
    if (req->leaving)
        return;
    if (x->nmembers == BK_TXN_MEMBERS_MAX) {
        reply_status(rep, RPC_RESOURCE_EXHAUSTED, "too many producer group members", a);
        return;
    }
    bk_txn_member_ent *m = &x->members[x->nmembers];
    m->group = strdup(req->group);
    m->member = strdup(req->member_id);
    m->url = strdup(req->url);
    m->seen_ms = now;
    if (!m->group || !m->member || !m->url) {
        free(m->group);
        free(m->member);
        free(m->url);
        reply_status(rep, RPC_RESOURCE_EXHAUSTED, "out of memory", a);
        return;
    }
    x->nmembers++;
}

/* Offsets of %HALF% that have a decision record. */
static uint8_t *decided_halves(mq_broker *b, const mq_topic *half)
{
    uint8_t *done = calloc(half->end - half->start + 1, 1);
    mq_topic *ops = mq_store_topic(b->store, BK_TXN_OP_TOPIC, 0);
    for (uint64_t off = ops ? ops->start : 0; done && ops && off < ops->end; off++) {
        const uint8_t *data;
        size_t len;
        Shop__Mq__Record *r = mq_store_read(b->store, ops, off, &data, &len) == 0
                                  ? shop__mq__record__unpack(NULL, len, data)
                                  : NULL;
        const char *v = r ? prop_of(r, BK_PROP_HALF_OFFSET) : NULL;
        uint64_t h = v ? strtoull(v, NULL, 10) : UINT64_MAX;
        if (h >= half->start && h < half->end)
            done[h - half->start] = 1;
        if (r)
            shop__mq__record__free_unpacked(r, NULL);
    }
    return done;
}

int bk_txn_open(mq_broker *b, char *err, size_t errlen)
{
    bk_txn *x = calloc(1, sizeof *x);
    if (x)
        x->members = calloc(BK_TXN_MEMBERS_MAX, sizeof *x->members);
    if (!x || !x->members) {
        free(x);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    b->txn = x;
    mq_topic *half = mq_store_topic(b->store, BK_HALF_TOPIC, 0);
    if (!half)
        return 0;
    uint8_t *done = decided_halves(b, half);
    if (!done) {
        snprintf(err, errlen, "out of memory for the half messages");
        return -1;
    }
    for (uint64_t off = half->start; off < half->end; off++) {
        const uint8_t *data;
        size_t len;
        if (done[off - half->start] || mq_store_read(b->store, half, off, &data, &len) != 0)
            continue;
        Shop__Mq__Record *r = shop__mq__record__unpack(NULL, len, data);
        const char *origin = r ? prop_of(r, BK_PROP_ORIGIN) : NULL;
        const char *group = r ? prop_of(r, BK_PROP_TXN_GROUP) : NULL;
        uint64_t stored;
        if (origin && group && !mq_store_find_id(b->store, origin, r->id, &stored))
            half_add(x, r->id, group, off, r->timestamp_ms + b->o.txn_check_ms);
        if (r)
            shop__mq__record__free_unpacked(r, NULL);
    }
    free(done);
    if (x->npending > 0)
        shop_log_info("txn undecided half messages recovered count=%zu", x->npending);
    return 0;
}

void bk_txn_close(mq_broker *b)
{
    bk_txn *x = b->txn;
    if (!x)
        return;
    for (size_t i = 0; i < BK_TXN_BUCKETS; i++)
        for (bk_half *h = x->buckets[i], *n; h; h = n) {
            n = h->next;
            half_free(h);
        }
    while (x->nmembers > 0)
        member_drop(x, 0);
    free(x->members);
    free(x);
    b->txn = NULL;
}
