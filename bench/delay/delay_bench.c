/* delay-bench: figures for mq-delayd, printed as key=value lines.
 *  1. baseline: one writer doing pwrite(256 B) + fdatasync into a
 *     preallocated, synced file (what one durable append costs here);
 *  2. durable delayed-send throughput with batching and several senders,
 *     filling the queue with --pending messages of 256 B (due in an hour);
 *  3. resident memory of mq-delayd with those messages pending;
 *  4. recovery time: kill -9, restart, until it answers with all pending;
 *  5. delivery lateness at --rate due per second, measured where messages
 *     arrive: at an mq_delay_receiver, and through mq-broker at a consumer.
 * mq-delayd runs as a child process from the same bin directory. */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mq/mq.h"
#include "mq/mq_delay.h"
#include "base/clock.h"
#include "base/hist.h"
#include "base/tmpdir.h"
#include "base/spawn.h"
#include "base/status.h"
#include "base/version.h"

#define BODY 256

typedef struct bench_cfg {
    long pending;
    int threads, batch, rate, seconds;
    char dir[PATH_MAX];
} bench_cfg;

static bench_cfg cfg = {1000000, 4, 256, 2000, 5, ""};
static char bin_dir[PATH_MAX];

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Percentile q (0..1) of a histogram of the project's kind (base/hist.h). */
static int64_t pct(const shop_hist *h, double q)
{
    return shop_hist_percentile(h, q * 100.0);
}

/* ---- 1. raw baseline ---- */

static void baseline(void)
{
    enum { N = 2000 };
    static shop_hist lat;
    shop_hist_reset(&lat);
    char path[PATH_MAX + 16];
    static char buf[1 << 16], rec[BODY];
    snprintf(path, sizeof path, "%s/baseline.dat", cfg.dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror("baseline");
        return;
    }
    for (off_t off = 0; off < (off_t)N * BODY; off += sizeof buf) {
        if (pwrite(fd, buf, sizeof buf, off) != (ssize_t)sizeof buf) {
            perror("baseline prealloc");
        }
    }
    fdatasync(fd);
    int64_t t0 = shop_now_us();
    for (int i = 0; i < N; i++) {
        int64_t s = shop_now_us();
        if (pwrite(fd, rec, sizeof rec, (off_t)i * BODY) != (ssize_t)sizeof rec || fdatasync(fd)) {
            perror("baseline write");
        }
        shop_hist_record(&lat, shop_now_us() - s);
    }
    int64_t total = shop_now_us() - t0;
    close(fd);
    unlink(path);
    printf("baseline_write_fdatasync_p50_us=%lld\n", (long long)pct(&lat, 0.5));
    printf("baseline_write_fdatasync_p99_us=%lld\n", (long long)pct(&lat, 0.99));
    printf("baseline_durable_appends_per_s=%.0f\n", N / (total / 1e6));
}

/* ---- the daemon ---- */

typedef struct daemon {
    pid_t pid;
    char url[128], sink_url[128], data[PATH_MAX + 16];
    const char *broker_url; /* when set, due messages go to mq-broker instead */
} daemon_t;

/* Starts bin_dir/argv[0] with its output appended to cfg.dir/log_name. */
static pid_t spawn_argv(const char *log_name, char *const argv[])
{
    char exe[PATH_MAX + 16], log[PATH_MAX + 64];
    snprintf(exe, sizeof exe, "%s/%s", bin_dir, argv[0]);
    snprintf(log, sizeof log, "%s/%s", cfg.dir, log_name);
    shop_error err = {0};
    shop_spawn_opts so = {.exec_path = exe, .log_path = log};
    pid_t pid = -1;
    if (shop_spawn(argv, &so, &pid, &err) != RPC_OK)
        fprintf(stderr, "delay-bench: %s\n", err.message);
    return pid;
}

static void spawn(daemon_t *d, const char *log_name)
{
    char *argv[] = {"mq-delayd",
                    "--listen",
                    d->url,
                    d->broker_url ? "--broker" : "--sink",
                    d->broker_url ? (char *)d->broker_url : d->sink_url,
                    "--data-dir",
                    d->data,
                    NULL};
    d->pid = spawn_argv(log_name, argv);
}

static void stop(daemon_t *d, int sig)
{
    if (d->pid > 0) {
        kill(d->pid, sig);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
    }
}

/* Polls stats until the daemon answers with at least `pending`; returns µs waited. */
static int64_t wait_ready(mq_delay_client *c, uint64_t pending)
{
    int64_t t0 = shop_now_us();
    for (;;) {
        mq_delay_stats s;
        shop_error err = {0};
        if (mq_delay_get_stats(c, &s, &err) == RPC_OK) {
            uint64_t got = s.pending;
            mq_delay_stats_free(&s);
            if (got >= pending) {
                return shop_now_us() - t0;
            }
        }
        if (shop_now_us() - t0 > 120 * 1000000LL) {
            return -1;
        }
        shop_sleep_ms(2);
    }
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) {
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    return kb;
}

/* ---- 2. send throughput ---- */

typedef struct sender {
    mq_delay_client *c;
    long from, to;
    int64_t delay_ms;
    long failed;
} sender;

static void *send_range(void *arg)
{
    sender *s = arg;
    mq_delay_msg *msgs = calloc((size_t)cfg.batch, sizeof *msgs);
    mq_delay_result *res = calloc((size_t)cfg.batch, sizeof *res);
    char(*keys)[24] = calloc((size_t)cfg.batch, sizeof *keys);
    static const char body[BODY];
    shop_error err = {0};
    for (long i = s->from; msgs && res && keys && i < s->to; i += cfg.batch) {
        int n = (int)(s->to - i < cfg.batch ? s->to - i : cfg.batch);
        for (int k = 0; k < n; k++) {
            snprintf(keys[k], sizeof keys[k], "k%ld", i + k);
            msgs[k] = (mq_delay_msg){"bench", keys[k], body, BODY, s->delay_ms, 0, NULL};
        }
        if (mq_delay_send_batch(s->c, msgs, (size_t)n, res, &err) != RPC_OK) {
            s->failed += n;
        }
    }
    free(msgs);
    free(res);
    free(keys);
    return NULL;
}

static void fill_and_recover(daemon_t *d, mq_delay_client *c)
{
    pthread_t th[64];
    sender s[64];
    int t = cfg.threads;
    long per = (cfg.pending + t - 1) / t, failed = 0;
    int64_t t0 = shop_now_us();
    for (int i = 0; i < t; i++) {
        s[i] = (sender){c, i * per, (i + 1) * per < cfg.pending ? (i + 1) * per : cfg.pending,
                        3600 * 1000, 0};
        pthread_create(&th[i], NULL, send_range, &s[i]);
    }
    for (int i = 0; i < t; i++) {
        pthread_join(th[i], NULL);
        failed += s[i].failed;
    }
    double secs = (shop_now_us() - t0) / 1e6;
    printf("send_messages=%ld send_failed=%ld send_threads=%d send_batch=%d body_bytes=%d\n",
           cfg.pending, failed, t, cfg.batch, BODY);
    printf("send_throughput_msgs_per_s=%.0f\n", (double)(cfg.pending - failed) / secs);
    fflush(stdout);

    shop_sleep_ms(500);
    printf("rss_mb_with_pending=%.1f pending=%ld\n", rss_kb(d->pid) / 1024.0, cfg.pending - failed);
    fflush(stdout);

    stop(d, SIGKILL);
    int64_t r0 = shop_now_us();
    spawn(d, "delayd-recover.log");
    int64_t waited = wait_ready(c, (uint64_t)(cfg.pending - failed));
    printf("recovery_s_with_pending=%.3f (kill -9, restart, until it answers with all pending)\n",
           waited < 0 ? -1.0 : (shop_now_us() - r0) / 1e6);
    printf("rss_mb_after_recovery=%.1f\n", rss_kb(d->pid) / 1024.0);
    fflush(stdout);
}

/* ---- 5. lateness where the messages arrive ---- */

/* Message i is due at due[i] (as mq-delayd stamped it) and first seen at
 * seen[i], by the Delivery receiver or by a consumer of the broker. */
typedef struct lateness {
    pthread_mutex_t mu;
    int64_t *due, *seen;
    size_t total, received, dups;
} lateness;

static lateness lat = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0, 0, 0};

static void arrived(const char *key)
{
    int64_t now = wall_us();
    long i = key ? atol(key) : -1;
    pthread_mutex_lock(&lat.mu);
    if (i >= 0 && (size_t)i < lat.total && lat.seen[i] == 0) {
        lat.seen[i] = now;
        lat.received++;
    } else {
        lat.dups++;
    }
    pthread_mutex_unlock(&lat.mu);
}

static int on_delivery(const mq_delay_delivery *dv, void *arg)
{
    (void)arg;
    arrived(dv->key);
    return RPC_OK;
}

static mq_consume_result on_consume(const mq_msg *m, void *arg)
{
    (void)arg;
    arrived(m->key);
    return MQ_CONSUME_SUCCESS;
}

/* Sends rate*seconds messages due evenly spread from 1.5 s on, waits for them
 * and prints lateness percentiles under `label`. */
static void measure_lateness(mq_delay_client *c, const char *label)
{
    size_t total = (size_t)cfg.rate * (size_t)cfg.seconds;
    int64_t step_us = 1000000 / cfg.rate;
    int64_t t0 = wall_us() + 1500000;
    static const char body[BODY];
    mq_delay_msg msgs[256];
    mq_delay_result res[256];
    char keys[256][24];
    shop_error err = {0};
    pthread_mutex_lock(&lat.mu);
    free(lat.due);
    free(lat.seen);
    lat.due = calloc(total, sizeof *lat.due);
    lat.seen = calloc(total, sizeof *lat.seen);
    lat.total = lat.due && lat.seen ? total : 0;
    lat.received = lat.dups = 0;
    pthread_mutex_unlock(&lat.mu);
    for (size_t i = 0; i < lat.total; i += 256) {
        size_t n = total - i < 256 ? total - i : 256;
        int64_t now = wall_us();
        for (size_t k = 0; k < n; k++) {
            int64_t due = t0 + (int64_t)(i + k) * step_us;
            snprintf(keys[k], sizeof keys[k], "%zu", i + k);
            msgs[k] =
                (mq_delay_msg){"late", keys[k], body, BODY, (due - now + 999) / 1000, 0, NULL};
        }
        if (mq_delay_send_batch(c, msgs, n, res, &err) != RPC_OK) {
            fprintf(stderr, "delay-bench: send: %s\n", err.message);
        }
        pthread_mutex_lock(&lat.mu);
        for (size_t k = 0; k < n; k++) {
            lat.due[i + k] = res[k].due_us;
        }
        pthread_mutex_unlock(&lat.mu);
    }
    int64_t until = shop_now_ms() + (int64_t)cfg.seconds * 1000 + 15000;
    for (;;) {
        pthread_mutex_lock(&lat.mu);
        size_t n = lat.received;
        pthread_mutex_unlock(&lat.mu);
        if (n >= lat.total || shop_now_ms() > until) {
            break;
        }
        shop_sleep_ms(50);
    }
    mq_delay_stats st;
    if (mq_delay_get_stats(c, &st, &err) == RPC_OK) {
        printf("%s_delayd_dispatch_p50_us=%lld %s_delayd_dispatch_p99_us=%lld "
               "(%llu since it started, as mq-delayd sees it)\n",
               label, (long long)st.lateness_p50_us, label, (long long)st.lateness_p99_us,
               (unsigned long long)st.lateness_samples);
        mq_delay_stats_free(&st);
    }
    pthread_mutex_lock(&lat.mu);
    shop_hist *late = malloc(sizeof *late); /* early arrivals count as 0 here */
    size_t early = 0;
    if (late != NULL)
        shop_hist_reset(late);
    for (size_t i = 0; late && i < lat.total; i++) {
        if (lat.seen[i]) {
            shop_hist_record(late, lat.seen[i] - lat.due[i]);
            early += lat.seen[i] < lat.due[i];
        }
    }
    printf("%s_rate_per_s=%d %s_messages=%zu received=%zu duplicates=%zu early=%zu\n", label,
           cfg.rate, label, lat.total, lat.received, lat.dups, early);
    pthread_mutex_unlock(&lat.mu);
    printf("%s_p50_us=%lld %s_p99_us=%lld %s_max_us=%lld\n", label,
           (long long)(late ? pct(late, 0.5) : 0), label, (long long)(late ? pct(late, 0.99) : 0),
           label, (long long)(late && late->count ? late->max : 0));
    fflush(stdout);
    free(late);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: delay-bench [--pending N] [--threads T] [--batch B] [--rate R]\n"
                 "                   [--seconds S] [--dir DIR]\n"
                 "Prints key=value figures for mq-delayd (see bench/delay/README.md).\n");
}

static int parse(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pending", required_argument, NULL, 'p'}, {"threads", required_argument, NULL, 't'},
        {"batch", required_argument, NULL, 'b'},   {"rate", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'}, {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    int ch;
    snprintf(cfg.dir, sizeof cfg.dir, "%s/delay-bench-%d", shop_tmp_dir(), (int)getpid());
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            cfg.pending = atol(optarg);
            break;
        case 't':
            cfg.threads = atoi(optarg);
            break;
        case 'b':
            cfg.batch = atoi(optarg);
            break;
        case 'r':
            cfg.rate = atoi(optarg);
            break;
        case 's':
            cfg.seconds = atoi(optarg);
            break;
        case 'd':
            snprintf(cfg.dir, sizeof cfg.dir, "%s", optarg);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (cfg.pending < 0 || cfg.threads < 1 || cfg.threads > 64 || cfg.batch < 1 || cfg.rate < 1 ||
        cfg.rate > 1000000 || cfg.seconds < 1) {
        fprintf(stderr, "delay-bench: bad arguments\n");
        return -1;
    }
    return 0;
}

static void setup_daemon(daemon_t *d, const char *name)
{
    memset(d, 0, sizeof *d);
    snprintf(d->url, sizeof d->url, "ipc://%s/delay-bench-%d-%s.sock", shop_tmp_dir(),
             (int)getpid(), name);
    snprintf(d->sink_url, sizeof d->sink_url, "ipc://%s/delay-bench-%d-%s-sink.sock",
             shop_tmp_dir(), (int)getpid(), name);
    snprintf(d->data, sizeof d->data, "%s/%s", cfg.dir, name);
}

/* Lateness through mq-broker, measured at a real consumer of the topic. */
static void lateness_via_broker(void)
{
    char burl[128], pub[128], bdir[PATH_MAX + 16], exe[PATH_MAX + 16];
    shop_error err = {0};
    const char *topics[] = {"late"};
    daemon_t d;
    mq_delay_client *c = NULL;
    mq_consumer *con = NULL;
    snprintf(exe, sizeof exe, "%s/mq-broker", bin_dir);
    if (access(exe, X_OK) != 0) {
        printf("broker_lateness=skipped (no mq-broker next to delay-bench)\n");
        return;
    }
    snprintf(burl, sizeof burl, "ipc://%s/delay-bench-%d-broker.sock", shop_tmp_dir(),
             (int)getpid());
    snprintf(pub, sizeof pub, "ipc://%s/delay-bench-%d-pub.sock", shop_tmp_dir(), (int)getpid());
    snprintf(bdir, sizeof bdir, "%s/broker", cfg.dir);
    char *argv[] = {"mq-broker", "--url", burl, "--pub-url", pub, "--data-dir", bdir, NULL};
    pid_t broker = spawn_argv("broker.log", argv);
    setup_daemon(&d, "viabroker");
    d.broker_url = burl;
    spawn(&d, "delayd-viabroker.log");
    mq_consumer_opts o = {0};
    o.url = burl;
    o.pub_url = pub;
    int64_t until = shop_now_ms() + 10000;
    rpc_status st = RPC_UNAVAILABLE;
    while (st != RPC_OK && shop_now_ms() < until) {
        if (con) {
            mq_consumer_close(con);
            con = NULL;
        }
        st = mq_consumer_open("bench", topics, 1, on_consume, NULL, &o, &con, &err);
        if (st == RPC_OK) {
            st = mq_consumer_start(con, &err);
        }
        if (st != RPC_OK) {
            shop_sleep_ms(100);
        }
    }
    if (st == RPC_OK && mq_delay_client_open(d.url, 10000, &c, &err) == RPC_OK) {
        wait_ready(c, 0);
        measure_lateness(c, "broker_lateness");
    } else {
        fprintf(stderr, "delay-bench: broker phase: %s\n", err.message);
    }
    stop(&d, SIGTERM);
    mq_delay_client_close(c);
    if (con) {
        mq_consumer_close(con);
    }
    kill(broker, SIGTERM);
    waitpid(broker, NULL, 0);
}

int main(int argc, char **argv)
{
    if (shop_version_asked(argc, argv, "delay-bench"))
        return 0;
    char self[PATH_MAX], cmd[PATH_MAX + 32];
    shop_error err = {0};
    daemon_t d;
    mq_delay_client *c = NULL;
    mq_delay_receiver *rx = NULL;
    if (parse(argc, argv) != 0) {
        return 2;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) {
        *slash = '\0';
    }
    snprintf(bin_dir, sizeof bin_dir, "%s", self);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", cfg.dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "delay-bench: cannot create %s\n", cfg.dir);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    baseline();
    fflush(stdout);

    /* Lateness on an empty queue, measured where the messages arrive. */
    setup_daemon(&d, "late");
    if (mq_delay_receiver_start(d.sink_url, on_delivery, NULL, &rx, &err) ||
        mq_delay_client_open(d.url, 10000, &c, &err)) {
        fprintf(stderr, "delay-bench: %s\n", err.message);
        return 1;
    }
    spawn(&d, "delayd-late.log");
    wait_ready(c, 0);
    measure_lateness(c, "lateness");
    stop(&d, SIGTERM);
    mq_delay_client_close(c);
    mq_delay_receiver_stop(rx);
    lateness_via_broker();

    /* Throughput, memory and recovery with many pending. */
    setup_daemon(&d, "fill");
    if (mq_delay_client_open(d.url, 30000, &c, &err)) {
        fprintf(stderr, "delay-bench: %s\n", err.message);
        return 1;
    }
    spawn(&d, "delayd-fill.log");
    wait_ready(c, 0);
    fill_and_recover(&d, c);
    stop(&d, SIGTERM);
    mq_delay_client_close(c);
    free(lat.due);
    free(lat.seen);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cfg.dir);
    return system(cmd) == 0 ? 0 : 1;
}
