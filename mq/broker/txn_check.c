/* The check-back thread: every 50 ms it takes the halves left undecided
 * past their due time, asks a live member of each one's producer group
 * (TxnCheck to the URL the member registered, trying the others when one
 * does not answer within a second: a producer killed after its half is
 * simply skipped), and stores the answer. UNKNOWN, or no member answering,
 * counts as a check and asks again --txn-check-ms later; after
 * --txn-check-max checks the half is discarded (never delivered), as
 * RocketMQ's transactionCheckMax. Calls go out without the broker lock. */
#include "mq/broker/txn_int.h"

#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "mq/broker/trace.h"

#define JOBS_MAX 16
#define CALL_TIMEOUT_MS 1000

typedef struct check_job {
    char id[65], group[121];
    uint32_t checks;
    uint8_t *rec;
    size_t len;
} check_job;

typedef struct member_copy {
    char group[121], member[121], url[251];
} member_copy;

/* One TxnCheck to one member: its decision, or -1 when it did not answer. */
static int ask(const char *url, const check_job *j)
{
    nng_socket s;
    if (nng_req0_open(&s) != 0)
        return -1;
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, CALL_TIMEOUT_MS);
    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, CALL_TIMEOUT_MS);
    int decision = -1;
    Shop__Mq__TxnCheck req = SHOP__MQ__TXN_CHECK__INIT;
    req.group = (char *)j->group;
    req.record.data = j->rec;
    req.record.len = j->len;
    req.times = j->checks;
    size_t n = shop__mq__txn_check__get_packed_size(&req);
    uint8_t *buf = malloc(n ? n : 1);
    /* dialled in the background: the send waits at most CALL_TIMEOUT_MS for
     * the connection, also to a host that drops packets (a synchronous dial
     * would wait for the TCP connect timeout) */
    if (buf && nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK) == 0) {
        shop__mq__txn_check__pack(&req, buf);
        void *in = NULL;
        size_t inlen = 0;
        if (nng_send(s, buf, n, 0) == 0 && nng_recv(s, &in, &inlen, NNG_FLAG_ALLOC) == 0) {
            Shop__Mq__TxnCheckReply *r = shop__mq__txn_check_reply__unpack(NULL, inlen, in);
            if (r) {
                decision = (int)r->decision;
                shop__mq__txn_check_reply__free_unpacked(r, NULL);
            }
            nng_free(in, inlen);
        }
    }
    free(buf);
    nng_close(s);
    return decision >= 0 && decision <= 2 ? decision : -1;
}

/* Under the lock: the halves due for a check, marked as being checked. */
static size_t take_jobs(mq_broker *b, check_job *jobs)
{
    bk_txn *x = b->txn;
    mq_topic *ht = mq_store_topic(b->store, BK_HALF_TOPIC, 0);
    int64_t now = shop_wall_ms();
    size_t n = 0;
    for (size_t i = 0; ht && i < BK_TXN_BUCKETS && n < JOBS_MAX; i++)
        for (bk_half *h = x->buckets[i]; h && n < JOBS_MAX; h = h->next) {
            const uint8_t *data;
            size_t len;
            if (h->checking || h->due_ms > now ||
                mq_store_read(b->store, ht, h->offset, &data, &len) != 0)
                continue;
            check_job *j = &jobs[n];
            if (!(j->rec = malloc(len ? len : 1)))
                continue;
            memcpy(j->rec, data, len);
            j->len = len;
            snprintf(j->id, sizeof j->id, "%s", h->id);
            snprintf(j->group, sizeof j->group, "%s", h->group);
            j->checks = h->checks;
            h->checking = 1;
            n++;
        }
    return n;
}

static size_t live_members(bk_txn *x, member_copy *out)
{
    int64_t now = shop_now_ms();
    size_t n = 0;
    for (size_t i = 0; i < x->nmembers; i++)
        if (now - x->members[i].seen_ms <= BK_TXN_MEMBER_LIVE_MS) {
            snprintf(out[n].group, sizeof out[n].group, "%s", x->members[i].group);
            snprintf(out[n].member, sizeof out[n].member, "%s", x->members[i].member);
            snprintf(out[n].url, sizeof out[n].url, "%s", x->members[i].url);
            n++;
        }
    return n;
}

/* Asks the live members of the job's group, starting at a rotating one. */
static int ask_group(const member_copy *m, size_t nm, size_t start, const check_job *j,
                     const char **who)
{
    *who = "";
    for (size_t k = 0; k < nm; k++) {
        const member_copy *c = &m[(start + k) % nm];
        if (strcmp(c->group, j->group) != 0)
            continue;
        int d = ask(c->url, j);
        if (d >= 0) {
            *who = c->member;
            return d;
        }
        shop_log_warn("txn check-back got no answer group=%s member=%s url=%s id=%s", c->group,
                      c->member, c->url, j->id);
    }
    return -1;
}

/* Under the lock: the answer about one job. Returns 1 when it wrote. */
static int settle(mq_broker *b, const check_job *j, int decision, const char *who)
{
    bk_half *h = bk_txn_find(b->txn, j->id);
    if (!h)
        return 0; /* the producer decided meanwhile */
    h->checking = 0;
    h->checks++;
    bk_trace_note(b->trace, BK_TR_CHECK, BK_HALF_TOPIC, h->offset, h->group, who, h->checks);
    int d = decision == 1 || decision == 2 ? decision : 0;
    if (d == 0 && h->checks >= (uint32_t)b->o.txn_check_max) {
        shop_log_warn("txn half discarded after %u checks id=%s group=%s", h->checks, h->id,
                      h->group);
        d = BK_DECIDE_DISCARD;
    }
    if (d == 0) {
        h->due_ms = shop_wall_ms() + b->o.txn_check_ms;
        return 0;
    }
    char err[400];
    int64_t due = shop_wall_ms() + b->o.txn_check_ms;
    if (bk_txn_decide(b, h, d, *who ? who : "broker", err, sizeof err) != 0) {
        shop_log_error("txn decision not stored id=%s err=\"%s\"", j->id, err);
        h->due_ms = due; /* asked again later */
        return 0;
    }
    return 1;
}

static void *check_main(void *arg)
{
    mq_broker *b = arg;
    bk_txn *x = b->txn;
    static member_copy members[BK_TXN_MEMBERS_MAX];
    check_job jobs[JOBS_MAX];
    while (!atomic_load(&x->stop)) {
        shop_sleep_ms(50);
        pthread_mutex_lock(x->bmu);
        size_t n = take_jobs(b, jobs), nm = n ? live_members(x, members) : 0;
        size_t start = x->rr++;
        pthread_mutex_unlock(x->bmu);
        for (size_t i = 0; i < n; i++) {
            const char *who;
            int d = ask_group(members, nm, start + i, &jobs[i], &who);
            pthread_mutex_lock(x->bmu);
            int wrote = settle(b, &jobs[i], d, who);
            int rc = wrote ? mq_store_flush(b->store) : 0;
            uint64_t pos = mq_store_position(b->store);
            pthread_mutex_unlock(x->bmu);
            free(jobs[i].rec);
            if (wrote && rc == 0 && mq_store_sync(b->store) == 0 && b->o.flush_sync) {
                bk_durable_advance(b, pos); /* the committed copy may be delivered */
                pthread_mutex_lock(x->bmu);
                bk_dispatch(b);
                pthread_mutex_unlock(x->bmu);
            }
        }
    }
    return NULL;
}

int bk_txn_checker_start(mq_broker *b, pthread_mutex_t *bmu)
{
    b->txn->bmu = bmu;
    atomic_store(&b->txn->stop, 0);
    if (pthread_create(&b->txn->thread, NULL, check_main, b) != 0)
        return -1;
    b->txn->running = 1;
    return 0;
}

void bk_txn_checker_stop(mq_broker *b)
{
    if (!b->txn || !b->txn->running)
        return;
    atomic_store(&b->txn->stop, 1);
    pthread_join(b->txn->thread, NULL);
    b->txn->running = 0;
}
