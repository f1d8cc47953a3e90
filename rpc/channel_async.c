/* Asynchronous client calls: a small state machine driven by one nng aio
 * (send, receive, back off and retry), finishing with the user's callback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/channel_internal.h"
#include "base/clock.h"

enum { ST_SEND, ST_RECV, ST_SLEEP };

typedef struct rpc_acall {
    struct rpc_acall *next_finished;
    rpc_channel *ch;
    nng_ctx ctx;
    nng_aio *aio;
    int state;
    char method[256];
    uint8_t *payload;
    size_t len;
    rpc_metadata *md;
    char **md_strs;
    rpc_call_opts opts;
    int64_t deadline;
    int attempts;
    const ProtobufCMessageDescriptor *out;
    rpc_done_fn done;
    void *arg;
    rpc_error err;
} acall;

static void acall_free(acall *c)
{
    for (size_t i = 0; c->md_strs != NULL && i < 2 * c->opts.n_metadata; i++)
        free(c->md_strs[i]);
    free(c->md_strs);
    free(c->md);
    free(c->payload);
    free(c);
}

/* Runs in the call's own aio callback, which cannot free that aio; the
 * channel frees it (and then the context) later from a caller's thread. */
static void finish(acall *c, rpc_status st, ProtobufCMessage *reply)
{
    rpc_channel *ch = c->ch;
    c->done(st, st == RPC_OK ? "" : c->err.message, reply, c->arg);
    pthread_mutex_lock(&ch->mu);
    c->next_finished = ch->finished;
    ch->finished = c;
    if (--ch->async_inflight == 0)
        pthread_cond_broadcast(&ch->cv);
    pthread_mutex_unlock(&ch->mu);
}

void rpc__reap_async(rpc_channel *ch)
{
    pthread_mutex_lock(&ch->mu);
    acall *c = ch->finished;
    ch->finished = NULL;
    pthread_mutex_unlock(&ch->mu);
    while (c != NULL) {
        acall *next = c->next_finished;
        nng_aio_free(c->aio); /* waits for its callback and any expiry in progress */
        nng_ctx_close(c->ctx);
        acall_free(c);
        c = next;
    }
}

static void failed(acall *c, rpc_status st)
{
    if (rpc__may_retry(c->ch, &c->opts, st, c->attempts)) {
        int64_t wait = rpc__backoff_ms(&c->ch->opts.retry, c->attempts);
        if (shop_now_ms() + wait < c->deadline) {
            c->state = ST_SLEEP;
            nng_sleep_aio((nng_duration)wait, c->aio);
            return;
        }
    }
    finish(c, st, NULL);
}

static void start_attempt(acall *c)
{
    int64_t left = c->deadline - shop_now_ms();
    if (left <= 0) {
        rpc_error_set(&c->err, RPC_DEADLINE_EXCEEDED, "deadline exceeded before sending");
        finish(c, RPC_DEADLINE_EXCEEDED, NULL);
        return;
    }
    c->attempts++;
    if (!c->opts.wait_for_ready && atomic_load(&c->ch->connected) == 0) {
        failed(c, rpc_error_set(&c->err, RPC_UNAVAILABLE, "no server connected"));
        return;
    }
    nng_msg *m = rpc__request_msg(c->ch, c->method, c->payload, c->len, &c->opts, left);
    if (m == NULL) {
        finish(c, rpc_error_set(&c->err, RPC_RESOURCE_EXHAUSTED, "out of memory"), NULL);
        return;
    }
    c->state = ST_SEND;
    nng_aio_set_timeout(c->aio, (nng_duration)left);
    nng_aio_set_msg(c->aio, m);
    nng_ctx_send(c->ctx, c->aio);
}

static void acall_cb(void *arg)
{
    acall *c = arg;
    int rv = nng_aio_result(c->aio);
    switch (c->state) {
    case ST_SLEEP:
        start_attempt(c);
        return;
    case ST_SEND:
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(c->aio));
            failed(c, rpc_error_set(&c->err, rpc__status_from_nng(rv), "send failed: %s",
                                    nng_strerror(rv)));
            return;
        }
        c->state = ST_RECV;
        int64_t left = c->deadline - shop_now_ms();
        nng_aio_set_timeout(c->aio, (nng_duration)(left > 0 ? left : 1));
        nng_ctx_recv(c->ctx, c->aio);
        return;
    default:
        break;
    }
    if (rv != 0) {
        rpc_status st = rv == NNG_ECONNRESET ? RPC_UNAVAILABLE : rpc__status_from_nng(rv);
        failed(c, rpc_error_set(&c->err, st, "receive failed: %s", nng_strerror(rv)));
        return;
    }
    nng_msg *m = nng_aio_get_msg(c->aio);
    Shop__Rpc__Reply *env = NULL;
    rpc_status st = rpc__decode_reply(m, &env, &c->err);
    nng_msg_free(m);
    if (st != RPC_OK) {
        failed(c, st);
        return;
    }
    ProtobufCMessage *reply =
        protobuf_c_message_unpack(c->out, NULL, env->payload.len, env->payload.data);
    shop__rpc__reply__free_unpacked(env, NULL);
    if (reply == NULL) {
        finish(c, rpc_error_set(&c->err, RPC_INTERNAL, "reply does not decode as %s", c->out->name),
               NULL);
        return;
    }
    finish(c, RPC_OK, reply);
}

static rpc_status copy_metadata(acall *c, const rpc_call_opts *opts)
{
    size_t n = opts->n_metadata;
    if (n == 0)
        return RPC_OK;
    c->md = calloc(n, sizeof *c->md);
    c->md_strs = calloc(2 * n, sizeof *c->md_strs);
    if (c->md == NULL || c->md_strs == NULL)
        return RPC_RESOURCE_EXHAUSTED;
    for (size_t i = 0; i < n; i++) {
        c->md_strs[2 * i] = strdup(opts->metadata[i].key);
        c->md_strs[2 * i + 1] = strdup(opts->metadata[i].value);
        if (c->md_strs[2 * i] == NULL || c->md_strs[2 * i + 1] == NULL)
            return RPC_RESOURCE_EXHAUSTED;
        c->md[i].key = c->md_strs[2 * i];
        c->md[i].value = c->md_strs[2 * i + 1];
    }
    c->opts.metadata = c->md;
    return RPC_OK;
}

rpc_status rpc_channel_call_async(rpc_channel *ch, const ProtobufCServiceDescriptor *svc,
                                  unsigned method, const ProtobufCMessage *req,
                                  const rpc_call_opts *opts, rpc_done_fn done, void *arg,
                                  rpc_error *err)
{
    static const rpc_call_opts none = {0};
    if (opts == NULL)
        opts = &none;
    rpc__reap_async(ch);
    const ProtobufCMethodDescriptor *md = NULL;
    if (rpc__check_method(svc, method, req, &md, err) != RPC_OK)
        return err != NULL ? err->code : RPC_INVALID_ARGUMENT;
    size_t len = protobuf_c_message_get_packed_size(req);
    if (len > ch->opts.max_msg_bytes)
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED,
                             "request of %zu bytes is over the %zu byte limit", len,
                             ch->opts.max_msg_bytes);
    acall *c = calloc(1, sizeof *c);
    if (c == NULL)
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    c->ch = ch;
    c->opts = *opts;
    c->opts.metadata = NULL;
    c->opts.parent = NULL;
    c->deadline = rpc__call_deadline(ch, opts);
    c->out = md->output;
    c->done = done;
    c->arg = arg;
    snprintf(c->method, sizeof c->method, "%s/%s", svc->name, md->name);
    c->len = len;
    c->payload = malloc(len > 0 ? len : 1);
    if (c->payload == NULL || copy_metadata(c, opts) != RPC_OK) {
        acall_free(c);
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    protobuf_c_message_pack(req, c->payload);
    int rv = nng_ctx_open(&c->ctx, ch->sock);
    if (rv == 0 && (rv = nng_aio_alloc(&c->aio, acall_cb, c)) != 0)
        nng_ctx_close(c->ctx);
    if (rv != 0) {
        acall_free(c);
        return rpc_error_set(err, rpc__status_from_nng(rv), "cannot start call: %s",
                             nng_strerror(rv));
    }
    pthread_mutex_lock(&ch->mu);
    ch->async_inflight++;
    pthread_mutex_unlock(&ch->mu);
    start_attempt(c);
    return RPC_OK;
}
