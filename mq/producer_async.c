/* Asynchronous and one-way sends: callers queue copies of their messages;
 * one sender thread per producer coalesces the queue into batch
 * SendRequests, keeps up to max_requests of them in flight on their own nng
 * contexts (aio callbacks only hand the reply over), retries a batch that
 * failed with UNAVAILABLE or DEADLINE_EXCEEDED with the same message ids,
 * and runs the callbacks in queue order. Callers fill the queue in
 * producer_queue.c. */
#include "mq/producer_async.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"

static void batch_aio_done(void *arg)
{
    as_batch *b = arg;
    mq_async_sender *s = b->s;
    int rv = nng_aio_result(b->aio);
    if (rv == 0 && !b->receiving) {
        b->receiving = 1;
        nng_ctx_recv(b->ctx, b->aio);
        return;
    }
    if (rv != 0 && !b->receiving)
        nng_msg_free(nng_aio_get_msg(b->aio)); /* the request was not taken */
    pthread_mutex_lock(&s->mu);
    b->rv = rv;
    b->reply = rv == 0 ? nng_aio_get_msg(b->aio) : NULL;
    b->done = 1;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
}

/* A context with its aio; a failed attempt's pair is never reused (wire.c:
 * the aio is freed before the context, for nng 1.5.2's expiry race). */
static int batch_ctx_open(as_batch *b)
{
    if (b->has_ctx)
        return 0;
    if (nng_aio_alloc(&b->aio, batch_aio_done, b) != 0)
        return -1;
    if (nng_ctx_open(&b->ctx, b->s->p->link.sock) != 0) {
        nng_aio_free(b->aio);
        return -1;
    }
    nng_aio_set_timeout(b->aio, b->s->p->opts.timeout_ms);
    b->has_ctx = 1;
    return 0;
}

static void batch_ctx_discard(as_batch *b)
{
    if (!b->has_ctx)
        return;
    nng_aio_free(b->aio);
    nng_ctx_close(b->ctx);
    b->has_ctx = 0;
}

/* Packs the batch's entries into one SendRequest (kept for resends). */
static int batch_pack(as_batch *b)
{
    Shop__Mq__Message **ms = malloc(b->n * sizeof *ms);
    if (!ms)
        return -1;
    size_t i = 0;
    for (as_entry *e = b->first; i < b->n; e = e->next)
        ms[i++] = &e->m;
    Shop__Mq__SendRequest sr = SHOP__MQ__SEND_REQUEST__INIT;
    sr.n_messages = b->n;
    sr.messages = ms;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_SEND;
    req.send = &sr;
    b->packed_len = shop__mq__request__get_packed_size(&req);
    b->packed = malloc(b->packed_len);
    if (b->packed)
        shop__mq__request__pack(&req, b->packed);
    free(ms);
    return b->packed ? 0 : -1;
}

/* Starts one attempt; on a local failure the batch is done at once. */
static void batch_send(mq_async_sender *s, as_batch *b)
{
    nng_msg *m = NULL;
    b->attempt++;
    b->receiving = 0;
    b->in_flight = 1;
    if (batch_ctx_open(b) != 0 || nng_msg_alloc(&m, b->packed_len) != 0) {
        pthread_mutex_lock(&s->mu);
        b->rv = NNG_ENOMEM;
        b->done = 1;
        pthread_mutex_unlock(&s->mu);
        return;
    }
    memcpy(nng_msg_body(m), b->packed, b->packed_len);
    nng_aio_set_msg(b->aio, m);
    nng_ctx_send(b->ctx, b->aio);
}

static void entry_fail(as_entry *e, rpc_status st, const char *msg)
{
    e->res.status = st;
    snprintf(e->res.message, sizeof e->res.message, "%s", msg);
}

/* The batch's outcome into its entries' results. Returns the status of the
 * attempt as a whole: a retryable one means "send the batch again". */
static rpc_status batch_outcome(mq_async_sender *s, as_batch *b)
{
    mq_producer *p = s->p;
    rpc_status st = RPC_OK;
    char msg[MQ_ERRLEN] = "";
    Shop__Mq__Reply *rep = NULL;
    if (b->rv != 0) {
        batch_ctx_discard(b);
        if (b->rv == NNG_ETIMEDOUT && atomic_load(&p->link.pipes) > 0) {
            st = RPC_DEADLINE_EXCEEDED;
            snprintf(msg, sizeof msg, "no reply from the broker within %d ms", p->opts.timeout_ms);
        } else if (b->rv == NNG_ECONNREFUSED) {
            st = RPC_UNAVAILABLE;
            snprintf(msg, sizeof msg, "no connection to the broker at %s", p->link.url);
        } else {
            st = b->rv == NNG_ENOMEM ? RPC_RESOURCE_EXHAUSTED : RPC_UNAVAILABLE;
            snprintf(msg, sizeof msg, "broker at %s: %s", p->link.url,
                     b->rv == NNG_ETIMEDOUT ? "connection lost" : nng_strerror(b->rv));
        }
    } else {
        rep = shop__mq__reply__unpack(NULL, nng_msg_len(b->reply), nng_msg_body(b->reply));
        if (!rep) {
            st = RPC_INTERNAL;
            snprintf(msg, sizeof msg, "the broker's reply does not decode");
        } else if (rep->status != RPC_OK) {
            st = rep->status;
            snprintf(msg, sizeof msg, "%s", rep->message ? rep->message : "");
        } else if (rep->body_case != SHOP__MQ__REPLY__BODY_SEND || rep->send->n_results != b->n) {
            st = RPC_INTERNAL;
            snprintf(msg, sizeof msg, "the broker answered a send with the wrong shape");
        }
    }
    if (b->reply)
        nng_msg_free(b->reply);
    b->reply = NULL;
    size_t i = 0;
    for (as_entry *e = b->first; i < b->n; e = e->next, i++) {
        if (st != RPC_OK) {
            entry_fail(e, st, msg);
            continue;
        }
        Shop__Mq__SendResult *r = rep->send->results[i];
        e->res.status = r->status;
        e->res.offset = r->offset;
        e->res.duplicate = r->duplicate;
        snprintf(e->res.message, sizeof e->res.message, "%s", r->message ? r->message : "");
    }
    if (rep)
        shop__mq__reply__free_unpacked(rep, NULL);
    return st;
}

/* Calls the batch's callbacks (outside the lock) and frees its entries. */
static void batch_complete(mq_async_sender *s, as_batch *b)
{
    as_entry *e = b->first;
    for (size_t i = 0; i < b->n; i++) {
        as_entry *next = e->next;
        if (e->cb && !e->oneway)
            e->cb(&e->res, e->arg);
        free(e);
        e = next;
    }
    free(b->packed);
    b->packed = NULL;
    b->first = NULL;
    pthread_mutex_lock(&s->mu);
    s->pending -= b->n;
    pthread_cond_broadcast(&s->space);
    pthread_mutex_unlock(&s->mu);
    b->n = 0;
}

/* Under mu: takes entries of one mode off the queue into a free slot. */
static as_batch *batch_take(mq_async_sender *s)
{
    mq_producer_opts *o = &s->p->opts;
    as_batch *b = NULL;
    for (size_t i = 0; i < s->nslots && !b; i++)
        if (s->slots[i].n == 0)
            b = &s->slots[i];
    if (!b || !s->head)
        return NULL;
    b->first = s->head;
    b->oneway = s->head->oneway;
    b->n = 0;
    size_t bytes = 0;
    as_entry *last = NULL;
    for (as_entry *e = s->head; e && e->oneway == b->oneway && b->n < o->batch_max_msgs;
         e = e->next) {
        if (b->n > 0 && bytes + e->bytes > o->batch_max_bytes)
            break;
        bytes += e->bytes;
        b->n++;
        last = e;
    }
    s->head = last->next;
    if (!s->head)
        s->tail = NULL;
    s->queued -= b->n;
    b->done = 0;
    b->attempt = 0;
    b->resend_ms = 0;
    b->connect_until = 0;
    b->backoff_ms = s->p->opts.retry_backoff_ms;
    s->ring[(s->rhead + s->rlen++) % s->nslots] = b;
    return b;
}

/* Sends when connected; without a connection, waits as the synchronous path
 * does (up to 200 ms per attempt) before the attempt counts as UNAVAILABLE. */
static void batch_try(mq_async_sender *s, as_batch *b, int64_t now)
{
    if (atomic_load(&s->p->link.pipes) > 0) {
        b->connect_until = 0;
        batch_send(s, b);
        return;
    }
    int wait = s->p->opts.timeout_ms < 200 ? s->p->opts.timeout_ms : 200;
    if (b->connect_until == 0)
        b->connect_until = now + wait;
    if (now < b->connect_until)
        return;
    b->connect_until = 0;
    b->attempt++;
    pthread_mutex_lock(&s->mu);
    b->rv = NNG_ECONNREFUSED;
    b->done = 1;
    b->in_flight = 1;
    pthread_mutex_unlock(&s->mu);
}

/* Handles every answered batch: a retryable failure is sent again after its
 * backoff; the oldest batches, once final, complete in order. Returns 1 when
 * something moved. */
static int sender_reap(mq_async_sender *s, int64_t now)
{
    int moved = 0;
    for (size_t i = 0; i < s->rlen; i++) {
        as_batch *b = s->ring[(s->rhead + i) % s->nslots];
        pthread_mutex_lock(&s->mu);
        int done = b->done && b->in_flight;
        pthread_mutex_unlock(&s->mu);
        if (done) {
            b->in_flight = 0;
            moved = 1;
            rpc_status st = batch_outcome(s, b);
            if (!b->oneway && mq_send_retryable(st) && b->attempt <= s->p->opts.retries) {
                b->resend_ms = now + b->backoff_ms;
                b->backoff_ms *= 2;
                pthread_mutex_lock(&s->mu);
                b->done = 0;
                pthread_mutex_unlock(&s->mu);
            } else if (st != RPC_OK && b->oneway) {
                shop_log_warn("mq producer: %zu one-way sends lost: %s", b->n,
                              b->first->res.message);
            }
        }
        if (!b->in_flight && !b->done && b->resend_ms != 0 && b->resend_ms <= now) {
            b->resend_ms = 0;
            moved = 1;
        }
        if (!b->in_flight && !b->done && b->resend_ms == 0)
            batch_try(s, b, now); /* a resend, or still waiting for a connection */
    }
    while (s->rlen > 0) {
        as_batch *b = s->ring[s->rhead];
        pthread_mutex_lock(&s->mu);
        int final = b->done && !b->in_flight;
        pthread_mutex_unlock(&s->mu);
        if (!final)
            break;
        s->rhead = (s->rhead + 1) % s->nslots;
        s->rlen--;
        batch_complete(s, b);
        moved = 1;
    }
    return moved;
}

/* The earliest time the sender must look again without being woken. */
static int64_t sender_next_ms(mq_async_sender *s, int64_t now)
{
    int64_t next = now + 1000;
    for (size_t i = 0; i < s->rlen; i++) {
        as_batch *b = s->ring[(s->rhead + i) % s->nslots];
        if (b->resend_ms && b->resend_ms < next)
            next = b->resend_ms;
        if (b->connect_until && now + 2 < next)
            next = now + 2; /* polls the connection */
    }
    return next;
}

struct timespec mq_deadline_in(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + ms * 1000000;
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    return ts;
}

static void *sender_main(void *arg)
{
    mq_async_sender *s = arg;
    for (;;) {
        int64_t now = shop_now_ms();
        int moved = sender_reap(s, now);
        pthread_mutex_lock(&s->mu);
        as_batch *b;
        while ((b = batch_take(s)) != NULL) {
            pthread_mutex_unlock(&s->mu);
            moved = 1;
            if (batch_pack(b) != 0) {
                pthread_mutex_lock(&s->mu);
                b->rv = NNG_ENOMEM;
                b->done = b->in_flight = 1;
                b->attempt = s->p->opts.retries + 1;
                continue;
            }
            batch_try(s, b, now);
            pthread_mutex_lock(&s->mu);
        }
        if (s->closing && s->pending == 0) {
            pthread_mutex_unlock(&s->mu);
            return NULL;
        }
        int answered = 0;
        for (size_t i = 0; i < s->rlen && !answered; i++)
            answered = s->ring[(s->rhead + i) % s->nslots]->done &&
                       s->ring[(s->rhead + i) % s->nslots]->in_flight;
        if (!moved && !answered) {
            struct timespec ts = mq_deadline_in(sender_next_ms(s, now) - now);
            pthread_cond_timedwait(&s->work, &s->mu, &ts);
        }
        pthread_mutex_unlock(&s->mu);
    }
}

mq_async_sender *mq_async_start(mq_producer *p)
{
    mq_async_sender *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->p = p;
    s->nslots = p->opts.max_requests;
    s->slots = calloc(s->nslots, sizeof *s->slots);
    s->ring = calloc(s->nslots, sizeof *s->ring);
    if (!s->slots || !s->ring)
        goto fail;
    for (size_t i = 0; i < s->nslots; i++)
        s->slots[i].s = s;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->space, NULL);
    if (pthread_create(&s->thread, NULL, sender_main, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->work);
        pthread_cond_destroy(&s->space);
        goto fail;
    }
    return s;
fail:
    free(s->slots);
    free(s->ring);
    free(s);
    return NULL;
}

void mq_async_stop(mq_producer *p)
{
    mq_async_sender *s = p->async;
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->closing = 1;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    for (size_t i = 0; i < s->nslots; i++)
        batch_ctx_discard(&s->slots[i]);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->space);
    free(s->slots);
    free(s->ring);
    free(s);
    p->async = NULL;
}

int mq_async_on_sender_thread(const mq_async_sender *s)
{
    return s && pthread_equal(pthread_self(), s->thread);
}
