/* Writes the fuzz targets' seed corpus: valid inputs made by the project's
 * own encoders (protobuf-c pack functions, the delay-log record encoder,
 * the stores' record framing), one small file per case, into
 * <out>/<target>/. Re-run after a wire or disk format changes:
 *
 *   build/bin/fuzz-make-corpus tests/fuzz/corpus */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "health.pb-c.h"
#include "mq.pb-c.h"
#include "mq/crc32c.h"
#include "mq/delayd/delayd.h"
#include "mq_delay.pb-c.h"
#include "rpc.pb-c.h"
#include "rpc_admin.pb-c.h"
#include "rpc_echo.pb-c.h"

/* A growing byte buffer: one corpus file. */
typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        if ((b->p = realloc(b->p, cap)) == NULL) {
            perror("fuzz-make-corpus");
            exit(1);
        }
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_u8(buf *b, uint8_t v)
{
    put(b, &v, 1);
}

/* Appends a packed message. */
static void put_msg(buf *b, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *tmp = malloc(n ? n : 1);
    protobuf_c_message_pack(m, tmp);
    put(b, tmp, n);
    free(tmp);
}

/* Appends a frame of tests/fuzz/fuzz.h: 2-byte length, bytes. */
static void put_frame(buf *b, const buf *f)
{
    put_u8(b, (uint8_t)(f->len & 0xff));
    put_u8(b, (uint8_t)(f->len >> 8));
    put(b, f->p, f->len);
}

static void put_msg_frame(buf *b, const ProtobufCMessage *m)
{
    buf f = {0};
    put_msg(&f, m);
    put_frame(b, &f);
    free(f.p);
}

/* Appends a store record: u32 length, u32 CRC32C, payload. */
static void put_record(buf *b, const uint8_t *payload, size_t n)
{
    uint32_t len = (uint32_t)n, crc = mq_crc32c(payload, n);
    put(b, &len, 4);
    put(b, &crc, 4);
    put(b, payload, n);
}

static const char *out_dir;

static void save(const char *target, const char *name, buf *b)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(b->p, 1, b->len, f) != b->len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    free(b->p);
    *b = (buf){0};
}

/* ---- rpc ---------------------------------------------------------------- */

static void all_types(Shop__Rpctest__AllTypes *a, Shop__Rpctest__Inner *inner,
                      Shop__Rpctest__Inner **inners, Shop__Rpctest__AllTypes__FMapEntry **entries,
                      Shop__Rpctest__AllTypes__FMapEntry *entry)
{
    static int32_t ints[] = {1, -2, 300};
    static char *strs[] = {"a", "bc"};
    shop__rpctest__all_types__init(a);
    shop__rpctest__inner__init(inner);
    shop__rpctest__all_types__fmap_entry__init(entry);
    inner->label = "inner";
    inner->n = 7;
    inners[0] = inner;
    entry->key = "k";
    entry->value = 9;
    entries[0] = entry;
    a->f_double = 1.5;
    a->f_float = -2.25f;
    a->f_int32 = -5;
    a->f_int64 = 1ll << 40;
    a->f_uint32 = 4000000000u;
    a->f_uint64 = 1ull << 63;
    a->f_sint32 = -77;
    a->f_sint64 = -(1ll << 50);
    a->f_fixed32 = 0xdeadbeef;
    a->f_fixed64 = 0x0123456789abcdefull;
    a->f_sfixed32 = -1;
    a->f_sfixed64 = -2;
    a->f_bool = 1;
    a->f_string = "text";
    a->f_bytes.data = (uint8_t *)"\x00\x01\xff";
    a->f_bytes.len = 3;
    a->f_enum = SHOP__RPCTEST__COLOR__GREEN;
    a->f_inner = inner;
    a->n_r_int32 = 3;
    a->r_int32 = ints;
    a->n_r_string = 2;
    a->r_string = strs;
    a->n_r_inner = 1;
    a->r_inner = inners;
    a->n_f_map = 1;
    a->f_map = entries;
    a->choice_case = SHOP__RPCTEST__ALL_TYPES__CHOICE_C_TEXT;
    a->c_text = "chosen";
}

static void rpc_request(const char *name, const char *method, const ProtobufCMessage *payload,
                        uint32_t timeout_ms, const char *tag)
{
    Shop__Rpc__Request r = SHOP__RPC__REQUEST__INIT;
    Shop__Rpc__Metadata md = SHOP__RPC__METADATA__INIT, *mdp[] = {&md};
    buf p = {0}, b = {0};
    if (payload != NULL)
        put_msg(&p, payload);
    r.call_id = 42;
    r.method = (char *)method;
    r.timeout_ms = timeout_ms;
    r.payload.data = p.p;
    r.payload.len = p.len;
    if (tag != NULL) {
        md.key = "x-tag";
        md.value.data = (uint8_t *)tag;
        md.value.len = strlen(tag);
        r.n_metadata = 1;
        r.metadata = mdp;
    }
    put_msg(&b, &r.base);
    save("rpc_server_frame", name, &b);
    free(p.p);
}

static void rpc_corpus(void)
{
    Shop__Rpctest__AllTypes a;
    Shop__Rpctest__Inner inner, *inners[1];
    Shop__Rpctest__AllTypes__FMapEntry entry, *entries[1];
    all_types(&a, &inner, inners, entries, &entry);
    Shop__Rpctest__EchoRequest echo = SHOP__RPCTEST__ECHO_REQUEST__INIT;
    echo.data.data = (uint8_t *)"hello";
    echo.data.len = 5;
    Shop__Health__HealthCheckRequest health = SHOP__HEALTH__HEALTH_CHECK_REQUEST__INIT;
    health.service = "shop.rpctest.Echo";
    Shop__Rpc__ListMethodsRequest list = SHOP__RPC__LIST_METHODS_REQUEST__INIT;
    Shop__Rpc__StatsRequest stats = SHOP__RPC__STATS_REQUEST__INIT;

    rpc_request("echo", "shop.rpctest.Echo/Echo", &echo.base, 1000, NULL);
    rpc_request("echo-tag-fail", "shop.rpctest.Echo/Echo", &echo.base, 0, "fail");
    rpc_request("echo-tag-other", "shop.rpctest.Echo/Echo", &echo.base, 0, "other");
    rpc_request("round-trip-all-types", "shop.rpctest.Echo/RoundTrip", &a.base, 5000, NULL);
    rpc_request("round-trip-empty", "shop.rpctest.Echo/RoundTrip", NULL, 0, NULL);
    rpc_request("health-check", "shop.health.Health/Check", &health.base, 100, NULL);
    rpc_request("admin-list-methods", "shop.rpc.Admin/ListMethods", &list.base, 0, NULL);
    rpc_request("admin-stats", "shop.rpc.Admin/Stats", &stats.base, 0, NULL);
    rpc_request("unknown-method", "shop.rpctest.Echo/Nope", &echo.base, 0, NULL);
    rpc_request("payload-of-other-type", "shop.rpctest.Echo/Echo", &a.base, 0, NULL);

    /* Replies, as the client gets them. */
    static const struct {
        const char *name;
        uint32_t status;
        const char *message;
    } replies[] = {{"ok-all-types", 0, ""},
                   {"invalid-argument", 3, "payload does not decode"},
                   {"deadline-exceeded", 4, "deadline passed before the call started"},
                   {"resource-exhausted", 8, "server work queue is full"},
                   {"unimplemented", 12, "unknown method 'x'"},
                   {"unavailable", 14, "server is shutting down"},
                   {"status-out-of-range", 99, "?"}};
    for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++) {
        Shop__Rpc__Reply r = SHOP__RPC__REPLY__INIT;
        buf p = {0}, b = {0};
        r.call_id = 42;
        r.status = replies[i].status;
        r.message = (char *)replies[i].message;
        if (replies[i].status == 0) {
            put_msg(&p, &a.base);
            r.payload.data = p.p;
            r.payload.len = p.len;
        }
        put_msg(&b, &r.base);
        save("rpc_client_reply", replies[i].name, &b);
        free(p.p);
    }

    /* `shopflow call` argument lines for AllTypes. */
    static const struct {
        const char *name, *line;
    } lines[] = {
        {"scalars", "f_double=1.5 f_float=-2.5 f_int32=-3 f_int64=-4000000000 f_uint32=5 "
                    "f_uint64=18446744073709551615 f_sint32=-6 f_sint64=7 f_fixed32=8 "
                    "f_fixed64=9 f_sfixed32=-10 f_sfixed64=-11"},
        {"bool-string-bytes", "f_bool=true f_string=\"two words\" f_bytes=raw\\ bytes"},
        {"enum-by-name-and-number", "f_enum=RED f_enum=2"},
        {"nested", "f_inner.label=x f_inner.n=3"},
        {"repeated", "r_int32=1 r_int32=2 r_string=a r_string=b r_int32[0]=5"},
        {"repeated-messages", "r_inner[0].label=a r_inner[1].n=2 r_inner.label=last"},
        {"map", "f_map[0].key=k f_map[0].value=1"},
        {"oneof", "c_text=hello c_number=12"},
        {"errors", "nope=1 f_int32=x f_inner=1 r_inner[5].n=1 =1 f_bool=maybe"},
        {"bool-numbers", "f_bool=0 f_bool=1 f_bool=false"},
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        buf b = {0};
        put(&b, lines[i].line, strlen(lines[i].line));
        save("rpc_text", lines[i].name, &b);
    }
}

/* ---- mq-broker ---------------------------------------------------------- */

static void mq_send(buf *b, const char *topic, const char *id, int n)
{
    Shop__Mq__Property prop = SHOP__MQ__PROPERTY__INIT, *props[] = {&prop};
    Shop__Mq__Message m[4], *mp[4];
    prop.key = "trace";
    prop.value = "abc";
    for (int i = 0; i < n && i < 4; i++) {
        shop__mq__message__init(&m[i]);
        m[i].id = (char *)id;
        m[i].topic = (char *)topic;
        m[i].key = "order-1";
        m[i].body.data = (uint8_t *)"{\"order\":1}";
        m[i].body.len = 11;
        m[i].n_properties = 1;
        m[i].properties = props;
        mp[i] = &m[i];
    }
    Shop__Mq__SendRequest sr = SHOP__MQ__SEND_REQUEST__INIT;
    sr.n_messages = (size_t)n;
    sr.messages = mp;
    Shop__Mq__Request r = SHOP__MQ__REQUEST__INIT;
    r.body_case = SHOP__MQ__REQUEST__BODY_SEND;
    r.send = &sr;
    put_msg_frame(b, &r.base);
}

static void mq_subscribe(buf *b, const char *consumer, const char *group, uint32_t max_reconsume)
{
    char *topics[] = {"orders", "payments"};
    Shop__Mq__Subscribe s = SHOP__MQ__SUBSCRIBE__INIT;
    s.consumer_id = (char *)consumer;
    s.group = (char *)group;
    s.n_topics = 2;
    s.topics = topics;
    s.max_inflight = 16;
    s.max_reconsume = max_reconsume;
    Shop__Mq__Request r = SHOP__MQ__REQUEST__INIT;
    r.body_case = SHOP__MQ__REQUEST__BODY_SUBSCRIBE;
    r.subscribe = &s;
    put_msg_frame(b, &r.base);
}

static void mq_ack(buf *b, const char *consumer, const char *topic, uint64_t off, int later)
{
    Shop__Mq__AckEntry e = SHOP__MQ__ACK_ENTRY__INIT, *ep[] = {&e};
    e.topic = (char *)topic;
    e.offset = off;
    e.reconsume_later = later;
    Shop__Mq__Ack a = SHOP__MQ__ACK__INIT;
    a.consumer_id = (char *)consumer;
    a.n_entries = 1;
    a.entries = ep;
    Shop__Mq__Request r = SHOP__MQ__REQUEST__INIT;
    r.body_case = SHOP__MQ__REQUEST__BODY_ACK;
    r.ack = &a;
    put_msg_frame(b, &r.base);
}

static void mq_heartbeat(buf *b, const char *consumer, int leaving)
{
    Shop__Mq__Heartbeat h = SHOP__MQ__HEARTBEAT__INIT;
    h.consumer_id = (char *)consumer;
    h.leaving = leaving;
    Shop__Mq__Request r = SHOP__MQ__REQUEST__INIT;
    r.body_case = SHOP__MQ__REQUEST__BODY_HEARTBEAT;
    r.heartbeat = &h;
    put_msg_frame(b, &r.base);
}

static void mq_pull(buf *b, const char *consumer, uint64_t from, uint64_t to)
{
    Shop__Mq__Pull p = SHOP__MQ__PULL__INIT;
    p.consumer_id = (char *)consumer;
    p.from_seq = from;
    p.to_seq = to;
    Shop__Mq__Request r = SHOP__MQ__REQUEST__INIT;
    r.body_case = SHOP__MQ__REQUEST__BODY_PULL;
    r.pull = &p;
    put_msg_frame(b, &r.base);
}

static void mq_stats(buf *b)
{
    Shop__Mq__Stats s = SHOP__MQ__STATS__INIT;
    Shop__Mq__Request r = SHOP__MQ__REQUEST__INIT;
    r.body_case = SHOP__MQ__REQUEST__BODY_STATS;
    r.stats = &s;
    put_msg_frame(b, &r.base);
}

static void mq_dlq(buf *b, const char *group, int redrive)
{
    Shop__Mq__Dlq d = SHOP__MQ__DLQ__INIT;
    d.group = (char *)group;
    d.redrive = redrive;
    d.max = 10;
    Shop__Mq__Request r = SHOP__MQ__REQUEST__INIT;
    r.body_case = SHOP__MQ__REQUEST__BODY_DLQ;
    r.dlq = &d;
    put_msg_frame(b, &r.base);
}

static void mq_half(buf *b, const char *topic, const char *id, const char *group)
{
    Shop__Mq__Message m = SHOP__MQ__MESSAGE__INIT;
    m.id = (char *)id;
    m.topic = (char *)topic;
    m.key = "k";
    m.body.data = (uint8_t *)"half";
    m.body.len = 4;
    Shop__Mq__TxnHalf h = SHOP__MQ__TXN_HALF__INIT;
    h.message = &m;
    h.group = (char *)group;
    Shop__Mq__Request r = SHOP__MQ__REQUEST__INIT;
    r.body_case = SHOP__MQ__REQUEST__BODY_TXN_HALF;
    r.txn_half = &h;
    put_msg_frame(b, &r.base);
}

static void mq_txn_end(buf *b, const char *id, int decision)
{
    Shop__Mq__TxnEnd e = SHOP__MQ__TXN_END__INIT;
    e.id = (char *)id;
    e.decision = (Shop__Mq__TxnDecision)decision;
    Shop__Mq__Request r = SHOP__MQ__REQUEST__INIT;
    r.body_case = SHOP__MQ__REQUEST__BODY_TXN_END;
    r.txn_end = &e;
    put_msg_frame(b, &r.base);
}

static void mq_txn_member(buf *b, const char *group, const char *member, int leaving)
{
    Shop__Mq__TxnMember m = SHOP__MQ__TXN_MEMBER__INIT;
    m.group = (char *)group;
    m.member_id = (char *)member;
    m.url = "tcp://127.0.0.1:1";
    m.leaving = leaving;
    Shop__Mq__Request r = SHOP__MQ__REQUEST__INIT;
    r.body_case = SHOP__MQ__REQUEST__BODY_TXN_MEMBER;
    r.txn_member = &m;
    put_msg_frame(b, &r.base);
}

static void mq_trace(buf *b, const char *id)
{
    Shop__Mq__TraceQuery q = SHOP__MQ__TRACE_QUERY__INIT;
    q.id = (char *)id;
    Shop__Mq__Request r = SHOP__MQ__REQUEST__INIT;
    r.body_case = SHOP__MQ__REQUEST__BODY_TRACE;
    r.trace = &q;
    put_msg_frame(b, &r.base);
}

/* A packed shop.mq.Record as the broker stores it. */
static void mq_record(buf *b, const char *topic, const char *id, uint64_t offset,
                      const char *prop_key, const char *prop_value)
{
    Shop__Mq__Property prop = SHOP__MQ__PROPERTY__INIT, *props[] = {&prop};
    Shop__Mq__Record r = SHOP__MQ__RECORD__INIT;
    r.id = (char *)id;
    r.topic = (char *)topic;
    r.key = "k";
    r.timestamp_ms = 1764700000000 + (int64_t)offset;
    r.body.data = (uint8_t *)"body";
    r.body.len = 4;
    r.offset = offset;
    if (prop_key != NULL) {
        prop.key = (char *)prop_key;
        prop.value = (char *)prop_value;
        r.n_properties = 1;
        r.properties = props;
    }
    buf p = {0};
    put_msg(&p, &r.base);
    put_record(b, p.p, p.len);
    free(p.p);
}

static void broker_corpus(void)
{
    const char *t = "mq_broker_request";
    buf b = {0};
    mq_send(&b, "orders", "m-1", 1);
    save(t, "send-one", &b);
    mq_send(&b, "orders", "m-1", 3);
    save(t, "send-three-same-id", &b);
    mq_send(&b, "%bad", "", 1);
    save(t, "send-invalid-topic", &b);
    mq_subscribe(&b, "c1", "g", 0);
    save(t, "subscribe", &b);
    mq_heartbeat(&b, "c1", 0);
    save(t, "heartbeat-unknown", &b);
    mq_stats(&b);
    save(t, "stats", &b);
    mq_dlq(&b, "g", 0);
    save(t, "dlq-list", &b);
    mq_pull(&b, "c1", 1, 3);
    save(t, "pull-unknown", &b);

    mq_subscribe(&b, "c1", "g", 2);
    mq_send(&b, "orders", "m-1", 2);
    mq_send(&b, "payments", "m-2", 1);
    mq_pull(&b, "c1", 1, 5);
    mq_ack(&b, "c1", "orders", 0, 0);
    mq_ack(&b, "c1", "payments", 0, 1);
    mq_heartbeat(&b, "c1", 0);
    mq_stats(&b);
    save(t, "subscribe-send-pull-ack", &b);

    mq_subscribe(&b, "c1", "g", 1);
    mq_send(&b, "orders", "m-9", 1);
    mq_ack(&b, "c1", "orders", 0, 1);
    mq_heartbeat(&b, "c1", 0);
    mq_ack(&b, "c1", "%RETRY%g", 0, 1);
    mq_heartbeat(&b, "c1", 0);
    mq_ack(&b, "c1", "%RETRY%g", 1, 1);
    mq_dlq(&b, "g", 0);
    mq_dlq(&b, "g", 1);
    mq_stats(&b);
    save(t, "reconsume-to-dlq-redrive", &b);

    mq_subscribe(&b, "c1", "g", 0);
    mq_subscribe(&b, "c2", "g", 0);
    mq_subscribe(&b, "c1", "other", 0);
    mq_send(&b, "orders", "", 4);
    mq_heartbeat(&b, "c2", 1);
    mq_stats(&b);
    mq_stats(&b);
    mq_stats(&b);
    mq_stats(&b);
    mq_pull(&b, "c1", 0, 100);
    save(t, "two-consumers-timeouts", &b);

    mq_txn_member(&b, "pg", "p1", 0);
    mq_subscribe(&b, "c1", "g", 0);
    mq_half(&b, "orders", "h-1", "pg");
    mq_half(&b, "orders", "h-2", "pg");
    mq_half(&b, "orders", "h-1", "pg");
    mq_txn_end(&b, "h-1", 1);
    mq_txn_end(&b, "h-2", 2);
    mq_txn_end(&b, "h-1", 1);
    mq_txn_end(&b, "h-2", 1);
    mq_txn_end(&b, "nope", 1);
    mq_ack(&b, "c1", "orders", 0, 0);
    mq_trace(&b, "h-1");
    mq_trace(&b, "h-2");
    mq_txn_member(&b, "pg", "p1", 1);
    save(t, "txn-half-commit-rollback-trace", &b);

    /* Segments: flags byte (bit 0: fix CRCs), then segment files as frames. */
    t = "mq_broker_recover";
    buf seg = {0};
    for (int i = 0; i < 4; i++)
        mq_record(&seg, i % 2 ? "orders" : "payments", i == 3 ? "" : "id", (uint64_t)i / 2, NULL,
                  NULL);
    put_u8(&b, 0);
    put_frame(&b, &seg);
    save(t, "one-segment", &b);
    put_u8(&b, 1);
    put_frame(&b, &seg);
    seg.len -= 5; /* a torn last record */
    put_frame(&b, &seg);
    save(t, "two-segments-torn-tail", &b);
    free(seg.p);
    seg = (buf){0};
    mq_record(&seg, "%RETRY%g", "r", 0, "%DELIVER_AT", "1764700000000");
    mq_record(&seg, "%DLQ%g", "d", 0, "%ORIGIN_TOPIC", "orders");
    mq_record(&seg, "orders", "gap", 5, NULL, NULL);
    uint8_t zeros[16] = {0};
    put(&seg, zeros, sizeof zeros);
    put_u8(&b, 0);
    put_frame(&b, &seg);
    save(t, "retry-dlq-gap-zeros", &b);
    /* Three segment frames (empty ones are skipped), then the offsets file. */
    buf none = {0}, offsets = {0};
    static const char text[] = "g\torders\t1\ng\t%RETRY%g\t0\nother\tpayments\t99\nbad line\n";
    put(&offsets, text, strlen(text));
    put_u8(&b, 0);
    put_frame(&b, &seg);
    put_frame(&b, &none);
    put_frame(&b, &none);
    put_frame(&b, &offsets);
    save(t, "segment-and-offsets", &b);
    free(offsets.p);
    free(seg.p);
}

/* ---- mq-delayd ---------------------------------------------------------- */

static void delay_send(buf *b, const char *topic, const char *key, int64_t delay_ms, int level,
                       int n)
{
    Shop__Mq__Delay__DelayMessage m[3], *mp[3];
    for (int i = 0; i < n && i < 3; i++) {
        shop__mq__delay__delay_message__init(&m[i]);
        m[i].topic = (char *)topic;
        m[i].key = (char *)key;
        m[i].body.data = (uint8_t *)"body";
        m[i].body.len = 4;
        m[i].delay_ms = delay_ms;
        m[i].delay_level = level;
        mp[i] = &m[i];
    }
    Shop__Mq__Delay__SendRequest s = SHOP__MQ__DELAY__SEND_REQUEST__INIT;
    s.n_messages = (size_t)n;
    s.messages = mp;
    Shop__Mq__Delay__Request r = SHOP__MQ__DELAY__REQUEST__INIT;
    r.op_case = SHOP__MQ__DELAY__REQUEST__OP_SEND;
    r.send = &s;
    put_msg_frame(b, &r.base);
}

static void delay_cancel(buf *b, const char *topic, const char *key)
{
    Shop__Mq__Delay__CancelRequest c = SHOP__MQ__DELAY__CANCEL_REQUEST__INIT;
    c.topic = (char *)topic;
    c.key = (char *)key;
    Shop__Mq__Delay__Request r = SHOP__MQ__DELAY__REQUEST__INIT;
    r.op_case = SHOP__MQ__DELAY__REQUEST__OP_CANCEL;
    r.cancel = &c;
    put_msg_frame(b, &r.base);
}

static void delay_stats(buf *b)
{
    Shop__Mq__Delay__StatsRequest s = SHOP__MQ__DELAY__STATS_REQUEST__INIT;
    Shop__Mq__Delay__Request r = SHOP__MQ__DELAY__REQUEST__INIT;
    r.op_case = SHOP__MQ__DELAY__REQUEST__OP_STATS;
    r.stats = &s;
    put_msg_frame(b, &r.base);
}

static void delay_rec_send(buf *b, int64_t due_us, const char *topic, const char *key)
{
    delay_send_rec r = {
        due_us, topic, key, (uint16_t)strlen(topic), (uint16_t)strlen(key), (const uint8_t *)"body",
        4,      NULL,  0};
    uint8_t tmp[512];
    delay_rec_send_encode(&r, tmp);
    put(b, tmp, delay_rec_send_size(&r));
}

static void delay_rec_mark(buf *b, int type, uint64_t id)
{
    uint8_t tmp[9];
    delay_rec_mark_encode(type, id, tmp);
    put(b, tmp, sizeof tmp);
}

/* A framed record of the delay log; returns its id in segment `seg`. */
static uint64_t delay_log_rec(buf *seg, uint32_t no, const buf *payload)
{
    uint64_t id = DELAY_ID(no, seg->len);
    put_record(seg, payload->p, payload->len);
    return id;
}

static void delay_corpus(void)
{
    const char *t = "delayd_request";
    buf b = {0};
    delay_send(&b, "orders", "o-1", 60000, 0, 1);
    save(t, "send-delay-ms", &b);
    delay_send(&b, "orders", "o-1", 0, 3, 3);
    save(t, "send-level-three-messages", &b);
    delay_send(&b, "orders", "", 5, 5, 1);
    save(t, "send-both-delays", &b);
    delay_send(&b, "%bad", "k", 0, 19, 1);
    save(t, "send-invalid", &b);
    delay_send(&b, "orders", "k", 0, 0, 0);
    save(t, "send-empty", &b);
    delay_cancel(&b, "orders", "o-1");
    save(t, "cancel", &b);
    delay_cancel(&b, "", "");
    save(t, "cancel-empty", &b);
    delay_stats(&b);
    save(t, "stats", &b);
    delay_send(&b, "orders", "o-2", 600000, 0, 2);
    delay_send(&b, "payments", "o-2", 0, 18, 1);
    delay_stats(&b);
    delay_cancel(&b, "orders", "o-2");
    delay_cancel(&b, "orders", "o-2");
    delay_stats(&b);
    save(t, "send-stats-cancel-twice", &b);

    t = "delayd_record";
    delay_rec_send(&b, 1764700000000000, "orders", "o-1");
    save(t, "send", &b);
    delay_rec_send(&b, 0, "t", "");
    save(t, "send-no-key", &b);
    delay_rec_mark(&b, DELAY_REC_DELIVERED, DELAY_ID(1, 0));
    save(t, "delivered", &b);
    delay_rec_mark(&b, DELAY_REC_CANCELLED, DELAY_ID(2, 40));
    save(t, "cancelled", &b);
    delay_rec_mark(&b, DELAY_REC_MOVED, DELAY_ID(1, 80));
    save(t, "moved", &b);

    /* Segments: flags byte (bit 0: fix CRCs), then segment files as frames. */
    t = "delayd_recover";
    buf s1 = {0}, s2 = {0}, p = {0};
    delay_rec_send(&p, 1764700000000000, "orders", "o-1");
    uint64_t a = delay_log_rec(&s1, 1, &p);
    p.len = 0;
    delay_rec_send(&p, 1764700001000000, "orders", "o-2");
    uint64_t c = delay_log_rec(&s1, 1, &p);
    p.len = 0;
    delay_rec_send(&p, 1764700002000000, "payments", "");
    delay_log_rec(&s1, 1, &p);
    p.len = 0;
    delay_rec_mark(&p, DELAY_REC_DELIVERED, a);
    delay_log_rec(&s2, 2, &p);
    p.len = 0;
    delay_rec_mark(&p, DELAY_REC_CANCELLED, c);
    delay_log_rec(&s2, 2, &p);
    p.len = 0;
    delay_rec_send(&p, 1764700003000000, "orders", "o-3");
    uint64_t moved = delay_log_rec(&s2, 2, &p);
    p.len = 0;
    delay_rec_mark(&p, DELAY_REC_MOVED, moved);
    delay_log_rec(&s2, 2, &p);
    put_u8(&b, 0);
    put_frame(&b, &s1);
    save(t, "one-segment", &b);
    put_u8(&b, 0);
    put_frame(&b, &s1);
    put_frame(&b, &s2);
    save(t, "two-segments-marks", &b);
    put_u8(&b, 1);
    put_frame(&b, &s1);
    s2.len -= 3;
    put_frame(&b, &s2);
    save(t, "torn-tail", &b);
    free(s1.p);
    free(s2.p);
    free(p.p);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz-make-corpus DIR (tests/fuzz/corpus)\n");
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        perror(out_dir);
        return 1;
    }
    rpc_corpus();
    broker_corpus();
    delay_corpus();
    return 0;
}
