/* mq-delayd as a real process: levels, random delays never early, kill -9
 * with 10,000 pending, sink down at due time, cancel, refused input, stats.
 * Due messages go to an in-test mq_delay_receiver over real sockets. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "mq/mq_delay.h"
#include "mq_delay.pb-c.h"
#include "base/clock.h"
#include "base/status.h"
#include "tests/support/testsupport.h"

typedef struct arrival {
    int64_t at_us, due_us;
    uint64_t id;
    char key[32];
} arrival;

typedef struct inbox {
    pthread_mutex_t mu;
    arrival *a;
    size_t n, cap;
} inbox;

typedef struct world {
    ts_proc delayd;
    int port, sink_port;
    char url[64], sink_url[64], dir[128];
    mq_delay_client *client;
    mq_delay_receiver *rx;
    inbox in;
} world;

static world W;

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int on_delivery(const mq_delay_delivery *d, void *arg)
{
    inbox *in = arg;
    int64_t now = wall_us();
    if (strcmp(d->key, "poison") == 0) {
        return RPC_INVALID_ARGUMENT; /* this receiver will never take it */
    }
    pthread_mutex_lock(&in->mu);
    if (in->n == in->cap) {
        in->cap = in->cap ? in->cap * 2 : 1024;
        in->a = realloc(in->a, in->cap * sizeof *in->a);
    }
    arrival *a = &in->a[in->n++];
    a->at_us = now;
    a->due_us = d->due_us;
    a->id = d->id;
    snprintf(a->key, sizeof a->key, "%s", d->key);
    pthread_mutex_unlock(&in->mu);
    return RPC_OK;
}

static size_t arrived(void)
{
    pthread_mutex_lock(&W.in.mu);
    size_t n = W.in.n;
    pthread_mutex_unlock(&W.in.mu);
    return n;
}

static void start_receiver(void)
{
    shop_error err = {0};
    cr_assert_eq(mq_delay_receiver_start(W.sink_url, on_delivery, &W.in, &W.rx, &err), RPC_OK, "%s",
                 err.message);
}

static int port_ready(void *arg)
{
    (void)arg;
    mq_delay_stats s;
    shop_error err = {0};
    if (mq_delay_get_stats(W.client, &s, &err) != RPC_OK) {
        return 0;
    }
    mq_delay_stats_free(&s);
    return 1;
}

static void start_delayd(void)
{
    char *argv[] = {
        "mq-delayd", "--listen",          W.url,          "--data-dir", W.dir,
        "--sink",    W.sink_url,          "--segment-mb", "8",          "--max-backoff-ms",
        "100",       "--sink-timeout-ms", "500",          NULL};
    cr_assert_eq(ts_spawn(&W.delayd, argv), 0);
    cr_assert_eq(ts_wait_port(&W.delayd, W.port, 10000), 0, "mq-delayd did not come up");
    cr_assert_eq(ts_wait_until(&W.delayd, port_ready, NULL, 10000), 0);
}

static void setup(void)
{
    shop_error err = {0};
    memset(&W, 0, sizeof W);
    pthread_mutex_init(&W.in.mu, NULL);
    W.port = ts_free_port();
    W.sink_port = ts_free_port();
    while (W.sink_port == W.port) {
        W.sink_port = ts_free_port();
    }
    snprintf(W.url, sizeof W.url, "tcp://127.0.0.1:%d", W.port);
    snprintf(W.sink_url, sizeof W.sink_url, "tcp://127.0.0.1:%d", W.sink_port);
    snprintf(W.dir, sizeof W.dir, "%s/shopflow-delay-%d-%lld", ts_tmp_dir(), (int)getpid(),
             (long long)shop_now_us());
    cr_assert_eq(mq_delay_client_open(W.url, 5000, &W.client, &err), RPC_OK, "%s", err.message);
}

static void teardown(void)
{
    char cmd[256];
    if (W.delayd.pid > 0) {
        int code = ts_stop(&W.delayd, SIGTERM, 10000);
        if (code != 0) {
            ts_dump_log(&W.delayd);
        }
        cr_expect_eq(code, 0, "mq-delayd did not exit 0 on SIGTERM");
    }
    mq_delay_receiver_stop(W.rx);
    mq_delay_client_close(W.client);
    free(W.in.a);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", W.dir);
    cr_expect_eq(system(cmd), 0);
}

static int wait_count_arg;
static int enough_arrived(void *arg)
{
    (void)arg;
    return arrived() >= (size_t)wait_count_arg;
}

static int wait_arrivals(size_t n, int timeout_ms)
{
    wait_count_arg = (int)n;
    return ts_wait_until(NULL, enough_arrived, NULL, timeout_ms);
}

TestSuite(delay, .init = setup, .fini = teardown, .timeout = 120);

Test(delay, every_level_maps_to_its_rocketmq_delay)
{
    static const int64_t want_s[] = {1,   5,   10,  30,  60,  120,  180,  240,  300,
                                     360, 420, 480, 540, 600, 1200, 1800, 3600, 7200};
    shop_error err = {0};
    start_receiver();
    start_delayd();
    for (int level = 1; level <= MQ_DELAY_LEVELS; level++) {
        cr_expect_eq(mq_delay_level_ms(level), want_s[level - 1] * 1000, "level %d", level);
        mq_delay_result r;
        char key[16];
        snprintf(key, sizeof key, "L%d", level);
        int64_t before = wall_us();
        cr_assert_eq(mq_delay_send(W.client, "lv", key, "x", 1, 0, level, &r, &err), RPC_OK, "%s",
                     err.message);
        int64_t after = wall_us();
        cr_expect_geq(r.due_us, before + want_s[level - 1] * 1000000, "level %d early", level);
        cr_expect_leq(r.due_us, after + want_s[level - 1] * 1000000, "level %d late", level);
    }
    /* Level 1 really arrives after one second, not before. */
    cr_assert_eq(wait_arrivals(1, 5000), 0, "level 1 never arrived");
    cr_expect_str_eq(W.in.a[0].key, "L1");
    cr_expect_geq(W.in.a[0].at_us, W.in.a[0].due_us);
    for (int level = 2; level <= MQ_DELAY_LEVELS; level++) {
        char key[16];
        unsigned n = 0;
        snprintf(key, sizeof key, "L%d", level);
        cr_expect_eq(mq_delay_cancel(W.client, "lv", key, &n, &err), RPC_OK, "%s", err.message);
    }
}

Test(delay, bad_levels_and_delays_are_refused_with_invalid_argument)
{
    shop_error err = {0};
    mq_delay_result r;
    start_delayd();
    cr_expect_eq(mq_delay_level_ms(0), -1);
    cr_expect_eq(mq_delay_level_ms(19), -1);
    cr_expect_eq(mq_delay_send(W.client, "t", "k", "x", 1, 0, 19, &r, &err), RPC_INVALID_ARGUMENT);
    cr_expect_eq(mq_delay_send(W.client, "t", "k", "x", 1, 0, -3, &r, &err), RPC_INVALID_ARGUMENT);
    cr_expect_eq(
        mq_delay_send(W.client, "t", "k", "x", 1, MQ_DELAY_MAX_MS_DEFAULT + 1, 0, &r, &err),
        RPC_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "max-delay-ms") != NULL, "message was: %s", err.message);
    cr_expect_eq(mq_delay_send(W.client, "t", "k", "x", 1, -1, 0, &r, &err), RPC_INVALID_ARGUMENT);
    cr_expect_eq(mq_delay_send(W.client, "", "k", "x", 1, 10, 0, &r, &err), RPC_INVALID_ARGUMENT);
    cr_expect_eq(mq_delay_send(W.client, "%RETRY%g", "k", "x", 1, 10, 0, &r, &err),
                 RPC_INVALID_ARGUMENT);
    cr_expect_eq(mq_delay_send(W.client, "a\nb", "k", "x", 1, 10, 0, &r, &err),
                 RPC_INVALID_ARGUMENT);
    /* Bypassing the client check: the daemon refuses too, per message. */
    mq_delay_msg msgs[2] = {{"t", "a", "x", 1, 0, 42, NULL}, {"t", "b", "x", 1, 10, 0, NULL}};
    mq_delay_result res[2];
    cr_assert_eq(mq_delay_send_batch(W.client, msgs, 2, res, &err), RPC_OK);
    cr_expect_eq(res[0].status, RPC_INVALID_ARGUMENT);
    cr_expect_eq(res[1].status, RPC_OK);
    /* The longest delay itself is fine. */
    cr_expect_eq(mq_delay_send(W.client, "t", "max", "x", 1, MQ_DELAY_MAX_MS_DEFAULT, 0, &r, &err),
                 RPC_OK, "%s", err.message);
}

Test(delay, thousand_random_delays_all_arrive_and_none_early)
{
    enum { N = 1000 };
    static int64_t sent_at[N], delay_ms[N];
    shop_error err = {0};
    start_receiver();
    start_delayd();
    srand(12345);
    for (int i = 0; i < N; i++) {
        char key[16];
        mq_delay_result r;
        snprintf(key, sizeof key, "%d", i);
        delay_ms[i] = rand() % 3001;
        sent_at[i] = wall_us();
        cr_assert_eq(mq_delay_send(W.client, "rnd", key, "b", 1, delay_ms[i], 0, &r, &err), RPC_OK,
                     "%s", err.message);
    }
    cr_assert_eq(wait_arrivals(N, 20000), 0, "only %zu of %d arrived", arrived(), N);
    shop_sleep_ms(200); /* nothing more than N may come */
    cr_assert_eq(arrived(), N);
    static char seen[N];
    int64_t worst = 0;
    for (size_t i = 0; i < N; i++) {
        int k = atoi(W.in.a[i].key);
        cr_assert(k >= 0 && k < N && !seen[k], "duplicate or bad key %s", W.in.a[i].key);
        seen[k] = 1;
        int64_t due = sent_at[k] + delay_ms[k] * 1000;
        cr_expect_geq(W.in.a[i].at_us, due, "key %d arrived %lld us early", k,
                      (long long)(due - W.in.a[i].at_us));
        if (W.in.a[i].at_us - W.in.a[i].due_us > worst) {
            worst = W.in.a[i].at_us - W.in.a[i].due_us;
        }
    }
    /* Lateness is a benchmark figure; here only a gross bound on a shared box. */
    cr_expect_lt(worst, 2000000, "worst lateness %lld us", (long long)worst);
}

Test(delay, kill_9_with_10000_pending_then_restart_delivers_all_oldest_first)
{
    enum { N = 10000, BATCH = 500 };
    static mq_delay_msg msgs[BATCH];
    static mq_delay_result res[BATCH];
    static char keys[N][16];
    static char seen[N];
    shop_error err = {0};
    start_receiver();
    start_delayd();
    for (int b = 0; b < N / BATCH; b++) {
        for (int i = 0; i < BATCH; i++) {
            int k = b * BATCH + i;
            snprintf(keys[k], sizeof keys[k], "%d", k);
            /* Due between 1.0 and 2.0 s from now, not in send order. */
            msgs[i] = (mq_delay_msg){
                "crash", keys[k], keys[k], strlen(keys[k]), 1000 + (k * 7919) % 1000, 0, NULL};
        }
        cr_assert_eq(mq_delay_send_batch(W.client, msgs, BATCH, res, &err), RPC_OK, "%s",
                     err.message);
        for (int i = 0; i < BATCH; i++) {
            cr_assert_eq(res[i].status, RPC_OK);
        }
    }
    ts_stop(&W.delayd, SIGKILL, 5000);
    size_t before = arrived();
    shop_sleep_ms(2200); /* everything falls due while the daemon is dead */
    cr_assert_eq(arrived(), before);
    int64_t restart = wall_us();
    start_delayd();
    cr_assert_eq(wait_arrivals(N, 60000), 0, "only %zu of %d arrived", arrived(), N);
    size_t unique = 0;
    for (size_t i = 0; i < arrived(); i++) {
        int k = atoi(W.in.a[i].key);
        cr_assert(k >= 0 && k < N);
        unique += !seen[k];
        seen[k] = 1;
    }
    cr_expect_eq(unique, N);
    /* The overdue ones came at once and oldest first. */
    int64_t prev_due = 0;
    for (size_t i = before; i < arrived(); i++) {
        if (W.in.a[i].at_us < restart) {
            continue;
        }
        cr_expect_geq(W.in.a[i].due_us, prev_due, "arrival %zu out of due order", i);
        prev_due = W.in.a[i].due_us;
    }
}

Test(delay, sink_down_at_due_time_retries_until_delivered)
{
    enum { N = 200 };
    shop_error err = {0};
    start_delayd(); /* no receiver yet: the sink is down */
    for (int i = 0; i < N; i++) {
        char key[16];
        mq_delay_result r;
        snprintf(key, sizeof key, "%d", i);
        cr_assert_eq(mq_delay_send(W.client, "down", key, "b", 1, 100, 0, &r, &err), RPC_OK, "%s",
                     err.message);
    }
    shop_sleep_ms(1500); /* past the sink's ack timeout: failures are counted */
    mq_delay_stats s;
    cr_assert_eq(mq_delay_get_stats(W.client, &s, &err), RPC_OK, "%s", err.message);
    cr_expect_eq(s.pending, N, "nothing is dropped while the sink is down");
    mq_delay_stats_free(&s);
    start_receiver();
    cr_assert_eq(wait_arrivals(N, 20000), 0, "only %zu of %d arrived", arrived(), N);
    cr_assert_eq(mq_delay_get_stats(W.client, &s, &err), RPC_OK, "%s", err.message);
    cr_expect_eq(s.pending, 0);
    cr_expect_gt(s.sink_failures, 0);
    mq_delay_stats_free(&s);
}

Test(delay, cancel_removes_a_pending_message_and_a_late_cancel_is_not_found)
{
    shop_error err = {0};
    unsigned n = 0;
    mq_delay_result r;
    start_receiver();
    start_delayd();
    cr_assert_eq(mq_delay_send(W.client, "order.timeout", "o-1", "a", 1, 600, 0, &r, &err), RPC_OK,
                 "%s", err.message);
    cr_assert_eq(mq_delay_send(W.client, "order.timeout", "o-2", "b", 1, 100, 0, &r, &err), RPC_OK,
                 "%s", err.message);
    cr_expect_eq(mq_delay_cancel(W.client, "order.timeout", "o-1", &n, &err), RPC_OK, "%s",
                 err.message);
    cr_expect_eq(n, 1);
    cr_assert_eq(wait_arrivals(1, 5000), 0);
    shop_sleep_ms(900);
    cr_expect_eq(arrived(), 1, "the cancelled message was delivered");
    cr_expect_str_eq(W.in.a[0].key, "o-2");
    cr_expect_eq(mq_delay_cancel(W.client, "order.timeout", "o-2", &n, &err), RPC_NOT_FOUND);
    cr_expect_eq(mq_delay_cancel(W.client, "order.timeout", "o-1", &n, &err), RPC_NOT_FOUND);
    cr_expect_eq(mq_delay_cancel(W.client, "order.timeout", "", &n, &err), RPC_INVALID_ARGUMENT);
}

Test(delay, cancel_survives_a_crash)
{
    shop_error err = {0};
    unsigned n = 0;
    mq_delay_result r;
    start_receiver();
    start_delayd();
    cr_assert_eq(mq_delay_send(W.client, "t", "gone", "a", 1, 300, 0, &r, &err), RPC_OK);
    cr_assert_eq(mq_delay_send(W.client, "t", "kept", "b", 1, 300, 0, &r, &err), RPC_OK);
    cr_assert_eq(mq_delay_cancel(W.client, "t", "gone", &n, &err), RPC_OK);
    ts_stop(&W.delayd, SIGKILL, 5000);
    start_delayd();
    cr_assert_eq(wait_arrivals(1, 5000), 0);
    shop_sleep_ms(500);
    cr_expect_eq(arrived(), 1);
    cr_expect_str_eq(W.in.a[0].key, "kept");
}

Test(delay, stats_show_pending_per_topic_next_due_and_lateness)
{
    shop_error err = {0};
    mq_delay_result r;
    mq_delay_stats s;
    start_receiver();
    start_delayd();
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(mq_delay_send(W.client, "a", NULL, "x", 1, 60000, 0, &r, &err), RPC_OK);
    }
    cr_assert_eq(mq_delay_send(W.client, "b", NULL, "x", 1, 30000, 0, &r, &err), RPC_OK);
    cr_assert_eq(mq_delay_send(W.client, "c", NULL, "x", 1, 0, 0, &r, &err), RPC_OK);
    cr_assert_eq(wait_arrivals(1, 5000), 0);
    shop_sleep_ms(100);
    cr_assert_eq(mq_delay_get_stats(W.client, &s, &err), RPC_OK, "%s", err.message);
    cr_expect_eq(s.pending, 4);
    cr_expect_eq(s.delivered, 1);
    cr_expect_eq(s.lateness_samples, 1);
    int found = 0;
    for (size_t i = 0; i < s.n_topics; i++) {
        if (strcmp(s.topics[i].topic, "a") == 0) {
            cr_expect_eq(s.topics[i].pending, 3);
            found++;
        } else if (strcmp(s.topics[i].topic, "b") == 0) {
            cr_expect_eq(s.topics[i].pending, 1);
            cr_expect_eq(s.topics[i].next_due_us, s.next_due_us);
            found++;
        }
    }
    cr_expect_eq(found, 2, "topics a and b are listed, c (delivered) is not");
    mq_delay_stats_free(&s);
    char buf[4096] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    cr_assert_eq(mq_delay_print_stats(W.url, f), RPC_OK);
    fclose(f);
    cr_expect(strstr(buf, "lateness") != NULL && strstr(buf, "a ") != NULL, "%s", buf);
}

/* Appends a torn record (length says 100, CRC wrong, half written) after
 * the last valid record of the newest segment in dir. */
static void tear_tail(const char *dir)
{
    char path[512];
    unsigned newest = 0;
    for (unsigned no = 1; no < 100; no++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%010u.dlog", dir, no);
        if (stat(path, &st) == 0 && st.st_size > 0) {
            newest = no;
        }
    }
    cr_assert_gt(newest, 0, "no segment in %s", dir);
    snprintf(path, sizeof path, "%s/%010u.dlog", dir, newest);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    uint32_t len = 0;
    long off = 0;
    while (fseek(f, off, SEEK_SET) == 0 && fread(&len, 4, 1, f) == 1 && len != 0) {
        off += 8 + (long)len;
    }
    uint8_t torn[58] = {100, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3};
    cr_assert_eq(fseek(f, off, SEEK_SET), 0);
    cr_assert_eq(fwrite(torn, sizeof torn, 1, f), 1);
    fclose(f);
}

Test(delay, a_torn_tail_after_kill_9_is_skipped_and_acknowledged_messages_survive)
{
    enum { N = 50 };
    shop_error err = {0};
    start_receiver();
    start_delayd();
    for (int i = 0; i < N; i++) {
        char key[16];
        mq_delay_result r;
        snprintf(key, sizeof key, "%d", i);
        cr_assert_eq(mq_delay_send(W.client, "torn", key, "b", 1, 400, 0, &r, &err), RPC_OK, "%s",
                     err.message);
    }
    ts_stop(&W.delayd, SIGKILL, 5000);
    tear_tail(W.dir);
    start_delayd();
    cr_assert_eq(wait_arrivals(N, 10000), 0, "only %zu of %d arrived", arrived(), N);
    /* New sends after the torn tail are durable too (a fresh segment). */
    mq_delay_result r;
    cr_assert_eq(mq_delay_send(W.client, "torn", "after", "b", 1, 0, 0, &r, &err), RPC_OK);
    cr_assert_eq(wait_arrivals(N + 1, 5000), 0);
}

Test(delay, garbage_requests_get_a_clear_status_and_the_daemon_keeps_serving)
{
    nng_socket s;
    shop_error err = {0};
    mq_delay_result r;
    start_delayd();
    cr_assert_eq(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
    cr_assert_eq(nng_dial(s, W.url, NULL, 0), 0);
    srand(99);
    for (int i = 0; i < 200; i++) {
        uint8_t junk[64];
        size_t len = (size_t)(rand() % (int)sizeof junk);
        for (size_t k = 0; k < len; k++) {
            junk[k] = (uint8_t)rand();
        }
        cr_assert_eq(nng_send(s, junk, len, 0), 0);
        nng_msg *m = NULL;
        cr_assert_eq(nng_recvmsg(s, &m, 0), 0, "no answer to junk %d", i);
        Shop__Mq__Delay__Reply *rep =
            shop__mq__delay__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
        cr_assert_not_null(rep);
        cr_expect_neq(rep->status, RPC_OK, "junk %d accepted", i);
        cr_expect(rep->status == RPC_INVALID_ARGUMENT || rep->status == RPC_UNIMPLEMENTED ||
                      rep->status == RPC_NOT_FOUND,
                  "status %d", rep->status);
        shop__mq__delay__reply__free_unpacked(rep, NULL);
        nng_msg_free(m);
    }
    nng_close(s);
    cr_expect_eq(mq_delay_send(W.client, "t", "k", "x", 1, 10, 0, &r, &err), RPC_OK, "%s",
                 err.message);
}

static void start_delayd_small_segments(void)
{
    char *argv[] = {"mq-delayd", "--listen",     W.url, "--data-dir",       W.dir, "--sink",
                    W.sink_url,  "--segment-mb", "1",   "--max-backoff-ms", "100", NULL};
    cr_assert_eq(ts_spawn(&W.delayd, argv), 0);
    cr_assert_eq(ts_wait_port(&W.delayd, W.port, 10000), 0, "mq-delayd did not come up");
    cr_assert_eq(ts_wait_until(&W.delayd, port_ready, NULL, 10000), 0);
}

static int few_segments(void *arg)
{
    mq_delay_stats s;
    shop_error err = {0};
    (void)arg;
    if (mq_delay_get_stats(W.client, &s, &err) != RPC_OK) {
        return 0;
    }
    int ok = s.segments <= 2;
    mq_delay_stats_free(&s);
    return ok;
}

Test(delay, a_long_delayed_message_does_not_pin_old_segments_and_survives_their_compaction)
{
    enum { N = 12000, BATCH = 500 };
    static mq_delay_msg msgs[BATCH];
    static mq_delay_result res[BATCH];
    static char body[256];
    shop_error err = {0};
    mq_delay_result r;
    mq_delay_stats s;
    unsigned n = 0;
    start_receiver();
    start_delayd_small_segments();
    cr_assert_eq(mq_delay_send(W.client, "t", "long", "L", 1, 600000, 0, &r, &err), RPC_OK);
    for (int b = 0; b < N / BATCH; b++) {
        for (int i = 0; i < BATCH; i++) {
            msgs[i] = (mq_delay_msg){"t", NULL, body, sizeof body, 10, 0, NULL};
        }
        cr_assert_eq(mq_delay_send_batch(W.client, msgs, BATCH, res, &err), RPC_OK);
    }
    cr_assert_eq(wait_arrivals(N, 30000), 0, "only %zu of %d arrived", arrived(), N);
    /* ~3.5 MB of short-lived records in 1 MB segments; only the active one
     * (holding the copy of "long") and at most one more may stay. */
    cr_expect_eq(ts_wait_until(&W.delayd, few_segments, NULL, 10000), 0, "old segments stay");
    shop_sleep_ms(200); /* delivered marks are synced within 20 ms */
    ts_stop(&W.delayd, SIGKILL, 5000);
    start_delayd_small_segments();
    cr_assert_eq(mq_delay_get_stats(W.client, &s, &err), RPC_OK);
    cr_expect_eq(s.pending, 1, "the moved message is pending exactly once after a crash");
    mq_delay_stats_free(&s);
    cr_expect_eq(mq_delay_cancel(W.client, "t", "long", &n, &err), RPC_OK, "%s", err.message);
    cr_expect_eq(n, 1);
    shop_sleep_ms(200);
    cr_expect_eq(arrived(), N, "nothing else was delivered again");
}

Test(delay, a_message_the_sink_refuses_is_parked_and_does_not_hold_up_the_others)
{
    enum { N = 20 };
    shop_error err = {0};
    mq_delay_result r;
    mq_delay_stats s;
    unsigned n = 0;
    start_receiver();
    start_delayd();
    cr_assert_eq(mq_delay_send(W.client, "t", "poison", "p", 1, 0, 0, &r, &err), RPC_OK);
    for (int i = 0; i < N; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        cr_assert_eq(mq_delay_send(W.client, "t", key, "b", 1, 50, 0, &r, &err), RPC_OK);
    }
    cr_assert_eq(wait_arrivals(N, 10000), 0, "only %zu of %d arrived", arrived(), N);
    cr_assert_eq(mq_delay_get_stats(W.client, &s, &err), RPC_OK);
    cr_expect_eq(s.pending, 1, "the refused message is kept, not dropped");
    cr_expect_geq(s.sink_failures, 1);
    mq_delay_stats_free(&s);
    cr_expect_eq(mq_delay_cancel(W.client, "t", "poison", &n, &err), RPC_OK, "%s", err.message);
}
