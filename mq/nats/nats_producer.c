/* mq/nats: one producer attempt on JetStream. Messages go out with
 * js_PublishMsgAsync, all of a batch in flight together, and the PubAcks
 * come back on the lane's reply subscription. A lane is a JetStream context
 * used by one batch at a time; lanes are pooled, so that concurrent senders
 * on one producer do not wait for each other's acks. */
#include "mq/nats/nats_producer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/nats/nats_link.h"

typedef struct slot {
    natsMsg *msg;
    size_t idx;
} slot;

typedef struct lane {
    struct mq_nats_producer *p;
    jsCtx *js;
    slot *slots; /* of the batch in flight, sorted by msg */
    size_t nslots;
    mq_send_result *results;
    struct lane *next;
} lane;

struct mq_nats_producer {
    mq_nats_link link;
    int timeout_ms;
    pthread_mutex_t mu;
    lane *idle;
};

static int slot_cmp(const void *a, const void *b)
{
    const natsMsg *x = ((const slot *)a)->msg, *y = ((const slot *)b)->msg;
    return x < y ? -1 : x > y;
}

/* A PubAck or a failure for one message (on the lane's reply thread). */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *arg)
{
    (void)js;
    lane *ln = arg;
    slot key = {.msg = msg};
    slot *s = bsearch(&key, ln->slots, ln->nslots, sizeof key, slot_cmp);
    if (s != NULL) {
        mq_send_result *r = &ln->results[s->idx];
        if (pa != NULL) {
            r->status = RPC_OK;
            r->offset = pa->Sequence;
            r->duplicate = pa->Duplicate;
            r->message[0] = '\0';
        } else if (pae != NULL) {
            shop_error e = {0};
            if (pae->Err == NATS_NO_RESPONDERS) /* no stream for the subject (deleted?) */
                mq_nats_forget_streams(&ln->p->link);
            r->status = mq_nats_status(pae->Err, pae->ErrCode, "jetstream publish", &e);
            snprintf(r->message, sizeof r->message, "%s%s%s", e.message, pae->ErrText ? ": " : "",
                     pae->ErrText ? pae->ErrText : "");
        }
    }
    natsMsg_Destroy(msg);
}

static lane *lane_take(mq_nats_producer *p, shop_error *err)
{
    pthread_mutex_lock(&p->mu);
    lane *ln = p->idle;
    if (ln != NULL)
        p->idle = ln->next;
    pthread_mutex_unlock(&p->mu);
    if (ln != NULL)
        return ln;
    if ((ln = calloc(1, sizeof *ln)) == NULL) {
        shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    ln->p = p;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = p->timeout_ms;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = ln;
    jo.PublishAsync.MaxPending = 65536;
    jo.PublishAsync.StallWait = p->timeout_ms;
    natsStatus s = natsConnection_JetStream(&ln->js, p->link.nc, &jo);
    if (s != NATS_OK) {
        mq_nats_status(s, 0, "jetstream context", err);
        free(ln);
        return NULL;
    }
    return ln;
}

static void lane_give(mq_nats_producer *p, lane *ln)
{
    pthread_mutex_lock(&p->mu);
    ln->next = p->idle;
    p->idle = ln;
    pthread_mutex_unlock(&p->mu);
}

rpc_status mq_nats_producer_open(const char *url, const mq_producer_opts *o, mq_nats_producer **out,
                                 shop_error *err)
{
    *out = NULL;
    int64_t span = (int64_t)(o->retries + 1) * o->timeout_ms;
    for (int i = 0, b = o->retry_backoff_ms; i < o->retries; i++, b *= 2)
        span += b;
    if (span >= (int64_t)mq_nats_dedup_s() * 1000)
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "the producer retries for up to %lld ms, not less than JetStream's "
                              "dedup window of %d s: lower retries or timeout_ms, or raise "
                              "MQ_NATS_DEDUP_S",
                              (long long)span, mq_nats_dedup_s());
    mq_nats_producer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    p->timeout_ms = o->timeout_ms;
    pthread_mutex_init(&p->mu, NULL);
    rpc_status st = mq_nats_link_open(&p->link, url, o->timeout_ms, err);
    if (st != RPC_OK) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return st;
    }
    *out = p;
    return RPC_OK;
}

void mq_nats_producer_close(mq_nats_producer *p)
{
    if (p == NULL)
        return;
    while (p->idle != NULL) {
        lane *ln = p->idle;
        p->idle = ln->next;
        jsCtx_Destroy(ln->js);
        free(ln->slots);
        free(ln);
    }
    mq_nats_link_close(&p->link);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static void fail(mq_send_result *r, const shop_error *e)
{
    r->status = e->code;
    snprintf(r->message, sizeof r->message, "%s", e->message);
}

/* The message of msgs[i]: subject, body, id, key and properties as headers. */
static rpc_status make_msg(mq_nats_producer *p, const mq_message *m, const char *id, natsMsg **out,
                           shop_error *err)
{
    mq_nats_names nm;
    rpc_status st = mq_nats_ensure_stream(&p->link, MQ_NATS_TOPIC, m->topic, &nm, err);
    if (st != RPC_OK)
        return st;
    natsStatus s = natsMsg_Create(out, nm.subject, NULL, m->body, (int)m->len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(*out, MQ_NATS_HDR_ID, id);
    if (s == NATS_OK && m->key != NULL && *m->key != '\0')
        s = natsMsgHeader_Set(*out, MQ_NATS_HDR_KEY, m->key);
    const mq_send_opts *o = m->opts;
    for (size_t i = 0; s == NATS_OK && o != NULL && i < o->n_properties; i++) {
        char hk[300];
        const char *k = o->properties[i].key, *v = o->properties[i].value;
        if (k == NULL || v == NULL || strpbrk(k, ": \r\n") != NULL || strpbrk(v, "\r\n") != NULL)
            s = NATS_INVALID_ARG;
        snprintf(hk, sizeof hk, "%s%s", MQ_NATS_HDR_PROP, k);
        if (s == NATS_OK)
            s = natsMsgHeader_Add(*out, hk, v);
    }
    if (s != NATS_OK) {
        natsMsg_Destroy(*out);
        *out = NULL;
        return mq_nats_status(s, 0,
                              "message (a property key has no ':', space or line break, a value "
                              "no line break)",
                              err);
    }
    return RPC_OK;
}

/* A lone message goes as a request: libnats flushes a request at once,
 * while an asynchronous publish waits for its flusher (1 ms, to gather more). */
static void attempt_one(mq_nats_producer *p, const mq_message *msg, mq_send_result *r)
{
    shop_error e = {0};
    natsMsg *m = NULL;
    if (make_msg(p, msg, r->id, &m, &e) != RPC_OK) {
        fail(r, &e);
        return;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = p->timeout_ms;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_PublishMsg(&pa, p->link.js, m, &po, &jerr);
    if (s == NATS_OK) {
        r->status = RPC_OK;
        r->offset = pa->Sequence;
        r->duplicate = pa->Duplicate;
        r->message[0] = '\0';
    } else {
        if (s == NATS_NO_RESPONDERS)
            mq_nats_forget_streams(&p->link);
        mq_nats_status(s, jerr, "jetstream publish", &e);
        fail(r, &e);
    }
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
}

void mq_nats_producer_attempt(mq_nats_producer *p, const mq_message *msgs, const int *todo,
                              size_t n, mq_send_result *results)
{
    shop_error e = {0};
    size_t k = 0, last = 0;
    for (size_t i = 0; i < n; i++)
        if (todo[i]) {
            k++;
            last = i;
        }
    if (k == 1) {
        attempt_one(p, &msgs[last], &results[last]);
        return;
    }
    lane *ln = lane_take(p, &e);
    slot *slots = ln != NULL ? realloc(ln->slots, (k + 1) * sizeof *slots) : NULL;
    if (slots == NULL) {
        if (ln != NULL)
            shop_error_set(&e, RPC_RESOURCE_EXHAUSTED, "out of memory");
        for (size_t i = 0; i < n; i++)
            if (todo[i])
                fail(&results[i], &e);
        if (ln != NULL)
            lane_give(p, ln);
        return;
    }
    ln->slots = slots;
    ln->nslots = 0;
    ln->results = results;
    for (size_t i = 0; i < n; i++) {
        if (!todo[i])
            continue;
        natsMsg *m = NULL;
        if (make_msg(p, &msgs[i], results[i].id, &m, &e) != RPC_OK) {
            fail(&results[i], &e);
            continue;
        }
        results[i].status = RPC_DEADLINE_EXCEEDED; /* until its ack says otherwise */
        snprintf(results[i].message, sizeof results[i].message, "no PubAck");
        slots[ln->nslots++] = (slot){.msg = m, .idx = i};
    }
    /* Published in the batch's order; the handler finds a message's slot in
     * a copy sorted by address. */
    size_t ns = ln->nslots;
    slot *order = malloc((ns + 1) * sizeof *order);
    if (order == NULL) {
        shop_error_set(&e, RPC_RESOURCE_EXHAUSTED, "out of memory");
        for (size_t j = 0; j < ns; j++) {
            fail(&results[slots[j].idx], &e);
            natsMsg_Destroy(slots[j].msg);
        }
        ns = 0;
    } else {
        memcpy(order, slots, ns * sizeof *order);
    }
    qsort(slots, ns, sizeof *slots, slot_cmp);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = p->timeout_ms; /* the ack handler gets a timeout after this */
    for (size_t j = 0; j < ns; j++) {
        natsMsg *m = order[j].msg;
        natsStatus s = js_PublishMsgAsync(ln->js, &m, &po);
        if (s != NATS_OK) { /* not sent: the message is still ours */
            mq_nats_status(s, 0, "jetstream publish", &e);
            fail(&results[order[j].idx], &e);
            natsMsg_Destroy(m);
        }
    }
    free(order);
    /* Every message in flight has its MaxWait timer, so this ends. */
    js_PublishAsyncComplete(ln->js, NULL);
    ln->nslots = 0;
    lane_give(p, ln);
}
