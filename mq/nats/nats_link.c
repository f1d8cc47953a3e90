/* mq/nats: the connection to a JetStream cluster, the mapping of libnats
 * errors onto rpc_status, and streams and consumers made on first use. */
#include "mq/nats/nats_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* libnats keeps threads and memory for the process; nats_Close cannot be
 * undone, so it runs once, at exit (clean for LeakSanitizer). */
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void close_at_exit(void)
{
    nats_CloseAndWait(2000);
}

/* After libnats's own exit hook is registered (by its first use), so that
 * ours runs first: its hook frees the library once nats_Close has run. */
static void register_exit(void)
{
    nats_Open(-1);
    atexit(close_at_exit);
}

int mq_nats_dedup_s(void)
{
    const char *env = getenv("MQ_NATS_DEDUP_S");
    int s = env != NULL ? atoi(env) : 0;
    return s > 0 ? s : MQ_NATS_DEDUP_S_DEFAULT;
}

rpc_status mq_nats_status(natsStatus s, jsErrCode jerr, const char *what, shop_error *err)
{
    rpc_status st;
    switch (s) {
    case NATS_OK:
        return RPC_OK;
    case NATS_TIMEOUT:
        st = RPC_DEADLINE_EXCEEDED;
        break;
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NOT_YET_CONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_NO_SERVER:
    case NATS_IO_ERROR:
        st = RPC_UNAVAILABLE;
        break;
    case NATS_NOT_FOUND:
        st = RPC_NOT_FOUND;
        break;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
        st = RPC_INVALID_ARGUMENT;
        break;
    case NATS_NO_MEMORY:
    case NATS_MAX_PAYLOAD:
        st = RPC_RESOURCE_EXHAUSTED;
        break;
    default:
        st = RPC_INTERNAL;
    }
    switch (jerr) {
    case JSStreamNotFoundErr:
    case JSConsumerNotFoundErr:
    case JSNoMessageFoundErr:
        st = RPC_NOT_FOUND;
        break;
    case JSClusterNoPeersErr:
    case JSClusterNotAvailErr:
    case JSClusterNotLeaderErr:
    case JSStreamOfflineErr:
    case JSConsumerOfflineErr:
    case JSInsufficientResourcesErr:
        st = RPC_UNAVAILABLE;
        break;
    case JSStorageResourcesExceededErr:
    case JSMemoryResourcesExceededErr:
        st = RPC_RESOURCE_EXHAUSTED;
        break;
    default:
        break;
    }
    const char *last = nats_GetLastError(NULL);
    if (jerr != 0)
        return shop_error_set(err, st, "%s: %s (JetStream error %d)%s%s", what,
                              natsStatus_GetText(s), (int)jerr, last ? ": " : "", last ? last : "");
    return shop_error_set(err, st, "%s: %s%s%s", what, natsStatus_GetText(s), last ? ": " : "",
                          last ? last : "");
}

static void on_connected(natsConnection *nc, void *arg)
{
    (void)nc;
    (void)arg;
}

rpc_status mq_nats_link_open(mq_nats_link *l, const char *url, int timeout_ms, shop_error *err)
{
    memset(l, 0, sizeof *l);
    l->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    pthread_mutex_init(&l->mu, NULL);
    mq_nats_servers sv;
    rpc_status st = mq_nats_servers_parse(url, &sv, err);
    if (st != RPC_OK)
        return st;
    l->replicas = mq_nats_replicas(sv.n);
    pthread_once(&exit_once, register_exit);
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, (const char **)sv.urls, sv.n);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, "shopflow-mq");
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 100);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, 2000);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(o, 1000);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(o, 3);
    if (s == NATS_OK) /* connect returns at once and keeps trying when no server answers */
        s = natsOptions_SetRetryOnFailedConnect(o, true, on_connected, NULL);
    if (s == NATS_OK) {
        s = natsConnection_Connect(&l->nc, o);
        if (s == NATS_NOT_YET_CONNECTED)
            s = NATS_OK;
    }
    if (s == NATS_OK) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = l->timeout_ms;
        s = natsConnection_JetStream(&l->js, l->nc, &jo);
    }
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        st = mq_nats_status(s, 0, url, err);
        mq_nats_link_close(l);
    }
    mq_nats_servers_free(&sv);
    return st;
}

void mq_nats_link_close(mq_nats_link *l)
{
    if (l->js != NULL)
        jsCtx_Destroy(l->js);
    if (l->nc != NULL) {
        natsConnection_Close(l->nc);
        natsConnection_Destroy(l->nc);
    }
    for (size_t i = 0; i < l->nstreams; i++)
        free(l->streams[i]);
    free(l->streams);
    l->js = NULL;
    l->nc = NULL;
    l->streams = NULL;
    l->nstreams = 0;
    pthread_mutex_destroy(&l->mu);
}

static int seen(mq_nats_link *l, const char *stream)
{
    pthread_mutex_lock(&l->mu);
    int found = 0;
    for (size_t i = 0; i < l->nstreams && !found; i++)
        found = strcmp(l->streams[i], stream) == 0;
    pthread_mutex_unlock(&l->mu);
    return found;
}

static void remember(mq_nats_link *l, const char *stream)
{
    pthread_mutex_lock(&l->mu);
    char **n = realloc(l->streams, (l->nstreams + 1) * sizeof *n);
    if (n != NULL) {
        l->streams = n;
        if ((n[l->nstreams] = strdup(stream)) != NULL)
            l->nstreams++;
    }
    pthread_mutex_unlock(&l->mu);
}

void mq_nats_forget_streams(mq_nats_link *l)
{
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->nstreams; i++)
        free(l->streams[i]);
    l->nstreams = 0;
    pthread_mutex_unlock(&l->mu);
}

rpc_status mq_nats_ensure_stream(mq_nats_link *l, mq_nats_kind kind, const char *name,
                                 mq_nats_names *names, shop_error *err)
{
    rpc_status st = mq_nats_names_of(kind, name, names, err);
    if (st != RPC_OK || seen(l, names->stream))
        return st;
    jsErrCode jerr = 0;
    jsStreamInfo *si = NULL;
    natsStatus s = js_GetStreamInfo(&si, l->js, names->stream, NULL, &jerr);
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
        const char *subjects[] = {names->subject};
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = names->stream;
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        cfg.Retention = js_LimitsPolicy;
        cfg.MaxAge = (int64_t)MQ_NATS_MAX_AGE_S * 1000000000;
        cfg.Duplicates = (int64_t)mq_nats_dedup_s() * 1000000000;
        cfg.Replicas = l->replicas;
        jerr = 0;
        s = js_AddStream(&si, l->js, &cfg, NULL, &jerr);
        if (jerr == JSStreamNameExistErr) /* made meanwhile by another process */
            s = NATS_OK;
        if (s == NATS_OK)
            shop_log_info("jetstream stream made stream=%s replicas=%d", names->stream,
                          l->replicas);
    }
    if (si != NULL)
        jsStreamInfo_Destroy(si);
    if (s != NATS_OK) {
        char what[300];
        snprintf(what, sizeof what, "stream %s", names->stream);
        return mq_nats_status(s, jerr, what, err);
    }
    remember(l, names->stream);
    return RPC_OK;
}

rpc_status mq_nats_ensure_consumer(mq_nats_link *l, const mq_nats_consumer_cfg *c, shop_error *err)
{
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = c->durable;
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = js_DeliverAll;
    cc.AckWait = c->ack_wait_ms * 1000000;
    cc.MaxAckPending = c->max_ack_pending;
    cc.MaxDeliver = c->max_deliver;
    cc.FilterSubject = c->subject;
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, l->js, c->stream, c->durable, NULL, &jerr);
    if (s == NATS_OK) {
        const jsConsumerConfig *have = ci->Config;
        if (have->AckWait != cc.AckWait || have->MaxAckPending != cc.MaxAckPending ||
            have->MaxDeliver != cc.MaxDeliver) {
            jsConsumerInfo_Destroy(ci);
            ci = NULL;
            s = js_UpdateConsumer(&ci, l->js, c->stream, &cc, NULL, &jerr);
        }
    } else if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) {
        jerr = 0;
        s = js_AddConsumer(&ci, l->js, c->stream, &cc, NULL, &jerr);
    }
    if (ci != NULL)
        jsConsumerInfo_Destroy(ci);
    if (jerr == JSStreamNotFoundErr)
        mq_nats_forget_streams(l);
    if (s != NATS_OK) {
        char what[600];
        snprintf(what, sizeof what, "consumer %s on stream %s", c->durable, c->stream);
        return mq_nats_status(s, jerr, what, err);
    }
    return RPC_OK;
}
