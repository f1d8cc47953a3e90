/* mq/nats: a consumer group on JetStream. Per stream a thread pulls batches
 * (a no-wait fetch of what is there, else a wait for the next message),
 * runs the handler and acks each message: SUCCESS is an ack,
 * RECONSUME_LATER a NakWithDelay on RocketMQ's schedule, and past
 * max_reconsume a copy to the group's DLQ stream (acked there first) and a
 * Term of the original. */
#include "mq/nats/nats_consumer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "mq/mq_delay.h"
#include "mq/nats/nats_link.h"

#define FETCH_BATCH 256
#define WAIT_MS 300 /* a waiting pull; also how fast close is noticed */
#define MAX_PROPS 64

typedef struct source {
    struct mq_nats_consumer *c;
    char *topic;           /* the topic, or NULL for the group's re-driven stream */
    char store_topic[300]; /* mq_msg.store_topic */
    mq_nats_kind kind;
    natsSubscription *sub;
    pthread_t thread;
    int started;
} source;

struct mq_nats_consumer {
    mq_nats_link link;
    char *group;
    char durable[MQ_NATS_NAME_MAX + 1];
    source *src;
    size_t nsrc;
    mq_handler handler;
    void *arg;
    unsigned max_inflight, max_reconsume;
    int64_t ack_wait_ms;
    double retry_scale;
    pthread_mutex_t handler_mu; /* one handler call at a time */
    atomic_int stop;
    atomic_ullong delivered, acked;
};

static int64_t env_ll(const char *name, int64_t dflt)
{
    const char *v = getenv(name);
    long long x = v != NULL ? atoll(v) : 0;
    return x > 0 ? x : dflt;
}

rpc_status mq_nats_consumer_open(const char *url, const char *group, const char *const *topics,
                                 size_t n_topics, mq_handler handler, void *arg,
                                 const mq_consumer_opts *opts, mq_nats_consumer **out,
                                 shop_error *err)
{
    *out = NULL;
    if (opts != NULL && opts->drop_every > 0)
        return shop_error_set(err, RPC_UNIMPLEMENTED,
                              "drop_every drills mq-broker's PUB/SUB repair; JetStream consumers "
                              "pull, there is no batch to drop (mq/README.md)");
    mq_nats_consumer *c = calloc(1, sizeof *c);
    if (c == NULL || (c->src = calloc(n_topics + 1, sizeof *c->src)) == NULL ||
        (c->group = strdup(group)) == NULL) {
        if (c != NULL)
            free(c->src);
        free(c);
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    pthread_mutex_init(&c->handler_mu, NULL);
    c->handler = handler;
    c->arg = arg;
    c->max_inflight = opts != NULL && opts->max_inflight > 0 ? opts->max_inflight : 4096;
    c->max_reconsume = opts != NULL && opts->max_reconsume > 0 ? opts->max_reconsume : 16;
    c->ack_wait_ms = env_ll("MQ_NATS_ACK_WAIT_MS", 30000);
    const char *scale = getenv("MQ_NATS_RETRY_SCALE");
    c->retry_scale = scale != NULL && atof(scale) > 0 ? atof(scale) : 1.0;
    mq_nats_names nm;
    rpc_status st = mq_nats_encode(group, c->durable, sizeof c->durable, err);
    for (size_t i = 0; st == RPC_OK && i <= n_topics; i++) {
        source *s = &c->src[c->nsrc];
        s->c = c;
        s->kind = i < n_topics ? MQ_NATS_TOPIC : MQ_NATS_RETRY;
        st = mq_nats_names_of(s->kind, i < n_topics ? topics[i] : group, &nm, err);
        if (st == RPC_OK && i < n_topics && (s->topic = strdup(topics[i])) == NULL)
            st = shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
        snprintf(s->store_topic, sizeof s->store_topic, "%s%s", i < n_topics ? "" : "%RETRY%",
                 i < n_topics ? topics[i] : group);
        c->nsrc += st == RPC_OK;
    }
    if (st == RPC_OK)
        st = mq_nats_link_open(&c->link, url, 5000, err);
    if (st != RPC_OK) {
        for (size_t i = 0; i < c->nsrc; i++)
            free(c->src[i].topic);
        free(c->src);
        free(c->group);
        pthread_mutex_destroy(&c->handler_mu);
        free(c);
        return st;
    }
    *out = c;
    return RPC_OK;
}

/* Makes the stream and the durable consumer, and binds a pull subscription. */
static rpc_status source_setup(source *s, shop_error *err)
{
    mq_nats_consumer *c = s->c;
    mq_nats_names nm;
    const char *name = s->kind == MQ_NATS_TOPIC ? s->topic : c->group;
    rpc_status st = mq_nats_ensure_stream(&c->link, s->kind, name, &nm, err);
    if (st != RPC_OK)
        return st;
    mq_nats_consumer_cfg cfg = {.stream = nm.stream,
                                .subject = nm.subject,
                                .durable = c->durable,
                                .ack_wait_ms = c->ack_wait_ms,
                                .max_ack_pending = c->max_inflight,
                                .max_deliver = (int64_t)c->max_reconsume + 4};
    if ((st = mq_nats_ensure_consumer(&c->link, &cfg, err)) != RPC_OK)
        return st;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = nm.stream;
    so.Consumer = c->durable;
    jsErrCode jerr = 0;
    natsStatus ns = js_PullSubscribe(&s->sub, c->link.js, nm.subject, c->durable, NULL, &so, &jerr);
    return ns == NATS_OK ? RPC_OK : mq_nats_status(ns, jerr, "pull subscribe", err);
}

static const char *header(natsMsg *m, const char *key, const char *dflt)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, key, &v) == NATS_OK && v != NULL ? v : dflt;
}

/* The copy of `m` for the group's DLQ, with the same id (so a copy made twice
 * around a crash is stored once), published and acked before the Term. */
static rpc_status to_dlq(source *s, natsMsg *m, unsigned times, shop_error *err)
{
    mq_nats_consumer *c = s->c;
    mq_nats_names nm;
    rpc_status st = mq_nats_ensure_stream(&c->link, MQ_NATS_DLQ, c->group, &nm, err);
    if (st != RPC_OK)
        return st;
    natsMsg *d = NULL;
    const char **keys = NULL;
    int nkeys = 0;
    char tbuf[16];
    snprintf(tbuf, sizeof tbuf, "%u", times);
    natsStatus ns =
        natsMsg_Create(&d, nm.subject, NULL, natsMsg_GetData(m), natsMsg_GetDataLength(m));
    if (ns == NATS_OK && natsMsgHeader_Keys(m, &keys, &nkeys) == NATS_OK) {
        for (int i = 0; ns == NATS_OK && i < nkeys; i++)
            if (strcmp(keys[i], MQ_NATS_HDR_TOPIC) != 0 && strcmp(keys[i], MQ_NATS_HDR_TIMES) != 0)
                ns = natsMsgHeader_Set(d, keys[i], header(m, keys[i], ""));
        free((void *)keys);
    }
    if (ns == NATS_OK)
        ns = natsMsgHeader_Set(d, MQ_NATS_HDR_TOPIC,
                               header(m, MQ_NATS_HDR_TOPIC, s->topic ? s->topic : ""));
    if (ns == NATS_OK)
        ns = natsMsgHeader_Set(d, MQ_NATS_HDR_TIMES, tbuf);
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    if (ns == NATS_OK)
        ns = js_PublishMsg(&pa, c->link.js, d, NULL, &jerr);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(d);
    return ns == NATS_OK ? RPC_OK : mq_nats_status(ns, jerr, "publish to the DLQ", err);
}

static void settle(source *s, natsMsg *m, unsigned times, mq_consume_result res)
{
    mq_nats_consumer *c = s->c;
    if (res != MQ_RECONSUME_LATER) {
        if (natsMsg_Ack(m, NULL) == NATS_OK)
            atomic_fetch_add(&c->acked, 1);
        return;
    }
    if (times >= c->max_reconsume) {
        shop_error e = {0};
        if (to_dlq(s, m, times, &e) == RPC_OK) {
            natsMsg_Term(m, NULL);
            atomic_fetch_add(&c->acked, 1);
        } else { /* again in a second, still to the DLQ */
            shop_log_warn("mq consumer: cannot move a message to the DLQ group=%s err=\"%s\"",
                          c->group, e.message);
            natsMsg_NakWithDelay(m, 1000, NULL);
        }
        return;
    }
    int level = 3 + (int)times;
    int64_t delay = (int64_t)((double)mq_delay_level_ms(level > 18 ? 18 : level) * c->retry_scale);
    natsMsg_NakWithDelay(m, delay > 0 ? delay : 1, NULL);
}

static void deliver(source *s, natsMsg *m)
{
    mq_nats_consumer *c = s->c;
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
        natsMsg_Ack(m, NULL); /* not a stream message */
        return;
    }
    mq_property props[MAX_PROPS];
    size_t np = 0, plen = strlen(MQ_NATS_HDR_PROP);
    const char **keys = NULL;
    int nkeys = 0;
    if (natsMsgHeader_Keys(m, &keys, &nkeys) == NATS_OK) {
        for (int i = 0; i < nkeys && np < MAX_PROPS; i++)
            if (strncmp(keys[i], MQ_NATS_HDR_PROP, plen) == 0)
                props[np++] = (mq_property){keys[i] + plen, header(m, keys[i], "")};
    }
    unsigned times = meta->NumDelivered > 0 ? (unsigned)(meta->NumDelivered - 1) : 0;
    mq_msg msg = {.id = header(m, MQ_NATS_HDR_ID, ""),
                  .topic = header(m, MQ_NATS_HDR_TOPIC, s->topic ? s->topic : ""),
                  .key = header(m, MQ_NATS_HDR_KEY, ""),
                  .body = natsMsg_GetData(m),
                  .len = (size_t)natsMsg_GetDataLength(m),
                  .offset = meta->Sequence.Stream,
                  .store_topic = s->store_topic,
                  .timestamp_ms = meta->Timestamp / 1000000,
                  .reconsume_times = times,
                  .properties = props,
                  .n_properties = np};
    pthread_mutex_lock(&c->handler_mu);
    mq_consume_result res = c->handler(&msg, c->arg);
    pthread_mutex_unlock(&c->handler_mu);
    atomic_fetch_add(&c->delivered, 1);
    free((void *)keys);
    jsMsgMetaData_Destroy(meta);
    settle(s, m, times, res);
}

/* What is there now (no wait), else the next message within WAIT_MS. */
static natsStatus fetch(source *s, natsMsgList *list)
{
    jsFetchRequest r;
    jsFetchRequest_Init(&r);
    r.Batch = (int)(s->c->max_inflight < FETCH_BATCH ? s->c->max_inflight : FETCH_BATCH);
    r.NoWait = true;
    r.Expires = (int64_t)WAIT_MS * 1000000;
    natsStatus ns = natsSubscription_FetchRequest(list, s->sub, &r);
    if (ns == NATS_OK && list->Count > 0)
        return ns;
    natsMsgList_Destroy(list);
    jsFetchRequest_Init(&r);
    r.Batch = 1;
    r.Expires = (int64_t)WAIT_MS * 1000000;
    return natsSubscription_FetchRequest(list, s->sub, &r);
}

static void *source_main(void *arg)
{
    source *s = arg;
    mq_nats_consumer *c = s->c;
    int64_t last_warn = 0;
    int failures = 0;
    while (!atomic_load(&c->stop)) {
        if (s->sub == NULL) {
            shop_error e = {0};
            if (source_setup(s, &e) != RPC_OK) {
                if (shop_now_ms() - last_warn > 5000) {
                    shop_log_warn("mq consumer waits for JetStream group=%s err=\"%s\"", c->group,
                                  e.message);
                    last_warn = shop_now_ms();
                }
                shop_sleep_ms(200);
            }
            continue;
        }
        natsMsgList list = {0};
        natsStatus ns = fetch(s, &list);
        if (ns != NATS_OK) {
            natsMsgList_Destroy(&list);
            if (ns == NATS_TIMEOUT || ns == NATS_NOT_FOUND) {
                failures = 0; /* nothing to fetch */
                continue;
            }
            /* Disconnected, or the consumer is gone: pause, and after a second
             * of failures make the consumer and subscribe afresh. */
            shop_sleep_ms(50);
            if (++failures >= 20) {
                natsSubscription_Destroy(s->sub);
                s->sub = NULL;
                failures = 0;
            }
            continue;
        }
        failures = 0;
        for (int i = 0; i < list.Count; i++) {
            if (atomic_load(&c->stop))
                natsMsg_Nak(list.Msgs[i], NULL); /* to another instance, at once */
            else
                deliver(s, list.Msgs[i]);
        }
        natsMsgList_Destroy(&list);
    }
    nats_ReleaseThreadMemory();
    return NULL;
}

rpc_status mq_nats_consumer_start(mq_nats_consumer *c, shop_error *err)
{
    for (size_t i = 0; i < c->nsrc; i++) {
        if (pthread_create(&c->src[i].thread, NULL, source_main, &c->src[i]) != 0)
            return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "cannot start a consumer thread");
        c->src[i].started = 1;
    }
    return RPC_OK;
}

void mq_nats_consumer_close(mq_nats_consumer *c)
{
    if (c == NULL)
        return;
    atomic_store(&c->stop, 1);
    for (size_t i = 0; i < c->nsrc; i++) {
        source *s = &c->src[i];
        if (s->started)
            pthread_join(s->thread, NULL);
        if (s->sub != NULL)
            natsSubscription_Destroy(s->sub);
        free(s->topic);
    }
    if (c->link.nc != NULL)
        natsConnection_Flush(c->link.nc); /* the last acks and naks */
    mq_nats_link_close(&c->link);
    free(c->src);
    free(c->group);
    pthread_mutex_destroy(&c->handler_mu);
    free(c);
}

void mq_nats_consumer_get_stats(mq_nats_consumer *c, mq_consumer_stats *out)
{
    *out = (mq_consumer_stats){.delivered = atomic_load(&c->delivered),
                               .acked = atomic_load(&c->acked)};
}
