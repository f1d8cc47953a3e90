/* case=ordered_consume: a backlog over 1,000 keys consumed by 4 instances of
 * an ordered group (one message per key at a time, in send order, across
 * the instances) against 4 instances of an ordinary group, same broker,
 * same backlog, alternating rounds; prints both rates and the ratio
 * (target >= 0.5). */
#include "bench/mq/bench.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/mq.h"
#include "base/clock.h"

#define KEYS 1000
#define INSTANCES 4
#define ROUNDS 2

typedef struct ordered_state {
    atomic_long seen;
    atomic_long out_of_order;
    atomic_int last_seq[KEYS]; /* ordered rounds: the last seq handled per key */
    int check;
} ordered_state;

static mq_consume_result on_msg(const mq_msg *m, void *arg)
{
    ordered_state *s = arg;
    if (s->check && m->len >= 8) {
        uint32_t key, seq;
        memcpy(&key, m->body, 4);
        memcpy(&seq, (const uint8_t *)m->body + 4, 4);
        if (key < KEYS) {
            int prev = atomic_exchange(&s->last_seq[key], (int)seq);
            if ((int)seq < prev) /* nothing fails in this run: no redelivery either */
                atomic_fetch_add(&s->out_of_order, 1);
        }
    }
    atomic_fetch_add(&s->seen, 1);
    return MQ_CONSUME_SUCCESS;
}

/* n messages, message i with key i % KEYS and seq i / KEYS in its body. */
static int send_backlog(const char *url, const char *topic, long n, size_t size)
{
    mq_producer *p;
    if (mq_producer_open(url, NULL, &p) != RPC_OK)
        return -1;
    enum { BATCH = 256 };
    mq_message msgs[BATCH];
    mq_send_result res[BATCH];
    char keys[BATCH][16];
    uint8_t *bodies = calloc(BATCH, size);
    int rc = bodies ? 0 : -1;
    for (long i = 0; rc == 0 && i < n;) {
        size_t k = 0;
        for (; k < BATCH && i < n; k++, i++) {
            uint32_t key = (uint32_t)(i % KEYS), seq = (uint32_t)(i / KEYS);
            uint8_t *body = bodies + k * size;
            memcpy(body, &key, 4);
            memcpy(body + 4, &seq, 4);
            snprintf(keys[k], sizeof keys[k], "order-%u", key);
            msgs[k] = (mq_message){.topic = topic, .key = keys[k], .body = body, .len = size};
        }
        rc = mq_producer_send_batch(p, msgs, k, res) == RPC_OK ? 0 : -1;
    }
    free(bodies);
    mq_producer_close(p);
    return rc;
}

/* One round: INSTANCES consumers of a fresh group read the whole backlog. */
static double consume_round(const char *url, const char *pub_url, const char *topic,
                            const char *group, int ordered, long n, long *out_of_order)
{
    ordered_state *s = calloc(1, sizeof *s);
    if (!s)
        return 0;
    s->check = ordered;
    mq_consumer_opts co = {
        .url = url, .pub_url = pub_url, .max_inflight = 8192, .ordered = ordered};
    const char *topics[] = {topic};
    mq_consumer *c[INSTANCES] = {0};
    int64_t t0 = shop_now_ns();
    for (int i = 0; i < INSTANCES; i++) {
        shop_error err = {0};
        if (mq_consumer_open(group, topics, 1, on_msg, s, &co, &c[i], &err) != RPC_OK ||
            mq_consumer_start(c[i], &err) != RPC_OK)
            fprintf(stderr, "mq-bench: ordered case consumer: %s\n", err.message);
    }
    int64_t until = shop_now_ms() + 120000;
    while (atomic_load(&s->seen) < n && shop_now_ms() < until)
        shop_sleep_ms(2);
    double secs = (double)(shop_now_ns() - t0) / 1e9;
    long seen = atomic_load(&s->seen);
    for (int i = 0; i < INSTANCES; i++)
        mq_consumer_close(c[i]);
    *out_of_order += atomic_load(&s->out_of_order);
    free(s);
    return seen >= n ? (double)n / secs : 0;
}

void mqb_ordered_case(const mqb_opts *o, const char *url, const char *pub_url)
{
    long n = o->backlog > 200000 ? 200000 : o->backlog;
    if (send_backlog(url, "bench-ordered", n, o->size) != 0) {
        fprintf(stderr, "mq-bench: ordered case: the backlog could not be sent\n");
        return;
    }
    double unordered = 0, ordered = 0;
    long bad = 0;
    for (int r = 0; r < ROUNDS; r++) {
        char g[64];
        snprintf(g, sizeof g, "bench-unordered-%d", r);
        unordered += consume_round(url, pub_url, "bench-ordered", g, 0, n, &bad) / ROUNDS;
        snprintf(g, sizeof g, "bench-ordered-%d", r);
        ordered += consume_round(url, pub_url, "bench-ordered", g, 1, n, &bad) / ROUNDS;
    }
    double ratio = unordered > 0 ? ordered / unordered : 0;
    printf("case=ordered_consume backlog=%ld keys=%d instances=%d rounds=%d "
           "unordered_msgs_per_s=%.0f ordered_msgs_per_s=%.0f ratio=%.2f target=0.5 "
           "out_of_order=%ld pass=%s\n",
           n, KEYS, INSTANCES, ROUNDS, unordered, ordered, ratio, bad,
           ratio >= 0.5 && bad == 0 ? "yes" : "no");
    fflush(stdout);
}
