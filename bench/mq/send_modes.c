/* The asynchronous and one-way send cases: one producer thread queues
 * o->size-byte messages as fast as mq_producer_send_async takes them (it
 * blocks at max_pending), the producer coalesces them into batch requests,
 * and a message counts once its callback says OK, i.e. after the broker's
 * fdatasync under the default --flush sync. One-way sends are counted by
 * what the topic holds afterwards. */
#include "bench/mq/bench.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/clock.h"
#include "mq/mq.h"

typedef struct acked_count {
    atomic_long ok, failed;
} acked_count;

static void on_sent(const mq_send_result *r, void *arg)
{
    acked_count *c = arg;
    if (r->status == RPC_OK)
        atomic_fetch_add(&c->ok, 1);
    else
        atomic_fetch_add(&c->failed, 1);
}

/* n sends of one mode; returns the seconds from the first send until the
 * last one completed (flush). */
static double send_n(const mqb_opts *o, const char *url, const char *topic, long n, int oneway,
                     acked_count *count)
{
    mq_producer *p;
    if (mq_producer_open(url, NULL, &p) != RPC_OK)
        return 0;
    char *body = calloc(1, o->size);
    int64_t t0 = shop_now_ns();
    for (long i = 0; i < n; i++) {
        rpc_status st =
            oneway ? mq_producer_send_oneway(p, topic, NULL, body, o->size, NULL)
                   : mq_producer_send_async(p, topic, NULL, body, o->size, NULL, on_sent, count);
        if (st != RPC_OK)
            atomic_fetch_add(&count->failed, 1);
    }
    mq_producer_flush(p, 0);
    double secs = (double)(shop_now_ns() - t0) / 1e9;
    mq_producer_close(p);
    free(body);
    return secs;
}

void mqb_send_modes_round(const mqb_opts *o, const char *url, int rounds, mqb_send_modes *m)
{
    long n = o->async_n / rounds > 0 ? o->async_n / rounds : 1;
    acked_count count = {0};
    m->size = o->size;
    uint64_t n0, us0, n1, us1, end0, end1;
    mqb_broker_syncs(url, &n0, &us0);
    m->async_secs += send_n(o, url, "bench-send-async", n, 0, &count);
    mqb_broker_stats(url, "bench-send-oneway", &n1, &us1, &end0);
    m->async_n += n;
    m->async_acked += atomic_load(&count.ok);
    m->async_failed += atomic_load(&count.failed);
    m->async_fsyncs += n1 > n0 ? n1 - n0 : 0;
    acked_count lost = {0};
    m->oneway_secs += send_n(o, url, "bench-send-oneway", n, 1, &lost);
    mqb_broker_stats(url, "bench-send-oneway", &n1, &us1, &end1);
    m->oneway_n += n;
    m->oneway_stored += (long)(end1 - end0);
}

void mqb_send_modes_print(const mqb_send_modes *m, double fsync_ops_per_s, double sync1_msgs_per_s)
{
    double rate = m->async_secs > 0 ? (double)m->async_acked / m->async_secs : 0;
    printf("case=async_send_1 producers=1 n=%ld size=%zu acked=%ld failed=%ld msgs_per_s=%.0f "
           "msgs_per_fsync=%.1f fsyncs=%llu baseline_fsync_ops_per_s=%.0f ratio_fsync=%.1f "
           "sync_1_msgs_per_s=%.0f ratio_sync_1=%.1f target=100000 pass=%s\n",
           m->async_n, m->size, m->async_acked, m->async_failed, rate,
           m->async_fsyncs ? (double)m->async_acked / (double)m->async_fsyncs : 0.0,
           (unsigned long long)m->async_fsyncs, fsync_ops_per_s,
           fsync_ops_per_s > 0 ? rate / fsync_ops_per_s : 0.0, sync1_msgs_per_s,
           sync1_msgs_per_s > 0 ? rate / sync1_msgs_per_s : 0.0,
           rate >= 100000 && m->async_acked == m->async_n ? "yes" : "no");
    double orate = m->oneway_secs > 0 ? (double)m->oneway_n / m->oneway_secs : 0;
    printf("case=oneway_send_1 producers=1 n=%ld size=%zu stored=%ld msgs_per_s=%.0f "
           "ratio_async=%.2f\n",
           m->oneway_n, m->size, m->oneway_stored, orate, rate > 0 ? orate / rate : 0.0);
    fflush(stdout);
}
