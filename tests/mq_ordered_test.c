/* Ordered consumption against a real broker: the messages of one key are
 * handled one at a time and in send order across the group's instances,
 * also when an instance is killed (kill -9; its keys move only after its
 * unacknowledged messages are released), when a RECONSUME_LATER holds one
 * key back (the others flow), across a kill -9 of the broker, and when
 * PUB/SUB drops batches (repaired by pull). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/mq_testkit.h"
#include "base/clock.h"

#define MAX_MSGS 4000
#define MAX_KEYS 64
#define MAX_EVENTS 20000

static mqt_broker broker;

/* Every handling, in the order it happened, checked as it is recorded. */
typedef struct order_log {
    pthread_mutex_t mu;
    int key_of[MAX_MSGS], seq_of[MAX_MSGS]; /* by offset (one producer, one topic) */
    int nkeys, per_key;
    int done[MAX_KEYS];   /* the next seq each key expects: all below were handled */
    int active[MAX_KEYS]; /* handlers of the key running now */
    int skipped, overlapped, events;
    int ev_key[MAX_EVENTS], ev_seq[MAX_EVENTS];
    int64_t ev_ms[MAX_EVENTS];
    int held_key, held_seq;     /* RECONSUME_LATER this one while `holding` */
    int victim_key, victim_seq; /* the last message the other process printed */
    atomic_int holding;
    unsigned held_times_max;
    int sleep_us;
} order_log;

static order_log lg;

static void log_reset(int nkeys, int per_key, int sleep_us)
{
    memset(&lg, 0, sizeof lg);
    pthread_mutex_init(&lg.mu, NULL);
    lg.nkeys = nkeys;
    lg.per_key = per_key;
    lg.sleep_us = sleep_us;
    lg.held_key = -1;
}

/* One handling of (key, seq): a skip ahead of the key's next expected seq
 * breaks the order; an older seq is a redelivery (at least once). */
static void record(int key, int seq)
{
    if (key < 0 || key >= lg.nkeys)
        return;
    if (seq > lg.done[key])
        lg.skipped++;
    else if (seq == lg.done[key])
        lg.done[key]++;
    if (lg.events < MAX_EVENTS) {
        lg.ev_key[lg.events] = key;
        lg.ev_seq[lg.events] = seq;
        lg.ev_ms[lg.events] = shop_now_ms();
        lg.events++;
    }
}

static mq_consume_result on_msg(const mq_msg *m, void *arg)
{
    (void)arg;
    if (m->offset >= MAX_MSGS)
        return MQ_CONSUME_SUCCESS;
    int key = lg.key_of[m->offset], seq = lg.seq_of[m->offset];
    pthread_mutex_lock(&lg.mu);
    if (key == lg.held_key && seq == lg.held_seq && atomic_load(&lg.holding)) {
        if (m->reconsume_times > lg.held_times_max)
            lg.held_times_max = m->reconsume_times;
        pthread_mutex_unlock(&lg.mu);
        return MQ_RECONSUME_LATER;
    }
    if (lg.active[key]++ > 0)
        lg.overlapped++;
    record(key, seq);
    pthread_mutex_unlock(&lg.mu);
    if (lg.sleep_us > 0)
        usleep((useconds_t)lg.sleep_us);
    pthread_mutex_lock(&lg.mu);
    lg.active[key]--;
    pthread_mutex_unlock(&lg.mu);
    return MQ_CONSUME_SUCCESS;
}

static mq_consumer *ordered_consumer(const char *group, unsigned max_reconsume, int drop_every)
{
    const char *topics[] = {"orders"};
    mq_consumer_opts o = {.url = broker.url,
                          .pub_url = broker.pub_url,
                          .ordered = 1,
                          .max_reconsume = max_reconsume,
                          .drop_every = drop_every};
    mq_consumer *c = NULL;
    shop_error err = {0};
    cr_assert_eq(mq_consumer_open(group, topics, 1, on_msg, NULL, &o, &c, &err), RPC_OK, "%s",
                 err.message);
    cr_assert_eq(mq_consumer_start(c, &err), RPC_OK, "%s", err.message);
    return c;
}

/* Sends nkeys * per_key messages, key k<K> with seqs 0.. in order, the keys
 * interleaved; offset i is message i. */
static void send_all(mq_producer *p, int from, int to)
{
    char keys[MAX_KEYS][16];
    for (int k = 0; k < lg.nkeys; k++)
        snprintf(keys[k], sizeof keys[k], "k%d", k);
    mq_message batch[100];
    char bodies[100][32];
    mq_send_result res[100];
    int n = 0;
    for (int i = from; i < to; i++) {
        int key = i % lg.nkeys, seq = i / lg.nkeys;
        lg.key_of[i] = key;
        lg.seq_of[i] = seq;
        snprintf(bodies[n], sizeof bodies[n], "%d:%d", key, seq);
        batch[n] = (mq_message){
            .topic = "orders", .key = keys[key], .body = bodies[n], .len = strlen(bodies[n])};
        if (++n == 100 || i + 1 == to) {
            cr_assert_eq(mq_producer_send_batch(p, batch, (size_t)n, res), RPC_OK, "%s",
                         res[0].message);
            for (int j = 0; j < n; j++)
                cr_assert_eq(res[j].offset, (uint64_t)(i + 1 - n + j), "offsets follow the sends");
            n = 0;
        }
    }
}

static int all_done(int except_key)
{
    pthread_mutex_lock(&lg.mu);
    int ok = 1;
    for (int k = 0; k < lg.nkeys; k++)
        if (k != except_key && lg.done[k] < lg.per_key)
            ok = 0;
    pthread_mutex_unlock(&lg.mu);
    return ok;
}

static int done_but(void *except_key)
{
    return all_done(*(int *)except_key);
}

static int wait_done(int except_key, int timeout_ms)
{
    return mqt_wait_for(done_but, &except_key, timeout_ms);
}

static void up(void)
{
    mqt_broker_init(&broker, "ordered");
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "broker did not start");
}

static void down(void)
{
    mqt_broker_cleanup(&broker);
}

/* New lines of the killed instance's output: "msg topic=orders offset=N". */
static size_t read_process_log(const char *path, size_t from)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return from;
    fseek(f, (long)from, SEEK_SET);
    char line[512];
    size_t pos = from;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (line[len - 1] != '\n')
            break; /* half written: read it next time */
        pos += len;
        unsigned long long off;
        const char *p = strstr(line, "msg topic=orders offset=");
        if (p && sscanf(p, "msg topic=orders offset=%llu", &off) == 1 && off < MAX_MSGS) {
            pthread_mutex_lock(&lg.mu);
            record(lg.key_of[off], lg.seq_of[off]);
            lg.victim_key = lg.key_of[off];
            lg.victim_seq = lg.seq_of[off];
            pthread_mutex_unlock(&lg.mu);
        }
    }
    fclose(f);
    return pos;
}

Test(
    mq_ordered,
    a_key_is_handled_in_send_order_across_instances_and_moves_only_after_a_killed_instance_releases_it,
    .init = up, .fini = down, .timeout = 120)
{
    log_reset(20, 60, 300);
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    /* One instance in its own process, slow (50 ms a message), killed later. */
    char *argv[] = {"shopflow", "mq",        "consume",      "orders", "--group",
                    "billing",  "--ordered", "--sleep-ms",   "50",     "--url",
                    broker.url, "--pub-url", broker.pub_url, NULL};
    ts_proc victim;
    cr_assert_eq(ts_spawn(&victim, argv), 0);
    int64_t until = shop_now_ms() + 5000;
    while (!ts_log_has(&victim, "consuming group=billing") && shop_now_ms() < until)
        shop_sleep_ms(5);
    mq_consumer *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = ordered_consumer("billing", 0, 0);
    shop_sleep_ms(200);
    send_all(p, 0, 20 * 60);

    size_t pos = 0;
    until = shop_now_ms() + 10000;
    int victim_lines = 0;
    while (shop_now_ms() < until) {
        size_t before = pos;
        pos = read_process_log(victim.log_path, pos);
        victim_lines += pos != before;
        if (victim_lines >= 3)
            break;
        shop_sleep_ms(2);
    }
    cr_assert_geq(victim_lines, 3, "the killed instance never got messages");
    ts_stop(&victim, SIGKILL, 2000);
    read_process_log(victim.log_path, pos);
    int64_t killed_ms = shop_now_ms();
    pthread_mutex_lock(&lg.mu);
    int events_at_kill = lg.events;
    /* The last message it printed before the kill (printed as its 50 ms
     * handler starts): in that handler, unacked, or acked just before. The
     * other instances record into the same log, so it is the process's own
     * last line, read after the kill, not the log's last event. */
    int held_key = lg.victim_key, held_seq = lg.victim_seq;
    pthread_mutex_unlock(&lg.mu);

    cr_assert_eq(wait_done(-1, 60000), 0, "not every message was handled");
    for (int i = 0; i < 3; i++)
        mq_consumer_close(c[i]);
    mq_producer_close(p);
    cr_assert_eq(lg.skipped, 0, "%d handlings came before an earlier message of their key",
                 lg.skipped);
    cr_assert_eq(lg.overlapped, 0, "%d handlings overlapped another of the same key",
                 lg.overlapped);
    /* The held key: nobody else got it before the killed instance was
     * dropped (heartbeat loss, consumer timeout 1 s); then its unacked
     * message came again first. */
    int first = -1;
    for (int i = events_at_kill; i < lg.events; i++)
        if (lg.ev_key[i] == held_key) {
            first = i;
            break;
        }
    cr_assert_geq(first, 0, "key %d never moved to another instance", held_key);
    if (lg.ev_seq[first] == held_seq) /* (else it was acked just before the kill) */
        cr_assert_geq(lg.ev_ms[first] - killed_ms, 500,
                      "key %d moved %lld ms after the kill, before its release", held_key,
                      (long long)(lg.ev_ms[first] - killed_ms));
    cr_assert(lg.ev_seq[first] == held_seq || lg.ev_seq[first] == held_seq + 1,
              "key %d resumed at seq %d after %d", held_key, lg.ev_seq[first], held_seq);
}

Test(mq_ordered, reconsume_later_holds_back_only_that_key, .init = up, .fini = down, .timeout = 60)
{
    log_reset(10, 50, 0);
    lg.held_key = 3;
    lg.held_seq = 5;
    atomic_store(&lg.holding, 1);
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    mq_consumer *a = ordered_consumer("stock", 1000, 0), *b = ordered_consumer("stock", 1000, 0);
    shop_sleep_ms(200);
    send_all(p, 0, 10 * 50);
    cr_assert_eq(wait_done(3, 20000), 0, "the other keys did not flow past the held one");
    shop_sleep_ms(300);
    pthread_mutex_lock(&lg.mu);
    int held_done = lg.done[3];
    unsigned times = lg.held_times_max;
    pthread_mutex_unlock(&lg.mu);
    cr_assert_eq(held_done, 5, "key 3 went on to seq %d while seq 5 was held", held_done);
    cr_assert_geq(times, 1, "the held message came back with its reconsume count");
    atomic_store(&lg.holding, 0);
    cr_assert_eq(wait_done(-1, 20000), 0, "key 3 did not resume after the hold");
    mq_consumer_close(a);
    mq_consumer_close(b);
    mq_producer_close(p);
    cr_assert_eq(lg.skipped, 0, "%d out of order", lg.skipped);
    cr_assert_eq(lg.overlapped, 0, "%d overlapped", lg.overlapped);
}

Test(mq_ordered, a_kill_9_of_the_broker_mid_stream_keeps_each_keys_order, .init = up, .fini = down,
     .timeout = 120)
{
    log_reset(30, 100, 200);
    mq_producer *p;
    mq_producer_opts po = {.timeout_ms = 1000, .retries = 20};
    cr_assert_eq(mq_producer_open(broker.url, &po, &p), RPC_OK);
    mq_consumer *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = ordered_consumer("payments", 0, 0);
    shop_sleep_ms(200);
    send_all(p, 0, 30 * 100);
    int64_t until = shop_now_ms() + 10000;
    while (lg.events < 600 && shop_now_ms() < until)
        shop_sleep_ms(2);
    cr_assert_lt(lg.events, 3000, "consumption was over before the kill");
    cr_assert_eq(mqt_broker_stop(&broker, SIGKILL), 128 + SIGKILL);
    int at_kill = lg.events;
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "restart failed");
    cr_assert_eq(wait_done(-1, 60000), 0, "not everything was handled after the restart");
    for (int i = 0; i < 3; i++)
        mq_consumer_close(c[i]);
    mq_producer_close(p);
    cr_assert_gt(lg.events, at_kill, "nothing handled after the restart");
    cr_assert_eq(lg.skipped, 0, "%d handlings came before an earlier message of their key",
                 lg.skipped);
    cr_assert_eq(lg.overlapped, 0, "%d handlings overlapped another of the same key",
                 lg.overlapped);
}

Test(mq_ordered, each_key_stays_in_order_when_pubsub_drops_batches, .init = up, .fini = down,
     .timeout = 60)
{
    log_reset(20, 100, 0);
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    mq_consumer *a = ordered_consumer("audit", 0, 3), *b = ordered_consumer("audit", 0, 4);
    shop_sleep_ms(200);
    send_all(p, 0, 20 * 100);
    cr_assert_eq(wait_done(-1, 30000), 0, "not every message was handled");
    mq_consumer_stats st;
    mq_consumer_get_stats(a, &st);
    mq_consumer_close(a);
    mq_consumer_close(b);
    mq_producer_close(p);
    cr_assert_gt(st.gaps, 0, "no batch was dropped");
    cr_assert_eq(lg.skipped, 0, "%d out of order", lg.skipped);
    cr_assert_eq(lg.overlapped, 0, "%d overlapped", lg.overlapped);
}
