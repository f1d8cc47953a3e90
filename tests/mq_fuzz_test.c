/* Fuzzing in process, deterministic: mutated request frames go through the
 * broker's request decoder and handlers, and randomly corrupted or cut
 * segment files through recovery. Run under ASan/UBSan by the CI, this is
 * where a decoder that trusts its input would show. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mq/broker/broker.h"
#include "mq/broker/trace.h"
#include "mq/broker/txn.h"
#include "mq.pb-c.h"
#include "tests/support/testsupport.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

typedef struct fz {
    char dir[128];
    mq_broker b;
} fz;

static void fz_open(fz *f, const char *name)
{
    snprintf(f->dir, sizeof f->dir, "%s/shopflow-mq-fuzz-%s-%d", ts_tmp_dir(), name, (int)getpid());
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    cr_assert_eq(system(cmd), 0);
    memset(&f->b, 0, sizeof f->b);
    f->b.o = (mq_broker_opts){.data_dir = f->dir,
                              .flush_sync = 0,
                              .ack_timeout_ms = 1000,
                              .consumer_timeout_ms = 1000,
                              .retry_scale = 0.0001,
                              .max_inflight = 64,
                              .segment_bytes = 1u << 20};
    mq_store_opts so = {.dir = f->dir, .segment_bytes = 1u << 20};
    char err[256];
    cr_assert_eq(mq_store_open(&f->b.store, &so, err, sizeof err), 0, "%s", err);
    cr_assert_eq(bk_txn_open(&f->b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(bk_trace_open(&f->b.trace, f->dir, 4096, err, sizeof err), 0, "%s", err);
    mq_store_on_append(f->b.store, bk_trace_stored, f->b.trace);
    atomic_store(&f->b.durable, UINT64_MAX);
    cr_assert_eq(nng_pub0_open(&f->b.pub), 0);
}

static void fz_close(fz *f)
{
    mq_broker *b = &f->b;
    bk_groups_free(b);
    bk_txn_close(b);
    bk_trace_close(b->trace);
    mq_store_close(b->store);
    nng_close(b->pub);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    cr_assert_eq(system(cmd), 0);
}

/* A valid request of a random kind, packed into buf. */
static size_t valid_request(uint8_t *buf)
{
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    Shop__Mq__Message m = SHOP__MQ__MESSAGE__INIT, *mp[] = {&m, &m};
    Shop__Mq__SendRequest sr = SHOP__MQ__SEND_REQUEST__INIT;
    Shop__Mq__Subscribe sub = SHOP__MQ__SUBSCRIBE__INIT;
    Shop__Mq__Heartbeat hb = SHOP__MQ__HEARTBEAT__INIT;
    Shop__Mq__AckEntry e = SHOP__MQ__ACK_ENTRY__INIT, *ep[] = {&e};
    Shop__Mq__Ack ack = SHOP__MQ__ACK__INIT;
    Shop__Mq__Pull pull = SHOP__MQ__PULL__INIT;
    Shop__Mq__Stats st = SHOP__MQ__STATS__INIT;
    Shop__Mq__Dlq dlq = SHOP__MQ__DLQ__INIT;
    Shop__Mq__TxnHalf half = SHOP__MQ__TXN_HALF__INIT;
    Shop__Mq__TxnEnd end = SHOP__MQ__TXN_END__INIT;
    Shop__Mq__TxnMember member = SHOP__MQ__TXN_MEMBER__INIT;
    Shop__Mq__TraceQuery trace = SHOP__MQ__TRACE_QUERY__INIT;
    char *topics[] = {"orders"};
    char id[16], mid[16];
    snprintf(id, sizeof id, "c%u", rnd() % 3);
    snprintf(mid, sizeof mid, "m%u", rnd());
    switch (rnd() % 11) {
    case 0:
        m.id = mid;
        m.topic = "orders";
        m.key = "k";
        m.body.data = (uint8_t *)"payload";
        m.body.len = 7;
        sr.messages = mp;
        sr.n_messages = 1 + rnd() % 2;
        req.body_case = SHOP__MQ__REQUEST__BODY_SEND;
        req.send = &sr;
        break;
    case 1:
        sub.consumer_id = id;
        sub.group = "g";
        sub.topics = topics;
        sub.n_topics = 1;
        sub.max_reconsume = rnd() % 3;
        req.body_case = SHOP__MQ__REQUEST__BODY_SUBSCRIBE;
        req.subscribe = &sub;
        break;
    case 2:
        hb.consumer_id = id;
        hb.leaving = rnd() % 8 == 0;
        req.body_case = SHOP__MQ__REQUEST__BODY_HEARTBEAT;
        req.heartbeat = &hb;
        break;
    case 3:
        e.topic = rnd() % 2 ? "orders" : "%RETRY%g";
        e.offset = rnd() % 64;
        e.reconsume_later = rnd() % 2;
        ack.consumer_id = id;
        ack.entries = ep;
        ack.n_entries = 1;
        req.body_case = SHOP__MQ__REQUEST__BODY_ACK;
        req.ack = &ack;
        break;
    case 4:
        pull.consumer_id = id;
        pull.from_seq = rnd() % 100;
        pull.to_seq = rnd() % 100;
        req.body_case = SHOP__MQ__REQUEST__BODY_PULL;
        req.pull = &pull;
        break;
    case 5:
        req.body_case = SHOP__MQ__REQUEST__BODY_STATS;
        req.stats = &st;
        break;
    case 7: /* halves, ends and traces share 8 ids, so ends and traces find halves */
        snprintf(mid, sizeof mid, "h%u", rnd() % 8);
        m.id = mid;
        m.topic = "orders";
        m.body.data = (uint8_t *)"half";
        m.body.len = 4;
        half.message = &m;
        half.group = "pg";
        req.body_case = SHOP__MQ__REQUEST__BODY_TXN_HALF;
        req.txn_half = &half;
        break;
    case 8:
        snprintf(mid, sizeof mid, "h%u", rnd() % 8);
        end.id = mid;
        end.decision = (Shop__Mq__TxnDecision)(rnd() % 3);
        req.body_case = SHOP__MQ__REQUEST__BODY_TXN_END;
        req.txn_end = &end;
        break;
    case 9:
        member.group = "pg";
        member.member_id = id;
        member.url = "tcp://127.0.0.1:1";
        member.leaving = rnd() % 4 == 0;
        req.body_case = SHOP__MQ__REQUEST__BODY_TXN_MEMBER;
        req.txn_member = &member;
        break;
    case 10:
        snprintf(mid, sizeof mid, "h%u", rnd() % 8);
        trace.id = mid;
        trace.max = rnd() % 2000;
        req.body_case = SHOP__MQ__REQUEST__BODY_TRACE;
        req.trace = &trace;
        break;
    default:
        dlq.group = "g";
        dlq.redrive = rnd() % 2;
        dlq.max = rnd() % 5;
        req.body_case = SHOP__MQ__REQUEST__BODY_DLQ;
        req.dlq = &dlq;
    }
    return shop__mq__request__pack(&req, buf);
}

static size_t mutate(uint8_t *buf, size_t len, size_t cap)
{
    switch (rnd() % 4) {
    case 0: /* as is */
        return len;
    case 1: /* flip bytes */
        for (int i = 0, n = 1 + (int)(rnd() % 4); i < n && len > 0; i++)
            buf[rnd() % len] ^= (uint8_t)(1 + rnd() % 255);
        return len;
    case 2: /* cut */
        return len ? rnd() % len : 0;
    default: /* append junk */
        while (len < cap && rnd() % 8)
            buf[len++] = (uint8_t)rnd();
        return len;
    }
}

Test(mq_fuzz, mutated_request_frames_always_get_a_decodable_reply)
{
    fz f = {0};
    fz_open(&f, "requests");
    uint8_t buf[1024];
    for (int i = 0; i < 30000; i++) {
        size_t len = mutate(buf, valid_request(buf), sizeof buf);
        nng_msg *m = bk_handle(&f.b, buf, len);
        cr_assert_not_null(m, "no reply at iteration %d", i);
        Shop__Mq__Reply *r = shop__mq__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
        cr_assert_not_null(r, "reply does not decode at iteration %d", i);
        cr_assert_lt(r->status, 17);
        shop__mq__reply__free_unpacked(r, NULL);
        nng_msg_free(m);
        if (i % 64 == 0) {
            mq_store_flush(f.b.store);
            bk_dispatch(&f.b);
            bk_tick(&f.b, (int64_t)i * 100);
        }
    }
    fz_close(&f);
}

static void copy_file(const char *from, const char *to)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    cr_assert_eq(system(cmd), 0);
}

Test(mq_fuzz, corrupted_or_cut_segments_recover_and_serve_only_intact_records)
{
    fz f = {0};
    fz_open(&f, "segments");
    char err[256];
    for (int i = 0; i < 300; i++) {
        char body[64];
        Shop__Mq__Record r = SHOP__MQ__RECORD__INIT;
        r.id = "x";
        r.topic = i % 2 ? "a" : "b";
        r.body.data = (uint8_t *)body;
        r.body.len = 16 + rnd() % 48;
        memset(body, 'a' + i % 26, sizeof body);
        uint64_t off;
        cr_assert_eq(mq_store_append(f.b.store, &r, &off, err, sizeof err), 0);
    }
    mq_store_close(f.b.store);
    f.b.store = NULL;
    char seg[200], pristine[200];
    snprintf(seg, sizeof seg, "%s/0000000001.seg", f.dir);
    snprintf(pristine, sizeof pristine, "%s.pristine", f.dir);
    copy_file(seg, pristine);
    for (int round = 0; round < 60; round++) {
        copy_file(pristine, seg);
        int fd = open(seg, O_RDWR);
        struct stat st;
        fstat(fd, &st);
        size_t used = 300 * 40; /* most of the records live here */
        if (round % 3 == 0) {
            cr_assert_eq(ftruncate(fd, (off_t)(rnd() % used)), 0);
        } else {
            for (int k = 0, n = 1 + (int)(rnd() % 3); k < n; k++) {
                uint8_t b = (uint8_t)rnd();
                cr_assert_eq(pwrite(fd, &b, 1, (off_t)(rnd() % used)), 1);
            }
        }
        close(fd);
        mq_store_opts so = {.dir = f.dir, .segment_bytes = 1u << 20};
        mq_store *s;
        cr_assert_eq(mq_store_open(&s, &so, err, sizeof err), 0, "round %d: %s", round, err);
        for (size_t t = 0; t < mq_store_topic_count(s); t++) {
            mq_topic *tp = mq_store_topic_at(s, t);
            cr_assert_leq(tp->end, 150);
            for (uint64_t o = tp->start; o < tp->end; o++) {
                const uint8_t *data;
                size_t len;
                if (mq_store_read(s, tp, o, &data, &len) != 0)
                    continue;
                Shop__Mq__Record *rec = shop__mq__record__unpack(NULL, len, data);
                cr_assert_not_null(rec, "round %d: a served record does not decode", round);
                cr_assert_str_eq(rec->topic, tp->name);
                cr_assert_eq(rec->offset, o);
                shop__mq__record__free_unpacked(rec, NULL);
            }
        }
        mq_store_close(s);
    }
    unlink(pristine);
    bk_txn_close(&f.b); /* what fz_open made besides the store */
    bk_trace_close(f.b.trace);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f.dir);
    cr_assert_eq(system(cmd), 0);
    nng_close(f.b.pub);
}
