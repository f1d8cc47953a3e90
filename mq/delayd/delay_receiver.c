/* A sink endpoint for mq-delayd: a REP socket whose contexts decode each
 * Delivery, hand it to the user's callback and answer with its status. Used
 * by tests and benchmarks to observe deliveries, and by users who want due
 * messages in their own process instead of the broker. */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdlib.h>
#include <string.h>

#include "mq/mq_delay.h"
#include "mq_delay.pb-c.h"
#include "base/status.h"

#define RECEIVER_CTXS 8

typedef struct rcv_ctx {
    struct mq_delay_receiver *r;
    nng_ctx ctx;
    nng_aio *aio;
    int sending;
} rcv_ctx;

struct mq_delay_receiver {
    nng_socket sock;
    mq_delay_on_delivery cb;
    void *arg;
    rcv_ctx ctxs[RECEIVER_CTXS];
};

static nng_msg *answer(struct mq_delay_receiver *r, nng_msg *in)
{
    Shop__Mq__Delay__DeliveryAck ack = SHOP__MQ__DELAY__DELIVERY_ACK__INIT;
    Shop__Mq__Delay__Delivery *d =
        shop__mq__delay__delivery__unpack(NULL, nng_msg_len(in), nng_msg_body(in));
    nng_msg *out = NULL;
    if (!d) {
        ack.status = RPC_INVALID_ARGUMENT;
        ack.error = "undecodable Delivery";
    } else {
        mq_delay_delivery dv = {d->topic, d->key, d->body.data, d->body.len, d->id, d->due_us, ""};
        ack.status = r->cb(&dv, r->arg);
        ack.error = ack.status == RPC_OK ? "" : "refused by receiver";
    }
    size_t len = shop__mq__delay__delivery_ack__get_packed_size(&ack);
    if (nng_msg_alloc(&out, len) == 0) {
        shop__mq__delay__delivery_ack__pack(&ack, nng_msg_body(out));
    }
    if (d) {
        shop__mq__delay__delivery__free_unpacked(d, NULL);
    }
    return out;
}

static void on_aio(void *arg)
{
    rcv_ctx *c = arg;
    if (nng_aio_result(c->aio) != 0) {
        if (c->sending) {
            nng_msg_free(nng_aio_get_msg(c->aio));
        }
        if (nng_aio_result(c->aio) == NNG_ECLOSED || nng_aio_result(c->aio) == NNG_ECANCELED) {
            return;
        }
        c->sending = 0;
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    if (c->sending) {
        c->sending = 0;
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    nng_msg *in = nng_aio_get_msg(c->aio);
    nng_msg *out = answer(c->r, in);
    nng_msg_free(in);
    if (!out) {
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    c->sending = 1;
    nng_aio_set_msg(c->aio, out);
    nng_ctx_send(c->ctx, c->aio);
}

rpc_status mq_delay_receiver_start(const char *url, mq_delay_on_delivery cb, void *arg,
                                   mq_delay_receiver **out, shop_error *err)
{
    struct mq_delay_receiver *r = calloc(1, sizeof *r);
    int rv;
    if (!r) {
        return RPC_RESOURCE_EXHAUSTED;
    }
    r->cb = cb;
    r->arg = arg;
    if ((rv = nng_rep0_open(&r->sock)) != 0) {
        goto fail;
    }
    nng_socket_set_size(r->sock, NNG_OPT_RECVMAXSZ, 16u << 20);
    for (int i = 0; i < RECEIVER_CTXS; i++) {
        r->ctxs[i].r = r;
        if ((rv = nng_ctx_open(&r->ctxs[i].ctx, r->sock)) != 0 ||
            (rv = nng_aio_alloc(&r->ctxs[i].aio, on_aio, &r->ctxs[i])) != 0) {
            goto fail;
        }
    }
    if ((rv = nng_listen(r->sock, url, NULL, 0)) != 0) {
        goto fail;
    }
    for (int i = 0; i < RECEIVER_CTXS; i++) {
        nng_ctx_recv(r->ctxs[i].ctx, r->ctxs[i].aio);
    }
    *out = r;
    return RPC_OK;
fail:
    mq_delay_receiver_stop(r);
    return shop_error_set(err, RPC_UNAVAILABLE, "cannot listen on %s: %s", url, nng_strerror(rv));
}

void mq_delay_receiver_stop(mq_delay_receiver *r)
{
    if (!r) {
        return;
    }
    for (int i = 0; i < RECEIVER_CTXS; i++) {
        if (r->ctxs[i].aio) {
            nng_aio_stop(r->ctxs[i].aio);
        }
    }
    nng_close(r->sock);
    for (int i = 0; i < RECEIVER_CTXS; i++) {
        if (r->ctxs[i].aio) {
            nng_aio_free(r->ctxs[i].aio);
        }
    }
    free(r);
}
