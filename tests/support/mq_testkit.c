/* Test kit: brokers as child processes, checkable bodies, collectors. */
#include "tests/support/mq_testkit.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"

void mqt_broker_init(mqt_broker *b, const char *name)
{
    memset(b, 0, sizeof *b);
    b->port = ts_free_port();
    do
        b->pub_port = ts_free_port();
    while (b->pub_port == b->port);
    snprintf(b->url, sizeof b->url, "tcp://127.0.0.1:%d", b->port);
    snprintf(b->pub_url, sizeof b->pub_url, "tcp://127.0.0.1:%d", b->pub_port);
    snprintf(b->dir, sizeof b->dir, "%s/shopflow-mq-%s-%d", ts_tmp_dir(), name, (int)getpid());
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot clean %s\n", b->dir);
}

int mqt_broker_start(mqt_broker *b, const char *const *extra)
{
    const char *argv[40] = {"mq-broker", "--url",
                            b->url,      "--pub-url",
                            b->pub_url,  "--data-dir",
                            b->dir,      "--ack-timeout-ms",
                            "1500",      "--consumer-timeout-ms",
                            "1000",      "--retry-scale",
                            "0.0001",    "--segment-bytes",
                            "4194304"};
    int n = 15;
    for (int i = 0; extra && extra[i] && n < 39; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    if (ts_spawn(&b->p, (char *const *)argv) != 0)
        return -1;
    if (ts_wait_port(&b->p, b->port, 10000) != 0 || ts_wait_port(&b->p, b->pub_port, 2000) != 0) {
        ts_dump_log(&b->p);
        return -1;
    }
    return 0;
}

int mqt_broker_stop(mqt_broker *b, int sig)
{
    if (b->p.pid <= 0)
        return -1;
    int rc = ts_stop(&b->p, sig, 5000);
    b->p.pid = 0;
    return rc;
}

void mqt_broker_cleanup(mqt_broker *b)
{
    if (b->p.pid > 0)
        mqt_broker_stop(b, SIGKILL);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot clean %s\n", b->dir);
}

int mqt_cli(const char *const *args, char *out, size_t outlen)
{
    char cmd[1024] = "";
    char bin[512];
    ts_bin("shopflow", bin, sizeof bin);
    snprintf(cmd, sizeof cmd, "'%s'", bin);
    for (int i = 0; args[i]; i++) {
        strncat(cmd, " '", sizeof cmd - strlen(cmd) - 1);
        strncat(cmd, args[i], sizeof cmd - strlen(cmd) - 1);
        strncat(cmd, "'", sizeof cmd - strlen(cmd) - 1);
    }
    strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    return pclose(f);
}

static uint8_t body_byte(uint64_t i, size_t k)
{
    return (uint8_t)((i * 2654435761u + k * 40503u) >> 7);
}

void mqt_body(uint64_t i, uint8_t *out, size_t len)
{
    memcpy(out, &i, 8);
    for (size_t k = 8; k < len; k++)
        out[k] = body_byte(i, k);
}

int64_t mqt_body_check(const void *body, size_t len)
{
    const uint8_t *p = body;
    uint64_t i;
    if (len < 16)
        return -1;
    memcpy(&i, p, 8);
    for (size_t k = 8; k < len; k++)
        if (p[k] != body_byte(i, k))
            return -1;
    return (int64_t)i;
}

static mq_consume_result collect(const mq_msg *m, void *arg)
{
    mqt_collector *k = arg;
    int64_t i = mqt_body_check(m->body, m->len);
    pthread_mutex_lock(&k->mu);
    k->total++;
    if (m->reconsume_times > k->times_seen_max)
        k->times_seen_max = m->reconsume_times;
    if (i < 0 || (size_t)i >= k->n)
        k->corrupt++;
    else if (k->count[i]++ == 0)
        k->distinct++;
    pthread_mutex_unlock(&k->mu);
    return k->reconsume_later ? MQ_RECONSUME_LATER : MQ_CONSUME_SUCCESS;
}

int mqt_collector_start(mqt_collector *k, const mqt_broker *b, const char *group, const char *topic,
                        size_t n)
{
    int later = k->reconsume_later, drop = k->drop_every;
    const char *instance = k->instance;
    memset(k, 0, sizeof *k);
    k->reconsume_later = later;
    k->drop_every = drop;
    k->instance = instance;
    pthread_mutex_init(&k->mu, NULL);
    k->n = n;
    k->count = calloc(n ? n : 1, sizeof *k->count);
    mq_consumer_opts o = {.url = b->url,
                          .pub_url = b->pub_url,
                          .drop_every = drop,
                          .broadcast = instance != NULL,
                          .instance = instance};
    shop_error err = {0};
    const char *topics[] = {topic};
    if (mq_consumer_open(group, topics, 1, collect, k, &o, &k->c, &err) != RPC_OK ||
        mq_consumer_start(k->c, &err) != RPC_OK) {
        fprintf(stderr, "collector: %s\n", err.message);
        return -1;
    }
    return 0;
}

uint64_t mqt_collector_distinct(mqt_collector *k)
{
    pthread_mutex_lock(&k->mu);
    uint64_t d = k->distinct;
    pthread_mutex_unlock(&k->mu);
    return d;
}

uint64_t mqt_collector_seen_in(mqt_collector *k, uint64_t from, uint64_t to)
{
    uint64_t n = 0;
    pthread_mutex_lock(&k->mu);
    for (uint64_t i = from; i < to && i < k->n; i++)
        n += k->count[i] > 0;
    pthread_mutex_unlock(&k->mu);
    return n;
}

typedef struct collector_range {
    mqt_collector *k;
    uint64_t from, to;
} collector_range;

static int range_seen(void *arg)
{
    collector_range *r = arg;
    return mqt_collector_seen_in(r->k, r->from, r->to) == r->to - r->from;
}

int mqt_collector_wait_range(mqt_collector *k, uint64_t from, uint64_t to, int timeout_ms)
{
    collector_range r = {k, from, to};
    return mqt_wait_for(range_seen, &r, timeout_ms);
}

int mqt_collector_wait(mqt_collector *k, uint64_t distinct, int timeout_ms)
{
    int64_t until = shop_now_ms() + timeout_ms;
    while (mqt_collector_distinct(k) < distinct) {
        if (shop_now_ms() > until)
            return -1;
        shop_sleep_ms(10);
    }
    return 0;
}

int mqt_wait_for(int (*done)(void *arg), void *arg, int timeout_ms)
{
    int64_t until = shop_now_ms() + timeout_ms;
    while (!done(arg)) {
        if (shop_now_ms() > until)
            return -1;
        shop_sleep_ms(5);
    }
    return 0;
}

void mqt_collector_stop(mqt_collector *k)
{
    mq_consumer_close(k->c);
    k->c = NULL;
    free(k->count);
    k->count = NULL;
    pthread_mutex_destroy(&k->mu);
}

int mqt_send_range(mq_producer *p, const char *topic, uint64_t from, uint64_t to, size_t batch,
                   size_t len)
{
    uint8_t *bodies = malloc(batch * len);
    mq_message *ms = calloc(batch, sizeof *ms);
    mq_send_result *rs = calloc(batch, sizeof *rs);
    int rc = bodies && ms && rs ? 0 : -1;
    for (uint64_t i = from; i < to && rc == 0; i += batch) {
        size_t n = to - i < batch ? (size_t)(to - i) : batch;
        for (size_t j = 0; j < n; j++) {
            mqt_body(i + j, bodies + j * len, len);
            ms[j] = (mq_message){.topic = topic, .key = "k", .body = bodies + j * len, .len = len};
        }
        if (mq_producer_send_batch(p, ms, n, rs) != RPC_OK) {
            fprintf(stderr, "send_range: %s\n", rs[0].message);
            rc = -1;
        }
    }
    free(bodies);
    free(ms);
    free(rs);
    return rc;
}
