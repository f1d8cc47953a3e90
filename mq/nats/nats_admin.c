/* mq/nats: stats, dead letters and stream leaders of a JetStream backend,
 * for `shopflow mq` and the cluster launcher (nats_admin.h). */
#include "mq/nats/nats_admin.h"

#include <stdlib.h>
#include <string.h>

#include "mq/nats/nats_link.h"

static void print_groups(mq_nats_link *l, const jsStreamInfo *si, const char *topic, FILE *out)
{
    jsConsumerInfoList *cl = NULL;
    jsErrCode jerr = 0;
    if (js_Consumers(&cl, l->js, si->Config->Name, NULL, &jerr) != NATS_OK)
        return;
    for (int j = 0; j < cl->Count; j++) {
        jsConsumerInfo *ci = cl->List[j];
        char group[MQ_NATS_NAME_MAX + 1], dlq[32] = "-";
        if (mq_nats_decode(ci->Name, group, sizeof group, NULL) != RPC_OK)
            continue;
        mq_nats_names nm;
        jsStreamInfo *di = NULL;
        if (mq_nats_names_of(MQ_NATS_DLQ, group, &nm, NULL) == RPC_OK &&
            js_GetStreamInfo(&di, l->js, nm.stream, NULL, NULL) == NATS_OK) {
            snprintf(dlq, sizeof dlq, "%llu", (unsigned long long)di->State.Msgs);
            jsStreamInfo_Destroy(di);
        }
        fprintf(out, "%-20s %-24s %10llu %10llu %8llu %8lld %8lld %6s %4lld\n", group, topic,
                (unsigned long long)si->State.LastSeq, (unsigned long long)ci->AckFloor.Stream,
                (unsigned long long)ci->NumPending, (long long)ci->NumAckPending,
                (long long)ci->NumRedelivered, dlq, (long long)ci->NumWaiting);
    }
    jsConsumerInfoList_Destroy(cl);
}

rpc_status mq_nats_print_stats(const char *url, FILE *out, shop_error *err)
{
    mq_nats_link l;
    rpc_status st = mq_nats_link_open(&l, url, 5000, err);
    if (st != RPC_OK)
        return st;
    jsStreamInfoList *sl = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_Streams(&sl, l.js, NULL, &jerr);
    if (ns == NATS_NOT_FOUND) { /* no stream at all yet */
        ns = NATS_OK;
        sl = NULL;
    }
    if (ns != NATS_OK) {
        st = mq_nats_status(ns, jerr, "listing streams", err);
        mq_nats_link_close(&l);
        return st;
    }
    fprintf(out, "jetstream %s\n\n%-8s %-32s %10s %10s %10s %3s %-10s\n", url, "KIND", "NAME",
            "MSGS", "FIRST", "LAST", "R", "LEADER");
    static const char *const kinds[] = {"topic", "redrive", "dlq"};
    for (int i = 0; sl != NULL && i < sl->Count; i++) {
        jsStreamInfo *si = sl->List[i];
        mq_nats_kind kind;
        char name[MQ_NATS_NAME_MAX + 1];
        if (mq_nats_stream_kind(si->Config->Name, &kind, name, sizeof name, NULL) != RPC_OK)
            continue;
        fprintf(out, "%-8s %-32s %10llu %10llu %10llu %3lld %-10s\n", kinds[kind], name,
                (unsigned long long)si->State.Msgs, (unsigned long long)si->State.FirstSeq,
                (unsigned long long)si->State.LastSeq, (long long)si->Config->Replicas,
                si->Cluster && si->Cluster->Leader ? si->Cluster->Leader : "-");
    }
    fprintf(out, "\n%-20s %-24s %10s %10s %8s %8s %8s %6s %4s\n", "GROUP", "TOPIC", "END",
            "COMMITTED", "LAG", "ACKPEND", "REDELIV", "DLQ", "WAIT");
    for (int i = 0; sl != NULL && i < sl->Count; i++) {
        mq_nats_kind kind;
        char name[MQ_NATS_NAME_MAX + 1];
        if (mq_nats_stream_kind(sl->List[i]->Config->Name, &kind, name, sizeof name, NULL) ==
                RPC_OK &&
            kind != MQ_NATS_DLQ)
            print_groups(&l, sl->List[i], kind == MQ_NATS_TOPIC ? name : "%RETRY%", out);
    }
    jsStreamInfoList_Destroy(sl);
    mq_nats_link_close(&l);
    return RPC_OK;
}

static const char *hdr(natsMsg *m, const char *key)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, key, &v) == NATS_OK && v != NULL ? v : "";
}

/* Publishes dead letter `m` to the group's re-drive stream, acked. */
static rpc_status redrive_one(mq_nats_link *l, const mq_nats_names *to, natsMsg *m, shop_error *err)
{
    natsMsg *c = NULL;
    const char **keys = NULL;
    int nkeys = 0;
    natsStatus ns =
        natsMsg_Create(&c, to->subject, NULL, natsMsg_GetData(m), natsMsg_GetDataLength(m));
    if (ns == NATS_OK && natsMsgHeader_Keys(m, &keys, &nkeys) == NATS_OK) {
        for (int i = 0; ns == NATS_OK && i < nkeys; i++)
            if (strcmp(keys[i], MQ_NATS_HDR_TIMES) != 0)
                ns = natsMsgHeader_Set(c, keys[i], hdr(m, keys[i]));
        free((void *)keys);
    }
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    if (ns == NATS_OK)
        ns = js_PublishMsg(&pa, l->js, c, NULL, &jerr);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(c);
    return ns == NATS_OK ? RPC_OK : mq_nats_status(ns, jerr, "re-drive", err);
}

rpc_status mq_nats_dlq(const char *url, const char *group, int redrive, long max, FILE *out,
                       shop_error *err)
{
    mq_nats_link l;
    mq_nats_names dlq, to;
    rpc_status st = mq_nats_names_of(MQ_NATS_DLQ, group, &dlq, err);
    if (st != RPC_OK || (st = mq_nats_link_open(&l, url, 5000, err)) != RPC_OK)
        return st;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_GetStreamInfo(&si, l.js, dlq.stream, NULL, &jerr);
    uint64_t first = 0, last = 0, total = 0, redriven = 0, upto = 0;
    if (ns == NATS_OK) {
        first = si->State.FirstSeq;
        last = si->State.LastSeq;
        total = si->State.Msgs;
        jsStreamInfo_Destroy(si);
    } else if (ns != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
        st = mq_nats_status(ns, jerr, dlq.stream, err);
        goto done;
    }
    if (redrive && total > 0 &&
        (st = mq_nats_ensure_stream(&l, MQ_NATS_RETRY, group, &to, err)) != RPC_OK)
        goto done;
    fprintf(out, "dlq group=%s total=%llu listed=%llu\n", group, (unsigned long long)total,
            (unsigned long long)(total < (uint64_t)max ? total : (uint64_t)max));
    long listed = 0;
    for (uint64_t seq = first; total > 0 && seq <= last; seq++) {
        natsMsg *m = NULL;
        if (js_GetMsg(&m, l.js, dlq.stream, seq, NULL, NULL) != NATS_OK)
            continue; /* deleted */
        if (listed++ < max)
            fprintf(out, "offset=%llu id=%s topic=%s key=%s times=%s len=%d\n",
                    (unsigned long long)seq, hdr(m, MQ_NATS_HDR_ID), hdr(m, MQ_NATS_HDR_TOPIC),
                    hdr(m, MQ_NATS_HDR_KEY), hdr(m, MQ_NATS_HDR_TIMES), natsMsg_GetDataLength(m));
        if (redrive) {
            st = redrive_one(&l, &to, m, err);
            if (st == RPC_OK) {
                redriven++;
                upto = seq;
            }
        }
        natsMsg_Destroy(m);
        if (st != RPC_OK)
            break;
        if (!redrive && listed >= max)
            break;
    }
    if (upto > 0) { /* everything before upto+1 went over */
        jsOptions o;
        jsOptions_Init(&o);
        o.Stream.Purge.Sequence = upto + 1;
        ns = js_PurgeStream(l.js, dlq.stream, &o, &jerr);
        if (ns != NATS_OK && st == RPC_OK)
            st = mq_nats_status(ns, jerr, "purging the re-driven dead letters", err);
    }
    if (redrive)
        fprintf(out, "redriven=%llu\n", (unsigned long long)redriven);
done:
    mq_nats_link_close(&l);
    return st;
}

rpc_status mq_nats_stream_leader(const char *url, const char *topic, char *leader, size_t len,
                                 shop_error *err)
{
    mq_nats_link l;
    mq_nats_names nm;
    rpc_status st = mq_nats_names_of(MQ_NATS_TOPIC, topic, &nm, err);
    if (st != RPC_OK || (st = mq_nats_link_open(&l, url, 2000, err)) != RPC_OK)
        return st;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_GetStreamInfo(&si, l.js, nm.stream, NULL, &jerr);
    if (ns != NATS_OK)
        st = mq_nats_status(ns, jerr, nm.stream, err);
    else if (si->Cluster == NULL || si->Cluster->Leader == NULL || !*si->Cluster->Leader)
        st = shop_error_set(err, RPC_UNAVAILABLE, "stream %s has no leader", nm.stream);
    else
        snprintf(leader, len, "%s", si->Cluster->Leader);
    if (si != NULL)
        jsStreamInfo_Destroy(si);
    mq_nats_link_close(&l);
    return st;
}
