/* The transactional producer (mq.h): half sends and decisions over the
 * broker link, and a member thread that renews the group registration and
 * answers the broker's check-backs on its own nng REP socket. */
#include "mq/mq.h"
#include "mq/nats/nats_names.h"
#include "mq/wire.h"

#include <arpa/inet.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"

#define TXN_PROPS_MAX 64

struct mq_txn_producer {
    mq_link link;
    mq_txn_producer_opts opts;
    char group[121], member[121], check_url[256];
    mq_txn_check_fn check;
    void *arg;
    nng_socket rep;
    pthread_t thread;
    atomic_int stop;
};

static int retryable(rpc_status st)
{
    return st == RPC_UNAVAILABLE || st == RPC_DEADLINE_EXCEEDED;
}

/* One request with the producer's retries; *rep to free on OK. */
static rpc_status call(mq_txn_producer *p, const Shop__Mq__Request *req, Shop__Mq__Reply **rep,
                       shop_error *err)
{
    if (p->opts.fail_fast && atomic_load(&p->link.pipes) == 0)
        return shop_error_set(err, RPC_UNAVAILABLE, "no connection to the broker at %s",
                              p->link.url);
    int backoff = p->opts.retry_backoff_ms;
    for (int attempt = 0;; attempt++) {
        rpc_status st = mq_link_call(&p->link, req, p->opts.timeout_ms, rep, err);
        if (st == RPC_OK && (*rep)->status != RPC_OK) {
            st = shop_error_set(err, (rpc_status)(*rep)->status, "%s", (*rep)->message);
            shop__mq__reply__free_unpacked(*rep, NULL);
            *rep = NULL;
        }
        if (!retryable(st) || attempt >= p->opts.retries)
            return st;
        shop_sleep_ms(backoff);
        backoff *= 2;
    }
}

static rpc_status member_register(mq_txn_producer *p, int leaving, shop_error *err)
{
    Shop__Mq__TxnMember m = SHOP__MQ__TXN_MEMBER__INIT;
    m.group = p->group;
    m.member_id = p->member;
    m.url = p->check_url;
    m.leaving = leaving;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_TXN_MEMBER;
    req.txn_member = &m;
    Shop__Mq__Reply *rep = NULL;
    rpc_status st = mq_link_call(&p->link, &req, p->opts.timeout_ms, &rep, err);
    if (st == RPC_OK && rep->status != RPC_OK)
        st = shop_error_set(err, (rpc_status)rep->status, "%s", rep->message);
    if (rep)
        shop__mq__reply__free_unpacked(rep, NULL);
    return st;
}

/* The check-back for one TxnCheck frame: the packed reply's decision. */
static mq_txn_state answer(mq_txn_producer *p, const uint8_t *data, size_t len)
{
    Shop__Mq__TxnCheck *c = shop__mq__txn_check__unpack(NULL, len, data);
    Shop__Mq__Record *r = c ? shop__mq__record__unpack(NULL, c->record.len, c->record.data) : NULL;
    mq_txn_state st = MQ_TXN_UNKNOWN;
    if (r) {
        mq_property props[TXN_PROPS_MAX];
        mq_msg m = {.id = r->id,
                    .topic = r->topic,
                    .key = r->key,
                    .body = r->body.data,
                    .len = r->body.len,
                    .offset = r->offset,
                    .store_topic = r->topic,
                    .timestamp_ms = r->timestamp_ms,
                    .reconsume_times = c->times,
                    .properties = props};
        for (size_t i = 0; i < r->n_properties; i++) {
            const Shop__Mq__Property *pr = r->properties[i];
            if (strcmp(pr->key, "%ORIGIN_TOPIC") == 0)
                m.topic = pr->value;
            else if (pr->key[0] != '%' && m.n_properties < TXN_PROPS_MAX)
                props[m.n_properties++] = (mq_property){pr->key, pr->value};
        }
        st = p->check(&m, p->arg);
        shop_log_info("txn check-back answered group=%s id=%s state=%d", p->group, r->id, (int)st);
        shop__mq__record__free_unpacked(r, NULL);
    }
    if (c)
        shop__mq__txn_check__free_unpacked(c, NULL);
    return st;
}

static void *member_main(void *arg)
{
    mq_txn_producer *p = arg;
    int64_t next_beat = 0;
    while (!atomic_load(&p->stop)) {
        int64_t now = shop_now_ms();
        if (now >= next_beat) {
            shop_error e = {0};
            if (member_register(p, 0, &e) != RPC_OK)
                shop_log_debug("txn member not registered group=%s err=\"%s\"", p->group,
                               e.message);
            next_beat = now + p->opts.heartbeat_ms;
        }
        void *in = NULL;
        size_t inlen = 0;
        int rv = nng_recv(p->rep, &in, &inlen, NNG_FLAG_ALLOC);
        if (rv == NNG_ECLOSED)
            break;
        if (rv != 0)
            continue;
        Shop__Mq__TxnCheckReply out = SHOP__MQ__TXN_CHECK_REPLY__INIT;
        out.decision = (Shop__Mq__TxnDecision)answer(p, in, inlen);
        nng_free(in, inlen);
        uint8_t buf[16];
        nng_send(p->rep, buf, shop__mq__txn_check_reply__pack(&out, buf), 0);
    }
    return NULL;
}

/* Listens for check-backs; an address with port 0 becomes the bound one. */
static rpc_status listen_checks(mq_txn_producer *p, shop_error *err)
{
    const char *url = p->opts.check_url ? p->opts.check_url : "tcp://127.0.0.1:0";
    nng_listener l;
    int rv = nng_rep0_open(&p->rep);
    if (rv == 0)
        rv = nng_listen(p->rep, url, &l, 0);
    if (rv != 0)
        return shop_error_set(err, RPC_UNAVAILABLE, "check-back endpoint %s: %s", url,
                              nng_strerror(rv));
    nng_socket_set_ms(p->rep, NNG_OPT_RECVTIMEO, 250);
    nng_socket_set_ms(p->rep, NNG_OPT_SENDTIMEO, 1000);
    snprintf(p->check_url, sizeof p->check_url, "%s", url);
    nng_sockaddr sa;
    size_t n = strlen(url);
    if (strncmp(url, "tcp://", 6) == 0 && n > 2 && strcmp(url + n - 2, ":0") == 0 &&
        nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) == 0 && sa.s_family == NNG_AF_INET)
        snprintf(p->check_url, sizeof p->check_url, "%.*s:%u", (int)(n - 2), url,
                 (unsigned)ntohs(sa.s_in.sa_port));
    return RPC_OK;
}

rpc_status mq_txn_producer_open(const char *url, const char *group, mq_txn_check_fn check,
                                void *arg, const mq_txn_producer_opts *opts, mq_txn_producer **out,
                                shop_error *err)
{
    *out = NULL;
    url = mq_url_or_env(url, "MQ_URL", MQ_DEFAULT_URL);
    if (mq_nats_is_url(url))
        return shop_error_set(err, RPC_UNIMPLEMENTED,
                              "transactional messages need mq-broker: the NATS JetStream backend "
                              "has no half messages or check-backs");
    if (!group || !*group || strlen(group) > 120 || group[0] == '%' || !check)
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "a transactional producer needs a group (1..120 characters, not "
                              "starting with '%%') and a check-back function");
    mq_txn_producer *p = calloc(1, sizeof *p);
    if (!p)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    if (opts)
        p->opts = *opts;
    p->opts.timeout_ms = p->opts.timeout_ms > 0 ? p->opts.timeout_ms : 5000;
    p->opts.retries = p->opts.retries == 0 ? 3 : p->opts.retries < 0 ? 0 : p->opts.retries;
    p->opts.retry_backoff_ms = p->opts.retry_backoff_ms > 0 ? p->opts.retry_backoff_ms : 50;
    p->opts.heartbeat_ms = p->opts.heartbeat_ms > 0 ? p->opts.heartbeat_ms : 1000;
    snprintf(p->group, sizeof p->group, "%s", group);
    if (p->opts.member_id)
        snprintf(p->member, sizeof p->member, "%s", p->opts.member_id);
    else
        mq_new_id(p->member);
    p->check = check;
    p->arg = arg;
    rpc_status st = mq_link_open(&p->link, url, err);
    if (st != RPC_OK) {
        free(p);
        return st;
    }
    if ((st = listen_checks(p, err)) != RPC_OK) {
        mq_link_close(&p->link);
        free(p);
        return st;
    }
    /* fail_fast refuses sends while no broker is connected: give the first
     * connection up to a second, as a daemon starting beside its broker */
    for (int64_t until = shop_now_ms() + 1000;
         p->opts.fail_fast && atomic_load(&p->link.pipes) == 0 && shop_now_ms() < until;)
        shop_sleep_ms(5);
    shop_error e = {0};
    if (member_register(p, 0, &e) != RPC_OK) /* the thread tries again */
        shop_log_warn("txn member not registered yet group=%s err=\"%s\"", group, e.message);
    if (pthread_create(&p->thread, NULL, member_main, p) != 0) {
        nng_close(p->rep);
        mq_link_close(&p->link);
        free(p);
        return shop_error_set(err, RPC_INTERNAL, "cannot start the member thread");
    }
    shop_log_info("txn producer open group=%s member=%s check_url=%s", p->group, p->member,
                  p->check_url);
    *out = p;
    return RPC_OK;
}

void mq_txn_producer_close(mq_txn_producer *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    nng_close(p->rep);
    member_register(p, 1, NULL);
    mq_link_close(&p->link);
    free(p);
}

static rpc_status result_fail(mq_send_result *r, rpc_status st, const char *msg)
{
    r->status = st;
    snprintf(r->message, sizeof r->message, "%s", msg);
    return st;
}

rpc_status mq_producer_send_half(mq_txn_producer *p, const char *topic, const char *key,
                                 const void *body, size_t len, const mq_send_opts *opts,
                                 mq_send_result *res)
{
    memset(res, 0, sizeof *res);
    if (opts && opts->id && *opts->id)
        snprintf(res->id, sizeof res->id, "%s", opts->id);
    else
        mq_new_id(res->id);
    if (opts && (opts->delay_ms > 0 || opts->delay_level > 0))
        return result_fail(res, RPC_INVALID_ARGUMENT, "a half message cannot be delayed");
    if (!topic || !*topic || topic[0] == '%' || (!body && len > 0) ||
        (opts && opts->n_properties > TXN_PROPS_MAX))
        return result_fail(res, RPC_INVALID_ARGUMENT,
                           "a half message needs a topic (not starting with '%'), a body and at "
                           "most 64 properties");
    Shop__Mq__Property props[TXN_PROPS_MAX], *pp[TXN_PROPS_MAX];
    Shop__Mq__Message m = SHOP__MQ__MESSAGE__INIT;
    m.id = res->id;
    m.topic = (char *)topic;
    m.key = (char *)(key ? key : "");
    m.body.data = (uint8_t *)body;
    m.body.len = len;
    for (size_t i = 0; opts && i < opts->n_properties; i++) {
        shop__mq__property__init(&props[i]);
        props[i].key = (char *)opts->properties[i].key;
        props[i].value = (char *)opts->properties[i].value;
        pp[i] = &props[i];
    }
    m.n_properties = opts ? opts->n_properties : 0;
    m.properties = pp;
    Shop__Mq__TxnHalf h = SHOP__MQ__TXN_HALF__INIT;
    h.message = &m;
    h.group = p->group;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_TXN_HALF;
    req.txn_half = &h;
    Shop__Mq__Reply *rep = NULL;
    shop_error err = {0};
    rpc_status st = call(p, &req, &rep, &err);
    if (st == RPC_OK && (rep->body_case != SHOP__MQ__REPLY__BODY_SEND || rep->send->n_results != 1))
        st = shop_error_set(&err, RPC_INTERNAL, "the broker answered a half with the wrong shape");
    if (st != RPC_OK) {
        if (rep)
            shop__mq__reply__free_unpacked(rep, NULL);
        return result_fail(res, st, err.message);
    }
    const Shop__Mq__SendResult *r = rep->send->results[0];
    res->status = r->status;
    res->offset = r->offset;
    res->duplicate = r->duplicate;
    snprintf(res->message, sizeof res->message, "%s", r->message ? r->message : "");
    shop__mq__reply__free_unpacked(rep, NULL);
    return res->status;
}

rpc_status mq_producer_end_txn(mq_txn_producer *p, const char *id, mq_txn_state state,
                               shop_error *err)
{
    if (!id || !*id || strlen(id) > 64 || (unsigned)state > MQ_TXN_ROLLBACK)
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "end of transaction needs a message id and COMMIT, ROLLBACK or "
                              "UNKNOWN");
    Shop__Mq__TxnEnd e = SHOP__MQ__TXN_END__INIT;
    e.id = (char *)id;
    e.decision = (Shop__Mq__TxnDecision)state;
    e.group = p->group;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_TXN_END;
    req.txn_end = &e;
    Shop__Mq__Reply *rep = NULL;
    rpc_status st = call(p, &req, &rep, err);
    if (rep)
        shop__mq__reply__free_unpacked(rep, NULL);
    return st;
}
