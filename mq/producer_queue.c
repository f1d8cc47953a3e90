/* The queue of asynchronous and one-way sends: each send is copied into
 * one allocation with its wire form, validated, and queued for the sender
 * thread (producer_async.c); the caller waits while max_pending sends are
 * pending. Also mq_producer_flush. */
#include "mq/producer_async.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* A copy of the message and its wire form in one allocation. */
static rpc_status entry_make(const mq_message *in, as_entry **out)
{
    const mq_send_opts *o = in->opts;
    size_t np = o ? o->n_properties : 0;
    size_t tl = strlen(in->topic ? in->topic : "") + 1, kl = strlen(in->key ? in->key : "") + 1;
    size_t gl = strlen(o && o->tag ? o->tag : "") + 1, pl = 0;
    for (size_t i = 0; i < np; i++)
        pl += strlen(o->properties[i].key ? o->properties[i].key : "") +
              strlen(o->properties[i].value ? o->properties[i].value : "") + 2;
    size_t size = sizeof(as_entry) + np * (sizeof(Shop__Mq__Property) + sizeof(void *)) + tl + kl +
                  gl + pl + in->len;
    as_entry *e = malloc(size);
    if (!e)
        return RPC_RESOURCE_EXHAUSTED;
    memset(e, 0, sizeof *e);
    e->props = (Shop__Mq__Property *)(e + 1);
    e->pp = (Shop__Mq__Property **)(e->props + np);
    char *d = (char *)(e->pp + np);
    mq_property *cp = np ? calloc(np, sizeof *cp) : NULL;
    if (np && !cp) {
        free(e);
        return RPC_RESOURCE_EXHAUSTED;
    }
#define COPY(dst, src, n) (dst = memcpy(d, or_empty(src), n), d += n)
    mq_send_opts co = o ? *o : (mq_send_opts){0};
    mq_message m = {.len = in->len};
    COPY(m.topic, in->topic, tl);
    COPY(m.key, in->key, kl);
    COPY(co.tag, o ? o->tag : "", gl);
    for (size_t i = 0; i < np; i++) {
        size_t a = strlen(o->properties[i].key ? o->properties[i].key : "") + 1;
        size_t b = strlen(o->properties[i].value ? o->properties[i].value : "") + 1;
        COPY(cp[i].key, o->properties[i].key, a);
        COPY(cp[i].value, o->properties[i].value, b);
    }
#undef COPY
    if (in->len)
        memcpy(d, in->body, in->len);
    m.body = d;
    co.properties = cp;
    m.opts = &co;
    rpc_status st = mq_message_prepare(&m, &e->m, e->props, &e->res);
    free(cp); /* the wire properties point at the copies in e */
    if (st != RPC_OK) {
        *out = e; /* the caller reads the reason, then frees */
        return st;
    }
    for (size_t i = 0; i < np; i++)
        e->pp[i] = &e->props[i];
    e->m.n_properties = np;
    e->m.properties = np ? e->pp : NULL;
    e->bytes = tl + kl + gl + pl + in->len + 48;
    *out = e;
    return RPC_OK;
}

static rpc_status async_enqueue(mq_producer *p, const mq_message *in, int oneway,
                                mq_send_callback cb, void *arg)
{
    if (mq_send_is_delayed(in->opts))
        return RPC_INVALID_ARGUMENT; /* delayed sends are synchronous (mq.h) */
    if (!in->body && in->len > 0)
        return RPC_INVALID_ARGUMENT;
    pthread_mutex_lock(&p->async_mu);
    if (!p->async)
        p->async = mq_async_start(p);
    mq_async_sender *s = p->async;
    pthread_mutex_unlock(&p->async_mu);
    if (!s)
        return RPC_RESOURCE_EXHAUSTED;
    as_entry *e = NULL;
    rpc_status st = entry_make(in, &e);
    if (st != RPC_OK) {
        if (e)
            shop_log_debug("mq producer: async send refused: %s", e->res.message);
        free(e);
        return st;
    }
    e->cb = cb;
    e->arg = arg;
    e->oneway = oneway;
    int inner = mq_async_on_sender_thread(s); /* a callback's send never blocks */
    pthread_mutex_lock(&s->mu);
    while (!inner && !s->closing && s->pending >= p->opts.max_pending)
        pthread_cond_wait(&s->space, &s->mu);
    if (s->closing && !inner) {
        pthread_mutex_unlock(&s->mu);
        free(e);
        return RPC_FAILED_PRECONDITION;
    }
    if (s->tail)
        s->tail->next = e;
    else
        s->head = e;
    s->tail = e;
    s->queued++;
    s->pending++;
    if (s->queued == 1)
        pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    return RPC_OK;
}

rpc_status mq_producer_send_async(mq_producer *p, const char *topic, const char *key,
                                  const void *body, size_t len, const mq_send_opts *opts,
                                  mq_send_callback cb, void *arg)
{
    mq_message m = {.topic = topic, .key = key, .body = body, .len = len, .opts = opts};
    if (p->nats != NULL) { /* JetStream: made at once, on this thread (mq.h) */
        mq_send_result r;
        rpc_status st = mq_producer_send_batch(p, &m, 1, &r);
        if (st == RPC_INVALID_ARGUMENT || st == RPC_UNIMPLEMENTED)
            return st;
        if (cb)
            cb(&r, arg);
        return RPC_OK;
    }
    return async_enqueue(p, &m, 0, cb, arg);
}

rpc_status mq_producer_send_oneway(mq_producer *p, const char *topic, const char *key,
                                   const void *body, size_t len, const mq_send_opts *opts)
{
    mq_message m = {.topic = topic, .key = key, .body = body, .len = len, .opts = opts};
    if (p->nats != NULL) {
        mq_send_result r;
        rpc_status st = mq_producer_send_batch(p, &m, 1, &r);
        return st == RPC_INVALID_ARGUMENT || st == RPC_UNIMPLEMENTED ? st : RPC_OK;
    }
    return async_enqueue(p, &m, 1, NULL, NULL);
}

rpc_status mq_producer_flush(mq_producer *p, int timeout_ms)
{
    pthread_mutex_lock(&p->async_mu);
    mq_async_sender *s = p->async;
    pthread_mutex_unlock(&p->async_mu);
    if (!s)
        return RPC_OK;
    if (mq_async_on_sender_thread(s))
        return RPC_FAILED_PRECONDITION;
    int64_t until = shop_now_ms() + timeout_ms;
    rpc_status st = RPC_OK;
    pthread_mutex_lock(&s->mu);
    while (s->pending > 0) {
        if (timeout_ms <= 0) {
            pthread_cond_wait(&s->space, &s->mu);
            continue;
        }
        int64_t left = until - shop_now_ms();
        if (left <= 0) {
            st = RPC_DEADLINE_EXCEEDED;
            break;
        }
        struct timespec ts = mq_deadline_in(left);
        pthread_cond_timedwait(&s->space, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}
