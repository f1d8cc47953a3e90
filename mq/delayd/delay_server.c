/* mq-delayd's nng REP server: a fixed set of contexts, each a small state
 * machine (receive -> work -> send). Stats and lists are answered on the nng
 * thread; sends and cancels go to the writer, which replies after the fsync. */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/delayd/delayd.h"
#include "mq_delay.pb-c.h"
#include "base/log.h"
#include "base/status.h"

struct delayd_srv_ctx {
    delayd *d;
    nng_ctx ctx;
    nng_aio *aio;
    int sending;
};

void delayd_server_reply(delayd_srv_ctx *sc, const void *reply)
{
    const Shop__Mq__Delay__Reply *rep = reply;
    nng_msg *msg;
    if (nng_msg_alloc(&msg, shop__mq__delay__reply__get_packed_size(rep)) != 0) {
        sc->sending = 0;
        nng_ctx_recv(sc->ctx, sc->aio); /* the client times out */
        return;
    }
    shop__mq__delay__reply__pack(rep, nng_msg_body(msg));
    sc->sending = 1;
    nng_aio_set_msg(sc->aio, msg);
    nng_ctx_send(sc->ctx, sc->aio);
}

static void reply_status(delayd_srv_ctx *sc, int status, const char *error)
{
    Shop__Mq__Delay__Reply rep = SHOP__MQ__DELAY__REPLY__INIT;
    rep.status = status;
    rep.error = (char *)error;
    delayd_server_reply(sc, &rep);
}

static void reply_stats(delayd_srv_ctx *sc)
{
    delayd *d = sc->d;
    Shop__Mq__Delay__Reply rep = SHOP__MQ__DELAY__REPLY__INIT;
    Shop__Mq__Delay__Stats st = SHOP__MQ__DELAY__STATS__INIT;
    pthread_mutex_lock(&d->mu);
    delay_index_topic_stats(&d->ix);
    uint32_t nt = d->ix.n_topics;
    Shop__Mq__Delay__TopicStats *ts = calloc(nt ? nt : 1, sizeof *ts);
    Shop__Mq__Delay__TopicStats **tp = calloc(nt ? nt : 1, sizeof *tp);
    char **names = calloc(nt ? nt : 1, sizeof *names);
    size_t k = 0;
    for (uint32_t i = 0; ts && tp && names && i < nt; i++) {
        if (d->ix.topics[i].pending == 0) {
            continue;
        }
        shop__mq__delay__topic_stats__init(&ts[k]);
        names[k] = strdup(d->ix.topics[i].name);
        ts[k].topic = names[k] ? names[k] : "";
        ts[k].pending = d->ix.topics[i].pending;
        ts[k].next_due_us = d->ix.topics[i].next_due_us;
        tp[k] = &ts[k];
        k++;
    }
    st.n_topics = k;
    st.topics = tp;
    st.pending = d->ix.pending;
    st.next_due_us = d->ix.heap_n ? delay_index_next_due(&d->ix) : 0;
    st.delivered = d->delivered;
    st.cancelled = d->cancelled;
    st.sink_failures = d->sink_failures;
    const shop_hist *late = &d->lateness_us;
    st.lateness_samples = (uint64_t)late->count;
    if (late->count > 0) {
        st.lateness_p50_us = shop_hist_percentile(late, 50);
        st.lateness_p99_us = shop_hist_percentile(late, 99);
        st.lateness_max_us = late->max;
    }
    pthread_mutex_unlock(&d->mu);
    st.segments = delay_log_segments(d->log);
    rep.stats = &st;
    delayd_server_reply(sc, &rep);
    for (size_t i = 0; names && i < k; i++) {
        free(names[i]);
    }
    free(names);
    free(ts);
    free(tp);
}

static void on_request(delayd_srv_ctx *sc, nng_msg *msg)
{
    Shop__Mq__Delay__Request *req =
        shop__mq__delay__request__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
    nng_msg_free(msg);
    if (!req) {
        reply_status(sc, RPC_INVALID_ARGUMENT, "request does not decode as shop.mq.delay.Request");
        return;
    }
    switch (req->op_case) {
    case SHOP__MQ__DELAY__REQUEST__OP_STATS:
        shop__mq__delay__request__free_unpacked(req, NULL);
        reply_stats(sc);
        return;
    case SHOP__MQ__DELAY__REQUEST__OP_LIST:
        delayd_reply_list(sc, sc->d, req->list);
        shop__mq__delay__request__free_unpacked(req, NULL);
        return;
    case SHOP__MQ__DELAY__REQUEST__OP_SEND:
        if (req->send->n_messages == 0) {
            shop__mq__delay__request__free_unpacked(req, NULL);
            reply_status(sc, RPC_INVALID_ARGUMENT, "a send needs at least one message");
            return;
        }
        /* fall through */
    case SHOP__MQ__DELAY__REQUEST__OP_CANCEL: {
        int st = sc->d->stopping ? RPC_UNAVAILABLE : delayd_submit(sc->d, sc, req);
        if (st != RPC_OK) {
            shop__mq__delay__request__free_unpacked(req, NULL);
            reply_status(sc, st, "mq-delayd is shutting down");
        }
        return;
    }
    default:
        shop__mq__delay__request__free_unpacked(req, NULL);
        reply_status(sc, RPC_UNIMPLEMENTED, "unknown request");
    }
}

static void on_aio(void *arg)
{
    delayd_srv_ctx *sc = arg;
    int rv = nng_aio_result(sc->aio);
    if (sc->sending) {
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(sc->aio));
        }
        sc->sending = 0;
        if (rv != NNG_ECLOSED) {
            nng_ctx_recv(sc->ctx, sc->aio);
        }
        return;
    }
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
        return;
    }
    if (rv != 0) {
        nng_ctx_recv(sc->ctx, sc->aio);
        return;
    }
    on_request(sc, nng_aio_get_msg(sc->aio));
}

rpc_status delayd_server_start(delayd *d, shop_error *err)
{
    int rv;
    if ((rv = nng_rep0_open(&d->sock)) != 0) {
        return shop_error_set(err, RPC_INTERNAL, "cannot open REP socket: %s", nng_strerror(rv));
    }
    nng_socket_set_size(d->sock, NNG_OPT_RECVMAXSZ, 64u << 20);
    d->ctxs = calloc(DELAYD_SERVER_CTXS, sizeof *d->ctxs);
    if (!d->ctxs) {
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    for (int i = 0; i < DELAYD_SERVER_CTXS; i++) {
        d->ctxs[i].d = d;
        if ((rv = nng_ctx_open(&d->ctxs[i].ctx, d->sock)) != 0 ||
            (rv = nng_aio_alloc(&d->ctxs[i].aio, on_aio, &d->ctxs[i])) != 0) {
            return shop_error_set(err, RPC_INTERNAL, "cannot set up contexts: %s",
                                  nng_strerror(rv));
        }
    }
    if ((rv = nng_listen(d->sock, d->cfg.listen_url, NULL, 0)) != 0) {
        return shop_error_set(err, RPC_INTERNAL, "cannot listen on %s: %s", d->cfg.listen_url,
                              nng_strerror(rv));
    }
    for (int i = 0; i < DELAYD_SERVER_CTXS; i++) {
        nng_ctx_recv(d->ctxs[i].ctx, d->ctxs[i].aio);
    }
    return RPC_OK;
}

void delayd_server_stop(delayd *d)
{
    if (!d->ctxs) {
        nng_close(d->sock);
        return;
    }
    nng_close(d->sock);
    for (int i = 0; i < DELAYD_SERVER_CTXS; i++) {
        if (d->ctxs[i].aio) {
            nng_aio_stop(d->ctxs[i].aio);
            nng_aio_free(d->ctxs[i].aio);
        }
    }
    free(d->ctxs);
    d->ctxs = NULL;
}
