/* The JetStream backend on a real three-node nats-server cluster (R3) on
 * loopback: a retried send with the same id is stored once; producers that
 * retry lose nothing acknowledged while the stream leader is killed with
 * kill -9, and a consumer connected across the kill gets it all (the
 * failover time is printed); streams, consumer positions and
 * dead letters survive a stop and start of the whole cluster. Without
 * nats-server these tests fail (scripts/deps.sh installs it). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "services/stack/nats_cluster.h"
#include "tests/support/mq_testkit.h"

static nats_cluster cluster;
static mqt_broker nats; /* only .url: what the test kit's collectors dial */

static void up(void)
{
    char dir[600];
    shop_error e = {0};
    snprintf(dir, sizeof dir, "%s/nats-%d", ts_tmp_dir(), (int)getpid());
    cr_assert_eq(nats_cluster_init(&cluster, dir, 3, &e), RPC_OK, "%s", e.message);
    cluster.death_signal = SIGKILL; /* none left behind by a test that times out */
    cr_assert_eq(nats_cluster_start(&cluster, &e), RPC_OK, "%s", e.message);
    snprintf(nats.url, sizeof nats.url, "%s", cluster.url);
    cr_assert_eq(strcmp(nats.url, cluster.url), 0, "the URL does not fit the test kit");
    setenv("MQ_NATS_RETRY_SCALE", "0.0001", 1);
    setenv("MQ_NATS_ACK_WAIT_MS", "3000", 1);
}

static void down(void)
{
    nats_cluster_destroy(&cluster);
}

/* Closes the collector's consumer and keeps its counts (mqt_collector_stop
 * frees them; it is called after the checks). */
static void quiesce(mqt_collector *k)
{
    mq_consumer_close(k->c);
    k->c = NULL;
}

static mq_producer *producer(int timeout_ms, int retries)
{
    mq_producer *p;
    mq_producer_opts o = {.timeout_ms = timeout_ms, .retries = retries, .retry_backoff_ms = 50};
    cr_assert_eq(mq_producer_open(cluster.url, &o, &p), RPC_OK);
    return p;
}

static rpc_status send_id(mq_producer *p, const char *topic, uint64_t i, const char *id,
                          mq_send_result *r)
{
    uint8_t body[64];
    mqt_body(i, body, sizeof body);
    mq_send_opts so = {.id = id};
    return mq_producer_send(p, topic, "k", body, sizeof body, &so, r);
}

Test(mq_nats_cluster, a_retried_send_with_the_same_id_is_stored_once, .init = up, .fini = down,
     .timeout = 60)
{
    mq_producer *p = producer(2000, 3);
    mq_send_result a, b, c;
    cr_assert_eq(send_id(p, "orders", 0, "order-1", &a), RPC_OK, "%s", a.message);
    cr_assert_eq(send_id(p, "orders", 1, "order-2", &b), RPC_OK, "%s", b.message);
    cr_assert_eq(send_id(p, "orders", 0, "order-1", &c), RPC_OK, "%s", c.message);
    cr_assert_eq(a.duplicate, 0);
    cr_assert_eq(c.duplicate, 1, "the resend was stored again");
    cr_assert_eq(c.offset, a.offset, "a duplicate answers with the first sequence");
    cr_assert_eq(b.offset, a.offset + 1);
    /* In a batch, beside a new message, the same. */
    uint8_t body[2][64];
    mqt_body(0, body[0], 64);
    mqt_body(2, body[1], 64);
    mq_send_opts o1 = {.id = "order-1"}, o3 = {.id = "order-3"};
    mq_message ms[2] = {{"orders", "k", body[0], 64, &o1}, {"orders", "k", body[1], 64, &o3}};
    mq_send_result rs[2];
    cr_assert_eq(mq_producer_send_batch(p, ms, 2, rs), RPC_OK);
    cr_assert(rs[0].duplicate && rs[0].offset == a.offset);
    cr_assert(!rs[1].duplicate && rs[1].offset == b.offset + 1);
    mq_producer_close(p);

    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &nats, "billing", "orders", 3), 0);
    cr_assert_eq(mqt_collector_wait(&k, 3, 10000), 0, "got %llu", (unsigned long long)k.distinct);
    shop_sleep_ms(300);
    quiesce(&k);
    cr_assert_eq(k.total, 3, "stored %llu times for 3 ids", (unsigned long long)k.total);
    cr_assert_eq(k.count[0], 1);
    mqt_collector_stop(&k);
}

/* ---- mq-delayd in front of JetStream ---- */

static pthread_mutex_t ids_mu = PTHREAD_MUTEX_INITIALIZER;
static char seen_ids[8][MQ_ID_LEN + 32];
static int nseen;

static mq_consume_result remember_id(const mq_msg *m, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ids_mu);
    if (nseen < 8)
        snprintf(seen_ids[nseen++], sizeof seen_ids[0], "%s", m->id);
    pthread_mutex_unlock(&ids_mu);
    return MQ_CONSUME_SUCCESS;
}

Test(mq_nats_cluster, mq_delayd_hands_due_messages_over_with_its_own_ids_so_a_second_is_a_duplicate,
     .init = up, .fini = down, .timeout = 60)
{
    ts_proc delayd;
    char url[64], dir[600];
    int port = ts_free_port();
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    snprintf(dir, sizeof dir, "%s/delayd", cluster.dir);
    char *argv[] = {"mq-delayd", "--listen",     url, "--data-dir",       dir,   "--broker",
                    cluster.url, "--segment-mb", "8", "--max-backoff-ms", "100", NULL};
    cr_assert_eq(ts_spawn(&delayd, argv), 0);
    cr_assert_eq(ts_wait_port(&delayd, port, 10000), 0, "mq-delayd did not come up");
    mq_consumer *c;
    shop_error err = {0};
    const char *topics[] = {"coupons"};
    mq_consumer_opts co = {.url = cluster.url};
    nseen = 0;
    cr_assert_eq(mq_consumer_open("expiry", topics, 1, remember_id, NULL, &co, &c, &err), RPC_OK,
                 "%s", err.message);
    cr_assert_eq(mq_consumer_start(c, &err), RPC_OK, "%s", err.message);
    mq_producer *p;
    mq_producer_opts po = {.timeout_ms = 2000, .delay_url = url};
    cr_assert_eq(mq_producer_open(cluster.url, &po, &p), RPC_OK);
    mq_send_opts later = {.delay_ms = 300};
    mq_send_result r;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mq_producer_send(p, "coupons", "k", "x", 1, &later, &r), RPC_OK, "%s",
                     r.message);
    int64_t until = shop_now_ms() + 15000;
    while (nseen < 3 && shop_now_ms() < until)
        shop_sleep_ms(20);
    mq_consumer_close(c);
    cr_assert_eq(nseen, 3, "%d of 3 delayed messages arrived", nseen);
    /* A hand-over repeated after a crash carries the same id: stored once. */
    mq_send_opts again = {.id = seen_ids[0]};
    cr_assert_eq(mq_producer_send(p, "coupons", "k", "x", 1, &again, &r), RPC_OK, "%s", r.message);
    cr_assert_eq(r.duplicate, 1, "id %s was stored a second time", seen_ids[0]);
    mq_producer_close(p);
    cr_assert_eq(ts_stop(&delayd, SIGTERM, 10000), 0);
}

/* ---- the stream leader killed under load ---- */

#define SENDERS 4
#define PER_SENDER 20000

typedef struct load {
    atomic_int stop;
    atomic_llong last_ok_ms, first_ok_after_kill_ms, kill_ms;
    atomic_ullong acked, failed;
    uint8_t *acked_idx; /* per index: acknowledged */
} load;

typedef struct sender_arg {
    load *l;
    int t;
} sender_arg;

static void *sender(void *arg)
{
    sender_arg *sa = arg;
    load *l = sa->l;
    /* Retries span well over an election (4-9 s; 38 s once under ASan on a
     * slow machine) and stay inside the 120 s dedup window: 11 attempts of
     * 2 s, backoff 50 ms doubled: ~73 s. */
    mq_producer *p;
    mq_producer_opts o = {.timeout_ms = 2000, .retries = 10, .retry_backoff_ms = 50};
    if (mq_producer_open(cluster.url, &o, &p) != RPC_OK) {
        atomic_fetch_add(&l->failed, 1);
        return NULL;
    }
    for (uint64_t j = 0; j < PER_SENDER && !atomic_load(&l->stop); j++) {
        uint64_t i = (uint64_t)sa->t * PER_SENDER + j;
        char id[32];
        snprintf(id, sizeof id, "load-%llu", (unsigned long long)i);
        mq_send_result r;
        int64_t started = shop_now_ms();
        if (send_id(p, "load", i, id, &r) != RPC_OK) {
            atomic_fetch_add(&l->failed, 1);
            continue;
        }
        int64_t now = shop_now_ms();
        l->acked_idx[i] = 1;
        atomic_fetch_add(&l->acked, 1);
        atomic_store(&l->last_ok_ms, now);
        /* The first send begun after the kill that is acknowledged: one in
         * flight at the kill may be answered by the dying leader. */
        long long zero = 0, kill = atomic_load(&l->kill_ms);
        if (kill > 0 && started > kill)
            atomic_compare_exchange_strong(&l->first_ok_after_kill_ms, &zero, now);
    }
    mq_producer_close(p);
    return NULL;
}

Test(mq_nats_cluster, producers_lose_nothing_acknowledged_when_the_stream_leader_is_killed,
     .init = up, .fini = down, .timeout = 200)
{
    static load l;
    memset(&l, 0, sizeof l);
    l.acked_idx = calloc(SENDERS * PER_SENDER, 1);
    shop_error e = {0};
    mq_producer *p0 = producer(2000, 3); /* makes the stream, R3 */
    mq_send_result r0;
    cr_assert_eq(send_id(p0, "load", SENDERS * PER_SENDER - 1, "warm", &r0), RPC_OK, "%s",
                 r0.message);
    mq_producer_close(p0);
    /* A consumer connected all along ("live") and one that starts after the
     * kill ("audit") must both see every acknowledged message. */
    size_t n = SENDERS * PER_SENDER;
    mqt_collector live = {0};
    cr_assert_eq(mqt_collector_start(&live, &nats, "live", "load", n), 0);
    pthread_t th[SENDERS];
    sender_arg sa[SENDERS];
    for (int t = 0; t < SENDERS; t++) {
        sa[t] = (sender_arg){&l, t};
        pthread_create(&th[t], NULL, sender, &sa[t]);
    }
    shop_sleep_ms(1500);
    int leader = -1;
    cr_assert_eq(nats_cluster_leader(&cluster, "load", &leader, &e), RPC_OK, "%s", e.message);
    unsigned long long before = atomic_load(&l.acked);
    atomic_store(&l.kill_ms, shop_now_ms());
    cr_assert_eq(nats_cluster_node_stop(&cluster, leader, SIGKILL, &e), RPC_OK, "%s", e.message);
    /* Until the producers are through the election, and 2 s more. */
    int64_t until = shop_now_ms() + 75000;
    while (atomic_load(&l.first_ok_after_kill_ms) == 0 && shop_now_ms() < until)
        shop_sleep_ms(20);
    shop_sleep_ms(2000);
    atomic_store(&l.stop, 1);
    for (int t = 0; t < SENDERS; t++)
        pthread_join(th[t], NULL);
    long long failover = atomic_load(&l.first_ok_after_kill_ms) - atomic_load(&l.kill_ms);
    printf("nats leader kill: leader=n%d acked_before_kill=%llu acked=%llu failed=%llu "
           "failover_ms=%lld\n",
           leader, before, (unsigned long long)atomic_load(&l.acked),
           (unsigned long long)atomic_load(&l.failed), failover);
    fflush(stdout);
    cr_assert_gt(atomic_load(&l.first_ok_after_kill_ms), 0,
                 "no send was acknowledged after the kill");
    cr_assert_gt(atomic_load(&l.acked), before, "nothing acknowledged after the kill");
    cr_assert_eq(atomic_load(&l.failed), 0, "sends failed despite retries");

    /* Every acknowledged index is in the stream, read back from the two survivors. */
    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &nats, "audit", "load", n), 0);
    unsigned long long want = atomic_load(&l.acked);
    until = shop_now_ms() + 30000;
    while ((mqt_collector_distinct(&k) < want || mqt_collector_distinct(&live) < want) &&
           shop_now_ms() < until)
        shop_sleep_ms(50);
    quiesce(&k);
    quiesce(&live);
    size_t lost = 0, lost_live = 0;
    for (size_t i = 0; i < n; i++) {
        lost += l.acked_idx[i] && k.count[i] == 0;
        lost_live += l.acked_idx[i] && live.count[i] == 0;
    }
    cr_assert_eq(lost, 0, "%zu acknowledged messages missing", lost);
    cr_assert_eq(lost_live, 0, "the consumer connected across the kill missed %zu", lost_live);
    cr_assert_eq(k.corrupt + live.corrupt, 0);
    mqt_collector_stop(&k);
    mqt_collector_stop(&live);
    free(l.acked_idx);
}

/* ---- the whole cluster stopped and started ---- */

static int cli(const char *a, const char *b, const char *c, char *out, size_t len)
{
    const char *args[7] = {"mq", a, "--url", cluster.url};
    int n = 4;
    if (b != NULL)
        args[n++] = b;
    if (c != NULL)
        args[n++] = c;
    args[n] = NULL;
    return mqt_cli(args, out, len);
}

Test(mq_nats_cluster, streams_positions_and_dead_letters_survive_a_restart_of_the_whole_cluster,
     .init = up, .fini = down, .timeout = 120)
{
    mq_producer *p = producer(2000, 5);
    cr_assert_eq(mqt_send_range(p, "orders", 0, 100, 20, 64), 0);
    /* Group "billing" consumes the first 100. */
    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &nats, "billing", "orders", 300), 0);
    cr_assert_eq(mqt_collector_wait(&k, 100, 15000), 0);
    shop_sleep_ms(300); /* the acks reach the consumer's leader */
    mqt_collector_stop(&k);
    /* Group "refunds" refuses 5 messages of another topic until they are dead letters. */
    cr_assert_eq(mqt_send_range(p, "returns", 0, 5, 5, 64), 0);
    mqt_collector d = {.reconsume_later = 1};
    cr_assert_eq(mqt_collector_start(&d, &nats, "refunds", "returns", 5), 0);
    char out[8192];
    int64_t until = shop_now_ms() + 30000;
    do {
        shop_sleep_ms(200);
        cli("dlq", "refunds", NULL, out, sizeof out);
    } while (strstr(out, "total=5") == NULL && shop_now_ms() < until);
    quiesce(&d);
    cr_assert(strstr(out, "total=5") != NULL, "%s", out);
    cr_assert_eq(d.times_seen_max, 16, "17 deliveries before the DLQ, as RocketMQ");
    mqt_collector_stop(&d);
    cr_assert_eq(mqt_send_range(p, "orders", 100, 300, 50, 64), 0);
    mq_producer_close(p);

    nats_cluster_stop(&cluster);
    shop_error e = {0};
    cr_assert_eq(nats_cluster_start(&cluster, &e), RPC_OK, "%s", e.message);

    /* Streams: the 300 orders are there. */
    until = shop_now_ms() + 20000;
    do {
        shop_sleep_ms(200);
        cli("stats", NULL, NULL, out, sizeof out);
    } while (strstr(out, "orders ") == NULL && shop_now_ms() < until);
    cr_assert(strstr(out, "orders") != NULL, "%s", out);
    /* Positions: billing goes on from 100. */
    cr_assert_eq(mqt_collector_start(&k, &nats, "billing", "orders", 300), 0);
    cr_assert_eq(mqt_collector_wait(&k, 200, 30000), 0, "got %llu of the 200 new ones",
                 (unsigned long long)k.distinct);
    shop_sleep_ms(300);
    quiesce(&k);
    unsigned again = 0;
    for (size_t i = 0; i < 100; i++)
        again += k.count[i];
    for (size_t i = 100; i < 300; i++)
        cr_assert_geq(k.count[i], 1, "order %zu missing after the restart", i);
    cr_assert_eq(again, 0, "%u of the 100 consumed before were delivered again", again);
    mqt_collector_stop(&k);
    /* Dead letters: still 5, and re-driven to the group. */
    cr_assert_eq(cli("dlq", "refunds", NULL, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "total=5") != NULL, "%s", out);
    cr_assert_eq(cli("dlq", "refunds", "--redrive", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "redriven=5") != NULL, "%s", out);
    mqt_collector r = {0};
    cr_assert_eq(mqt_collector_start(&r, &nats, "refunds", "returns", 5), 0);
    cr_assert_eq(mqt_collector_wait(&r, 5, 15000), 0, "re-driven: got %llu",
                 (unsigned long long)r.distinct);
    mqt_collector_stop(&r);
    cr_assert_eq(cli("dlq", "refunds", NULL, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "total=0") != NULL, "%s", out);
}

/* ---- the launcher ---- */

Test(mq_nats_cluster, a_paused_node_stops_when_asked_and_comes_back_healthy, .init = up,
     .fini = down, .timeout = 60)
{
    shop_error e = {0};
    cr_assert(nats_cluster_node_healthy(&cluster, 2));
    cr_assert_eq(kill(cluster.nodes[2].pid, SIGSTOP), 0);
    int64_t t0 = shop_now_ms();
    cr_assert_eq(nats_cluster_node_stop(&cluster, 2, SIGTERM, &e), RPC_OK, "%s", e.message);
    cr_assert_lt(shop_now_ms() - t0, 10000, "the stop of a paused node hung");
    cr_assert_eq(cluster.nodes[2].pid, 0);
    cr_assert(!nats_cluster_node_healthy(&cluster, 2));
    cr_assert_eq(nats_cluster_node_start(&cluster, 2, &e), RPC_OK, "%s", e.message);
    cr_assert(nats_cluster_node_healthy(&cluster, 2));
}
