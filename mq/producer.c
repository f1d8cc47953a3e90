/* The producer: packs messages into one SendRequest, retries UNAVAILABLE and
 * DEADLINE_EXCEEDED with the same message ids (the broker recognises them).
 * On a nats:// URL each attempt goes to JetStream instead (mq/nats/). */
#include "mq/mq.h"
#include "mq/nats/nats_names.h"
#include "mq/producer_int.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/clock.h"
#include "base/log.h"

/* xorshift128+ per thread, seeded once from getrandom: a batch of 256
 * sends then costs no syscall for its ids. */
static _Thread_local uint64_t id_state[2];

static uint64_t id_next(void)
{
    if (id_state[0] == 0 && id_state[1] == 0) {
        if (getrandom(id_state, sizeof id_state, 0) != (ssize_t)sizeof id_state) {
            /* Never expected on Linux; time and address still differ per thread. */
            id_state[0] = (uint64_t)shop_now_ns() ^ (uint64_t)(uintptr_t)&id_state;
            id_state[1] = (uint64_t)shop_wall_ms() * 0x9e3779b97f4a7c15ull;
        }
        id_state[0] |= 1;
    }
    uint64_t x = id_state[0], y = id_state[1];
    id_state[0] = y;
    x ^= x << 23;
    id_state[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    return id_state[1] + y;
}

void mq_new_id(char out[MQ_ID_LEN])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v[2] = {id_next(), id_next()};
    for (int i = 0; i < 32; i++)
        out[i] = hex[(v[i / 16] >> (4 * (i % 16))) & 15];
    out[32] = '\0';
}

rpc_status mq_producer_open(const char *url, const mq_producer_opts *opts, mq_producer **out)
{
    *out = NULL;
    mq_producer *p = calloc(1, sizeof *p);
    if (!p)
        return RPC_RESOURCE_EXHAUSTED;
    if (opts)
        p->opts = *opts;
    if (p->opts.timeout_ms <= 0)
        p->opts.timeout_ms = 5000;
    if (p->opts.retries == 0)
        p->opts.retries = 3;
    if (p->opts.retries < 0)
        p->opts.retries = 0;
    if (p->opts.retry_backoff_ms <= 0)
        p->opts.retry_backoff_ms = 50;
    if (p->opts.max_pending == 0)
        p->opts.max_pending = 16384;
    if (p->opts.batch_max_msgs == 0)
        p->opts.batch_max_msgs = 1024;
    if (p->opts.batch_max_bytes == 0)
        p->opts.batch_max_bytes = 1u << 20;
    if (p->opts.max_requests == 0)
        p->opts.max_requests = 4;
    shop_error err = {0};
    url = mq_url_or_env(url, "MQ_URL", MQ_DEFAULT_URL);
    if (mq_nats_is_url(url)) {
        rpc_status st = mq_nats_producer_open(url, &p->opts, &p->nats, &err);
        if (st != RPC_OK) {
            shop_log_warn("mq producer: %s", err.message);
            free(p);
            return st;
        }
    } else if (mq_link_open(&p->link, url, &err) != 0) {
        free(p);
        return RPC_INVALID_ARGUMENT;
    }
    mq_delay_route_init(&p->delay, p->opts.delay_url, p->opts.timeout_ms);
    pthread_mutex_init(&p->async_mu, NULL);
    *out = p;
    return RPC_OK;
}

void mq_producer_close(mq_producer *p)
{
    if (!p)
        return;
    mq_async_stop(p);
    pthread_mutex_destroy(&p->async_mu);
    if (p->nats != NULL)
        mq_nats_producer_close(p->nats);
    else
        mq_link_close(&p->link);
    mq_delay_route_close(&p->delay);
    free(p);
}

static void result_fail(mq_send_result *r, rpc_status st, const char *msg)
{
    r->status = st;
    snprintf(r->message, sizeof r->message, "%s", msg);
}

rpc_status mq_message_prepare(const mq_message *in, Shop__Mq__Message *m, Shop__Mq__Property *props,
                              mq_send_result *r)
{
    const mq_send_opts *o = in->opts;
    memset(r, 0, sizeof *r);
    if (o && o->id && *o->id)
        snprintf(r->id, sizeof r->id, "%s", o->id);
    else
        mq_new_id(r->id);
    if (!in->topic || !*in->topic || strlen(in->topic) > 200 || in->topic[0] == '%') {
        result_fail(r, RPC_INVALID_ARGUMENT,
                    "a topic is 1..200 characters and does not start with '%'");
        return r->status;
    }
    if (!in->body && in->len > 0) {
        result_fail(r, RPC_INVALID_ARGUMENT, "body is NULL but len > 0");
        return r->status;
    }
    const char *tag = o && o->tag ? o->tag : "";
    size_t taglen = strlen(tag);
    int tag_bad = taglen > 64;
    for (size_t i = 0; i < taglen; i++)
        tag_bad |= (unsigned char)tag[i] <= ' ' || tag[i] == '|' || tag[i] == 0x7f;
    if (tag_bad) {
        result_fail(r, RPC_INVALID_ARGUMENT,
                    "a tag is at most 64 bytes without '|', spaces or line breaks");
        return r->status;
    }
    shop__mq__message__init(m);
    m->id = r->id;
    m->tag = (char *)tag;
    m->topic = (char *)in->topic;
    m->key = (char *)(in->key ? in->key : "");
    m->body.data = (uint8_t *)in->body;
    m->body.len = in->len;
    if (o && o->n_properties > 0) {
        for (size_t i = 0; i < o->n_properties; i++) {
            shop__mq__property__init(&props[i]);
            props[i].key = (char *)o->properties[i].key;
            props[i].value = (char *)o->properties[i].value;
        }
    }
    return RPC_OK;
}

/* One attempt for the messages still marked pending in `todo`. */
static rpc_status batch_attempt(mq_producer *p, Shop__Mq__Message **wire, const int *todo, size_t n,
                                mq_send_result *results)
{
    Shop__Mq__Message **sel = malloc(n * sizeof *sel);
    size_t *idx = malloc(n * sizeof *idx);
    rpc_status st = RPC_OK;
    if (!sel || !idx) {
        st = RPC_RESOURCE_EXHAUSTED;
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (todo[i]) {
            idx[k] = i;
            sel[k++] = wire[i];
        }
    Shop__Mq__SendRequest sr = SHOP__MQ__SEND_REQUEST__INIT;
    sr.n_messages = k;
    sr.messages = sel;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_SEND;
    req.send = &sr;
    Shop__Mq__Reply *rep = NULL;
    shop_error err = {0};
    st = mq_link_call(&p->link, &req, p->opts.timeout_ms, &rep, &err);
    if (st == RPC_OK &&
        (rep->body_case != SHOP__MQ__REPLY__BODY_SEND || rep->send->n_results != k)) {
        st = shop_error_set(&err, RPC_INTERNAL, "the broker answered a send with the wrong shape");
    }
    for (size_t j = 0; j < k; j++) {
        mq_send_result *r = &results[idx[j]];
        if (st != RPC_OK) {
            result_fail(r, st, err.message);
            continue;
        }
        Shop__Mq__SendResult *sres = rep->send->results[j];
        r->status = sres->status;
        r->offset = sres->offset;
        r->duplicate = sres->duplicate;
        snprintf(r->message, sizeof r->message, "%s", sres->message ? sres->message : "");
    }
    if (rep)
        shop__mq__reply__free_unpacked(rep, NULL);
done:
    free(sel);
    free(idx);
    return st;
}

int mq_send_retryable(rpc_status st)
{
    return st == RPC_UNAVAILABLE || st == RPC_DEADLINE_EXCEEDED;
}

rpc_status mq_producer_send_batch(mq_producer *p, const mq_message *msgs, size_t n,
                                  mq_send_result *results)
{
    if (n == 0)
        return RPC_OK;
    size_t nprops = 0;
    for (size_t i = 0; i < n; i++)
        nprops += msgs[i].opts ? msgs[i].opts->n_properties : 0;
    Shop__Mq__Message *wire = calloc(n, sizeof *wire);
    Shop__Mq__Message **wp = calloc(n, sizeof *wp);
    Shop__Mq__Property *props = calloc(nprops + 1, sizeof *props);
    Shop__Mq__Property **pp = calloc(nprops + 1, sizeof *pp);
    int *todo = calloc(n, sizeof *todo);
    size_t *delayed = calloc(n, sizeof *delayed), ndelayed = 0;
    rpc_status first = RPC_OK;
    if (!wire || !wp || !props || !pp || !todo || !delayed) {
        for (size_t i = 0; i < n; i++)
            result_fail(&results[i], RPC_RESOURCE_EXHAUSTED, "out of memory");
        first = RPC_RESOURCE_EXHAUSTED;
        goto done;
    }
    size_t pi = 0, pending = 0;
    for (size_t i = 0; i < n; i++) {
        wp[i] = &wire[i];
        if (mq_message_prepare(&msgs[i], &wire[i], &props[pi], &results[i]) != RPC_OK)
            continue;
        if (p->nats != NULL && *wire[i].tag) {
            result_fail(&results[i], RPC_UNIMPLEMENTED,
                        "tags are not available on the NATS JetStream backend (mq/README.md)");
            continue;
        }
        if (mq_send_is_delayed(msgs[i].opts)) {
            delayed[ndelayed++] = i;
            continue;
        }
        size_t np = msgs[i].opts ? msgs[i].opts->n_properties : 0;
        for (size_t j = 0; j < np; j++)
            pp[pi + j] = &props[pi + j];
        wire[i].n_properties = np;
        wire[i].properties = np ? &pp[pi] : NULL;
        pi += np;
        todo[i] = 1;
        pending++;
    }
    if (ndelayed > 0)
        mq_delay_route_send(&p->delay, msgs, delayed, ndelayed, results);
    int backoff = p->opts.retry_backoff_ms;
    for (int attempt = 0; pending > 0; attempt++) {
        if (p->nats != NULL)
            mq_nats_producer_attempt(p->nats, msgs, todo, n, results);
        else
            batch_attempt(p, wp, todo, n, results);
        pending = 0;
        for (size_t i = 0; i < n; i++) {
            if (!todo[i])
                continue;
            todo[i] = mq_send_retryable(results[i].status) && attempt < p->opts.retries;
            pending += todo[i];
        }
        if (pending > 0) {
            shop_sleep_ms(backoff);
            backoff *= 2;
        }
    }
    for (size_t i = 0; i < n && first == RPC_OK; i++)
        first = results[i].status;
done:
    free(wire);
    free(wp);
    free(props);
    free(pp);
    free(todo);
    free(delayed);
    return first;
}

rpc_status mq_producer_send(mq_producer *p, const char *topic, const char *key, const void *body,
                            size_t len, const mq_send_opts *opts, mq_send_result *res)
{
    mq_message m = {.topic = topic, .key = key, .body = body, .len = len, .opts = opts};
    return mq_producer_send_batch(p, &m, 1, res);
}
