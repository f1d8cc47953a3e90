/* Client channel: one nng REQ socket dialing every server URL, a pool of
 * contexts for concurrent callers, deadlines, fail-fast and retries.
 *
 * nng's REQ resend is disabled (NNG_OPT_REQ_RESENDTIME infinite), so a lost
 * connection fails the call with UNAVAILABLE (NNG_ECONNRESET) instead of
 * silently sending it again; only rpc's retry policy re-sends, and only
 * calls marked idempotent. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc/channel_internal.h"
#include "base/clock.h"
#include "base/log.h"

#include <nng/protocol/reqrep0/req.h>

static void cslot_free(rpc_cslot *sl);

static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p;
    rpc_channel *ch = arg;
    if (ev == NNG_PIPE_EV_ADD_POST) {
        atomic_fetch_add(&ch->connected, 1);
        pthread_mutex_lock(&ch->mu);
        pthread_cond_broadcast(&ch->cv); /* rpc_channel_open may be waiting */
        pthread_mutex_unlock(&ch->mu);
    } else if (ev == NNG_PIPE_EV_REM_POST) {
        atomic_fetch_sub(&ch->connected, 1);
    }
}

static int new_dialer(rpc_channel *ch, const char *url, nng_dialer *d, rpc_error *err)
{
    int rv = nng_dialer_create(d, ch->sock, url);
    if (rv != 0)
        return rpc_error_set(err, RPC_INVALID_ARGUMENT, "cannot dial '%s': %s", url,
                             nng_strerror(rv));
    nng_dialer_set_ms(*d, NNG_OPT_RECONNMINT, 10);
    nng_dialer_set_ms(*d, NNG_OPT_RECONNMAXT, 250);
    nng_dialer_set_size(*d, NNG_OPT_RECVMAXSZ, ch->opts.max_msg_bytes * 4);
    return RPC_OK;
}

/* Waits until `n` servers are connected or `ms` passed. */
static void wait_connected(rpc_channel *ch, int n, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t ns = until.tv_nsec + ms * 1000000;
    until.tv_sec += ns / 1000000000;
    until.tv_nsec = ns % 1000000000;
    pthread_mutex_lock(&ch->mu);
    while (atomic_load(&ch->connected) < n)
        if (pthread_cond_timedwait(&ch->cv, &ch->mu, &until) != 0)
            break;
    pthread_mutex_unlock(&ch->mu);
}

/* Every URL gets a background dialer (nng redials with 10-250 ms backoff).
 * Open then waits a moment for them, so that servers that are up are
 * connected when it returns, without ever blocking on an unreachable host
 * (a synchronous nng dial can, and restarting a dialer after a failed
 * synchronous dial races with its callback in nng 1.5.2). */
static int dial_all(rpc_channel *ch, const char *urls, rpc_error *err)
{
    char *copy = strdup(urls), *save = NULL;
    if (copy == NULL)
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    int n = 0;
    for (char *u = strtok_r(copy, ", ", &save); u != NULL; u = strtok_r(NULL, ", ", &save)) {
        nng_dialer d;
        rpc_status st = new_dialer(ch, u, &d, err);
        if (st == RPC_OK) {
            int rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
            if (rv != 0)
                st = rpc_error_set(err, RPC_INVALID_ARGUMENT, "cannot dial '%s': %s", u,
                                   nng_strerror(rv));
        }
        if (st != RPC_OK) {
            free(copy);
            return st;
        }
        n++;
    }
    free(copy);
    if (n == 0)
        return rpc_error_set(err, RPC_INVALID_ARGUMENT, "no URL to dial in '%s'", urls);
    int64_t wait = ch->opts.connect_wait_ms > 0 ? ch->opts.connect_wait_ms : 100;
    wait_connected(ch, n, wait);
    return RPC_OK;
}

rpc_status rpc_channel_open(rpc_channel **out, const char *urls, const rpc_channel_opts *opts,
                            rpc_error *err)
{
    *out = NULL;
    rpc_channel *ch = calloc(1, sizeof *ch);
    if (ch == NULL)
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    if (opts != NULL)
        ch->opts = *opts;
    if (ch->opts.default_timeout_ms <= 0)
        ch->opts.default_timeout_ms = RPC_DEFAULT_TIMEOUT_MS;
    if (ch->opts.max_msg_bytes == 0)
        ch->opts.max_msg_bytes = RPC_DEFAULT_MAX_MSG;
    rpc_retry_policy *r = &ch->opts.retry;
    if (r->max_attempts <= 0)
        r->max_attempts = 4;
    if (r->initial_backoff_ms <= 0)
        r->initial_backoff_ms = 20;
    if (r->max_backoff_ms <= 0)
        r->max_backoff_ms = 1000;
    if (r->multiplier < 1.0)
        r->multiplier = 2.0;
    pthread_mutex_init(&ch->mu, NULL);
    pthread_cond_init(&ch->cv, NULL);
    atomic_init(&ch->connected, 0);
    atomic_init(&ch->next_call_id, ((uint64_t)shop_wall_ms() << 20) ^ (uint64_t)getpid());

    int rv = nng_req0_open(&ch->sock);
    if (rv != 0) {
        free(ch);
        return rpc_error_set(err, RPC_INTERNAL, "cannot open req socket: %s", nng_strerror(rv));
    }
    nng_socket_set_ms(ch->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_pipe_notify(ch->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, ch);
    nng_pipe_notify(ch->sock, NNG_PIPE_EV_REM_POST, pipe_cb, ch);
    rpc_status st = dial_all(ch, urls, err);
    if (st != RPC_OK) {
        rpc_channel_close(ch);
        return st;
    }
    *out = ch;
    return RPC_OK;
}

void rpc_channel_close(rpc_channel *ch)
{
    if (ch == NULL)
        return;
    pthread_mutex_lock(&ch->mu);
    while (ch->async_inflight > 0)
        pthread_cond_wait(&ch->cv, &ch->mu);
    pthread_mutex_unlock(&ch->mu);
    /* aios before the socket: freeing one waits for nng to be done with it. */
    rpc__reap_async(ch);
    while (ch->free_slots != NULL) {
        rpc_cslot *sl = ch->free_slots;
        ch->free_slots = sl->next;
        cslot_free(sl);
    }
    if (rpc__close_socket_bounded(ch->sock, 2000) != 0) {
        /* Its pipe callbacks may still run: `ch` stays allocated. */
        shop_log_warn("rpc channel: nng_close did not finish in 2000 ms (an nng 1.5.2 bug, see "
                      "rpc/README.md); left to a background thread");
        return;
    }
    pthread_cond_destroy(&ch->cv);
    pthread_mutex_destroy(&ch->mu);
    free(ch);
}

int rpc_channel_connected(rpc_channel *ch)
{
    return atomic_load(&ch->connected);
}

static void cslot_cb(void *arg)
{
    rpc_cslot *sl = arg;
    pthread_mutex_lock(&sl->mu);
    sl->done = true;
    pthread_cond_signal(&sl->cv);
    pthread_mutex_unlock(&sl->mu);
}

static void cslot_free(rpc_cslot *sl)
{
    nng_aio_free(sl->send_aio);
    nng_aio_free(sl->aio);
    pthread_cond_destroy(&sl->cv);
    pthread_mutex_destroy(&sl->mu);
    free(sl);
}

static rpc_cslot *slot_get(rpc_channel *ch)
{
    pthread_mutex_lock(&ch->mu);
    rpc_cslot *sl = ch->free_slots;
    if (sl != NULL)
        ch->free_slots = sl->next;
    pthread_mutex_unlock(&ch->mu);
    if (sl != NULL)
        return sl;
    if ((sl = calloc(1, sizeof *sl)) == NULL)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sl->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&sl->mu, NULL);
    if (nng_aio_alloc(&sl->aio, cslot_cb, sl) != 0) {
        pthread_cond_destroy(&sl->cv);
        pthread_mutex_destroy(&sl->mu);
        free(sl);
        return NULL;
    }
    if (nng_aio_alloc(&sl->send_aio, NULL, NULL) != 0) {
        cslot_free(sl);
        return NULL;
    }
    if (nng_ctx_open(&sl->ctx, ch->sock) != 0) {
        cslot_free(sl);
        return NULL;
    }
    return sl;
}

static void slot_put(rpc_channel *ch, rpc_cslot *sl)
{
    pthread_mutex_lock(&ch->mu);
    sl->next = ch->free_slots;
    ch->free_slots = sl;
    pthread_mutex_unlock(&ch->mu);
}

/* Waits for the slot's operation until `deadline` (shop_now_ms clock); past
 * it, cancels the operation here and waits for the cancellation. Returns the
 * nng result, NNG_ETIMEDOUT when cancelled for the deadline. */
static int slot_wait(rpc_cslot *sl, int64_t deadline)
{
    int64_t ns = deadline * 1000000;
    struct timespec until = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    bool expired = false;
    pthread_mutex_lock(&sl->mu);
    while (!sl->done && !expired)
        expired = pthread_cond_timedwait(&sl->cv, &sl->mu, &until) == ETIMEDOUT;
    if (!sl->done) {
        pthread_mutex_unlock(&sl->mu);
        nng_aio_cancel(sl->aio);
        pthread_mutex_lock(&sl->mu);
        while (!sl->done)
            pthread_cond_wait(&sl->cv, &sl->mu);
    }
    sl->done = false;
    pthread_mutex_unlock(&sl->mu);
    int rv = nng_aio_result(sl->aio);
    return rv == NNG_ECANCELED && expired ? NNG_ETIMEDOUT : rv;
}

/* One attempt: send the frame and wait for the reply, both before deadline. */
static rpc_status attempt(rpc_channel *ch, nng_msg *req, int64_t deadline, nng_msg **rep,
                          rpc_error *err)
{
    rpc_cslot *sl = slot_get(ch);
    if (sl == NULL) {
        nng_msg_free(req);
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "cannot open a context");
    }
    int64_t left = deadline - shop_now_ms();
    nng_aio_set_timeout(sl->send_aio, (nng_duration)(left > 0 ? left : 1));
    nng_aio_set_msg(sl->send_aio, req);
    nng_ctx_send(sl->ctx, sl->send_aio);
    nng_aio_wait(sl->send_aio);
    int rv = nng_aio_result(sl->send_aio);
    if (rv != 0) {
        nng_msg_free(req);
        slot_put(ch, sl);
        if (rv == NNG_ETIMEDOUT)
            return rpc_error_set(err, RPC_DEADLINE_EXCEEDED,
                                 "deadline exceeded waiting for a server to take the call");
        return rpc_error_set(err, rpc__status_from_nng(rv), "send failed: %s", nng_strerror(rv));
    }
    nng_ctx_recv(sl->ctx, sl->aio);
    rv = slot_wait(sl, deadline);
    if (rv == 0)
        *rep = nng_aio_get_msg(sl->aio);
    slot_put(ch, sl);
    if (rv == NNG_ECONNRESET)
        return rpc_error_set(err, RPC_UNAVAILABLE, "connection to the server was lost");
    if (rv == NNG_ETIMEDOUT)
        return rpc_error_set(err, RPC_DEADLINE_EXCEEDED, "deadline exceeded waiting for reply");
    if (rv != 0)
        return rpc_error_set(err, rpc__status_from_nng(rv), "receive failed: %s", nng_strerror(rv));
    return RPC_OK;
}

/* The call loop shared by rpc_channel_call and rpc_channel_call_bytes: attempts, fail-fast,
 * retries. On OK, *env is the reply envelope (caller frees). */
static rpc_status call_envelope(rpc_channel *ch, const char *method, const uint8_t *payload,
                                size_t len, const rpc_call_opts *opts, Shop__Rpc__Reply **env,
                                rpc_error *err)
{
    static const rpc_call_opts none = {0};
    err->attempts = 0;
    err->code = RPC_OK;
    err->message[0] = '\0';
    if (opts == NULL)
        opts = &none;
    if (len > ch->opts.max_msg_bytes)
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED,
                             "request of %zu bytes is over the %zu byte limit", len,
                             ch->opts.max_msg_bytes);
    int64_t deadline = rpc__call_deadline(ch, opts);
    for (;;) {
        int64_t left = deadline - shop_now_ms();
        if (left <= 0)
            return rpc_error_set(err, RPC_DEADLINE_EXCEEDED, "deadline exceeded before sending");
        rpc_status st;
        err->attempts++;
        if (!opts->wait_for_ready && atomic_load(&ch->connected) == 0) {
            st = rpc_error_set(err, RPC_UNAVAILABLE, "no server connected");
        } else {
            nng_msg *req = rpc__request_msg(ch, method, payload, len, opts, left);
            if (req == NULL)
                return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
            nng_msg *rep = NULL;
            st = attempt(ch, req, deadline, &rep, err);
            if (st == RPC_OK) {
                st = rpc__decode_reply(rep, env, err);
                nng_msg_free(rep);
            }
        }
        if (st == RPC_OK || !rpc__may_retry(ch, opts, st, err->attempts))
            return st;
        int64_t wait = rpc__backoff_ms(&ch->opts.retry, err->attempts);
        if (shop_now_ms() + wait >= deadline)
            return st;
        shop_sleep_ms(wait);
    }
}

rpc_status rpc_channel_call_bytes(rpc_channel *ch, const char *method, const uint8_t *payload,
                                  size_t len, uint8_t **reply_out, size_t *reply_len,
                                  const rpc_call_opts *opts, rpc_error *err)
{
    rpc_error local;
    if (err == NULL)
        err = &local;
    *reply_out = NULL;
    *reply_len = 0;
    Shop__Rpc__Reply *env = NULL;
    rpc_status st = call_envelope(ch, method, payload, len, opts, &env, err);
    if (st != RPC_OK)
        return st;
    *reply_out = malloc(env->payload.len > 0 ? env->payload.len : 1);
    if (*reply_out == NULL) {
        shop__rpc__reply__free_unpacked(env, NULL);
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    if (env->payload.len > 0)
        memcpy(*reply_out, env->payload.data, env->payload.len);
    *reply_len = env->payload.len;
    shop__rpc__reply__free_unpacked(env, NULL);
    return RPC_OK;
}

rpc_status rpc_channel_call(rpc_channel *ch, const ProtobufCServiceDescriptor *svc, unsigned method,
                            const ProtobufCMessage *req, ProtobufCMessage **reply,
                            const rpc_call_opts *opts, rpc_error *err)
{
    rpc_error local;
    if (err == NULL)
        err = &local;
    *reply = NULL;
    const ProtobufCMethodDescriptor *md = NULL;
    rpc_status st = rpc__check_method(svc, method, req, &md, err);
    if (st != RPC_OK)
        return st;
    char name[256];
    snprintf(name, sizeof name, "%s/%s", svc->name, md->name);
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t stackbuf[512];
    uint8_t *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (buf == NULL)
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    protobuf_c_message_pack(req, buf);
    Shop__Rpc__Reply *env = NULL;
    st = call_envelope(ch, name, buf, len, opts, &env, err);
    if (buf != stackbuf)
        free(buf);
    if (st != RPC_OK)
        return st;
    *reply = protobuf_c_message_unpack(md->output, NULL, env->payload.len, env->payload.data);
    shop__rpc__reply__free_unpacked(env, NULL);
    if (*reply == NULL)
        return rpc_error_set(err, RPC_INTERNAL, "reply does not decode as %s", md->output->name);
    return RPC_OK;
}
