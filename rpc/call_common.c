/* Pieces of a client call shared by the synchronous and asynchronous paths:
 * deadlines, the request frame, the reply frame, and the retry policy. */
#include <stdlib.h>
#include <string.h>

#include "rpc/channel_internal.h"
#include "base/clock.h"
#include "base/trace.h"

int64_t rpc__call_deadline(rpc_channel *ch, const rpc_call_opts *opts)
{
    int64_t timeout = opts->timeout_ms > 0 ? opts->timeout_ms : ch->opts.default_timeout_ms;
    int64_t deadline = shop_now_ms() + timeout;
    if (opts->parent != NULL) {
        int64_t parent = rpc_ctx_deadline_ms(opts->parent);
        if (parent != 0 && parent < deadline)
            deadline = parent;
    }
    return deadline;
}

nng_msg *rpc__request_msg(rpc_channel *ch, const char *method, const uint8_t *payload, size_t len,
                          const rpc_call_opts *opts, int64_t timeout_ms)
{
    Shop__Rpc__Request req = SHOP__RPC__REQUEST__INIT;
    Shop__Rpc__Metadata mdv[16], *mdp[16];
    req.call_id = atomic_fetch_add(&ch->next_call_id, 1);
    req.method = (char *)method;
    req.timeout_ms = (uint32_t)(timeout_ms > UINT32_MAX ? UINT32_MAX : timeout_ms);
    req.payload.data = (uint8_t *)payload;
    req.payload.len = len;
    size_t n = opts->n_metadata < 15 ? opts->n_metadata : 15;
    bool has_trace = false;
    for (size_t i = 0; i < n; i++) {
        shop__rpc__metadata__init(&mdv[i]);
        mdv[i].key = (char *)opts->metadata[i].key;
        mdv[i].value.data = (uint8_t *)opts->metadata[i].value;
        mdv[i].value.len = strlen(opts->metadata[i].value);
        mdp[i] = &mdv[i];
        has_trace |= strcmp(opts->metadata[i].key, SHOP_TRACEPARENT_KEY) == 0;
    }
    /* The calling thread's trace travels with the call (base/trace.h). */
    char tp[SHOP_TRACEPARENT_LEN + 1];
    const shop_trace *cur = shop_trace_current();
    if (cur != NULL && !has_trace) {
        shop_trace hop;
        shop_trace_child(cur, &hop);
        shop_trace_format(&hop, tp);
        shop__rpc__metadata__init(&mdv[n]);
        mdv[n].key = SHOP_TRACEPARENT_KEY;
        mdv[n].value.data = (uint8_t *)tp;
        mdv[n].value.len = SHOP_TRACEPARENT_LEN;
        mdp[n] = &mdv[n];
        n++;
    }
    req.n_metadata = n;
    req.metadata = mdp;
    size_t sz = shop__rpc__request__get_packed_size(&req);
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, sz) != 0)
        return NULL;
    shop__rpc__request__pack(&req, nng_msg_body(m));
    return m;
}

rpc_status rpc__decode_reply(nng_msg *m, Shop__Rpc__Reply **out, rpc_error *err)
{
    *out = NULL;
    Shop__Rpc__Reply *rep = shop__rpc__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    if (rep == NULL)
        return rpc_error_set(err, RPC_INTERNAL, "reply envelope does not decode");
    rpc_status st = rep->status < RPC_STATUS_COUNT ? (rpc_status)rep->status : RPC_UNKNOWN;
    if (st != RPC_OK) {
        rpc_error_set(err, st, "%s", rep->message != NULL ? rep->message : "");
        shop__rpc__reply__free_unpacked(rep, NULL);
        return st;
    }
    if (err != NULL) {
        err->code = RPC_OK;
        err->message[0] = '\0';
    }
    *out = rep;
    return RPC_OK;
}

int64_t rpc__backoff_ms(const rpc_retry_policy *p, int attempt)
{
    double b = p->initial_backoff_ms;
    for (int i = 1; i < attempt && b < p->max_backoff_ms; i++)
        b *= p->multiplier;
    if (b > p->max_backoff_ms)
        b = p->max_backoff_ms;
    /* Jitter in [0.5, 1.0] x backoff so that callers that failed together
     * do not come back together. */
    double j = 0.5 + 0.5 * ((double)(random() & 0xffff) / 65535.0);
    int64_t ms = (int64_t)(b * j);
    return ms > 0 ? ms : 1;
}

bool rpc__may_retry(rpc_channel *ch, const rpc_call_opts *opts, rpc_status code, int attempts)
{
    return code == RPC_UNAVAILABLE && opts->idempotent && attempts < ch->opts.retry.max_attempts;
}

rpc_status rpc__check_method(const ProtobufCServiceDescriptor *svc, unsigned method,
                             const ProtobufCMessage *req, const ProtobufCMethodDescriptor **md,
                             rpc_error *err)
{
    if (method >= svc->n_methods)
        return rpc_error_set(err, RPC_INVALID_ARGUMENT, "%s has no method #%u", svc->name, method);
    *md = &svc->methods[method];
    if (req->descriptor != (*md)->input)
        return rpc_error_set(err, RPC_INVALID_ARGUMENT, "%s/%s takes %s, not %s", svc->name,
                             (*md)->name, (*md)->input->name, req->descriptor->name);
    return RPC_OK;
}
