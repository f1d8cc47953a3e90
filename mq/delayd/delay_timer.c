/* The timer thread: sleeps on a condition variable until the earliest due
 * time (one wait for the whole heap, never one per message), hands each due
 * message to the sink, and retries the same message with backoff while the
 * sink is down so that order and at-least-once hold. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "delayd.h"
#include "mq/mq_delay.h"
#include "rpc/log.h"
#include "rpc/status.h"

static struct timespec abs_us(int64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    return ts;
}

/* Waits on timer_cv (mu held) until wall time `until_us` or a signal. */
static void wait_until(delayd *d, int64_t until_us)
{
    struct timespec ts = abs_us(until_us);
    pthread_cond_timedwait(&d->timer_cv, &d->mu, &ts);
}

static void note_lateness(delayd *d, int64_t late_us)
{
    d->late[d->late_pos] = late_us;
    d->late_pos = (d->late_pos + 1) % DELAYD_LATENESS_RING;
    if (d->late_n < DELAYD_LATENESS_RING) {
        d->late_n++;
    }
}

/* Delivers one message (mu not held); 0 when the sink took it, -1 when the
 * daemon is stopping first, 1 when the record cannot be read (dropped). */
static int deliver(delayd *d, const delay_entry *e)
{
    uint64_t id = DELAY_ID(e->seg, e->off);
    uint8_t *p = NULL;
    uint32_t len;
    uint64_t unused;
    delay_send_rec r;
    char topic[MQ_DELAY_MAX_TOPIC + 1], key[MQ_DELAY_MAX_KEY + 1], err[256];
    int rv = delay_log_read(d->log, id, &p, &len);
    if (rv != 0 || delay_rec_decode(p, len, &r, &unused) != DELAY_REC_SEND ||
        r.topic_len > MQ_DELAY_MAX_TOPIC || r.key_len > MQ_DELAY_MAX_KEY) {
        shop_error("unreadable record dropped id=%llu err=%s", (unsigned long long)id,
                   rv ? strerror(-rv) : "malformed");
        free(p);
        return 1;
    }
    memcpy(topic, r.topic, r.topic_len);
    topic[r.topic_len] = '\0';
    memcpy(key, r.key, r.key_len);
    key[r.key_len] = '\0';
    delay_out out = {topic, key, r.body, r.body_len, id, r.due_us};
    int backoff_ms = 10, failures = 0;
    for (;;) {
        int64_t start = delayd_wall_us();
        int st = d->sink->deliver(d->sink, &out, err, sizeof err);
        pthread_mutex_lock(&d->mu);
        if (st == RPC_OK) {
            note_lateness(d, start - r.due_us);
            d->delivered++;
            pthread_mutex_unlock(&d->mu);
            if (failures) {
                shop_info("sink back, delivered id=%llu after_failures=%d", (unsigned long long)id,
                          failures);
            }
            free(p);
            return 0;
        }
        d->sink_failures++;
        if (failures++ == 0 || failures % 20 == 0) {
            shop_warn("sink delivery failed, retrying topic=%s id=%llu failures=%d err=%s", topic,
                      (unsigned long long)id, failures, err);
        }
        if (!d->timer_stop) {
            wait_until(d, delayd_wall_us() + (int64_t)backoff_ms * 1000);
        }
        int stop = d->timer_stop;
        pthread_mutex_unlock(&d->mu);
        if (stop) {
            free(p);
            return -1;
        }
        backoff_ms =
            backoff_ms * 2 > d->cfg.max_backoff_ms ? d->cfg.max_backoff_ms : backoff_ms * 2;
    }
}

static void *timer_main(void *arg)
{
    delayd *d = arg;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* wake within ~µs, not the default 50 µs */
    pthread_mutex_lock(&d->mu);
    while (!d->timer_stop) {
        int64_t due = delay_index_next_due(&d->ix);
        if (due == INT64_MAX) {
            pthread_cond_wait(&d->timer_cv, &d->mu);
            continue;
        }
        if (due > delayd_wall_us()) {
            wait_until(d, due);
            continue;
        }
        uint32_t idx = delay_index_pop(&d->ix);
        delay_entry e = d->ix.e[idx];
        pthread_mutex_unlock(&d->mu);
        int rv = deliver(d, &e);
        pthread_mutex_lock(&d->mu);
        if (rv < 0) {
            delay_index_unpop(&d->ix, idx);
            break;
        }
        delay_index_release(&d->ix, idx);
        pthread_mutex_unlock(&d->mu);
        delay_log_ref(d->log, e.seg, -1);
        if (rv == 0) {
            delayd_submit_mark(d, DELAY_ID(e.seg, e.off));
        }
        pthread_mutex_lock(&d->mu);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

int delayd_timer_start(delayd *d)
{
    return pthread_create(&d->timer_thread, NULL, timer_main, d) == 0 ? 0 : -EAGAIN;
}

void delayd_timer_stop(delayd *d)
{
    pthread_mutex_lock(&d->mu);
    d->timer_stop = 1;
    pthread_cond_broadcast(&d->timer_cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->timer_thread, NULL);
}
