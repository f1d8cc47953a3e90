/* One call on the server: admit it (size, envelope, method) on the nng
 * thread, then run it (deadline, payload, handler, reply) on a worker. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/trace.h"
#include "rpc/internal.h"
#include "base/log.h"

nng_msg *rpc__reply_status(uint64_t call_id, rpc_status code, const char *message)
{
    Shop__Rpc__Reply rep = SHOP__RPC__REPLY__INIT;
    rep.call_id = call_id;
    rep.status = (uint32_t)code;
    rep.message = (char *)(message != NULL ? message : "");
    size_t len = shop__rpc__reply__get_packed_size(&rep);
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, len) != 0)
        return NULL;
    shop__rpc__reply__pack(&rep, nng_msg_body(m));
    return m;
}

/* The payload is packed straight into the frame, after the other envelope
 * fields (protobuf fields may come in any order): field 4 is tag 0x22, a
 * varint length, then the bytes. Saves a buffer and a copy per reply. */
static nng_msg *reply_payload(uint64_t call_id, const char *message, ProtobufCMessage *payload)
{
    Shop__Rpc__Reply rep = SHOP__RPC__REPLY__INIT;
    rep.call_id = call_id;
    rep.message = (char *)message;
    size_t head = shop__rpc__reply__get_packed_size(&rep);
    size_t plen = protobuf_c_message_get_packed_size(payload);
    uint8_t varint[10];
    size_t vlen = 0;
    size_t v = plen;
    do {
        varint[vlen] = (uint8_t)(v & 0x7f);
        v >>= 7;
        varint[vlen++] |= v != 0 ? 0x80 : 0;
    } while (v != 0);
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, head + 1 + vlen + plen) != 0)
        return NULL;
    uint8_t *p = nng_msg_body(m);
    p += shop__rpc__reply__pack(&rep, p);
    *p++ = 0x22;
    memcpy(p, varint, vlen);
    protobuf_c_message_pack(payload, p + vlen);
    return m;
}

static nng_msg *finish(rpc_method *m, int64_t start_us, uint64_t call_id, rpc_status code,
                       const char *message)
{
    if (m != NULL)
        rpc__stats_record(&m->stats, code, shop_now_us() - start_us);
    return rpc__reply_status(call_id, code, message);
}

rpc_method *rpc__admit(rpc_server *s, nng_msg *in, Shop__Rpc__Request **out, nng_msg **reject)
{
    size_t len = nng_msg_len(in);
    char msg[160];
    *out = NULL;
    *reject = NULL;
    if (len > s->opts.max_msg_bytes + 1024) {
        snprintf(msg, sizeof msg, "request of %zu bytes is over the %zu byte limit", len,
                 s->opts.max_msg_bytes);
        *reject = rpc__reply_status(0, RPC_RESOURCE_EXHAUSTED, msg);
        return NULL;
    }
    Shop__Rpc__Request *req = shop__rpc__request__unpack(NULL, len, nng_msg_body(in));
    if (req == NULL) {
        *reject = rpc__reply_status(0, RPC_INVALID_ARGUMENT, "request envelope does not decode");
        return NULL;
    }
    if (req->payload.len > s->opts.max_msg_bytes) {
        snprintf(msg, sizeof msg, "payload of %zu bytes is over the %zu byte limit",
                 req->payload.len, s->opts.max_msg_bytes);
        *reject = rpc__reply_status(req->call_id, RPC_RESOURCE_EXHAUSTED, msg);
        shop__rpc__request__free_unpacked(req, NULL);
        return NULL;
    }
    rpc_method *m = rpc__find_method(s, req->method);
    if (m == NULL || m->fn == NULL) {
        snprintf(msg, sizeof msg, "unknown method '%.100s'", req->method);
        *reject = rpc__reply_status(req->call_id, RPC_UNIMPLEMENTED, msg);
        if (m != NULL)
            rpc__stats_record(&m->stats, RPC_UNIMPLEMENTED, 0);
        shop__rpc__request__free_unpacked(req, NULL);
        return NULL;
    }
    *out = req;
    return m;
}

nng_msg *rpc__run(rpc_server *s, rpc_method *m, Shop__Rpc__Request *req, int64_t arrived_ms)
{
    int64_t start_us = shop_now_us();
    nng_msg *out = NULL;
    char msg[160];
    int64_t deadline = req->timeout_ms > 0 ? arrived_ms + req->timeout_ms : 0;
    if (deadline != 0 && shop_now_ms() >= deadline) {
        out = finish(m, start_us, req->call_id, RPC_DEADLINE_EXCEEDED,
                     "deadline passed before the call started");
        goto done;
    }
    ProtobufCMessage *in_msg =
        protobuf_c_message_unpack(m->desc->input, NULL, req->payload.len, req->payload.data);
    if (in_msg == NULL) {
        snprintf(msg, sizeof msg, "payload does not decode as %.100s", m->desc->input->name);
        out = finish(m, start_us, req->call_id, RPC_INVALID_ARGUMENT, msg);
        goto done;
    }
    ProtobufCMessage *reply = calloc(1, m->desc->output->sizeof_message);
    if (reply == NULL) {
        protobuf_c_message_free_unpacked(in_msg, NULL);
        out = finish(m, start_us, req->call_id, RPC_RESOURCE_EXHAUSTED, "out of memory");
        goto done;
    }
    protobuf_c_message_init(m->desc->output, reply);

    rpc_ctx ctx = {.server = s, .req = req, .method = m->name, .deadline_ms = deadline};
    atomic_fetch_add(&m->stats.active, 1);
    /* The caller's trace is the handler's while it runs (base/trace.h). */
    if (req->n_metadata > 0)
        shop_trace_adopt(rpc_ctx_metadata(&ctx, SHOP_TRACEPARENT_KEY));
    rpc_status code = m->fn(&ctx, in_msg, reply, m->impl);
    if (shop_trace_current() != NULL) /* a traced call leaves a line in its trace */
        shop_log_debug("rpc served method=%s status=%s us=%lld", m->name,
                       rpc_status_name(code >= 0 && code < RPC_STATUS_COUNT ? code : RPC_UNKNOWN),
                       (long long)(shop_now_us() - start_us));
    shop_trace_clear();
    atomic_fetch_sub(&m->stats.active, 1);
    if (code < 0 || code >= RPC_STATUS_COUNT) {
        snprintf(ctx.message, sizeof ctx.message, "handler returned invalid status %d", code);
        code = RPC_UNKNOWN;
    }
    if (code == RPC_OK)
        out = reply_payload(req->call_id, ctx.message, reply);
    else
        out = rpc__reply_status(req->call_id, code, ctx.message);
    rpc__stats_record(&m->stats, code, shop_now_us() - start_us);
    free(reply); /* its fields belong to the handler (request, static or ctx arena) */
    rpc__arena_free(&ctx);
    protobuf_c_message_free_unpacked(in_msg, NULL);
done:
    shop__rpc__request__free_unpacked(req, NULL);
    return out;
}

/* ---- handler context -------------------------------------------------- */

const char *rpc_ctx_method(const rpc_ctx *ctx)
{
    return ctx->method;
}

int64_t rpc_ctx_deadline_ms(const rpc_ctx *ctx)
{
    return ctx->deadline_ms;
}

int64_t rpc_ctx_remaining_ms(const rpc_ctx *ctx)
{
    if (ctx->deadline_ms == 0)
        return INT64_MAX;
    return ctx->deadline_ms - shop_now_ms();
}

const char *rpc_ctx_metadata(const rpc_ctx *ctx, const char *key)
{
    for (size_t i = 0; i < ctx->req->n_metadata; i++) {
        const Shop__Rpc__Metadata *md = ctx->req->metadata[i];
        if (strcmp(md->key, key) != 0)
            continue;
        /* Values travel as bytes; hand back a terminated copy. */
        char *v = rpc_ctx_alloc((rpc_ctx *)ctx, md->value.len + 1);
        if (md->value.len > 0) /* an empty value has no data pointer */
            memcpy(v, md->value.data, md->value.len);
        return v;
    }
    return NULL;
}

rpc_status rpc_ctx_fail(rpc_ctx *ctx, rpc_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->message, sizeof ctx->message, fmt, ap);
    va_end(ap);
    return code;
}

void *rpc_ctx_alloc(rpc_ctx *ctx, size_t size)
{
    rpc_arena_block *b = calloc(1, sizeof *b + size);
    if (b == NULL) {
        shop_log_error("rpc out of memory size=%zu", size);
        abort();
    }
    b->next = ctx->arena;
    ctx->arena = b;
    return b->data;
}

char *rpc_ctx_strdup(rpc_ctx *ctx, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = rpc_ctx_alloc(ctx, n);
    memcpy(d, s, n);
    return d;
}

void rpc__arena_free(rpc_ctx *ctx)
{
    while (ctx->arena != NULL) {
        rpc_arena_block *b = ctx->arena;
        ctx->arena = b->next;
        free(b);
    }
}
