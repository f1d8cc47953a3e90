/* rpc server lifecycle: the nng REP socket, its receive slots and the worker
 * pool.
 *
 * Every slot is an nng context with a pending asynchronous receive. When a
 * request lands, nng runs slot_cb on its own thread; the callback either
 * queues the slot for a worker (one wake-up, the same cost as a blocking
 * nng_recv) or, when the queue is full or the server is draining, answers at
 * once. There are workers + queue_depth + 2 slots, so a slot is always free
 * to say RESOURCE_EXHAUSTED instead of letting nng hold requests silently. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "rpc/internal.h"
#include "base/log.h"

#include <nng/protocol/reqrep0/rep.h>

#define SPARE_SLOTS 2

static void slot_arm(rpc_slot *sl)
{
    sl->replying = false;
    nng_ctx_recv(sl->ctx, sl->aio);
}

/* Sends `rep` on the slot's own aio; slot_cb re-arms it when the send is done. */
static void slot_reply(rpc_slot *sl, nng_msg *rep)
{
    if (rep == NULL) {
        slot_arm(sl);
        return;
    }
    sl->replying = true;
    nng_aio_set_msg(sl->aio, rep);
    nng_ctx_send(sl->ctx, sl->aio);
}

static void slot_reject(rpc_slot *sl, Shop__Rpc__Request *req, rpc_status code, const char *why)
{
    atomic_fetch_add(&sl->server->rejected, 1);
    uint64_t call_id = req->call_id;
    shop__rpc__request__free_unpacked(req, NULL);
    slot_reply(sl, rpc__reply_status(call_id, code, why));
}

/* A request arrived on this slot (or its immediate reply was sent). Runs on
 * an nng thread: never blocks beyond the server mutex. */
static void slot_cb(void *arg)
{
    rpc_slot *sl = arg;
    rpc_server *s = sl->server;
    int rv = nng_aio_result(sl->aio);

    if (sl->replying) {
        if (rv != 0)
            nng_msg_free(nng_aio_get_msg(sl->aio));
        if (rv != NNG_ECLOSED)
            slot_arm(sl);
        return;
    }
    if (rv != 0) {
        if (rv != NNG_ECLOSED && rv != NNG_ECANCELED)
            slot_arm(sl);
        return;
    }
    int64_t arrived = shop_now_ms();
    nng_msg *in = nng_aio_get_msg(sl->aio), *reject = NULL;
    Shop__Rpc__Request *req = NULL;
    rpc_method *m = rpc__admit(s, in, &req, &reject);
    nng_msg_free(in);
    if (m == NULL) {
        atomic_fetch_add(&s->rejected, 1);
        slot_reply(sl, reject);
        return;
    }
    if (m->inline_ok) {
        slot_reply(sl, rpc__run(s, m, req, arrived));
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        slot_reject(sl, req, RPC_UNAVAILABLE, "server is shutting down");
        return;
    }
    if (s->queued >= s->opts.queue_depth) {
        pthread_mutex_unlock(&s->mu);
        rpc__stats_record(&m->stats, RPC_RESOURCE_EXHAUSTED, 0);
        slot_reject(sl, req, RPC_RESOURCE_EXHAUSTED, "server work queue is full");
        return;
    }
    sl->req = req;
    sl->method = m;
    sl->arrived_ms = arrived;
    sl->next = NULL;
    if (s->tail != NULL)
        s->tail->next = sl;
    else
        s->head = sl;
    s->tail = sl;
    s->queued++;
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
}

static void *worker_main(void *arg)
{
    rpc_server *s = arg;
    nng_aio *send_aio = NULL;
    if (nng_aio_alloc(&send_aio, NULL, NULL) != 0) {
        shop_log_error("rpc worker cannot allocate an aio");
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->head == NULL && !s->closing)
            pthread_cond_wait(&s->work_cv, &s->mu);
        if (s->closing)
            break;
        rpc_slot *sl = s->head;
        s->head = sl->next;
        if (s->head == NULL)
            s->tail = NULL;
        s->queued--;
        s->busy++;
        pthread_mutex_unlock(&s->mu);

        nng_msg *rep = rpc__run(s, sl->method, sl->req, sl->arrived_ms);
        sl->req = NULL;
        if (rep != NULL) {
            nng_aio_set_msg(send_aio, rep);
            nng_ctx_send(sl->ctx, send_aio);
            nng_aio_wait(send_aio);
            if (nng_aio_result(send_aio) != 0)
                nng_msg_free(rep);
        }
        slot_arm(sl);

        pthread_mutex_lock(&s->mu);
        s->busy--;
        if (s->busy == 0 && s->head == NULL)
            pthread_cond_broadcast(&s->idle_cv);
    }
    pthread_mutex_unlock(&s->mu);
    nng_aio_free(send_aio);
    return NULL;
}

rpc_status rpc__status_from_nng(int rv)
{
    switch (rv) {
    case 0:
        return RPC_OK;
    case NNG_ETIMEDOUT:
        return RPC_DEADLINE_EXCEEDED;
    case NNG_ECONNRESET:
    case NNG_ECONNREFUSED:
    case NNG_ECONNSHUT:
    case NNG_ECLOSED:
    case NNG_ESTATE:
        return RPC_UNAVAILABLE;
    case NNG_ECANCELED:
        return RPC_CANCELLED;
    case NNG_ENOMEM:
    case NNG_EMSGSIZE:
        return RPC_RESOURCE_EXHAUSTED;
    case NNG_EINVAL:
    case NNG_EADDRINVAL:
        return RPC_INVALID_ARGUMENT;
    default:
        return RPC_INTERNAL;
    }
}

rpc_status rpc_server_new(rpc_server **out, const rpc_server_opts *opts, rpc_error *err)
{
    *out = NULL;
    rpc_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    if (opts != NULL)
        s->opts = *opts;
    if (s->opts.workers <= 0)
        s->opts.workers = 4;
    if (s->opts.queue_depth <= 0)
        s->opts.queue_depth = 64;
    if (s->opts.max_msg_bytes == 0)
        s->opts.max_msg_bytes = RPC_DEFAULT_MAX_MSG;
    if (s->opts.name == NULL)
        s->opts.name = "rpc";
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    atomic_init(&s->rejected, 0);

    int rv = nng_rep0_open(&s->sock);
    if (rv != 0) {
        rpc_error_set(err, rpc__status_from_nng(rv), "cannot open rep socket: %s",
                      nng_strerror(rv));
        goto fail;
    }
    s->sock_open = true;
    /* nng drops (and disconnects) frames over RECVMAXSZ; leave headroom so
     * that a frame somewhat over the limit gets a RESOURCE_EXHAUSTED reply. */
    size_t hard = s->opts.max_msg_bytes * 4;
    if (hard < s->opts.max_msg_bytes + (1u << 20))
        hard = s->opts.max_msg_bytes + (1u << 20);
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, hard);

    s->n_slots = s->opts.workers + s->opts.queue_depth + SPARE_SLOTS;
    s->slots = calloc((size_t)s->n_slots, sizeof *s->slots);
    if (s->slots == NULL) {
        rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
        goto fail;
    }
    for (int i = 0; i < s->n_slots; i++) {
        rpc_slot *sl = &s->slots[i];
        sl->server = s;
        if ((rv = nng_ctx_open(&sl->ctx, s->sock)) != 0 ||
            (rv = nng_aio_alloc(&sl->aio, slot_cb, sl)) != 0) {
            rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "cannot open context: %s", nng_strerror(rv));
            goto fail;
        }
    }
    if (rpc__add_builtins(s, err) != RPC_OK)
        goto fail;
    *out = s;
    return RPC_OK;
fail:
    rpc_server_free(s);
    return err != NULL ? err->code : RPC_INTERNAL;
}

rpc_status rpc_server_listen(rpc_server *s, const char *url, rpc_error *err)
{
    int rv = nng_listen(s->sock, url, NULL, 0);
    if (rv != 0)
        return rpc_error_set(err, rpc__status_from_nng(rv), "cannot listen on %s: %s", url,
                             nng_strerror(rv));
    shop_log_info("rpc listening server=%s url=%s", s->opts.name, url);
    return RPC_OK;
}

static int method_cmp(const void *a, const void *b)
{
    return strcmp(((const rpc_method *)a)->name, ((const rpc_method *)b)->name);
}

rpc_status rpc_server_start(rpc_server *s, rpc_error *err)
{
    if (s->started)
        return rpc_error_set(err, RPC_FAILED_PRECONDITION, "server already started");
    qsort(s->methods, s->n_methods, sizeof *s->methods, method_cmp);
    s->threads = calloc((size_t)s->opts.workers, sizeof *s->threads);
    if (s->threads == NULL)
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    s->started = true;
    for (int i = 0; i < s->opts.workers; i++) {
        if (pthread_create(&s->threads[i], NULL, worker_main, s) != 0) {
            rpc_server_shutdown(s, 0);
            return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "cannot start worker %d", i);
        }
        s->n_threads++;
    }
    for (int i = 0; i < s->n_slots; i++)
        slot_arm(&s->slots[i]);
    shop_log_info("rpc started server=%s workers=%d queue=%d max_msg=%zu", s->opts.name,
                  s->opts.workers, s->opts.queue_depth, s->opts.max_msg_bytes);
    return RPC_OK;
}

void rpc_server_shutdown(rpc_server *s, int drain_ms)
{
    if (s == NULL || s->shut)
        return;
    s->shut = true;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    int64_t until = shop_now_ms() + (drain_ms > 0 ? drain_ms : 0);
    while ((s->busy > 0 || s->head != NULL) && s->n_threads > 0) {
        int64_t left = until - shop_now_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (left < 50 ? left : 50) * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&s->idle_cv, &s->mu, &ts);
    }
    int left_busy = s->busy, left_queued = s->queued;
    s->closing = true;
    pthread_cond_broadcast(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n_threads; i++)
        pthread_join(s->threads[i], NULL);
    s->n_threads = 0;
    if (s->sock_open) {
        s->sock_open = false;
        if (rpc__close_socket_bounded(s->sock, 2000) != 0) {
            /* The slots' callbacks may still run: the server stays allocated. */
            s->abandoned = true;
            shop_log_warn("rpc server: nng_close did not finish in 2000 ms (an nng 1.5.2 bug, see "
                          "rpc/README.md); left to a background thread server=%s",
                          s->opts.name);
        }
    }
    for (int i = 0; i < s->n_slots && !s->abandoned; i++)
        if (s->slots[i].aio != NULL)
            nng_aio_stop(s->slots[i].aio);
    if (s->started)
        shop_log_info("rpc stopped server=%s unfinished=%d dropped_queued=%d", s->opts.name,
                      left_busy, left_queued);
}

void rpc_server_free(rpc_server *s)
{
    if (s == NULL)
        return;
    rpc_server_shutdown(s, 0);
    if (s->abandoned)
        return;
    for (int i = 0; i < s->n_slots; i++) {
        if (s->slots[i].aio != NULL)
            nng_aio_free(s->slots[i].aio);
        if (s->slots[i].req != NULL)
            shop__rpc__request__free_unpacked(s->slots[i].req, NULL);
    }
    free(s->slots);
    free(s->threads);
    for (size_t i = 0; i < s->n_methods; i++) {
        free(s->methods[i].name);
        rpc__stats_destroy(&s->methods[i].stats);
    }
    free(s->methods);
    for (size_t i = 0; i < s->n_health; i++)
        free(s->health[i].service);
    free(s->health);
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->idle_cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
