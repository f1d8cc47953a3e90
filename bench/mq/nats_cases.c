/* mq-bench on JetStream (--url nats://... or --nats N): the backend of
 * mq.h against raw libnats doing the same work in the same run, rounds
 * interleaved: one send at a time (js_Publish), sends with 4096 in flight
 * (js_PublishAsync; the backend's batch send of 4096), and consuming a
 * backlog with an ack per message (a pull consumer). Each line gives both
 * rates and their ratio (target 0.8). */
#include "bench/mq/bench.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "bench/mq/nats_raw.h"
#include "mq/mq.h"
#include "mq/nats/nats_names.h"
#include "services/stack/nats_cluster.h"

#define TOPIC "bench-nats"
#define RAW_TOPIC "bench-nats-raw"
#define PENDING 4096

typedef struct side {
    double secs;
    long n, failed;
} side;

static double rate(const side *s)
{
    return s->secs > 0 ? (double)s->n / s->secs : 0;
}

static void report(const char *name, const mqb_opts *o, int replicas, const side *b, const side *r)
{
    double ratio = rate(r) > 0 ? rate(b) / rate(r) : 0;
    printf("case=%s replicas=%d n=%ld size=%zu msgs_per_s=%.0f raw_libnats_msgs_per_s=%.0f "
           "ratio=%.2f target=0.8 failed=%ld raw_failed=%ld pass=%s\n",
           name, replicas, b->n, o->size, rate(b), rate(r), ratio, b->failed, r->failed,
           ratio >= 0.8 && b->failed == 0 ? "yes" : "no");
    fflush(stdout);
}

static void backend_sends(mq_producer *p, const mqb_opts *o, long n, long batch, side *s)
{
    char *body = calloc(1, o->size);
    mq_message *ms = calloc((size_t)batch, sizeof *ms);
    mq_send_result *rs = calloc((size_t)batch, sizeof *rs);
    for (long i = 0; i < batch; i++)
        ms[i] = (mq_message){.topic = TOPIC, .body = body, .len = o->size};
    int64_t t0 = shop_now_ns();
    for (long done = 0; done < n;) {
        long k = n - done < batch ? n - done : batch;
        if (mq_producer_send_batch(p, ms, (size_t)k, rs) != RPC_OK)
            for (long i = 0; i < k; i++)
                s->failed += rs[i].status != RPC_OK;
        done += k;
    }
    s->secs += (double)(shop_now_ns() - t0) / 1e9;
    s->n += n;
    free(body);
    free(ms);
    free(rs);
}

static void raw_sends(nats_raw *r, const mqb_opts *o, const char *subject, long n, int pending,
                      side *s)
{
    int64_t t0 = shop_now_ns();
    if (pending > 0)
        nats_raw_publish_async(r, subject, n, o->size, pending, &s->failed);
    else
        nats_raw_publish_sync(r, subject, n, o->size, &s->failed);
    s->secs += (double)(shop_now_ns() - t0) / 1e9;
    s->n += n;
}

static mq_consume_result count_msg(const mq_msg *m, void *arg)
{
    (void)m;
    atomic_fetch_add((atomic_long *)arg, 1);
    return MQ_CONSUME_SUCCESS;
}

static void backend_consume(const char *url, int round, long n, side *s)
{
    atomic_long seen = 0;
    char group[32];
    shop_error err = {0};
    snprintf(group, sizeof group, "bench-%d-%d", (int)shop_now_ms() % 100000, round);
    const char *topics[] = {TOPIC};
    mq_consumer_opts co = {.url = url, .max_inflight = PENDING};
    mq_consumer *c;
    int64_t t0 = shop_now_ns();
    if (mq_consumer_open(group, topics, 1, count_msg, &seen, &co, &c, &err) != RPC_OK ||
        mq_consumer_start(c, &err) != RPC_OK) {
        fprintf(stderr, "mq-bench: consumer: %s\n", err.message);
        s->failed += n;
        return;
    }
    int64_t until = shop_now_ms() + 120000;
    while (atomic_load(&seen) < n && shop_now_ms() < until)
        shop_sleep_ms(1);
    s->secs += (double)(shop_now_ns() - t0) / 1e9;
    s->n += atomic_load(&seen) < n ? atomic_load(&seen) : n;
    s->failed += atomic_load(&seen) < n ? n - atomic_load(&seen) : 0;
    mq_consumer_close(c);
}

static void raw_consume(nats_raw *r, const mq_nats_names *nm, int round, long n, side *s)
{
    char durable[32];
    snprintf(durable, sizeof durable, "raw-%d-%d", (int)shop_now_ms() % 100000, round);
    int64_t t0 = shop_now_ns();
    long got = nats_raw_consume(r, nm->stream, nm->subject, durable, n);
    s->secs += (double)(shop_now_ns() - t0) / 1e9;
    s->n += got < n ? got : n;
    s->failed += got < n ? n - got : 0;
}

static int run(const mqb_opts *o, const char *url)
{
    mq_nats_servers sv;
    shop_error e = {0};
    nats_raw *raw = NULL;
    mq_nats_names bnm, rnm;
    if (mq_nats_servers_parse(url, &sv, &e) != RPC_OK || nats_raw_open(url, &raw, &e) != RPC_OK ||
        mq_nats_names_of(MQ_NATS_TOPIC, TOPIC, &bnm, &e) != RPC_OK ||
        mq_nats_names_of(MQ_NATS_TOPIC, RAW_TOPIC, &rnm, &e) != RPC_OK) {
        fprintf(stderr, "mq-bench: %s\n", e.message);
        return 1;
    }
    int replicas = mq_nats_replicas(sv.n);
    mq_nats_servers_free(&sv);
    nats_raw_delete_stream(raw, bnm.stream);
    nats_raw_delete_stream(raw, rnm.stream);
    mq_producer *p;
    mq_producer_opts po = {.timeout_ms = 5000};
    mq_send_result wr;
    /* Both streams made by the backend, alike (replicas, window). */
    if (mq_producer_open(url, &po, &p) != RPC_OK ||
        mq_producer_send(p, TOPIC, NULL, "w", 1, NULL, &wr) != RPC_OK ||
        mq_producer_send(p, RAW_TOPIC, NULL, "w", 1, NULL, &wr) != RPC_OK) {
        fprintf(stderr, "mq-bench: JetStream at %s does not take sends\n", url);
        return 1;
    }
    printf("case=nats_setup url=%s replicas=%d\n", url, replicas);
    fflush(stdout);
    side b1 = {0}, r1 = {0}, bA = {0}, rA = {0}, bC = {0}, rC = {0};
    int R = o->rounds > 0 ? o->rounds : 3;
    for (int i = 0; i < R; i++) {
        raw_sends(raw, o, rnm.subject, o->sync_n / R, 0, &r1);
        backend_sends(p, o, o->sync_n / R, 1, &b1);
    }
    report("nats_sync_1", o, replicas, &b1, &r1);
    for (int i = 0; i < R; i++) {
        raw_sends(raw, o, rnm.subject, o->backlog / R, PENDING, &rA);
        backend_sends(p, o, o->backlog / R, PENDING, &bA);
    }
    report("nats_async_4096", o, replicas, &bA, &rA);
    long n = o->backlog;
    for (int i = 0; i < R; i++) {
        raw_consume(raw, &rnm, i, n, &rC);
        backend_consume(url, i, n, &bC);
    }
    report("nats_consume_backlog", o, replicas, &bC, &rC);
    mq_producer_close(p);
    nats_raw_delete_stream(raw, bnm.stream);
    nats_raw_delete_stream(raw, rnm.stream);
    nats_raw_close(raw);
    return 0;
}

int mqb_run_nats(const mqb_opts *o)
{
    if (o->nats_nodes <= 0)
        return run(o, o->url);
    nats_cluster c;
    shop_error e = {0};
    char dir[600];
    snprintf(dir, sizeof dir, "%s/nats", o->dir);
    rpc_status st = nats_cluster_init(&c, dir, o->nats_nodes, &e);
    c.death_signal = SIGKILL;
    if (st != RPC_OK || nats_cluster_start(&c, &e) != RPC_OK) {
        fprintf(stderr, "mq-bench: %s\n", e.message);
        nats_cluster_destroy(&c);
        return 1;
    }
    int rc = run(o, c.url);
    nats_cluster_destroy(&c);
    return rc;
}
