/* The Delivery sink: one REQ context used by the timer thread alone; no
 * silent resends (a retry is the timer's decision, with backoff). */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>

#include "mq/delayd/delay_sink.h"
#include "mq_delay.pb-c.h"
#include "base/status.h"

typedef struct nng_sink {
    delay_sink base;
    nng_socket sock;
    nng_ctx ctx;
    nng_aio *aio;
    int timeout_ms;
} nng_sink;

/* After a failed or timed-out request the context is replaced, never reused:
 * nng 1.5.2's expiry thread may still be using it in req0's cancel routine
 * (rpc/README.md). Freeing the aio first waits for that expiry. */
static void renew(nng_sink *ns)
{
    if (ns->aio) {
        nng_aio_free(ns->aio);
        ns->aio = NULL;
    }
    nng_ctx_close(ns->ctx);
    if (nng_ctx_open(&ns->ctx, ns->sock) != 0 || nng_aio_alloc(&ns->aio, NULL, NULL) != 0) {
        ns->aio = NULL; /* the next delivery reports UNAVAILABLE and tries again */
    }
}

static rpc_status deliver_one(delay_sink *s, const delay_out *m, shop_error *err)
{
    nng_sink *ns = (nng_sink *)s;
    Shop__Mq__Delay__Delivery d = SHOP__MQ__DELAY__DELIVERY__INIT;
    nng_msg *msg = NULL;
    int rv, st;
    if (ns->aio == NULL) {
        renew(ns);
        if (ns->aio == NULL) {
            shop_error_set(err, RPC_UNAVAILABLE, "sink: cannot open a context");
            return RPC_UNAVAILABLE;
        }
    }
    d.topic = (char *)m->topic;
    d.key = (char *)m->key;
    d.body.data = (uint8_t *)m->body;
    d.body.len = m->len;
    d.id = m->id;
    d.due_us = m->due_us;
    if ((rv = nng_msg_alloc(&msg, shop__mq__delay__delivery__get_packed_size(&d))) != 0) {
        shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
        return RPC_RESOURCE_EXHAUSTED;
    }
    shop__mq__delay__delivery__pack(&d, nng_msg_body(msg));
    nng_aio_set_timeout(ns->aio, ns->timeout_ms);
    nng_aio_set_msg(ns->aio, msg);
    nng_ctx_send(ns->ctx, ns->aio);
    nng_aio_wait(ns->aio);
    if ((rv = nng_aio_result(ns->aio)) != 0) {
        nng_msg_free(msg);
        shop_error_set(err, RPC_UNAVAILABLE, "sink unreachable: %s", nng_strerror(rv));
        renew(ns);
        return RPC_UNAVAILABLE;
    }
    nng_ctx_recv(ns->ctx, ns->aio);
    nng_aio_wait(ns->aio);
    if ((rv = nng_aio_result(ns->aio)) != 0) {
        shop_error_set(err, RPC_UNAVAILABLE, "no ack from sink: %s", nng_strerror(rv));
        renew(ns);
        return RPC_UNAVAILABLE;
    }
    msg = nng_aio_get_msg(ns->aio);
    Shop__Mq__Delay__DeliveryAck *ack =
        shop__mq__delay__delivery_ack__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
    nng_msg_free(msg);
    if (!ack) {
        shop_error_set(err, RPC_INTERNAL, "undecodable ack from sink");
        return RPC_INTERNAL;
    }
    st = ack->status;
    if (st != RPC_OK) {
        shop_error_set(err, RPC_INTERNAL, "sink refused: %s %s", rpc_status_name(st), ack->error);
    }
    shop__mq__delay__delivery_ack__free_unpacked(ack, NULL);
    return st;
}

/* One request per message: a receiver is usually in-process and cheap. */
static void nng_sink_deliver(delay_sink *s, const delay_out *m, size_t n, int *status,
                             shop_error *err)
{
    size_t i = 0;
    for (; i < n; i++) {
        status[i] = deliver_one(s, &m[i], err);
        if (status[i] != RPC_OK) {
            break;
        }
    }
    for (i++; i < n; i++) {
        status[i] = RPC_UNAVAILABLE;
    }
}

static void nng_sink_close(delay_sink *s)
{
    nng_sink *ns = (nng_sink *)s;
    if (ns->aio) {
        nng_aio_stop(ns->aio);
    }
    nng_close(ns->sock);
    if (ns->aio) {
        nng_aio_free(ns->aio);
    }
    free(ns);
}

rpc_status delay_sink_nng_open(const char *url, int timeout_ms, delay_sink **out, shop_error *err)
{
    nng_sink *ns = calloc(1, sizeof *ns);
    int rv;
    if (!ns) {
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    ns->base.deliver = nng_sink_deliver;
    ns->base.close = nng_sink_close;
    ns->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
    if ((rv = nng_req0_open(&ns->sock)) != 0) {
        rpc_status code =
            shop_error_set(err, RPC_UNAVAILABLE, "cannot open REQ socket: %s", nng_strerror(rv));
        free(ns);
        return code;
    }
    nng_socket_set_ms(ns->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_ms(ns->sock, NNG_OPT_RECONNMINT, 10);
    nng_socket_set_ms(ns->sock, NNG_OPT_RECONNMAXT, 200);
    if ((rv = nng_ctx_open(&ns->ctx, ns->sock)) != 0 ||
        (rv = nng_aio_alloc(&ns->aio, NULL, NULL)) != 0 ||
        (rv = nng_dial(ns->sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
        rpc_status code =
            shop_error_set(err, RPC_UNAVAILABLE, "cannot dial sink %s: %s", url, nng_strerror(rv));
        nng_sink_close(&ns->base);
        return code;
    }
    *out = &ns->base;
    return RPC_OK;
}
