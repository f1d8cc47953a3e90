/* The broker's threads. Requests are handled right in nng's callbacks under
 * the broker lock (no hand-off on the hot path); a reply to a request that
 * wrote to the log waits for the syncer thread's next fdatasync (pipelined
 * group commit). The loop thread delivers, redelivers, persists offsets
 * and applies retention. A failed write or fdatasync (a full disk) is
 * answered, never acknowledged: see fail_unsynced. */
#include "mq/broker/server.h"

#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/status.h"
#include "rpc/metrics_http.h"
#include "mq/broker/trace.h"
#include "mq/broker/txn.h"

typedef struct bk_ctx {
    nng_ctx ctx;
    nng_aio *aio;
    nng_msg *reply;
    uint64_t end_pos; /* while waiting: the log position after its records */
    int sending;
    struct bk_ctx *next;
    struct bk_loop *loop;
} bk_ctx;

typedef struct bk_loop {
    mq_broker *b;
    pthread_mutex_t bmu;           /* the broker state */
    pthread_mutex_t mu;            /* the fields below */
    pthread_cond_t cv;             /* paces the loop (5 ms) */
    pthread_cond_t scv;            /* wakes the syncer: replies wait, or shutdown */
    int syncing;                   /* a group commit leader is running */
    bk_ctx *wait_head, *wait_tail; /* replies waiting for the next fdatasync */
    int closing;
    atomic_int draining; /* new requests get UNAVAILABLE */
    pthread_t syncer;
    int syncer_on;
} bk_loop;

static void send_reply(bk_ctx *c)
{
    if (!c->reply) {
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    c->sending = 1;
    nng_aio_set_msg(c->aio, c->reply);
    c->reply = NULL;
    nng_ctx_send(c->ctx, c->aio);
}

static void fatal_io(const char *what)
{
    /* flush=async only: the records are acknowledged already and after a
     * failed fdatasync their pages may be gone; recovery decides. */
    shop_log_error("%s failed: exiting so that recovery decides what is durable", what);
    exit(1);
}

/* Replaces the reply of `c` with the store's failure. */
static void reply_failure(bk_ctx *c, int err, const char *what)
{
    char msg[440];
    rpc_status st = bk_write_failure(err ? err : EIO, *what ? what : "the log could not be written",
                                     msg, sizeof msg);
    if (c->reply)
        nng_msg_free(c->reply);
    c->reply = bk_status_reply(st, msg);
}

static void lead_syncs(bk_loop *l);

static void handle(bk_ctx *c, nng_msg *req)
{
    bk_loop *l = c->loop;
    mq_broker *b = l->b;
    if (atomic_load(&l->draining)) {
        nng_msg_free(req);
        c->reply = bk_status_reply(RPC_UNAVAILABLE, "the broker is shutting down");
        send_reply(c);
        return;
    }
    pthread_mutex_lock(&l->bmu);
    b->appended = 0;
    c->reply = bk_handle(b, nng_msg_body(req), nng_msg_len(req));
    int wait = b->appended && b->o.flush_sync;
    /* flush=sync: the syncer writes the staged batch with one pwrite.
     * flush=async: a write that fails drops this request's records (the
     * ones written before are acknowledged already) and says why. */
    if (b->appended && !wait && mq_store_flush(b->store) != 0) {
        char what[400];
        uint64_t kept;
        int e = mq_store_abort(b->store, 1, &kept, what, sizeof what);
        reply_failure(c, e, what);
    }
    if (!wait)
        bk_dispatch(b); /* new records (flush=async), acks or a subscriber */
    int lead = 0;
    if (wait) {
        c->end_pos = mq_store_position(b->store);
        pthread_mutex_lock(&l->mu);
        c->next = NULL;
        if (l->wait_tail)
            l->wait_tail->next = c;
        else
            l->wait_head = c;
        l->wait_tail = c;
        lead = !l->syncing;
        if (lead)
            l->syncing = 1;
        pthread_mutex_unlock(&l->mu);
    }
    pthread_mutex_unlock(&l->bmu);
    nng_msg_free(req); /* c may already be answered by a leader: not touched below */
    if (lead)
        lead_syncs(l);
    else if (!wait)
        send_reply(c);
}

static void ctx_cb(void *arg)
{
    bk_ctx *c = arg;
    int rv = nng_aio_result(c->aio);
    if (c->sending) {
        if (rv != 0)
            nng_msg_free(nng_aio_get_msg(c->aio));
        c->sending = 0;
        if (rv != NNG_ECLOSED)
            nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
        return;
    if (rv != 0) {
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    handle(c, nng_aio_get_msg(c->aio));
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    int64_t ns = ts->tv_nsec + (int64_t)ms * 1000000;
    ts->tv_sec += ns / 1000000000;
    ts->tv_nsec = ns % 1000000000;
}

/* Publishes a durable log position; two leaders may finish out of order. */
void bk_durable_advance(mq_broker *b, uint64_t pos)
{
    uint64_t cur = atomic_load(&b->durable);
    while (cur < pos && !atomic_compare_exchange_weak(&b->durable, &cur, pos))
        ;
}

/* A write or fdatasync of the log failed (flush=sync, by the leader, with
 * l->syncing set, so no other leader acknowledges meanwhile): every record
 * past the last sync is dropped (mq_store_abort), and with it the replies
 * still waiting for them, in `h` and queued since: they are answered with
 * the failure ("disk full: ..." for ENOSPC), not acknowledged. A waiting
 * reply whose records were all synced already (by a roll) keeps its answer.
 * The same ids can be sent again and are stored afresh once there is room.
 * Returns all the replies; *pos: the durable position. */
static bk_ctx *fail_unsynced(bk_loop *l, bk_ctx *h, uint64_t *pos)
{
    char what[400];
    pthread_mutex_lock(&l->bmu);
    int e = mq_store_abort(l->b->store, 0, pos, what, sizeof what);
    pthread_mutex_lock(&l->mu);
    if (l->wait_head) {
        bk_ctx **tail = &h;
        while (*tail)
            tail = &(*tail)->next;
        *tail = l->wait_head;
    }
    l->wait_head = l->wait_tail = NULL;
    pthread_mutex_unlock(&l->mu);
    pthread_mutex_unlock(&l->bmu);
    size_t n = 0;
    for (bk_ctx *c = h; c; c = c->next)
        if (c->end_pos > *pos) {
            reply_failure(c, e, what);
            n++;
        }
    if (n > 0)
        shop_log_error("unsynced requests refused requests=%zu err=\"%s\"", n, what);
    return h;
}

/* The leader of group commit (leader/follower): whoever queues a reply
 * while no sync runs writes everything staged with one pwrite, takes every
 * waiting reply and runs fdatasync; then it gives up the lead at once, so
 * that the next request can start the next sync while this thread is still
 * answering (the replies overlap the next fdatasync). It leads again if
 * replies wait and nobody took over. Called with l->syncing set under l->mu. */
static void lead_syncs(bk_loop *l)
{
    mq_broker *b = l->b;
    for (;;) {
        pthread_mutex_lock(&l->bmu);
        int rc = mq_store_flush(b->store);
        uint64_t pos = mq_store_position(b->store);
        bk_trace_flush(b->trace); /* the sends' STORED events before their acks */
        pthread_mutex_lock(&l->mu);
        bk_ctx *h = l->wait_head;
        l->wait_head = l->wait_tail = NULL;
        pthread_mutex_unlock(&l->mu);
        pthread_mutex_unlock(&l->bmu);
        if (rc == 0 && h)
            rc = mq_store_sync(b->store);
        if (rc != 0)
            h = fail_unsynced(l, h, &pos);
        pthread_mutex_lock(&l->mu);
        l->syncing = 0;
        pthread_mutex_unlock(&l->mu);
        if (h) {
            bk_durable_advance(b, pos);
            for (bk_ctx *c = h, *next; c; c = next) {
                next = c->next;
                send_reply(c);
            }
            pthread_mutex_lock(&l->bmu); /* durable records can be delivered */
            bk_dispatch(b);
            pthread_mutex_unlock(&l->bmu);
        }
        pthread_mutex_lock(&l->mu);
        int again = l->wait_head && !l->syncing;
        if (again)
            l->syncing = 1;
        pthread_mutex_unlock(&l->mu);
        if (!again)
            return;
    }
}

/* flush=async: a failed fdatasync of acknowledged records is fatal, unless
 * the failure was a write that handle() has answered and aborted already. */
static void async_sync_failed(bk_loop *l)
{
    pthread_mutex_lock(&l->bmu);
    int broken = mq_store_broken(l->b->store);
    pthread_mutex_unlock(&l->bmu);
    if (broken)
        fatal_io("fdatasync");
}

/* flush=async: syncs on a timer. flush=sync: a backstop leader (and the
 * drain at shutdown). */
static void *syncer_main(void *arg)
{
    bk_loop *l = arg;
    mq_broker *b = l->b;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        if (!l->closing) {
            struct timespec ts;
            deadline_in(&ts, b->o.flush_sync ? 100 : b->o.flush_interval_ms);
            pthread_cond_timedwait(&l->scv, &l->mu, &ts);
        }
        int closing = l->closing, lead = l->wait_head && !l->syncing;
        if (lead)
            l->syncing = 1;
        pthread_mutex_unlock(&l->mu);
        if (lead)
            lead_syncs(l);
        else if (!b->o.flush_sync && mq_store_sync(b->store) != 0)
            async_sync_failed(l);
        pthread_mutex_lock(&l->mu);
        if (closing && !l->wait_head && !l->syncing)
            break;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
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

/* Saves the offsets without holding the broker lock across the fsyncs.
 * When the log cannot be synced or the file written (a full disk), the
 * offsets stay dirty for the next try; a broken log is aborted by the next
 * group-commit leader (flush=sync). */
static void save_offsets(bk_loop *l)
{
    mq_broker *b = l->b;
    pthread_mutex_lock(&l->bmu);
    if (b->norphans > 0) { /* their originals are acked: the offsets wait */
        pthread_mutex_unlock(&l->bmu);
        return;
    }
    char *text = bk_offsets_snapshot(b);
    int rc = mq_store_flush(b->store);
    pthread_mutex_unlock(&l->bmu);
    if (!text)
        return;
    if (rc == 0)
        rc = mq_store_sync(b->store);
    if (rc != 0 && !b->o.flush_sync)
        async_sync_failed(l);
    if (rc == 0)
        rc = bk_offsets_write(b->o.data_dir, text);
    free(text);
    if (rc != 0) {
        pthread_mutex_lock(&l->bmu);
        b->offsets_dirty = 1;
        pthread_mutex_unlock(&l->bmu);
    }
}

/* flush=sync: a failure seen outside group commit (a roll, a read, the
 * offsets) is aborted by a leader even when no reply waits. */
static void lead_if_broken(bk_loop *l)
{
    pthread_mutex_lock(&l->bmu);
    int broken = l->b->o.flush_sync && mq_store_broken(l->b->store);
    pthread_mutex_unlock(&l->bmu);
    if (!broken)
        return;
    pthread_mutex_lock(&l->mu);
    int lead = !l->syncing;
    if (lead)
        l->syncing = 1;
    pthread_mutex_unlock(&l->mu);
    if (lead)
        lead_syncs(l);
}

/* Stores again the retry copies a failed write dropped, and syncs them
 * (no reply waits for them, so no group commit would). */
static void restore_orphans(bk_loop *l)
{
    mq_broker *b = l->b;
    pthread_mutex_lock(&l->bmu);
    size_t n = mq_store_broken(b->store) ? 0 : bk_orphans_restore(b);
    int rc = n > 0 ? mq_store_flush(b->store) : -1;
    uint64_t pos = mq_store_position(b->store);
    pthread_mutex_unlock(&l->bmu);
    if (rc != 0 || mq_store_sync(b->store) != 0)
        return; /* dropped again and kept: the next try is a second later */
    if (b->o.flush_sync)
        bk_durable_advance(b, pos);
    shop_log_info("retry copies stored again count=%zu", n);
}

/* fdatasync of the trace file, outside the broker lock (once a second). */
static void sync_trace(bk_loop *l)
{
    pthread_mutex_lock(&l->bmu);
    int fd = bk_trace_sync_fd(l->b->trace);
    pthread_mutex_unlock(&l->bmu);
    if (fd >= 0) {
        fdatasync(fd);
        close(fd);
    }
}

static void loop_run(bk_loop *l, volatile sig_atomic_t *stop)
{
    mq_broker *b = l->b;
    int64_t last_tick = 0, last_save = 0, last_retention = 0, last_restore = 0, last_trace = 0;
    while (!*stop) {
        pthread_mutex_lock(&l->mu);
        struct timespec ts;
        deadline_in(&ts, 5);
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        pthread_mutex_unlock(&l->mu);
        int64_t now = shop_now_ms();
        pthread_mutex_lock(&l->bmu);
        if (now - last_tick >= 50) {
            bk_tick(b, now);
            last_tick = now;
        }
        bk_dispatch(b);
        if (now - last_retention >= 1000) {
            mq_store_retention(b->store);
            last_retention = now;
        }
        int save = b->offsets_dirty && now - last_save >= 200;
        int restore = b->norphans > 0 && now - last_restore >= 1000;
        bk_trace_flush(b->trace);
        pthread_mutex_unlock(&l->bmu);
        if (now - last_trace >= 1000) {
            sync_trace(l);
            last_trace = now;
        }
        lead_if_broken(l);
        if (restore) {
            restore_orphans(l);
            last_restore = now;
        }
        if (save) {
            save_offsets(l);
            last_save = now;
        }
    }
}

/* Drain: new requests get UNAVAILABLE, those written are synced and
 * answered, then the sockets close. */
static void drain(bk_loop *l, bk_ctx *ctxs, int n)
{
    atomic_store(&l->draining, 1);
    pthread_mutex_lock(&l->bmu); /* callbacks in progress are done */
    pthread_mutex_unlock(&l->bmu);
    int64_t until = shop_now_ms() + 2000;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        int waiting = l->wait_head != NULL || l->syncing;
        pthread_cond_signal(&l->scv);
        pthread_mutex_unlock(&l->mu);
        if (!waiting || shop_now_ms() > until)
            break;
        shop_sleep_ms(1);
    }
    shop_sleep_ms(20); /* replies on their way out */
    nng_close(l->b->rep);
    nng_close(l->b->pub);
    for (int i = 0; i < n; i++)
        if (ctxs[i].aio)
            nng_aio_stop(ctxs[i].aio);
}

/* GET /metrics: the broker's figures, read under the broker lock. */
static void collect(shop_metrics_out *o, void *arg)
{
    bk_loop *l = arg;
    pthread_mutex_lock(&l->bmu);
    bk_metrics(l->b, o);
    pthread_mutex_unlock(&l->bmu);
}

int bk_serve(const mq_broker_opts *o, volatile sig_atomic_t *stop)
{
    rpc_metrics_http *metrics_http = NULL;
    mq_broker b = {.o = *o};
    bk_loop l = {.b = &b};
    bk_ctx *ctxs = calloc((size_t)o->contexts, sizeof *ctxs);
    char err[512];
    int rc = 1, opened = 0;
    pthread_mutex_init(&l.bmu, NULL);
    pthread_mutex_init(&l.mu, NULL);
    pthread_cond_init(&l.cv, NULL);
    pthread_cond_init(&l.scv, NULL);
    mq_store_opts so = {.dir = o->data_dir,
                        .segment_bytes = o->segment_bytes,
                        .retention_bytes = o->retention_bytes,
                        .retention_ms = o->retention_ms};
    int64_t t0 = shop_now_ms();
    if (!ctxs || mq_store_open(&b.store, &so, err, sizeof err) != 0 ||
        bk_offsets_load(&b, err, sizeof err) != 0 || bk_txn_open(&b, err, sizeof err) != 0 ||
        bk_trace_open(&b.trace, o->data_dir, o->trace_events, err, sizeof err) != 0) {
        shop_log_error("startup failed err=\"%s\"", ctxs ? err : "out of memory");
        goto done;
    }
    mq_store_on_drop(b.store, bk_orphans_keep, &b);
    mq_store_on_append(b.store, bk_trace_stored, b.trace);
    opened = 1; /* from here on, the sockets are closed by drain() */
    if (open_sockets(&b, err, sizeof err) != 0) {
        shop_log_error("startup failed err=\"%s\"", err);
        goto done;
    }
    atomic_store(&b.durable, o->flush_sync ? mq_store_position(b.store) : UINT64_MAX);
    if (pthread_create(&l.syncer, NULL, syncer_main, &l) != 0) {
        shop_log_error("startup failed err=\"cannot start the syncer thread\"");
        goto done;
    }
    l.syncer_on = 1;
    if (bk_txn_checker_start(&b, &l.bmu) != 0) {
        shop_log_error("startup failed err=\"cannot start the check-back thread\"");
        goto done;
    }
    uint64_t segs, bytes;
    mq_store_usage(b.store, &segs, &bytes);
    shop_log_info("listening url=%s pub=%s dir=%s flush=%s segments=%llu topics=%zu groups=%zu "
                  "recovery_ms=%lld",
                  o->url, o->pub_url, o->data_dir, o->flush_sync ? "sync" : "async",
                  (unsigned long long)segs, mq_store_topic_count(b.store), b.ngroups,
                  (long long)(shop_now_ms() - t0));
    metrics_http = rpc_metrics_http_serve(o->metrics_url, collect, &l);
    for (int i = 0; i < o->contexts; i++) {
        ctxs[i].loop = &l;
        if (nng_aio_alloc(&ctxs[i].aio, ctx_cb, &ctxs[i]) != 0 ||
            nng_ctx_open(&ctxs[i].ctx, b.rep) != 0) {
            shop_log_error("startup failed err=\"nng contexts\"");
            goto done;
        }
        nng_ctx_recv(ctxs[i].ctx, ctxs[i].aio);
    }
    loop_run(&l, stop);
    rc = 0;
done:
    rpc_metrics_http_stop(metrics_http); /* its collector reads what is freed below */
    bk_txn_checker_stop(&b);
    if (opened)
        drain(&l, ctxs, ctxs ? o->contexts : 0);
    pthread_mutex_lock(&l.mu);
    l.closing = 1;
    pthread_cond_broadcast(&l.scv);
    pthread_mutex_unlock(&l.mu);
    if (l.syncer_on)
        pthread_join(l.syncer, NULL);
    for (int i = 0; ctxs && i < o->contexts; i++)
        if (ctxs[i].aio)
            nng_aio_free(ctxs[i].aio);
    if (b.store) {
        save_offsets(&l);
        shop_log_info("stopped");
    }
    bk_groups_free(&b);
    bk_orphans_free(&b);
    bk_txn_close(&b);
    bk_trace_close(b.trace);
    mq_store_close(b.store);
    free(ctxs);
    pthread_cond_destroy(&l.cv);
    pthread_cond_destroy(&l.scv);
    pthread_mutex_destroy(&l.mu);
    pthread_mutex_destroy(&l.bmu);
    return rc;
}
