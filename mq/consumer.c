/* The consumer: one thread receives batches over SUB (its own prefix),
 * runs the handler per message, sends acks in batches over REQ, heartbeats,
 * and repairs PUB/SUB drops: a jump in the batch sequence, or a heartbeat
 * that reports batches never seen, makes it pull those batches. On a
 * nats:// URL all of it is JetStream's instead (mq/nats/nats_consumer.c). */
#include "mq/mq.h"
#include "mq/nats/nats_consumer.h"
#include "mq/nats/nats_names.h"
#include "mq/wire.h"

#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

#define RPC_TIMEOUT_MS 3000

struct mq_consumer {
    mq_nats_consumer *nats; /* set on a nats:// URL: everything else is unused */
    mq_link link;
    nng_socket sub;
    atomic_int sub_pipes;
    char id[128];
    char *group;
    char **topics;
    size_t ntopics;
    mq_handler handler;
    void *arg;
    mq_consumer_opts o;
    char *tags; /* o.tags, owned: sent again on every subscribe */
    pthread_t thread;
    int started;
    atomic_int stop;
    int subscribed;
    uint64_t expect_seq, suspect_seq;
    int64_t last_flush_ms, last_hb_ms;
    Shop__Mq__AckEntry *acks;
    size_t nacks, acks_cap;
    char **interned; /* stored topic names, for ack entries */
    size_t ninterned;
    atomic_ullong delivered, acked, gaps, repaired;
    uint64_t batches; /* received over SUB, for drop_every */
    /* Acks go out asynchronously, one request at a time, so that the
     * delivery thread never waits a round trip for them. */
    nng_ctx ack_ctx;
    nng_aio *ack_aio;
    nng_aio *recv_aio;   /* the delivery thread's receive on `sub` */
    int ack_receiving;   /* the aio's current step: 0 send, 1 receive */
    size_t ack_n;        /* entries in the request in flight */
    atomic_int ack_busy; /* a request is in flight */
    atomic_int ack_gone; /* the broker did not know us: subscribe again */
};

static void sub_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p;
    mq_consumer *c = arg;
    atomic_fetch_add(&c->sub_pipes, ev == NNG_PIPE_EV_ADD_POST ? 1 : -1);
}

static const char *intern(mq_consumer *c, const char *s)
{
    for (size_t i = 0; i < c->ninterned; i++)
        if (strcmp(c->interned[i], s) == 0)
            return c->interned[i];
    char **n = realloc(c->interned, (c->ninterned + 1) * sizeof *n);
    if (!n)
        return NULL;
    c->interned = n;
    if (!(n[c->ninterned] = strdup(s)))
        return NULL;
    return n[c->ninterned++];
}

static rpc_status consumer_call(mq_consumer *c, Shop__Mq__Request *req, Shop__Mq__Reply **rep)
{
    shop_error err = {0};
    rpc_status st = mq_link_call(&c->link, req, RPC_TIMEOUT_MS, rep, &err);
    if (st == RPC_NOT_FOUND)
        c->subscribed = 0; /* the broker restarted or dropped us: subscribe again */
    else if (st != RPC_OK && st != RPC_UNAVAILABLE)
        shop_log_warn("mq consumer call failed id=%s status=%s err=\"%s\"", c->id,
                      rpc_status_name(st), err.message);
    return st;
}

static rpc_status consumer_subscribe(mq_consumer *c, shop_error *err)
{
    Shop__Mq__Subscribe s = SHOP__MQ__SUBSCRIBE__INIT;
    s.consumer_id = c->id;
    s.group = c->group;
    s.topics = c->topics;
    s.n_topics = c->ntopics;
    s.max_inflight = c->o.max_inflight;
    s.max_reconsume = c->o.max_reconsume;
    s.tags = c->tags ? c->tags : "";
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_SUBSCRIBE;
    req.subscribe = &s;
    Shop__Mq__Reply *rep = NULL;
    rpc_status st = mq_link_call(&c->link, &req, RPC_TIMEOUT_MS, &rep, err);
    if (st == RPC_OK && rep->body_case == SHOP__MQ__REPLY__BODY_SUBSCRIBE) {
        c->expect_seq = rep->subscribe->next_seq;
        c->suspect_seq = 0;
        c->subscribed = 1;
        c->last_hb_ms = shop_now_ms();
    }
    if (rep)
        shop__mq__reply__free_unpacked(rep, NULL);
    return st;
}

/* Completion of the ack request in flight (on an nng thread). Lost acks
 * only mean redelivery. */
static void ack_cb(void *arg)
{
    mq_consumer *c = arg;
    int rv = nng_aio_result(c->ack_aio);
    if (rv == 0 && !c->ack_receiving) {
        c->ack_receiving = 1;
        nng_ctx_recv(c->ack_ctx, c->ack_aio);
        return;
    }
    if (rv == 0) {
        nng_msg *m = nng_aio_get_msg(c->ack_aio);
        Shop__Mq__Reply *r = shop__mq__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
        if (r && r->status == RPC_OK)
            atomic_fetch_add(&c->acked, c->ack_n);
        else if (r && r->status == RPC_NOT_FOUND)
            atomic_store(&c->ack_gone, 1);
        if (r)
            shop__mq__reply__free_unpacked(r, NULL);
        nng_msg_free(m);
    } else if (!c->ack_receiving) {
        nng_msg_free(nng_aio_get_msg(c->ack_aio));
    }
    atomic_store(&c->ack_busy, 0);
}

static void wait_ack_idle(mq_consumer *c)
{
    while (atomic_load(&c->ack_busy))
        shop_sleep_ms(1);
}

/* Sends the pending acks if no ack request is in flight (or, with `wait`,
 * after the one in flight completes). */
static void flush_acks(mq_consumer *c, int wait)
{
    if (c->nacks == 0)
        return;
    if (atomic_load(&c->ack_busy)) {
        if (!wait && c->nacks < 65536)
            return; /* keep collecting: they go with the next request */
        wait_ack_idle(c);
    }
    Shop__Mq__AckEntry **ep = malloc(c->nacks * sizeof *ep);
    nng_msg *m = NULL;
    if (!ep)
        return;
    for (size_t i = 0; i < c->nacks; i++)
        ep[i] = &c->acks[i];
    Shop__Mq__Ack a = SHOP__MQ__ACK__INIT;
    a.consumer_id = c->id;
    a.entries = ep;
    a.n_entries = c->nacks;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_ACK;
    req.ack = &a;
    size_t len = shop__mq__request__get_packed_size(&req);
    if (nng_msg_alloc(&m, len) == 0) {
        shop__mq__request__pack(&req, nng_msg_body(m));
        c->ack_n = c->nacks;
        c->ack_receiving = 0;
        atomic_store(&c->ack_busy, 1);
        nng_aio_set_msg(c->ack_aio, m);
        nng_ctx_send(c->ack_ctx, c->ack_aio);
        c->nacks = 0;
    }
    free(ep);
    c->last_flush_ms = shop_now_ms();
    if (wait)
        wait_ack_idle(c);
}

static void add_ack(mq_consumer *c, const char *topic, uint64_t off, int later)
{
    if (c->nacks == c->acks_cap) {
        size_t cap = c->acks_cap ? 2 * c->acks_cap : 512;
        Shop__Mq__AckEntry *n = realloc(c->acks, cap * sizeof *n);
        if (!n)
            return;
        c->acks = n;
        c->acks_cap = cap;
    }
    Shop__Mq__AckEntry *e = &c->acks[c->nacks];
    shop__mq__ack_entry__init(e);
    e->topic = (char *)intern(c, topic);
    e->offset = off;
    e->reconsume_later = later;
    if (e->topic)
        c->nacks++;
    if ((int)c->nacks >= c->o.ack_batch)
        flush_acks(c, 0);
}

static void deliver_one(mq_consumer *c, const Shop__Mq__Delivery *d)
{
    Shop__Mq__Record *r = shop__mq__record__unpack(NULL, d->record.len, d->record.data);
    if (!r) {
        shop_log_warn("mq consumer dropped an undecodable record topic=%s offset=%llu", d->topic,
                      (unsigned long long)d->offset);
        add_ack(c, d->topic, d->offset, 0);
        return;
    }
    mq_property props[64];
    size_t np = 0;
    const char *topic = r->topic;
    for (size_t i = 0; i < r->n_properties && np < 64; i++) {
        if (strcmp(r->properties[i]->key, "%ORIGIN_TOPIC") == 0)
            topic = r->properties[i]->value;
        props[np++] = (mq_property){r->properties[i]->key, r->properties[i]->value};
    }
    mq_msg m = {.id = r->id,
                .topic = topic,
                .key = r->key,
                .body = r->body.data,
                .len = r->body.len,
                .offset = d->offset,
                .store_topic = d->topic,
                .timestamp_ms = r->timestamp_ms,
                .reconsume_times = d->reconsume_times,
                .properties = props,
                .n_properties = np,
                .tag = r->tag ? r->tag : ""};
    mq_consume_result res = c->handler(&m, c->arg);
    atomic_fetch_add(&c->delivered, 1);
    shop__mq__record__free_unpacked(r, NULL);
    add_ack(c, d->topic, d->offset, res == MQ_RECONSUME_LATER);
}

static void deliver_all(mq_consumer *c, const Shop__Mq__Deliver *d)
{
    for (size_t i = 0; i < d->n_deliveries && !atomic_load(&c->stop); i++)
        deliver_one(c, d->deliveries[i]);
}

/* Fetches batches [from, to] that PUB/SUB dropped. */
static void pull_repair(mq_consumer *c, uint64_t from, uint64_t to)
{
    atomic_fetch_add(&c->gaps, to - from + 1);
    Shop__Mq__Pull p = SHOP__MQ__PULL__INIT;
    p.consumer_id = c->id;
    p.from_seq = from;
    p.to_seq = to;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_PULL;
    req.pull = &p;
    Shop__Mq__Reply *rep = NULL;
    if (consumer_call(c, &req, &rep) == RPC_OK && rep->body_case == SHOP__MQ__REPLY__BODY_PULL) {
        atomic_fetch_add(&c->repaired, rep->pull->n_deliveries);
        deliver_all(c, rep->pull);
    }
    if (rep)
        shop__mq__reply__free_unpacked(rep, NULL);
}

static void heartbeat(mq_consumer *c, int leaving)
{
    Shop__Mq__Heartbeat h = SHOP__MQ__HEARTBEAT__INIT;
    h.consumer_id = c->id;
    h.leaving = leaving;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_HEARTBEAT;
    req.heartbeat = &h;
    Shop__Mq__Reply *rep = NULL;
    c->last_hb_ms = shop_now_ms();
    if (consumer_call(c, &req, &rep) == RPC_OK && !leaving &&
        rep->body_case == SHOP__MQ__REPLY__BODY_HEARTBEAT) {
        uint64_t last = rep->heartbeat->last_seq;
        /* A batch still missing one heartbeat later was dropped, not late. */
        if (last >= c->expect_seq && c->suspect_seq == c->expect_seq) {
            uint64_t from = c->expect_seq;
            c->expect_seq = last + 1;
            pull_repair(c, from, last);
        } else {
            c->suspect_seq = last >= c->expect_seq ? c->expect_seq : 0;
        }
    }
    if (rep)
        shop__mq__reply__free_unpacked(rep, NULL);
}

static void on_batch(mq_consumer *c, nng_msg *m)
{
    size_t idlen = strlen(c->id);
    uint8_t *p = nng_msg_body(m);
    size_t len = nng_msg_len(m);
    if (len <= idlen || memcmp(p, c->id, idlen) != 0 || p[idlen] != '\n')
        return;
    Shop__Mq__Deliver *d = shop__mq__deliver__unpack(NULL, len - idlen - 1, p + idlen + 1);
    if (!d)
        return;
    if (d->seq > c->expect_seq) /* batches in between were dropped */
        pull_repair(c, c->expect_seq, d->seq - 1);
    if (d->seq >= c->expect_seq)
        c->expect_seq = d->seq + 1;
    deliver_all(c, d);
    shop__mq__deliver__free_unpacked(d, NULL);
}

/* How long the delivery thread may block in a receive: until the pending
 * acks are due, else until the next heartbeat. A receive that times out
 * often is not free: each deadline wakes nng's expiry thread, and nng 1.5.2's
 * expiry thread spins through the millisecond of a deadline (a 10 ms poll
 * cost ~7% of a core per expiry thread with four idle consumers). Close
 * wakes the receive by stopping its aio (closing the socket under a pending
 * receive instead crashed nng 1.5.2 about once in 20 runs under load). */
static int recv_wait_ms(const mq_consumer *c, int64_t now)
{
    int64_t due = c->last_hb_ms + c->o.heartbeat_ms;
    if (c->nacks > 0 && c->last_flush_ms + c->o.ack_interval_ms < due)
        due = c->last_flush_ms + c->o.ack_interval_ms;
    int64_t wait = due - now;
    return wait < 1 ? 1 : wait > c->o.heartbeat_ms ? c->o.heartbeat_ms : (int)wait;
}

static void *consumer_main(void *arg)
{
    mq_consumer *c = arg;
    while (!atomic_load(&c->stop)) {
        if (!c->subscribed) {
            shop_error err = {0};
            if (consumer_subscribe(c, &err) != RPC_OK) {
                shop_sleep_ms(100);
                continue;
            }
        }
        nng_aio_set_timeout(c->recv_aio, recv_wait_ms(c, shop_now_ms()));
        nng_recv_aio(c->sub, c->recv_aio);
        nng_aio_wait(c->recv_aio);
        if (nng_aio_result(c->recv_aio) == 0) {
            nng_msg *m = nng_aio_get_msg(c->recv_aio);
            if (c->o.drop_every <= 0 || ++c->batches % (uint64_t)c->o.drop_every != 0)
                on_batch(c, m);
            nng_msg_free(m);
        }
        int64_t now = shop_now_ms();
        if (c->nacks > 0 && now - c->last_flush_ms >= c->o.ack_interval_ms)
            flush_acks(c, 0);
        if (atomic_exchange(&c->ack_gone, 0))
            c->subscribed = 0; /* the broker restarted or dropped us */
        if (now - c->last_hb_ms >= c->o.heartbeat_ms)
            heartbeat(c, 0);
    }
    flush_acks(c, 1);
    wait_ack_idle(c);
    if (c->subscribed)
        heartbeat(c, 1);
    return NULL;
}

rpc_status mq_consumer_open(const char *group, const char *const *topics, size_t n_topics,
                            mq_handler handler, void *arg, const mq_consumer_opts *opts,
                            mq_consumer **out, shop_error *err)
{
    *out = NULL;
    if (!group || !*group || !topics || n_topics == 0 || !handler) {
        shop_error_set(err, RPC_INVALID_ARGUMENT,
                       "a consumer needs a group, at least one topic and a handler");
        return RPC_INVALID_ARGUMENT;
    }
    const char *nurl = mq_url_or_env(opts ? opts->url : NULL, "MQ_URL", MQ_DEFAULT_URL);
    if (mq_nats_is_url(nurl) && opts && opts->tags && *opts->tags && strcmp(opts->tags, "*") != 0)
        return shop_error_set(err, RPC_UNIMPLEMENTED,
                              "tag expressions are not available on the NATS JetStream backend "
                              "(mq/README.md): subscribe with \"*\" or use one topic per tag");
    if (mq_nats_is_url(nurl)) {
        mq_nats_consumer *nc = NULL;
        mq_consumer *c = calloc(1, sizeof *c);
        rpc_status st = c == NULL ? shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory")
                                  : mq_nats_consumer_open(nurl, group, topics, n_topics, handler,
                                                          arg, opts, &nc, err);
        if (st != RPC_OK) {
            free(c);
            return st;
        }
        c->nats = nc;
        *out = c;
        return RPC_OK;
    }
    mq_consumer *c = calloc(1, sizeof *c);
    if (!c || !(c->group = strdup(group)) || !(c->topics = calloc(n_topics, sizeof *c->topics))) {
        shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
        if (c)
            free(c->group);
        free(c);
        return RPC_RESOURCE_EXHAUSTED;
    }
    for (size_t i = 0; i < n_topics; i++)
        if ((c->topics[c->ntopics] = strdup(topics[i])))
            c->ntopics++;
    c->handler = handler;
    c->arg = arg;
    if (opts)
        c->o = *opts;
    if (c->o.tags && !(c->tags = strdup(c->o.tags))) {
        shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
        mq_consumer_close(c);
        return RPC_RESOURCE_EXHAUSTED;
    }
    c->o.tags = c->tags;
    c->o.ack_batch = c->o.ack_batch > 0 ? c->o.ack_batch : 256;
    c->o.ack_interval_ms = c->o.ack_interval_ms > 0 ? c->o.ack_interval_ms : 20;
    c->o.heartbeat_ms = c->o.heartbeat_ms > 0 ? c->o.heartbeat_ms : 300;
    char rnd[MQ_ID_LEN];
    mq_new_id(rnd);
    snprintf(c->id, sizeof c->id, "%.80s/%d-%.8s", group, (int)getpid(), rnd);
    const char *url = mq_url_or_env(c->o.url, "MQ_URL", MQ_DEFAULT_URL);
    const char *pub = mq_url_or_env(c->o.pub_url, "MQ_PUB_URL", MQ_DEFAULT_PUB_URL);
    if (mq_link_open(&c->link, url, err) != 0) {
        mq_consumer_close(c);
        return RPC_INVALID_ARGUMENT;
    }
    if (nng_aio_alloc(&c->ack_aio, ack_cb, c) != 0 ||
        nng_aio_alloc(&c->recv_aio, NULL, NULL) != 0 ||
        nng_ctx_open(&c->ack_ctx, c->link.sock) != 0) {
        shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "cannot open the ack context");
        mq_consumer_close(c);
        return RPC_RESOURCE_EXHAUSTED;
    }
    nng_aio_set_timeout(c->ack_aio, RPC_TIMEOUT_MS);
    int rv = nng_sub0_open(&c->sub);
    char prefix[140];
    int plen = snprintf(prefix, sizeof prefix, "%s\n", c->id);
    if (rv == 0) {
        nng_socket_set_int(c->sub, NNG_OPT_RECVBUF, 1024);
        nng_socket_set_size(c->sub, NNG_OPT_RECVMAXSZ, 64u << 20);
        nng_socket_set_ms(c->sub, NNG_OPT_RECONNMINT, 10);
        nng_socket_set_ms(c->sub, NNG_OPT_RECONNMAXT, 200);
        nng_socket_set(c->sub, NNG_OPT_SUB_SUBSCRIBE, prefix, (size_t)plen);
        nng_pipe_notify(c->sub, NNG_PIPE_EV_ADD_POST, sub_pipe_event, c);
        nng_pipe_notify(c->sub, NNG_PIPE_EV_REM_POST, sub_pipe_event, c);
        rv = nng_dial(c->sub, pub, NULL, NNG_FLAG_NONBLOCK);
    }
    if (rv != 0) {
        shop_error_set(err, RPC_INVALID_ARGUMENT, "dial %s: %s", pub, nng_strerror(rv));
        mq_link_close(&c->link);
        c->link.sock = (nng_socket){0};
        mq_consumer_close(c);
        return RPC_INVALID_ARGUMENT;
    }
    *out = c;
    return RPC_OK;
}

rpc_status mq_consumer_start(mq_consumer *c, shop_error *err)
{
    if (c->nats != NULL)
        return mq_nats_consumer_start(c->nats, err);
    /* Deliveries published before SUB connects would only be repaired later. */
    int64_t until = shop_now_ms() + 2000;
    while (atomic_load(&c->sub_pipes) <= 0 && shop_now_ms() < until)
        shop_sleep_ms(2);
    rpc_status st = consumer_subscribe(c, err);
    if (st != RPC_OK && st != RPC_UNAVAILABLE && st != RPC_DEADLINE_EXCEEDED)
        return st; /* a broker that is down is waited for by the thread */
    if (pthread_create(&c->thread, NULL, consumer_main, c) != 0) {
        shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "cannot start the consumer thread");
        return RPC_RESOURCE_EXHAUSTED;
    }
    c->started = 1;
    return RPC_OK;
}

void mq_consumer_close(mq_consumer *c)
{
    if (!c)
        return;
    if (c->nats != NULL) {
        mq_nats_consumer_close(c->nats);
        free(c);
        return;
    }
    atomic_store(&c->stop, 1);
    if (c->recv_aio != NULL)
        nng_aio_stop(c->recv_aio); /* wakes the receive; later ones fail at once */
    if (c->started)
        pthread_join(c->thread, NULL);
    if (nng_socket_id(c->sub) > 0)
        nng_close(c->sub);
    if (c->recv_aio != NULL)
        nng_aio_free(c->recv_aio);
    if (c->ack_aio) {
        nng_aio_stop(c->ack_aio);
        nng_aio_free(c->ack_aio);
    }
    if (nng_socket_id(c->link.sock) > 0)
        mq_link_close(&c->link);
    for (size_t i = 0; i < c->ntopics; i++)
        free(c->topics[i]);
    for (size_t i = 0; i < c->ninterned; i++)
        free(c->interned[i]);
    free(c->interned);
    free(c->topics);
    free(c->tags);
    free(c->group);
    free(c->acks);
    free(c);
}

void mq_consumer_get_stats(mq_consumer *c, mq_consumer_stats *out)
{
    if (c->nats != NULL) {
        mq_nats_consumer_get_stats(c->nats, out);
        return;
    }
    out->delivered = atomic_load(&c->delivered);
    out->acked = atomic_load(&c->acked);
    out->gaps = atomic_load(&c->gaps);
    out->repaired = atomic_load(&c->repaired);
}
