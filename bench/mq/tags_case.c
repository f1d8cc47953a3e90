/* The tag filter case: a topic holds n messages with tags T0..T9 in turn;
 * a group subscribed to "*" consumes all of it, a group subscribed to "T3"
 * its tenth (the broker skips the rest). Each group's rate is its share
 * over the time from its first message to the last of its share (the
 * subscription's setup, the same for both, is printed apart: with_setup
 * counts from the consumer's open); rounds alternate which group goes
 * first and use fresh groups (a new group reads from the start). */
#include "bench/mq/bench.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/clock.h"
#include "mq/mq.h"

#define TAGS 10

/* One group's consumption: messages handled, and when the first and the
 * share-th were (set on the consumer's thread). */
typedef struct share_clock {
    atomic_long seen;
    long share;
    _Atomic int64_t first_ns, last_ns;
} share_clock;

static mq_consume_result count_one(const mq_msg *m, void *arg)
{
    (void)m;
    share_clock *k = arg;
    long n = atomic_fetch_add(&k->seen, 1) + 1;
    if (n == 1)
        atomic_store(&k->first_ns, shop_now_ns());
    if (n == k->share)
        atomic_store(&k->last_ns, shop_now_ns());
    return MQ_CONSUME_SUCCESS;
}

/* Seconds of a group's consumption: from the consumer's open (setup
 * included) and from its first message to its last (steady). */
typedef struct share_time {
    double total, steady;
} share_time;

/* Fills the topic with async sends (tags in turn); returns the messages stored. */
static long fill(const mqb_opts *o, const char *url, long n)
{
    mq_producer *p;
    if (mq_producer_open(url, NULL, &p) != RPC_OK)
        return 0;
    char *body = calloc(1, o->size);
    char tags[TAGS][4];
    for (int t = 0; t < TAGS; t++)
        snprintf(tags[t], sizeof tags[t], "T%d", t);
    long refused = 0;
    for (long i = 0; i < n; i++) {
        mq_send_opts so = {.tag = tags[i % TAGS]};
        refused +=
            mq_producer_send_async(p, "bench-tags", NULL, body, o->size, &so, NULL, NULL) != RPC_OK;
    }
    mq_producer_flush(p, 0);
    mq_producer_close(p);
    free(body);
    return n - refused;
}

/* CPU seconds the broker process has used (user + system). */
static double broker_cpu_s(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    unsigned long ut = 0, st = 0;
    if (!f)
        return 0;
    int n = fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    fclose(f);
    return n == 2 ? (double)(ut + st) / (double)sysconf(_SC_CLK_TCK) : 0;
}

/* How long a fresh group with `tags` took to handle `share` messages (zeros:
 * it did not). */
static share_time consume_share(const char *url, const char *pub_url, const char *group,
                                const char *tags, long share)
{
    share_clock k = {.share = share};
    share_time t = {0};
    mq_consumer_opts co = {.url = url, .pub_url = pub_url, .max_inflight = 8192, .tags = tags};
    const char *topics[] = {"bench-tags"};
    mq_consumer *c;
    shop_error err = {0};
    int64_t t0 = shop_now_ns();
    if (mq_consumer_open(group, topics, 1, count_one, &k, &co, &c, &err) != RPC_OK ||
        mq_consumer_start(c, &err) != RPC_OK) {
        fprintf(stderr, "mq-bench: tags consumer: %s\n", err.message);
        return t;
    }
    int64_t until = shop_now_ms() + 120000;
    while (atomic_load(&k.last_ns) == 0 && shop_now_ms() < until)
        shop_sleep_ms(1);
    mq_consumer_close(c);
    if (atomic_load(&k.last_ns) != 0) {
        t.total = (double)(atomic_load(&k.last_ns) - t0) / 1e9;
        t.steady = (double)(atomic_load(&k.last_ns) - atomic_load(&k.first_ns)) / 1e9;
    }
    return t;
}

void mqb_tags_case(const mqb_opts *o, const char *url, const char *pub_url, int broker_pid)
{
    double cpu_all = 0, cpu_one = 0, c0;
    long n = o->tags_n / TAGS * TAGS;
    long stored = fill(o, url, n), share = n / TAGS;
    share_time all = {0}, one = {0};
    int ok = stored == n;
    for (int r = 0; r < o->rounds && ok; r++) {
        char g_all[64], g_one[64];
        snprintf(g_all, sizeof g_all, "bench-tags-all-%d", r);
        snprintf(g_one, sizeof g_one, "bench-tags-t3-%d", r);
        share_time a = {0}, b = {0};
        for (int k = 0; k < 2; k++) {
            c0 = broker_cpu_s(broker_pid);
            if ((k + r) % 2 == 0) {
                a = consume_share(url, pub_url, g_all, "*", n);
                cpu_all += broker_cpu_s(broker_pid) - c0;
            } else {
                b = consume_share(url, pub_url, g_one, "T3", share);
                cpu_one += broker_cpu_s(broker_pid) - c0;
            }
        }
        ok = a.total > 0 && b.total > 0;
        all.total += a.total, all.steady += a.steady;
        one.total += b.total, one.steady += b.steady;
    }
    double rounds = o->rounds;
    double all_rate = all.steady > 0 ? (double)(n - 1) * rounds / all.steady : 0;
    double one_rate = one.steady > 0 ? (double)(share - 1) * rounds / one.steady : 0;
    double all_total = all.total > 0 ? (double)n * rounds / all.total : 0;
    double one_total = one.total > 0 ? (double)share * rounds / one.total : 0;
    double ratio = all_rate > 0 ? one_rate / all_rate : 0;
    printf("case=tags_filter n=%ld tags=%d rounds=%d unfiltered_msgs_per_s=%.0f "
           "filtered_share=%ld filtered_msgs_per_s=%.0f filtered_scan_per_s=%.0f ratio=%.2f "
           "with_setup_unfiltered_msgs_per_s=%.0f with_setup_filtered_msgs_per_s=%.0f "
           "ratio_with_setup=%.2f broker_cpu_us_per_msg_unfiltered=%.2f "
           "broker_cpu_us_per_msg_filtered=%.2f target=0.8 complete=%s pass=%s\n",
           n, TAGS, o->rounds, all_rate, share, one_rate, one_rate * TAGS, ratio, all_total,
           one_total, all_total > 0 ? one_total / all_total : 0.0,
           cpu_all * 1e6 / ((double)n * rounds), cpu_one * 1e6 / ((double)share * rounds),
           ok ? "yes" : "no", ok && ratio >= 0.8 ? "yes" : "no");
    fflush(stdout);
}
