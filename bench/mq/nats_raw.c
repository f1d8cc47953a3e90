/* mq-bench's raw libnats baselines: publishing one at a time, publishing
 * asynchronously with a bounded number in flight, and a pull consumer that
 * acks every message, with nothing of shopflow's in between. */
#include "bench/mq/nats_raw.h"

#include <nats/nats.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/nats/nats_names.h"

struct nats_raw {
    natsConnection *nc;
    jsCtx *js;
    atomic_long async_failed;
};

static void on_async_err(jsCtx *js, jsPubAckErr *pae, void *arg)
{
    (void)js;
    (void)pae;
    atomic_fetch_add(&((nats_raw *)arg)->async_failed, 1);
}

rpc_status nats_raw_open(const char *url, nats_raw **out, shop_error *err)
{
    mq_nats_servers sv;
    rpc_status st = mq_nats_servers_parse(url, &sv, err);
    if (st != RPC_OK)
        return st;
    nats_raw *r = calloc(1, sizeof *r);
    natsOptions *o = NULL;
    natsStatus s = r != NULL ? natsOptions_Create(&o) : NATS_NO_MEMORY;
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, (const char **)sv.urls, sv.n);
    if (s == NATS_OK)
        s = natsConnection_Connect(&r->nc, o);
    if (s == NATS_OK) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.PublishAsync.ErrHandler = on_async_err;
        jo.PublishAsync.ErrHandlerClosure = r;
        s = natsConnection_JetStream(&r->js, r->nc, &jo);
    }
    natsOptions_Destroy(o);
    mq_nats_servers_free(&sv);
    if (s != NATS_OK) {
        nats_raw_close(r);
        return shop_error_set(err, RPC_UNAVAILABLE, "raw libnats connect to %s: %s", url,
                              natsStatus_GetText(s));
    }
    *out = r;
    return RPC_OK;
}

void nats_raw_close(nats_raw *r)
{
    if (r == NULL)
        return;
    if (r->js != NULL)
        jsCtx_Destroy(r->js);
    if (r->nc != NULL) {
        natsConnection_Close(r->nc);
        natsConnection_Destroy(r->nc);
    }
    free(r);
}

/* A fresh message id per publish, as the backend gives each send one. */
static void next_id(char *id, size_t len)
{
    static atomic_ullong seq;
    snprintf(id, len, "raw-%016llx-%llu", (unsigned long long)(uintptr_t)id,
             (unsigned long long)atomic_fetch_add(&seq, 1));
}

void nats_raw_publish_sync(nats_raw *r, const char *subject, long n, size_t size, long *failed)
{
    char *body = calloc(1, size);
    char id[64];
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id;
    for (long i = 0; i < n; i++) {
        next_id(id, sizeof id);
        jsPubAck *pa = NULL;
        if (js_Publish(&pa, r->js, subject, body, (int)size, &po, NULL) != NATS_OK)
            (*failed)++;
        jsPubAck_Destroy(pa);
    }
    free(body);
}

void nats_raw_publish_async(nats_raw *r, const char *subject, long n, size_t size, int pending,
                            long *failed)
{
    char *body = calloc(1, size);
    char id[64];
    jsCtx *js = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = pending;
    jo.PublishAsync.ErrHandler = on_async_err;
    jo.PublishAsync.ErrHandlerClosure = r;
    jo.PublishAsync.StallWait = 5000;
    atomic_store(&r->async_failed, 0);
    if (natsConnection_JetStream(&js, r->nc, &jo) != NATS_OK) {
        *failed += n;
        free(body);
        return;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id;
    for (long i = 0; i < n; i++) {
        next_id(id, sizeof id);
        if (js_PublishAsync(js, subject, body, (int)size, &po) != NATS_OK)
            (*failed)++;
    }
    jsPubOptions_Init(&po);
    po.MaxWait = 30000;
    if (js_PublishAsyncComplete(js, &po) != NATS_OK)
        (*failed)++;
    *failed += atomic_load(&r->async_failed);
    jsCtx_Destroy(js);
    free(body);
}

long nats_raw_consume(nats_raw *r, const char *stream, const char *subject, const char *durable,
                      long n)
{
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = durable;
    cc.AckPolicy = js_AckExplicit;
    cc.FilterSubject = subject;
    cc.MaxAckPending = 4096;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Consumer = durable;
    natsSubscription *sub = NULL;
    long got = 0;
    if (js_AddConsumer(NULL, r->js, stream, &cc, NULL, NULL) != NATS_OK ||
        js_PullSubscribe(&sub, r->js, subject, durable, NULL, &so, NULL) != NATS_OK)
        return 0;
    int idle = 0;
    while (got < n && idle < 5) {
        natsMsgList list = {0};
        if (natsSubscription_Fetch(&list, sub, 256, 1000, NULL) != NATS_OK) {
            idle++;
            continue;
        }
        for (int i = 0; i < list.Count; i++)
            natsMsg_Ack(list.Msgs[i], NULL);
        got += list.Count;
        natsMsgList_Destroy(&list);
    }
    natsSubscription_Destroy(sub);
    return got;
}

void nats_raw_delete_stream(nats_raw *r, const char *stream)
{
    js_DeleteStream(r->js, stream, NULL, NULL);
}
