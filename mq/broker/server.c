/* The event loop. nng callbacks (on nng's threads) only move a request
 * frame to the loop's queue; the loop owns all broker state. */
#include "server.h"

#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/clock.h"
#include "rpc/log.h"

typedef struct bk_ctx {
    nng_ctx ctx;
    nng_aio *aio;
    nng_msg *req, *reply;
    int sending;
    struct bk_ctx *next;
    struct bk_loop *loop;
} bk_ctx;

typedef struct bk_loop {
    pthread_mutex_t mu;
    pthread_cond_t cv;             /* wakes the loop: a request came, or records became durable */
    pthread_cond_t scv;            /* wakes the syncer: replies wait for a sync, or shutdown */
    bk_ctx *head, *tail;           /* requests waiting for the loop */
    bk_ctx *wait_head, *wait_tail; /* replies waiting for the next fdatasync */
    uint64_t wait_pos;             /* the log position they need durable */
    int closing;
    pthread_t syncer;
    int syncer_on;
    mq_broker *b;
} bk_loop;

static void ctx_cb(void *arg)
{
    bk_ctx *c = arg;
    bk_loop *l = c->loop;
    int rv = nng_aio_result(c->aio);
    if (c->sending) {
        if (rv != 0)
            nng_msg_free(nng_aio_get_msg(c->aio));
        c->sending = 0;
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
        return;
    if (rv != 0) {
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    c->req = nng_aio_get_msg(c->aio);
    c->next = NULL;
    pthread_mutex_lock(&l->mu);
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static void send_replies(bk_ctx *h)
{
    for (bk_ctx *c = h, *next; c; c = next) {
        next = c->next;
        if (!c->reply) {
            nng_ctx_recv(c->ctx, c->aio);
            continue;
        }
        c->sending = 1;
        nng_aio_set_msg(c->aio, c->reply);
        c->reply = NULL;
        nng_ctx_send(c->ctx, c->aio);
    }
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    int64_t ns = ts->tv_nsec + (int64_t)ms * 1000000;
    ts->tv_sec += ns / 1000000000;
    ts->tv_nsec = ns % 1000000000;
}

static void must_sync(mq_broker *b)
{
    if (mq_store_sync(b->store) != 0) {
        /* Not durable: answer nothing rather than a false OK; clients time out. */
        shop_error("fdatasync failed: exiting so that no unsynced send is acknowledged");
        exit(1);
    }
}

/* Group commit, pipelined: while this thread waits for fdatasync, the loop
 * keeps appending the next requests; every reply that was waiting when the
 * sync began goes out after it. Under flush=async it only syncs on a timer. */
static void *syncer_main(void *arg)
{
    bk_loop *l = arg;
    mq_broker *b = l->b;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        if (!l->wait_head && !l->closing) {
            struct timespec ts;
            deadline_in(&ts, b->o.flush_sync ? 1000 : b->o.flush_interval_ms);
            pthread_cond_timedwait(&l->scv, &l->mu, &ts);
        }
        bk_ctx *h = l->wait_head;
        uint64_t pos = l->wait_pos;
        int closing = l->closing;
        l->wait_head = l->wait_tail = NULL;
        pthread_mutex_unlock(&l->mu);
        if (h || !b->o.flush_sync)
            must_sync(b);
        if (h) {
            atomic_store(&b->durable, pos);
            send_replies(h);
            pthread_mutex_lock(&l->mu);
            pthread_cond_signal(&l->cv); /* durable records can be delivered */
            pthread_mutex_unlock(&l->mu);
        }
        pthread_mutex_lock(&l->mu);
        if (closing && !l->wait_head)
            break;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Takes every queued request; waits up to wait_ms for the first. */
static bk_ctx *take_requests(bk_loop *l, int wait_ms)
{
    pthread_mutex_lock(&l->mu);
    if (!l->head && wait_ms > 0) {
        struct timespec ts;
        deadline_in(&ts, wait_ms);
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
    }
    bk_ctx *h = l->head;
    l->head = l->tail = NULL;
    pthread_mutex_unlock(&l->mu);
    return h;
}

/* Handles a batch. Under flush=sync a reply to a request that wrote to the
 * log waits for the syncer; the others go out at once. */
static void run_batch(bk_loop *l, mq_broker *b, bk_ctx *h)
{
    bk_ctx *now_h = NULL, *now_t = NULL, *wait_h = NULL, *wait_t = NULL;
    for (bk_ctx *c = h, *next; c; c = next) {
        next = c->next;
        b->appended = 0;
        c->reply = bk_handle(b, nng_msg_body(c->req), nng_msg_len(c->req));
        nng_msg_free(c->req);
        c->req = NULL;
        c->next = NULL;
        int wait = b->appended && b->o.flush_sync && l->syncer_on;
        bk_ctx **head = wait ? &wait_h : &now_h, **tail = wait ? &wait_t : &now_t;
        if (*tail)
            (*tail)->next = c;
        else
            *head = c;
        *tail = c;
    }
    b->appended = 0;
    if (mq_store_flush(b->store) != 0) {
        shop_error("write to the log failed: exiting so that nothing unwritten is acknowledged");
        exit(1);
    }
    if (wait_h) {
        pthread_mutex_lock(&l->mu);
        if (l->wait_tail)
            l->wait_tail->next = wait_h;
        else
            l->wait_head = wait_h;
        l->wait_tail = wait_t;
        l->wait_pos = mq_store_position(b->store);
        pthread_cond_signal(&l->scv);
        pthread_mutex_unlock(&l->mu);
    }
    if (!b->o.flush_sync)
        atomic_store(&b->durable, UINT64_MAX);
    send_replies(now_h);
}

static int open_sockets(mq_broker *b, char *err, size_t errlen)
{
    int rv;
    if ((rv = nng_rep0_open(&b->rep)) != 0 || (rv = nng_pub0_open(&b->pub)) != 0) {
        snprintf(err, errlen, "nng socket: %s", nng_strerror(rv));
        return -1;
    }
    nng_socket_set_size(b->rep, NNG_OPT_RECVMAXSZ, 16u << 20);
    nng_socket_set_int(b->pub, NNG_OPT_SENDBUF, 8192);
    if ((rv = nng_listen(b->rep, b->o.url, NULL, 0)) != 0) {
        snprintf(err, errlen, "listen %s: %s", b->o.url, nng_strerror(rv));
        return -1;
    }
    if ((rv = nng_listen(b->pub, b->o.pub_url, NULL, 0)) != 0) {
        snprintf(err, errlen, "listen %s: %s", b->o.pub_url, nng_strerror(rv));
        return -1;
    }
    return 0;
}

static void loop_run(mq_broker *b, bk_loop *l, volatile sig_atomic_t *stop)
{
    int64_t last_tick = 0, last_save = 0, last_retention = 0;
    while (!*stop) {
        bk_ctx *h = take_requests(l, 5);
        if (h)
            run_batch(l, b, h);
        int64_t now = shop_now_ms();
        if (now - last_tick >= 50) {
            bk_tick(b, now);
            last_tick = now;
        }
        bk_dispatch(b);
        if (b->offsets_dirty && now - last_save >= 200) {
            bk_offsets_save(b);
            last_save = now;
        }
        if (now - last_retention >= 1000) {
            mq_store_retention(b->store);
            last_retention = now;
        }
    }
    /* Drain: what already arrived is answered. */
    bk_ctx *h = take_requests(l, 0);
    if (h)
        run_batch(l, b, h);
}

int bk_serve(const mq_broker_opts *o, volatile sig_atomic_t *stop)
{
    mq_broker b = {.o = *o};
    bk_loop l = {.b = &b};
    bk_ctx *ctxs = calloc((size_t)o->contexts, sizeof *ctxs);
    char err[512];
    int rc = 1;
    pthread_mutex_init(&l.mu, NULL);
    pthread_cond_init(&l.cv, NULL);
    pthread_cond_init(&l.scv, NULL);
    mq_store_opts so = {.dir = o->data_dir,
                        .segment_bytes = o->segment_bytes,
                        .retention_bytes = o->retention_bytes,
                        .retention_ms = o->retention_ms};
    int64_t t0 = shop_now_ms();
    if (!ctxs || mq_store_open(&b.store, &so, err, sizeof err) != 0 ||
        bk_offsets_load(&b, err, sizeof err) != 0 || open_sockets(&b, err, sizeof err) != 0) {
        shop_error("startup failed err=\"%s\"", ctxs ? err : "out of memory");
        goto done;
    }
    uint64_t segs, bytes;
    mq_store_usage(b.store, &segs, &bytes);
    shop_info("listening url=%s pub=%s dir=%s flush=%s segments=%llu topics=%zu groups=%zu "
              "recovery_ms=%lld",
              o->url, o->pub_url, o->data_dir, o->flush_sync ? "sync" : "async",
              (unsigned long long)segs, mq_store_topic_count(b.store), b.ngroups,
              (long long)(shop_now_ms() - t0));
    for (int i = 0; i < o->contexts; i++) {
        ctxs[i].loop = &l;
        if (nng_aio_alloc(&ctxs[i].aio, ctx_cb, &ctxs[i]) != 0 ||
            nng_ctx_open(&ctxs[i].ctx, b.rep) != 0) {
            shop_error("startup failed err=\"nng contexts\"");
            goto done;
        }
        nng_ctx_recv(ctxs[i].ctx, ctxs[i].aio);
    }
    atomic_store(&b.durable, o->flush_sync ? mq_store_position(b.store) : UINT64_MAX);
    if (pthread_create(&l.syncer, NULL, syncer_main, &l) != 0) {
        shop_error("startup failed err=\"cannot start the syncer thread\"");
        goto done;
    }
    l.syncer_on = 1;
    loop_run(&b, &l, stop);
    rc = 0;
done:
    pthread_mutex_lock(&l.mu);
    l.closing = 1;
    pthread_cond_broadcast(&l.cv);
    pthread_cond_broadcast(&l.scv);
    pthread_mutex_unlock(&l.mu);
    if (l.syncer_on)
        pthread_join(l.syncer, NULL);
    nng_close(b.rep);
    nng_close(b.pub);
    for (int i = 0; ctxs && i < o->contexts; i++)
        if (ctxs[i].aio) {
            nng_aio_stop(ctxs[i].aio);
            nng_aio_free(ctxs[i].aio);
            if (ctxs[i].req)
                nng_msg_free(ctxs[i].req);
        }
    if (b.store) {
        mq_store_sync(b.store);
        bk_offsets_save(&b);
        shop_info("stopped");
    }
    for (size_t i = 0; i < b.ncons; i++)
        if (b.cons[i])
            bk_consumer_remove(&b, (int32_t)i, "broker stopping");
    for (size_t i = 0; i < b.ngroups; i++) {
        for (size_t j = 0; j < b.groups[i]->nq; j++) {
            free(b.groups[i]->queues[j]->win);
            free(b.groups[i]->queues[j]->ready);
            free(b.groups[i]->queues[j]);
        }
        free(b.groups[i]->queues);
        free(b.groups[i]->name);
        free(b.groups[i]);
    }
    free(b.groups);
    free(b.cons);
    mq_store_close(b.store);
    free(ctxs);
    pthread_cond_destroy(&l.cv);
    pthread_cond_destroy(&l.scv);
    pthread_mutex_destroy(&l.mu);
    return rc;
}
