/* Client side of mq-delayd: one REQ socket, one nng context per call so that
 * threads may share a client; nng's silent resend is off (a send is never
 * repeated behind the caller's back). */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/mq_delay.h"
#include "mq_delay.pb-c.h"
#include "base/error.h"
#include "base/status.h"

struct mq_delay_client {
    nng_socket sock;
    int timeout_ms;
};

static const int64_t level_ms[MQ_DELAY_LEVELS] = {
    1000,   5000,   10000,  30000,  60000,  120000,  180000,  240000,  300000,
    360000, 420000, 480000, 540000, 600000, 1200000, 1800000, 3600000, 7200000,
};

int64_t mq_delay_level_ms(int level)
{
    if (level < 1 || level > MQ_DELAY_LEVELS) {
        return -1;
    }
    return level_ms[level - 1];
}

const char *mq_delay_default_url(void)
{
    const char *env = getenv("MQ_DELAY_URL");
    return env && *env ? env : MQ_DELAY_URL_DEFAULT;
}

/* Sets err to code and "msg[: detail]"; returns code. */
static rpc_status set_err(shop_error *err, rpc_status code, const char *msg, const char *detail)
{
    return shop_error_set(err, code, "%s%s%s", msg, detail ? ": " : "", detail ? detail : "");
}

rpc_status mq_delay_client_open(const char *url, int timeout_ms, mq_delay_client **out,
                                shop_error *err)
{
    mq_delay_client *c = calloc(1, sizeof *c);
    int rv;
    if (!c) {
        set_err(err, RPC_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return RPC_RESOURCE_EXHAUSTED;
    }
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    if ((rv = nng_req0_open(&c->sock)) != 0) {
        set_err(err, RPC_INTERNAL, "cannot open REQ socket", nng_strerror(rv));
        free(c);
        return RPC_INTERNAL;
    }
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 16u << 20);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 20);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 500);
    if ((rv = nng_dial(c->sock, url ? url : mq_delay_default_url(), NULL, NNG_FLAG_NONBLOCK)) !=
        0) {
        set_err(err, RPC_INVALID_ARGUMENT, "cannot dial mq-delayd", nng_strerror(rv));
        nng_close(c->sock);
        free(c);
        return RPC_INVALID_ARGUMENT;
    }
    *out = c;
    return RPC_OK;
}

void mq_delay_client_close(mq_delay_client *c)
{
    if (c) {
        nng_close(c->sock);
        free(c);
    }
}

/* One request/reply exchange. On OK, *reply is the decoded reply (free it). */
static rpc_status call(mq_delay_client *c, const Shop__Mq__Delay__Request *req,
                       Shop__Mq__Delay__Reply **reply, shop_error *err)
{
    nng_ctx ctx;
    nng_aio *aio = NULL;
    nng_msg *msg = NULL;
    int rv;
    rpc_status st = RPC_UNAVAILABLE;
    size_t len = shop__mq__delay__request__get_packed_size(req);

    if ((rv = nng_ctx_open(&ctx, c->sock)) != 0) {
        set_err(err, RPC_INTERNAL, "cannot open context", nng_strerror(rv));
        return RPC_INTERNAL;
    }
    if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0 || (rv = nng_msg_alloc(&msg, len)) != 0) {
        st = set_err(err, RPC_RESOURCE_EXHAUSTED, "out of memory", nng_strerror(rv));
        goto fail;
    }
    shop__mq__delay__request__pack(req, nng_msg_body(msg));
    nng_aio_set_timeout(aio, c->timeout_ms);
    nng_aio_set_msg(aio, msg);
    nng_ctx_send(ctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0) {
        set_err(err, RPC_UNAVAILABLE, "mq-delayd unreachable", nng_strerror(rv));
        goto fail; /* the message is still ours */
    }
    msg = NULL;
    nng_ctx_recv(ctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0) {
        st = set_err(err, rv == NNG_ETIMEDOUT ? RPC_DEADLINE_EXCEEDED : RPC_UNAVAILABLE,
                     "no reply from mq-delayd", nng_strerror(rv));
        goto fail;
    }
    msg = nng_aio_get_msg(aio);
    *reply = shop__mq__delay__reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
    if (!*reply) {
        st = set_err(err, RPC_INTERNAL, "undecodable reply from mq-delayd", NULL);
        goto fail;
    }
    st = (*reply)->status < RPC_STATUS_COUNT ? (rpc_status)(*reply)->status : RPC_UNKNOWN;
    if (st != RPC_OK) {
        set_err(err, st, (*reply)->error, NULL);
    }
fail:
    if (msg) {
        nng_msg_free(msg);
    }
    if (aio) {
        nng_aio_free(aio);
    }
    nng_ctx_close(ctx);
    return st;
}

rpc_status mq_delay_send_batch(mq_delay_client *c, const mq_delay_msg *msgs, size_t n,
                               mq_delay_result *results, shop_error *err)
{
    Shop__Mq__Delay__DelayMessage *dm = calloc(n ? n : 1, sizeof *dm);
    Shop__Mq__Delay__DelayMessage **dp = calloc(n ? n : 1, sizeof *dp);
    Shop__Mq__Delay__SendRequest sr = SHOP__MQ__DELAY__SEND_REQUEST__INIT;
    Shop__Mq__Delay__Request req = SHOP__MQ__DELAY__REQUEST__INIT;
    Shop__Mq__Delay__Reply *reply = NULL;
    rpc_status st;

    if (!dm || !dp) {
        st = set_err(err, RPC_RESOURCE_EXHAUSTED, "out of memory", NULL);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        shop__mq__delay__delay_message__init(&dm[i]);
        dm[i].topic = (char *)(msgs[i].topic ? msgs[i].topic : "");
        dm[i].key = (char *)(msgs[i].key ? msgs[i].key : "");
        dm[i].body.data = (uint8_t *)msgs[i].body;
        dm[i].body.len = msgs[i].len;
        dm[i].delay_ms = msgs[i].delay_ms;
        dm[i].delay_level = msgs[i].delay_level;
        if (msgs[i].traceparent != NULL)
            dm[i].traceparent = (char *)msgs[i].traceparent;
        dp[i] = &dm[i];
    }
    sr.n_messages = n;
    sr.messages = dp;
    req.op_case = SHOP__MQ__DELAY__REQUEST__OP_SEND;
    req.send = &sr;
    st = call(c, &req, &reply, err);
    bool told = false; /* err holds the first refused message's reason */
    if (st == RPC_OK && reply->n_results != n) {
        st = set_err(err, RPC_INTERNAL, "mq-delayd answered the wrong number of results", NULL);
    }
    for (size_t i = 0; st == RPC_OK && i < n; i++) {
        results[i].status = reply->results[i]->status;
        results[i].id = reply->results[i]->id;
        results[i].due_us = reply->results[i]->due_us;
        snprintf(results[i].error, sizeof results[i].error, "%s",
                 results[i].status != RPC_OK ? reply->results[i]->error : "");
        if (results[i].status != RPC_OK && !told) {
            set_err(err, (rpc_status)results[i].status, reply->results[i]->error, NULL);
            told = true;
        }
    }
fail:
    if (reply) {
        shop__mq__delay__reply__free_unpacked(reply, NULL);
    }
    free(dm);
    free(dp);
    return st;
}

rpc_status mq_delay_send(mq_delay_client *c, const char *topic, const char *key, const void *body,
                         size_t len, int64_t delay_ms, int delay_level, mq_delay_result *result,
                         shop_error *err)
{
    mq_delay_msg m = {topic, key, body, len, delay_ms, delay_level, NULL};
    mq_delay_result r = {0};
    shop_error_clear(err);
    if (delay_level != 0 && mq_delay_level_ms(delay_level) < 0) {
        set_err(err, RPC_INVALID_ARGUMENT, "delay level must be 1..18", NULL);
        return RPC_INVALID_ARGUMENT;
    }
    rpc_status st = mq_delay_send_batch(c, &m, 1, &r, err);
    if (st == RPC_OK) {
        st = (rpc_status)r.status;
    }
    if (result) {
        *result = r;
    }
    return st;
}

rpc_status mq_delay_cancel(mq_delay_client *c, const char *topic, const char *key,
                           unsigned *cancelled, shop_error *err)
{
    Shop__Mq__Delay__CancelRequest cr = SHOP__MQ__DELAY__CANCEL_REQUEST__INIT;
    Shop__Mq__Delay__Request req = SHOP__MQ__DELAY__REQUEST__INIT;
    Shop__Mq__Delay__Reply *reply = NULL;
    cr.topic = (char *)(topic ? topic : "");
    cr.key = (char *)(key ? key : "");
    req.op_case = SHOP__MQ__DELAY__REQUEST__OP_CANCEL;
    req.cancel = &cr;
    rpc_status st = call(c, &req, &reply, err);
    if (cancelled) {
        *cancelled = reply ? reply->cancelled : 0;
    }
    if (reply) {
        shop__mq__delay__reply__free_unpacked(reply, NULL);
    }
    return st;
}

rpc_status mq_delay_get_stats(mq_delay_client *c, mq_delay_stats *out, shop_error *err)
{
    Shop__Mq__Delay__StatsRequest sr = SHOP__MQ__DELAY__STATS_REQUEST__INIT;
    Shop__Mq__Delay__Request req = SHOP__MQ__DELAY__REQUEST__INIT;
    Shop__Mq__Delay__Reply *reply = NULL;
    memset(out, 0, sizeof *out);
    req.op_case = SHOP__MQ__DELAY__REQUEST__OP_STATS;
    req.stats = &sr;
    rpc_status st = call(c, &req, &reply, err);
    if (st == RPC_OK && !reply->stats) {
        st = set_err(err, RPC_INTERNAL, "mq-delayd sent no stats", NULL);
    }
    if (st == RPC_OK) {
        const Shop__Mq__Delay__Stats *s = reply->stats;
        out->pending = s->pending;
        out->delivered = s->delivered;
        out->cancelled = s->cancelled;
        out->sink_failures = s->sink_failures;
        out->segments = s->segments;
        out->lateness_samples = s->lateness_samples;
        out->next_due_us = s->next_due_us;
        out->lateness_p50_us = s->lateness_p50_us;
        out->lateness_p99_us = s->lateness_p99_us;
        out->lateness_max_us = s->lateness_max_us;
        out->topics = calloc(s->n_topics ? s->n_topics : 1, sizeof *out->topics);
        for (size_t i = 0; out->topics && i < s->n_topics; i++) {
            snprintf(out->topics[i].topic, sizeof out->topics[i].topic, "%s", s->topics[i]->topic);
            out->topics[i].pending = s->topics[i]->pending;
            out->topics[i].next_due_us = s->topics[i]->next_due_us;
            out->n_topics++;
        }
    }
    if (reply) {
        shop__mq__delay__reply__free_unpacked(reply, NULL);
    }
    return st;
}

void mq_delay_stats_free(mq_delay_stats *s)
{
    free(s->topics);
    s->topics = NULL;
    s->n_topics = 0;
}

rpc_status mq_delay_list(mq_delay_client *c, const char *topic, unsigned limit,
                         mq_delay_pending **out, size_t *n, uint64_t *matched, shop_error *err)
{
    Shop__Mq__Delay__ListRequest lr = SHOP__MQ__DELAY__LIST_REQUEST__INIT;
    Shop__Mq__Delay__Request req = SHOP__MQ__DELAY__REQUEST__INIT;
    Shop__Mq__Delay__Reply *reply = NULL;
    *out = NULL;
    *n = 0;
    *matched = 0;
    lr.topic = (char *)(topic ? topic : "");
    lr.limit = limit;
    req.op_case = SHOP__MQ__DELAY__REQUEST__OP_LIST;
    req.list = &lr;
    rpc_status st = call(c, &req, &reply, err);
    if (st == RPC_OK) {
        *out = calloc(reply->n_pending ? reply->n_pending : 1, sizeof **out);
        if (*out == NULL) {
            st = set_err(err, RPC_RESOURCE_EXHAUSTED, "out of memory", NULL);
        }
        for (size_t i = 0; *out != NULL && i < reply->n_pending; i++) {
            const Shop__Mq__Delay__PendingMessage *m = reply->pending[i];
            mq_delay_pending *p = &(*out)[i];
            snprintf(p->topic, sizeof p->topic, "%s", m->topic);
            snprintf(p->key, sizeof p->key, "%s", m->key);
            p->id = m->id;
            p->due_us = m->due_us;
            p->body_len = m->body_len;
        }
        *n = *out != NULL ? reply->n_pending : 0;
        *matched = reply->matched;
    }
    if (reply) {
        shop__mq__delay__reply__free_unpacked(reply, NULL);
    }
    return st;
}
