/* REQ/REP round trips to the broker: one nng context per call so a link is
 * shared safely by threads; connection state from pipe events. */
#include "mq/wire.h"

#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

static void link_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p;
    mq_link *l = arg;
    if (ev == NNG_PIPE_EV_ADD_POST)
        atomic_fetch_add(&l->pipes, 1);
    else if (ev == NNG_PIPE_EV_REM_POST)
        atomic_fetch_sub(&l->pipes, 1);
}

const char *mq_url_or_env(const char *given, const char *env, const char *fallback)
{
    if (given && *given)
        return given;
    const char *e = getenv(env);
    return e && *e ? e : fallback;
}

rpc_status mq_link_open(mq_link *l, const char *url, shop_error *err)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    snprintf(l->url, sizeof l->url, "%s", url);
    int rv = nng_req0_open(&l->sock);
    if (rv != 0) {
        return shop_error_set(err, RPC_INTERNAL, "nng req socket: %s", nng_strerror(rv));
    }
    /* A resend would be a second send behind the caller's back. */
    nng_socket_set_ms(l->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_ms(l->sock, NNG_OPT_RECONNMINT, 10);
    nng_socket_set_ms(l->sock, NNG_OPT_RECONNMAXT, 200);
    nng_socket_set_size(l->sock, NNG_OPT_RECVMAXSZ, 64u << 20);
    nng_pipe_notify(l->sock, NNG_PIPE_EV_ADD_POST, link_pipe_event, l);
    nng_pipe_notify(l->sock, NNG_PIPE_EV_REM_POST, link_pipe_event, l);
    rv = nng_dial(l->sock, url, NULL, NNG_FLAG_NONBLOCK);
    if (rv != 0) {
        shop_error_set(err, RPC_INTERNAL, "dial %s: %s", url, nng_strerror(rv));
        nng_close(l->sock);
        return shop_error_code(err);
    }
    return RPC_OK;
}

void mq_link_close(mq_link *l)
{
    nng_close(l->sock);
    for (int i = 0; i < l->nidle; i++) {
        nng_aio_free(l->idle[i]->aio);
        free(l->idle[i]);
    }
    l->nidle = 0;
    pthread_mutex_destroy(&l->mu);
}

static mq_link_slot *slot_get(mq_link *l)
{
    pthread_mutex_lock(&l->mu);
    mq_link_slot *s = l->nidle > 0 ? l->idle[--l->nidle] : NULL;
    pthread_mutex_unlock(&l->mu);
    if (s)
        return s;
    s = calloc(1, sizeof *s);
    if (!s || nng_aio_alloc(&s->aio, NULL, NULL) != 0) {
        free(s);
        return NULL;
    }
    if (nng_ctx_open(&s->ctx, l->sock) != 0) {
        nng_aio_free(s->aio);
        free(s);
        return NULL;
    }
    return s;
}

/* The aio first: freeing it waits for an expiry that nng 1.5.2 may still be
 * running in req0's cancel routine, which uses the context (rpc/README.md,
 * "Two nng 1.5.2 races"); only then is closing the context safe. */
static void slot_discard(mq_link_slot *s)
{
    nng_aio_free(s->aio);
    nng_ctx_close(s->ctx);
    free(s);
}

static void slot_put(mq_link *l, mq_link_slot *s)
{
    pthread_mutex_lock(&l->mu);
    if (l->nidle < MQ_LINK_POOL) {
        l->idle[l->nidle++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&l->mu);
    if (s)
        slot_discard(s);
}

/* Waits briefly for a first connection: a fresh link dials in the background. */
static int link_connected(mq_link *l, int wait_ms)
{
    int64_t until = shop_now_ms() + wait_ms;
    while (atomic_load(&l->pipes) <= 0) {
        if (shop_now_ms() >= until)
            return 0;
        shop_sleep_ms(2);
    }
    return 1;
}

rpc_status mq_link_call(mq_link *l, const Shop__Mq__Request *req, int timeout_ms,
                        Shop__Mq__Reply **out, shop_error *err)
{
    *out = NULL;
    if (!link_connected(l, timeout_ms < 200 ? timeout_ms : 200)) {
        shop_error_set(err, RPC_UNAVAILABLE, "no connection to the broker at %s", l->url);
        return RPC_UNAVAILABLE;
    }
    mq_link_slot *slot = slot_get(l);
    if (!slot) {
        shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "cannot open an nng context");
        return RPC_RESOURCE_EXHAUSTED;
    }
    nng_ctx ctx = slot->ctx;
    nng_aio *aio = slot->aio;
    nng_msg *m = NULL;
    int rv;
    rpc_status st = RPC_OK;
    size_t len = shop__mq__request__get_packed_size(req);
    if (nng_msg_alloc(&m, len) != 0) {
        shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory for %zu bytes", len);
        st = RPC_RESOURCE_EXHAUSTED;
        goto done;
    }
    shop__mq__request__pack(req, nng_msg_body(m));
    nng_aio_set_timeout(aio, timeout_ms);
    nng_aio_set_msg(aio, m);
    nng_ctx_send(ctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0)
        goto nngfail; /* m still ours */
    m = NULL;
    nng_ctx_recv(ctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0)
        goto nngfail;
    m = nng_aio_get_msg(aio);
    *out = shop__mq__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    if (!*out) {
        shop_error_set(err, RPC_INTERNAL, "the broker's reply does not decode");
        st = RPC_INTERNAL;
        goto done;
    }
    st = (*out)->status;
    if (st != RPC_OK)
        shop_error_set(err, RPC_INTERNAL, "%s", (*out)->message ? (*out)->message : "");
    goto done;
nngfail:
    /* A timed-out or failed call's context is never reused. */
    if (m)
        nng_msg_free(m);
    slot_discard(slot);
    if (rv == NNG_ETIMEDOUT && atomic_load(&l->pipes) > 0) {
        shop_error_set(err, RPC_INTERNAL, "no reply from the broker within %d ms", timeout_ms);
        st = RPC_DEADLINE_EXCEEDED;
    } else {
        shop_error_set(err, RPC_INTERNAL, "broker at %s: %s", l->url,
                       rv == NNG_ETIMEDOUT ? "connection lost" : nng_strerror(rv));
        st = RPC_UNAVAILABLE;
    }
    return st;
done:
    if (m)
        nng_msg_free(m);
    slot_put(l, slot);
    return st;
}
