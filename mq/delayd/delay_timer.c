/* The timer thread: sleeps on a condition variable until the earliest due
 * time (one wait for the whole heap, never one per message), hands each due
 * message to the sink, and retries the same message with backoff while the
 * sink is down so that order and at-least-once hold. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "mq/delayd/delayd.h"
#include "mq/mq_delay.h"
#include "base/log.h"
#include "base/trace.h"
#include "base/status.h"

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
    shop_hist_record(&d->lateness_us, late_us);
}

#define TIMER_BATCH 128
#define DELAY_NAME_MAX 255 /* the longest topic or key a record may hold */

enum { DUE_PENDING, DUE_DONE, DUE_DROPPED, DUE_PARKED };

#define PARK_US (60LL * 1000000) /* a refused message is tried again after this */

/* A message taken out of the heap, with its record read back. */
typedef struct due_msg {
    uint32_t idx;
    delay_entry e;
    int state;
    uint8_t *rec;
    char topic[DELAY_NAME_MAX + 1], key[DELAY_NAME_MAX + 1], trace[65];
    delay_out out;
} due_msg;

static void load(delayd *d, due_msg *m)
{
    uint64_t id = DELAY_ID(m->e.seg, m->e.off), unused;
    uint32_t len;
    delay_send_rec r;
    m->rec = NULL;
    int rv = delay_log_read(d->log, id, &m->rec, &len);
    if (rv != 0 || delay_rec_decode(m->rec, len, &r, &unused) != DELAY_REC_SEND ||
        r.topic_len > DELAY_NAME_MAX || r.key_len > DELAY_NAME_MAX) {
        shop_log_error("unreadable record dropped id=%llu err=%s", (unsigned long long)id,
                       rv ? strerror(-rv) : "malformed");
        m->state = DUE_DROPPED;
        return;
    }
    memcpy(m->topic, r.topic, r.topic_len);
    m->topic[r.topic_len] = '\0';
    memcpy(m->key, r.key, r.key_len);
    m->key[r.key_len] = '\0';
    size_t tl = r.trace_len < sizeof m->trace ? r.trace_len : 0;
    memcpy(m->trace, r.trace, tl);
    m->trace[tl] = '\0';
    m->out = (delay_out){m->topic, m->key, r.body, r.body_len, id, r.due_us, m->trace};
    m->state = DUE_PENDING;
}

/* Statuses that say this message will never be taken as it is. */
static int refused(int st)
{
    return st == RPC_INVALID_ARGUMENT || st == RPC_FAILED_PRECONDITION ||
           st == RPC_PERMISSION_DENIED || st == RPC_OUT_OF_RANGE || st == RPC_UNIMPLEMENTED ||
           st == RPC_NOT_FOUND;
}

/* Hands the batch to the sink (mu not held), retrying what failed with
 * backoff, in order. Returns 0 when nothing is left pending, -1 when the
 * daemon is stopping first. */
static int deliver_batch(delayd *d, due_msg *b, size_t n)
{
    static delay_out outs[TIMER_BATCH];
    static int status[TIMER_BATCH];
    static size_t which[TIMER_BATCH];
    shop_error err = {0};
    int backoff_ms = 10, failures = 0;
    for (size_t i = 0; i < n; i++) {
        load(d, &b[i]);
    }
    for (;;) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (b[i].state == DUE_PENDING) {
                which[m] = i;
                outs[m++] = b[i].out;
            }
        }
        if (m == 0) {
            if (failures) {
                shop_log_info("sink back, delivered after_failures=%d", failures);
            }
            return 0;
        }
        shop_error_clear(&err);
        int64_t start = delayd_wall_us();
        d->sink->deliver(d->sink, outs, m, status, &err);
        int failed = 0;
        pthread_mutex_lock(&d->mu);
        for (size_t k = 0; k < m; k++) {
            if (status[k] == RPC_OK) {
                b[which[k]].state = DUE_DONE;
                note_lateness(d, start - outs[k].due_us);
                d->delivered++;
                if (shop_trace_adopt(outs[k].traceparent)) { /* the line names its trace */
                    shop_log_debug("due message handed over topic=%s key=%s id=%llu late_us=%lld",
                                   outs[k].topic, outs[k].key, (unsigned long long)outs[k].id,
                                   (long long)(start - outs[k].due_us));
                    shop_trace_clear();
                }
            } else if (refused(status[k])) {
                /* retrying cannot help and must not hold up the others */
                b[which[k]].state = DUE_PARKED;
                d->sink_failures++;
                shop_log_error("sink refused a message, parked for 60 s topic=%s id=%llu status=%s",
                               outs[k].topic, (unsigned long long)outs[k].id,
                               rpc_status_name(status[k]));
            } else {
                failed = 1;
            }
        }
        if (failed) {
            d->sink_failures++;
            if (failures++ == 0 || failures % 20 == 0) {
                shop_log_warn("sink delivery failed, retrying pending=%zu failures=%d err=%s", m,
                              failures, err.message);
            }
            if (!d->timer_stop) {
                wait_until(d, delayd_wall_us() + (int64_t)backoff_ms * 1000);
            }
        }
        int stop = d->timer_stop;
        pthread_mutex_unlock(&d->mu);
        if (failed && stop) {
            return -1;
        }
        backoff_ms =
            backoff_ms * 2 > d->cfg.max_backoff_ms ? d->cfg.max_backoff_ms : backoff_ms * 2;
    }
}

static void *timer_main(void *arg)
{
    delayd *d = arg;
    static due_msg batch[TIMER_BATCH];
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* wake within ~µs, not the default 50 µs */
    pthread_mutex_lock(&d->mu);
    while (!d->timer_stop) {
        int64_t due = delay_index_next_due(&d->ix), now = delayd_wall_us();
        if (due == INT64_MAX) {
            pthread_cond_wait(&d->timer_cv, &d->mu);
            continue;
        }
        if (due > now) {
            wait_until(d, due);
            continue;
        }
        /* Everything due now goes out together (one broker fsync). */
        size_t n = 0;
        while (n < TIMER_BATCH && delay_index_next_due(&d->ix) <= now) {
            batch[n].idx = delay_index_pop(&d->ix);
            batch[n].e = d->ix.e[batch[n].idx];
            n++;
        }
        pthread_mutex_unlock(&d->mu);
        int rv = deliver_batch(d, batch, n);
        pthread_mutex_lock(&d->mu);
        for (size_t i = 0; i < n; i++) {
            if (batch[i].state == DUE_PENDING) {
                delay_index_unpop(&d->ix, batch[i].idx); /* stopping: the log still has it */
            } else if (batch[i].state == DUE_PARKED) {
                d->ix.e[batch[i].idx].due_us = delayd_wall_us() + PARK_US; /* memory only */
                delay_index_unpop(&d->ix, batch[i].idx);
            } else {
                delay_index_release(&d->ix, batch[i].idx);
            }
        }
        pthread_mutex_unlock(&d->mu);
        for (size_t i = 0; i < n; i++) {
            if (batch[i].state == DUE_DONE || batch[i].state == DUE_DROPPED) {
                delay_log_ref(d->log, batch[i].e.seg, -1);
            }
            if (batch[i].state == DUE_DONE) {
                delayd_submit_mark(d, DELAY_ID(batch[i].e.seg, batch[i].e.off));
            }
            free(batch[i].rec);
        }
        pthread_mutex_lock(&d->mu);
        if (rv < 0) {
            break;
        }
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
