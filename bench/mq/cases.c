/* The broker cases: mq-broker runs as a child process on the same disk as
 * the fsync baseline; producers and consumers use the public mq.h API. */
#include "bench/mq/bench.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mq/mq.h"
#include "mq/wire.h"
#include "base/clock.h"
#include "base/spawn.h"
#include "bench/scrape/scraper.h"

#define SERIAL_ROUNDS 10

typedef struct mqb_broker {
    pid_t pid;
    char url[64], pub_url[64], dir[600], metrics_url[64];
    bench_scraper *scraper; /* --metrics */
} mqb_broker;

/* Scrapes of every broker of the run (--metrics). */
static uint64_t scrapes_ok, scrapes_failed;

static int broker_start(const mqb_opts *o, mqb_broker *b, const char *flush, const char *sub)
{
    char *dir = b->dir, bin[600], logp[700];
    snprintf(b->dir, sizeof b->dir, "%s/%s", o->dir, sub);
    snprintf(bin, sizeof bin, "%s/mq-broker", o->bin_dir);
    snprintf(logp, sizeof logp, "%s/%s.log", o->dir, sub);
    snprintf(b->url, sizeof b->url, "tcp://127.0.0.1:%d", mqb_free_port());
    snprintf(b->pub_url, sizeof b->pub_url, "tcp://127.0.0.1:%d", mqb_free_port());
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return -1;
    char metrics[96];
    snprintf(b->metrics_url, sizeof b->metrics_url, "http://127.0.0.1:%d", mqb_free_port());
    snprintf(metrics, sizeof metrics, "--metrics-url=%s", o->metrics ? b->metrics_url : "none");
    char *argv[] = {"mq-broker", "--url",   b->url,        "--pub-url", b->pub_url, "--data-dir",
                    dir,         "--flush", (char *)flush, metrics,     NULL};
    shop_spawn_opts so = {.exec_path = bin, .log_path = logp, .log_truncate = true};
    b->pid = -1;
    shop_error err = {0};
    if (shop_spawn(argv, &so, &b->pid, &err) != RPC_OK)
        fprintf(stderr, "mq-bench: %s\n", err.message);
    /* Ready when a stats call answers. */
    mq_producer *p;
    mq_producer_opts po = {.timeout_ms = 200, .retries = -1};
    if (b->pid < 0 || mq_producer_open(b->url, &po, &p) != RPC_OK)
        return -1;
    int64_t until = shop_now_ms() + 10000;
    mq_send_result r;
    rpc_status st = RPC_UNAVAILABLE;
    while (shop_now_ms() < until &&
           (st = mq_producer_send(p, "bench-warmup", NULL, "w", 1, NULL, &r)) != RPC_OK)
        shop_sleep_ms(20);
    mq_producer_close(p);
    if (st != RPC_OK)
        fprintf(stderr, "mq-bench: broker did not start, see %s\n", logp);
    /* Let it finish preparing its spare segment: 64 MiB of writes that would
     * slow the first measurements of both the broker and the baselines. */
    shop_sleep_ms(2000);
    if (st == RPC_OK && o->metrics)
        b->scraper = bench_scraper_start(b->metrics_url, o->scrape_ms);
    return st == RPC_OK ? 0 : -1;
}

static void broker_stop(mqb_broker *b)
{
    uint64_t ok = 0, failed = 0;
    bench_scraper_stop(b->scraper, &ok, &failed);
    b->scraper = NULL;
    scrapes_ok += ok;
    scrapes_failed += failed;
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        waitpid(b->pid, NULL, 0);
    }
    b->pid = 0;
    char cmd[800]; /* the data (up to ~700 MB) goes; the log stays */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "mq-bench: cannot remove %s\n", b->dir);
}

typedef struct sender {
    const mqb_opts *o;
    const char *url, *topic;
    long n;     /* messages (0: until deadline) */
    long batch; /* per request */
    int64_t until_ns;
    long done, failed;
} sender;

static void *sender_main(void *arg)
{
    sender *s = arg;
    mq_producer *p;
    if (mq_producer_open(s->url, NULL, &p) != RPC_OK)
        return NULL;
    long batch = s->batch > 0 ? s->batch : 1;
    mq_message *ms = calloc((size_t)batch, sizeof *ms);
    mq_send_result *rs = calloc((size_t)batch, sizeof *rs);
    char *body = calloc(1, s->o->size);
    for (long i = 0; i < batch; i++)
        ms[i] = (mq_message){.topic = s->topic, .body = body, .len = s->o->size};
    while (s->n > 0 ? s->done < s->n : shop_now_ns() < s->until_ns) {
        long n = s->n > 0 && s->n - s->done < batch ? s->n - s->done : batch;
        if (mq_producer_send_batch(p, ms, (size_t)n, rs) != RPC_OK)
            s->failed++;
        s->done += n;
    }
    free(ms);
    free(rs);
    free(body);
    mq_producer_close(p);
    return NULL;
}

/* Runs `threads` senders of n_each messages (0: for `seconds`) into `a`. */
static void run_senders(const mqb_opts *o, const char *url, const char *topic, int threads,
                        long n_each, long batch, int seconds, mqb_acc *a, long *failed)
{
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    sender *ss = calloc((size_t)threads, sizeof *ss);
    int64_t t0 = shop_now_ns();
    for (int i = 0; i < threads; i++) {
        ss[i] = (sender){.o = o,
                         .url = url,
                         .topic = topic,
                         .n = n_each,
                         .batch = batch,
                         .until_ns = t0 + (int64_t)seconds * 1000000000};
        pthread_create(&th[i], NULL, sender_main, &ss[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        a->count += ss[i].done;
        *failed += ss[i].failed;
    }
    a->secs += (double)(shop_now_ns() - t0) / 1e9;
    free(th);
    free(ss);
}

typedef struct latency_state {
    pthread_mutex_t mu;
    mqb_acc acc;
    atomic_long seen;
} latency_state;

static mq_consume_result on_latency(const mq_msg *m, void *arg)
{
    latency_state *s = arg;
    int64_t sent;
    if (m->len >= 8) {
        memcpy(&sent, m->body, 8);
        pthread_mutex_lock(&s->mu);
        mqb_acc_add(&s->acc, (double)(shop_now_ns() - sent) / 1e3);
        pthread_mutex_unlock(&s->mu);
    }
    atomic_fetch_add(&s->seen, 1);
    return MQ_CONSUME_SUCCESS;
}

static mq_consumer *consumer(const mqb_broker *b, const char *group, const char *topic,
                             latency_state *s)
{
    mq_consumer_opts co = {.url = b->url, .pub_url = b->pub_url, .max_inflight = 8192};
    const char *topics[] = {topic};
    mq_consumer *c;
    shop_error err = {0};
    if (mq_consumer_open(group, topics, 1, on_latency, s, &co, &c, &err) != RPC_OK ||
        mq_consumer_start(c, &err) != RPC_OK) {
        fprintf(stderr, "mq-bench: consumer: %s\n", err.message);
        exit(1);
    }
    return c;
}

/* Paced sends at o->rate for o->seconds; latency from send to handler. */
static void case_latency(const mqb_opts *o, const mqb_broker *b)
{
    latency_state s = {0};
    pthread_mutex_init(&s.mu, NULL);
    mq_consumer *c = consumer(b, "bench-latency", "bench-latency", &s);
    shop_sleep_ms(300);
    mq_producer *p;
    mq_producer_open(b->url, NULL, &p);
    char *body = calloc(1, o->size);
    long n = (long)o->rate * o->seconds, late = 0;
    int64_t period = 1000000000 / o->rate, next = shop_now_ns();
    for (long i = 0; i < n; i++) {
        struct timespec ts = {.tv_sec = next / 1000000000, .tv_nsec = next % 1000000000};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        int64_t now = shop_now_ns();
        late += now - next > period;
        memcpy(body, &now, 8);
        mq_send_result r;
        mq_producer_send(p, "bench-latency", NULL, body, o->size, NULL, &r);
        next += period;
    }
    int64_t until = shop_now_ms() + 5000;
    while (atomic_load(&s.seen) < n && shop_now_ms() < until)
        shop_sleep_ms(5);
    mq_consumer_close(c);
    mq_producer_close(p);
    double p50 = mqb_percentile(&s.acc, 50), p99 = mqb_percentile(&s.acc, 99),
           max = mqb_percentile(&s.acc, 100);
    printf("case=async_latency rate=%d n=%ld received=%ld p50_us=%.0f p99_us=%.0f max_us=%.0f "
           "target_p99_us=2000 pass=%s\n",
           o->rate, n, mqb_acc_samples(&s.acc), p50, p99, max,
           p99 < 2000 && mqb_acc_samples(&s.acc) == n ? "yes" : "no");
    fflush(stdout);
    free(body);
    mqb_acc_free(&s.acc);
}

static void case_backlog_consume(const mqb_opts *o, const mqb_broker *b, long backlog)
{
    latency_state s = {0};
    pthread_mutex_init(&s.mu, NULL);
    int64_t t0 = shop_now_ns();
    mq_consumer *c = consumer(b, "bench-backlog", "bench-async", &s);
    int64_t until = shop_now_ms() + 120000;
    while (atomic_load(&s.seen) < backlog && shop_now_ms() < until)
        shop_sleep_ms(2);
    double secs = (double)(shop_now_ns() - t0) / 1e9;
    mq_consumer_stats st;
    mq_consumer_get_stats(c, &st);
    mq_consumer_close(c);
    double rate = (double)atomic_load(&s.seen) / secs;
    printf("case=consume_backlog backlog=%ld received=%ld msgs_per_s=%.0f gaps=%llu "
           "repaired=%llu target=150000 pass=%s\n",
           backlog, atomic_load(&s.seen), rate, (unsigned long long)st.gaps,
           (unsigned long long)st.repaired, rate >= 150000 ? "yes" : "no");
    fflush(stdout);
    (void)o;
}

/* The broker's own fdatasync count and time, and where `topic` (may be
 * NULL) ends, from its stats. */
void mqb_broker_stats(const char *url, const char *topic, uint64_t *n, uint64_t *us,
                      uint64_t *topic_end)
{
    mq_link l;
    shop_error err = {0};
    *n = *us = 0;
    if (topic_end)
        *topic_end = 0;
    if (mq_link_open(&l, url, &err) != 0)
        return;
    Shop__Mq__Stats st = SHOP__MQ__STATS__INIT;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_STATS;
    req.stats = &st;
    Shop__Mq__Reply *rep = NULL;
    if (mq_link_call(&l, &req, 5000, &rep, &err) == RPC_OK &&
        rep->body_case == SHOP__MQ__REPLY__BODY_STATS) {
        *n = rep->stats->syncs;
        *us = rep->stats->sync_us_total;
        for (size_t i = 0; topic && topic_end && i < rep->stats->n_topics; i++)
            if (strcmp(rep->stats->topics[i]->topic, topic) == 0)
                *topic_end = rep->stats->topics[i]->end_offset;
    }
    if (rep)
        shop__mq__reply__free_unpacked(rep, NULL);
    mq_link_close(&l);
}

void mqb_broker_syncs(const char *url, uint64_t *n, uint64_t *us)
{
    mqb_broker_stats(url, NULL, n, us, NULL);
}

/* flush=sync with 1, 4, 16, 32 and 64 producers sending one message at a
 * time: how group commit turns more producers into more messages per
 * fdatasync. One line each: case=sync_scale_<P>. */
static void sync_scaling(const mqb_opts *o, const mqb_broker *b, int secs)
{
    static const int producers[] = {1, 4, 16, 32, 64};
    for (size_t i = 0; i < sizeof producers / sizeof *producers; i++) {
        int p = producers[i];
        mqb_acc acc = {0};
        long failed = 0;
        uint64_t n0, us0, n1, us1;
        mqb_broker_syncs(b->url, &n0, &us0);
        run_senders(o, b->url, "bench-sync-scale", p, 0, 1, secs, &acc, &failed);
        mqb_broker_syncs(b->url, &n1, &us1);
        uint64_t syncs = n1 > n0 ? n1 - n0 : 0;
        printf("case=sync_scale_%d producers=%d n=%ld msgs_per_s=%.0f msgs_per_fsync=%.1f "
               "fsyncs=%llu broker_fsync_mean_us=%.0f failed=%ld\n",
               p, p, acc.count, mqb_acc_rate(&acc), syncs ? (double)acc.count / (double)syncs : 0.0,
               (unsigned long long)syncs, syncs ? (double)(us1 - us0) / (double)syncs : 0.0,
               failed);
        fflush(stdout);
        mqb_acc_free(&acc);
    }
}

/* The flush=sync cases, interleaved round by round with the baselines so
 * that a noisy neighbour on the disk or the CPUs weighs on both alike. */
static int sync_cases(const mqb_opts *o)
{
    char echo_url[64];
    mqb_echo *echo = mqb_echo_start(echo_url, sizeof echo_url);
    mqb_broker b = {0};
    if (broker_start(o, &b, "sync", "broker-sync") != 0)
        return 1;
    mqb_acc fs = {0}, e1 = {0}, eN = {0}, s1 = {0}, sN = {0};
    long failed1 = 0, failedN = 0;
    int R = o->rounds, secs = o->seconds / R > 0 ? o->seconds / R : 1;
    uint64_t n0, us0, n1, us1, n2, us2;
    mqb_broker_syncs(b.url, &n0, &us0);
    /* The serial cases alternate finely: the disk's latency drifts within seconds. */
    for (int r = 0; r < SERIAL_ROUNDS; r++) {
        mqb_fsync_round(o, o->fsync_n / SERIAL_ROUNDS, &fs);
        mqb_echo_round(o, echo_url, 1, o->echo_n / SERIAL_ROUNDS, 0, &e1);
        run_senders(o, b.url, "bench-sync", 1, o->sync_n / SERIAL_ROUNDS, 1, 0, &s1, &failed1);
    }
    mqb_broker_syncs(b.url, &n1, &us1);
    for (int r = 0; r < R && o->clients > 1; r++) {
        mqb_echo_round(o, echo_url, o->clients, 0, secs, &eN);
        run_senders(o, b.url, "bench-sync", o->clients, 0, 1, secs, &sN, &failedN);
    }
    mqb_broker_syncs(b.url, &n2, &us2);
    mqb_send_modes sm = {0};
    for (int r = 0; r < R; r++)
        mqb_send_modes_round(o, b.url, R, &sm);
    sync_scaling(o, &b, secs);
    broker_stop(&b);
    mqb_echo_stop(echo);
    double fs_mean = mqb_acc_mean_us(&fs), e1_mean = mqb_acc_mean_us(&e1);
    printf("case=baseline_fsync n=%ld size=%zu p50_us=%.1f p99_us=%.1f mean_us=%.1f "
           "ops_per_s=%.0f\n",
           fs.count, o->size, mqb_percentile(&fs, 50), mqb_percentile(&fs, 99), fs_mean,
           mqb_acc_rate(&fs));
    printf("case=baseline_echo_1 n=%ld p50_us=%.1f p99_us=%.1f mean_us=%.1f req_per_s=%.0f\n",
           e1.count, mqb_percentile(&e1, 50), mqb_percentile(&e1, 99), e1_mean, mqb_acc_rate(&e1));
    if (o->clients > 1) /* with one client it would be baseline_echo_1 again */
        printf("case=baseline_echo_%d clients=%d n=%ld req_per_s=%.0f\n", o->clients, o->clients,
               eN.count, mqb_acc_rate(&eN));
    double limit = 1e6 / (fs_mean + e1_mean), r1 = mqb_acc_rate(&s1);
    /* A closed loop of fdatasyncs runs slower on this shared virtual disk than
     * the broker's own (spaced by a round trip); both limits are printed. */
    double bfs = n1 > n0 ? (double)(us1 - us0) / (double)(n1 - n0) : 0.0;
    double limit_b = bfs > 0 ? 1e6 / (bfs + e1_mean) : 0;
    printf("case=sync_1 n=%ld msgs_per_s=%.0f serial_limit=%.0f ratio=%.2f target=0.8 "
           "broker_fsync_mean_us=%.0f serial_limit_broker_fsync=%.0f ratio_broker_fsync=%.2f "
           "failed=%ld pass=%s\n",
           s1.count, r1, limit, r1 / limit, bfs, limit_b, limit_b > 0 ? r1 / limit_b : 0.0, failed1,
           r1 / limit >= 0.8 ? "yes" : "no");
    double rN = mqb_acc_rate(&sN), echoN = mqb_acc_rate(&eN);
    if (o->clients > 1)
        printf("case=sync_%d producers=%d n=%ld msgs_per_s=%.0f echo_req_per_s=%.0f ratio=%.2f "
               "target=0.6 msgs_per_fsync=%.1f broker_fsync_mean_us=%.0f failed=%ld pass=%s\n",
               o->clients, o->clients, sN.count, rN, echoN, rN / echoN,
               n2 > n1 ? (double)sN.count / (double)(n2 - n1) : 0.0,
               n2 > n1 ? (double)(us2 - us1) / (double)(n2 - n1) : 0.0, failedN,
               rN / echoN >= 0.6 ? "yes" : "no");
    mqb_send_modes_print(&sm, mqb_acc_rate(&fs), r1);
    fflush(stdout);
    mqb_acc_free(&fs);
    mqb_acc_free(&e1);
    mqb_acc_free(&eN);
    mqb_acc_free(&s1);
    mqb_acc_free(&sN);
    return 0;
}

static int async_cases(const mqb_opts *o)
{
    mqb_broker b = {0};
    if (broker_start(o, &b, "async", "broker-async") != 0)
        return 1;
    case_latency(o, &b);
    mqb_acc a = {0};
    long failed = 0, n = o->backlog / 2 * 2;
    run_senders(o, b.url, "bench-async", 2, n / 2, o->async_batch, 0, &a, &failed);
    double ra = mqb_acc_rate(&a);
    printf("case=async_batch n=%ld batch=%ld producers=2 msgs_per_s=%.0f target=150000 "
           "failed=%ld pass=%s\n",
           n, o->async_batch, ra, failed, ra >= 150000 ? "yes" : "no");
    fflush(stdout);
    mqb_acc_free(&a);
    case_backlog_consume(o, &b, n);
    mqb_tags_case(o, b.url, b.pub_url, (int)b.pid);
    broker_stop(&b);
    return 0;
}

/* --only send|tags: one group of cases with what it is read against. */
static int only_cases(const mqb_opts *o)
{
    mqb_broker b = {0};
    int tags = strcmp(o->only, "tags") == 0;
    if (broker_start(o, &b, tags ? "async" : "sync", tags ? "broker-async" : "broker-sync") != 0)
        return 1;
    if (tags) {
        mqb_tags_case(o, b.url, b.pub_url, (int)b.pid);
        broker_stop(&b);
        return 0;
    }
    mqb_acc fs = {0}, s1 = {0};
    mqb_send_modes sm = {0};
    long failed = 0;
    for (int r = 0; r < o->rounds; r++) {
        mqb_fsync_round(o, o->fsync_n / o->rounds, &fs);
        run_senders(o, b.url, "bench-sync", 1, o->sync_n / o->rounds, 1, 0, &s1, &failed);
        mqb_send_modes_round(o, b.url, o->rounds, &sm);
    }
    broker_stop(&b);
    printf("case=baseline_fsync n=%ld size=%zu ops_per_s=%.0f\n", fs.count, o->size,
           mqb_acc_rate(&fs));
    printf("case=sync_1 n=%ld msgs_per_s=%.0f failed=%ld\n", s1.count, mqb_acc_rate(&s1), failed);
    mqb_send_modes_print(&sm, mqb_acc_rate(&fs), mqb_acc_rate(&s1));
    mqb_acc_free(&fs);
    mqb_acc_free(&s1);
    return 0;
}

int mqb_run(const mqb_opts *o)
{
    if (o->only[0] != '\0')
        return only_cases(o);
    int rc = sync_cases(o);
    rc = rc ? rc : async_cases(o);
    if (o->metrics)
        printf("metrics=on scrape_ms=%d scrapes=%llu scrape_failures=%llu\n", o->scrape_ms,
               (unsigned long long)scrapes_ok, (unsigned long long)scrapes_failed);
    else
        printf("metrics=off\n");
    return rc;
}
