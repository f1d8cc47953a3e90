/* The writer thread: the only appender to the log. It takes every queued
 * job at once, appends their records, makes them durable with one
 * fdatasync (group commit), then updates the index and answers. A record
 * that is not durable after the sync (a full disk: "disk full: ...") is
 * refused, never acknowledged, and dropped from the log (delay_log_rewind). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mq/delayd/delayd.h"
#include "mq/mq_delay.h"
#include "mq_delay.pb-c.h"
#include "base/log.h"
#include "base/status.h"

#define CANCEL_MAX 1024
#define MARK_SYNC_US 20000

enum { JOB_REQUEST, JOB_MARK };

struct delayd_job {
    delayd_job *next;
    int kind;
    delayd_srv_ctx *sc;
    Shop__Mq__Delay__Request *req;
    uint64_t mark_id;
    /* filled by the writer */
    Shop__Mq__Delay__SendResult *results;
    int *topics;
    uint32_t *khash;
    int status;
    const char *error;
    uint32_t cancelled;
    uint64_t *cancel_ids;
    delay_entry *cancel_saved; /* the cancelled entries, put back if their mark is lost */
    uint64_t *mark_ids;        /* their CANCELLED marks (UINT64_MAX: not appended) */
    char *failure;             /* the message of a failed append or sync (malloc'd) */
};

static void push(delayd *d, delayd_job *j)
{
    j->next = NULL;
    if (d->q_tail) {
        d->q_tail->next = j;
    } else {
        d->q_head = j;
    }
    d->q_tail = j;
    pthread_cond_signal(&d->qcv);
}

int delayd_submit(delayd *d, delayd_srv_ctx *sc, void *req)
{
    delayd_job *j = calloc(1, sizeof *j);
    if (!j) {
        return RPC_RESOURCE_EXHAUSTED;
    }
    j->kind = JOB_REQUEST;
    j->sc = sc;
    j->req = req;
    pthread_mutex_lock(&d->qmu);
    if (d->writer_gone) {
        pthread_mutex_unlock(&d->qmu);
        free(j);
        return RPC_UNAVAILABLE;
    }
    push(d, j);
    pthread_mutex_unlock(&d->qmu);
    return RPC_OK;
}

void delayd_submit_mark(delayd *d, uint64_t id)
{
    delayd_job *j = calloc(1, sizeof *j);
    if (!j) {
        return; /* the mark is lost: the message is delivered again after a restart */
    }
    j->kind = JOB_MARK;
    j->mark_id = id;
    pthread_mutex_lock(&d->qmu);
    push(d, j);
    pthread_mutex_unlock(&d->qmu);
}

static int validate(const delayd *d, const Shop__Mq__Delay__DelayMessage *m, int64_t *delay_ms,
                    const char **why)
{
    size_t tl = strlen(m->topic), kl = strlen(m->key);
    int printable = tl > 0 && m->topic[0] != '%';
    for (size_t i = 0; i < tl; i++) {
        printable &= (unsigned char)m->topic[i] >= 0x20 && m->topic[i] != 0x7f;
    }
    /* the broker's rule for topic names, so that a due message is never refused there */
    if (!printable || tl > MQ_DELAY_MAX_TOPIC) {
        *why = "a topic is 1..200 printable characters and does not start with '%'";
        return RPC_INVALID_ARGUMENT;
    }
    if (kl > MQ_DELAY_MAX_KEY) {
        *why = "key must be at most 255 bytes";
        return RPC_INVALID_ARGUMENT;
    }
    if (m->body.len > MQ_DELAY_MAX_BODY) {
        *why = "body larger than 4 MiB";
        return RPC_INVALID_ARGUMENT;
    }
    if (m->delay_level != 0 && m->delay_ms != 0) {
        *why = "set delay_ms or delay_level, not both";
        return RPC_INVALID_ARGUMENT;
    }
    if (m->delay_level != 0) {
        *delay_ms = mq_delay_level_ms(m->delay_level);
        if (*delay_ms < 0) {
            *why = "delay_level must be 1..18";
            return RPC_INVALID_ARGUMENT;
        }
    } else {
        *delay_ms = m->delay_ms;
    }
    if (*delay_ms < 0 || *delay_ms > d->cfg.max_delay_ms) {
        *why = "delay_ms must be 0..max-delay-ms";
        return RPC_INVALID_ARGUMENT;
    }
    return RPC_OK;
}

static int append_rec(delayd *d, const uint8_t *p, uint32_t len, uint64_t *id)
{
    int rv = delay_log_append(d->log, p, len, id);
    if (rv != 0) {
        shop_log_error("log append failed err=\"%s\"", delay_log_error(d->log));
    }
    return rv;
}

/* The status for a log failure `rv` (-errno): RESOURCE_EXHAUSTED with
 * "disk full: <what could not be written>" for ENOSPC and EDQUOT, INTERNAL
 * for other I/O errors. The message is kept with the job until answered. */
static int failure(delayd *d, delayd_job *j, int rv, const char **msg)
{
    int e = -rv, st = RPC_INTERNAL;
    const char *prefix = "";
    if (e == ENOSPC || e == EDQUOT) {
        st = RPC_RESOURCE_EXHAUSTED;
        prefix = "disk full: ";
    } else if (e == ENOMEM) {
        st = RPC_RESOURCE_EXHAUSTED;
    } else if (e == EMSGSIZE) {
        st = RPC_INVALID_ARGUMENT;
    }
    if (!j->failure) {
        const char *what = delay_log_error(d->log);
        size_t n = strlen(prefix) + strlen(what) + 1;
        if ((j->failure = malloc(n)) != NULL) {
            snprintf(j->failure, n, "%s%s", prefix, what);
        }
    }
    *msg = j->failure ? j->failure : "cannot write to the delay log";
    return st;
}

/* The length of a traceparent worth keeping (0: none, or not one). */
static uint8_t trace_len(const char *tp)
{
    size_t n = tp != NULL ? strlen(tp) : 0;
    return n > 0 && n <= 64 ? (uint8_t)n : 0;
}

/* Appends the SEND records of one request; results carry per-message status. */
static void stage_send(delayd *d, delayd_job *j, int64_t now_us, uint8_t **scratch, size_t *cap)
{
    const Shop__Mq__Delay__SendRequest *sr = j->req->send;
    size_t n = sr->n_messages;
    j->results = calloc(n ? n : 1, sizeof *j->results);
    j->topics = calloc(n ? n : 1, sizeof *j->topics);
    j->khash = calloc(n ? n : 1, sizeof *j->khash);
    if (!j->results || !j->topics || !j->khash) {
        j->status = RPC_RESOURCE_EXHAUSTED;
        j->error = "out of memory";
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const Shop__Mq__Delay__DelayMessage *m = sr->messages[i];
        Shop__Mq__Delay__SendResult *r = &j->results[i];
        int64_t delay_ms = 0;
        const char *why = "";
        shop__mq__delay__send_result__init(r);
        r->status = validate(d, m, &delay_ms, &why);
        r->error = (char *)why;
        if (r->status != RPC_OK) {
            continue;
        }
        delay_send_rec rec = {now_us + delay_ms * 1000,
                              m->topic,
                              m->key,
                              (uint16_t)strlen(m->topic),
                              (uint16_t)strlen(m->key),
                              m->body.data,
                              (uint32_t)m->body.len,
                              m->traceparent,
                              trace_len(m->traceparent)};
        size_t len = delay_rec_send_size(&rec);
        if (len > *cap) {
            uint8_t *p = realloc(*scratch, len);
            if (!p) {
                r->status = RPC_RESOURCE_EXHAUSTED;
                r->error = "out of memory";
                continue;
            }
            *scratch = p;
            *cap = len;
        }
        pthread_mutex_lock(&d->mu);
        j->topics[i] = delay_index_topic(&d->ix, rec.topic, rec.topic_len);
        pthread_mutex_unlock(&d->mu);
        if (j->topics[i] < 0) {
            r->status = RPC_RESOURCE_EXHAUSTED;
            r->error = "too many topics";
            continue;
        }
        j->khash[i] = delay_key_hash(j->topics[i], rec.key, rec.key_len);
        delay_rec_send_encode(&rec, *scratch);
        int rv = append_rec(d, *scratch, (uint32_t)len, &r->id);
        if (rv != 0) {
            const char *msg;
            r->status = failure(d, j, rv, &msg);
            r->error = (char *)msg;
            continue;
        }
        r->due_us = rec.due_us;
    }
}

/* Does the record at id carry exactly this topic and key? */
static int record_matches(delayd *d, uint64_t id, const char *topic, const char *key)
{
    uint8_t *p;
    uint32_t len;
    uint64_t unused;
    delay_send_rec r;
    int ok = 0;
    if (delay_log_read(d->log, id, &p, &len) != 0) {
        return 0;
    }
    if (delay_rec_decode(p, len, &r, &unused) == DELAY_REC_SEND && r.topic_len == strlen(topic) &&
        r.key_len == strlen(key) && memcmp(r.topic, topic, r.topic_len) == 0 &&
        memcmp(r.key, key, r.key_len) == 0) {
        ok = 1;
    }
    free(p);
    return ok;
}

/* Takes matching messages out of the index and appends their cancel marks. */
static void stage_cancel(delayd *d, delayd_job *j)
{
    const Shop__Mq__Delay__CancelRequest *cr = j->req->cancel;
    uint32_t found[CANCEL_MAX];
    if (!cr->topic[0] || !cr->key[0]) {
        j->status = RPC_INVALID_ARGUMENT;
        j->error = "cancel needs a topic and a key";
        return;
    }
    j->cancel_ids = calloc(CANCEL_MAX, sizeof *j->cancel_ids);
    j->cancel_saved = calloc(CANCEL_MAX, sizeof *j->cancel_saved);
    j->mark_ids = calloc(CANCEL_MAX, sizeof *j->mark_ids);
    if (!j->cancel_ids || !j->cancel_saved || !j->mark_ids) {
        j->status = RPC_RESOURCE_EXHAUSTED;
        j->error = "out of memory";
        return;
    }
    pthread_mutex_lock(&d->mu);
    int topic = -1;
    for (uint32_t t = 0; t < d->ix.n_topics; t++) {
        if (strcmp(d->ix.topics[t].name, cr->topic) == 0) {
            topic = (int)t;
        }
    }
    size_t n =
        topic < 0 ? 0
                  : delay_index_find(&d->ix, topic, delay_key_hash(topic, cr->key, strlen(cr->key)),
                                     found, CANCEL_MAX);
    for (size_t i = 0; i < n; i++) {
        delay_entry *e = &d->ix.e[found[i]];
        uint64_t id = DELAY_ID(e->seg, e->off);
        if (record_matches(d, id, cr->topic, cr->key)) {
            j->cancel_saved[j->cancelled] = *e;
            delay_index_remove(&d->ix, found[i]);
            j->cancel_ids[j->cancelled++] = id;
            d->cancelled++;
        }
    }
    pthread_mutex_unlock(&d->mu);
    for (uint32_t i = 0; i < j->cancelled; i++) {
        uint8_t mark[9];
        delay_rec_mark_encode(DELAY_REC_CANCELLED, j->cancel_ids[i], mark);
        int rv = append_rec(d, mark, sizeof mark, &j->mark_ids[i]);
        if (rv != 0) {
            j->mark_ids[i] = UINT64_MAX;
            j->status = failure(d, j, rv, &j->error);
        }
    }
    if (j->status == RPC_OK && j->cancelled == 0) {
        j->status = RPC_NOT_FOUND;
        j->error = "no pending message with this topic and key";
    }
}

/* After the sync of a cancel: a message whose mark is durable is released,
 * one whose mark was lost is pending again (the cancel is then refused). */
static void settle_cancel(delayd *d, delayd_job *j, int sync_rv)
{
    uint32_t lost = 0;
    for (uint32_t i = 0; i < j->cancelled; i++) {
        if (j->mark_ids[i] != UINT64_MAX && delay_log_durable(d->log, j->mark_ids[i])) {
            delay_log_ref(d->log, DELAY_ID_SEG(j->cancel_ids[i]), -1);
            continue;
        }
        const delay_entry *e = &j->cancel_saved[i];
        pthread_mutex_lock(&d->mu);
        if (delay_index_add(&d->ix, e->due_us, e->seg, e->off, e->topic, e->khash) != 0) {
            shop_log_error("index full, message waits for a restart id=%llu",
                           (unsigned long long)j->cancel_ids[i]);
        }
        d->cancelled--;
        pthread_cond_signal(&d->timer_cv);
        pthread_mutex_unlock(&d->mu);
        lost++;
    }
    if (lost > 0 && j->status == RPC_OK) {
        j->status = failure(d, j, sync_rv ? sync_rv : -EIO, &j->error);
    }
    if (lost > 0) {
        j->cancelled = 0; /* refused: the caller cancels again */
    }
}

/* After the sync of a send: a message not durable is refused. */
static void settle_send(delayd *d, delayd_job *j, int sync_rv)
{
    if (j->status != RPC_OK) {
        return;
    }
    for (size_t i = 0; i < j->req->send->n_messages; i++) {
        Shop__Mq__Delay__SendResult *r = &j->results[i];
        if (r->status == RPC_OK && !delay_log_durable(d->log, r->id)) {
            const char *msg;
            r->status = failure(d, j, sync_rv ? sync_rv : -EIO, &msg);
            r->error = (char *)msg;
            r->id = 0;
            r->due_us = 0;
        }
    }
}

/* After the sync: index the new messages, release cancelled ones. */
static void commit(delayd *d, delayd_job *j)
{
    if (j->status != RPC_OK || j->req->op_case == SHOP__MQ__DELAY__REQUEST__OP_CANCEL) {
        return;
    }
    int64_t before = INT64_MAX;
    pthread_mutex_lock(&d->mu);
    before = delay_index_next_due(&d->ix);
    for (size_t i = 0; i < j->req->send->n_messages; i++) {
        Shop__Mq__Delay__SendResult *r = &j->results[i];
        if (r->status != RPC_OK) {
            continue;
        }
        delay_log_ref(d->log, DELAY_ID_SEG(r->id), 1);
        if (delay_index_add(&d->ix, r->due_us, DELAY_ID_SEG(r->id), DELAY_ID_OFF(r->id),
                            j->topics[i], j->khash[i]) != 0) {
            /* durable but not indexed: delivered after the next restart */
            shop_log_error("index full, message waits for a restart id=%llu",
                           (unsigned long long)r->id);
        }
    }
    if (delay_index_next_due(&d->ix) < before) {
        pthread_cond_signal(&d->timer_cv);
    }
    pthread_mutex_unlock(&d->mu);
}

static void answer(delayd_job *j)
{
    Shop__Mq__Delay__Reply rep = SHOP__MQ__DELAY__REPLY__INIT;
    Shop__Mq__Delay__SendResult **rp = NULL;
    rep.status = j->status;
    rep.error = (char *)(j->error ? j->error : "");
    rep.cancelled = j->cancelled;
    if (j->status == RPC_OK && j->req->op_case == SHOP__MQ__DELAY__REQUEST__OP_SEND) {
        size_t n = j->req->send->n_messages;
        rp = calloc(n ? n : 1, sizeof *rp);
        for (size_t i = 0; rp && i < n; i++) {
            rp[i] = &j->results[i];
        }
        rep.n_results = rp ? n : 0;
        rep.results = rp;
    }
    delayd_server_reply(j->sc, &rep);
    free(rp);
}

static void free_job(delayd_job *j)
{
    if (j->req) {
        shop__mq__delay__request__free_unpacked(j->req, NULL);
    }
    free(j->results);
    free(j->topics);
    free(j->khash);
    free(j->cancel_ids);
    free(j->cancel_saved);
    free(j->mark_ids);
    free(j->failure);
    free(j);
}

/* Runs one group commit. Delivered marks alone are not synced at once (a
 * lost mark only means a duplicate delivery after a crash); they ride with
 * the next request's fdatasync or the writer's MARK_SYNC_US timer. Returns
 * 1 if it synced, 0 if it left marks unsynced, -1 if it appended nothing. */
static int run_batch(delayd *d, delayd_job *list, uint8_t **scratch, size_t *cap)
{
    int64_t now_us = delayd_wall_us();
    int appended = 0, marks = 0;
    delay_log_rewind(d->log); /* a failure outside a batch (marks, relocation) */
    for (delayd_job *j = list; j; j = j->next) {
        if (j->kind == JOB_MARK) {
            uint8_t mark[9];
            uint64_t unused;
            delay_rec_mark_encode(DELAY_REC_DELIVERED, j->mark_id, mark);
            marks |= append_rec(d, mark, sizeof mark, &unused) == 0;
        } else if (j->req->op_case == SHOP__MQ__DELAY__REQUEST__OP_SEND) {
            stage_send(d, j, now_us, scratch, cap);
            appended = 1;
        } else {
            stage_cancel(d, j);
            appended |= j->cancelled > 0;
        }
    }
    int rv = appended ? delay_log_sync(d->log) : 0;
    if (rv != 0) {
        shop_log_error("log write failed, what is not durable is refused err=\"%s\"",
                       delay_log_error(d->log));
    }
    for (delayd_job *j = list, *next; j; j = next) {
        next = j->next;
        if (j->kind == JOB_REQUEST) {
            if (j->req->op_case == SHOP__MQ__DELAY__REQUEST__OP_CANCEL) {
                settle_cancel(d, j, rv);
            } else {
                settle_send(d, j, rv);
            }
            commit(d, j);
            answer(j);
        }
        free_job(j);
    }
    delay_log_rewind(d->log); /* drops what was refused; its ids are free again */
    delayd_relocate_head(d);
    int removed = delay_log_compact(d->log);
    if (removed > 0) {
        shop_log_info("segments compacted deleted=%d", removed);
    }
    return appended ? 1 : marks ? 0 : -1;
}

static void *writer_main(void *arg)
{
    delayd *d = arg;
    uint8_t *scratch = NULL;
    size_t cap = 0;
    int64_t lazy_since = 0; /* when unsynced marks were first left, or 0 */
    for (;;) {
        pthread_mutex_lock(&d->qmu);
        while (!d->q_head && !d->writer_stop) {
            if (!lazy_since) {
                pthread_cond_wait(&d->qcv, &d->qmu);
                continue;
            }
            int64_t until = lazy_since + MARK_SYNC_US;
            struct timespec ts = {(time_t)(until / 1000000), (long)(until % 1000000) * 1000};
            if (pthread_cond_timedwait(&d->qcv, &d->qmu, &ts) == ETIMEDOUT) {
                break;
            }
        }
        delayd_job *list = d->q_head;
        d->q_head = d->q_tail = NULL;
        int stop = d->writer_stop;
        pthread_mutex_unlock(&d->qmu);
        if (list) {
            int rv = run_batch(d, list, &scratch, &cap);
            if (rv == 1) {
                lazy_since = 0;
            } else if (rv == 0 && !lazy_since) {
                lazy_since = delayd_wall_us();
            }
            continue;
        }
        if (lazy_since) {
            int rv = delay_log_sync(d->log);
            if (rv != 0) { /* a lost mark only means a duplicate after a restart */
                shop_log_error("sync of delivered marks failed err=\"%s\"",
                               delay_log_error(d->log));
                delay_log_rewind(d->log);
            }
            lazy_since = 0;
        }
        if (stop) {
            pthread_mutex_lock(&d->qmu);
            if (!d->q_head) {
                d->writer_gone = 1;
                pthread_mutex_unlock(&d->qmu);
                break;
            }
            pthread_mutex_unlock(&d->qmu);
        }
    }
    free(scratch);
    return NULL;
}

int delayd_writer_start(delayd *d)
{
    return pthread_create(&d->writer_thread, NULL, writer_main, d) == 0 ? 0 : -EAGAIN;
}

void delayd_writer_stop(delayd *d)
{
    pthread_mutex_lock(&d->qmu);
    d->writer_stop = 1;
    pthread_cond_signal(&d->qcv);
    pthread_mutex_unlock(&d->qmu);
    pthread_join(d->writer_thread, NULL);
}
