/* Internal to txn.c and txn_check.c: the undecided halves and the live
 * members of the producer groups. Everything under the broker lock. */
#ifndef SHOP_MQ_BROKER_TXN_INT_H
#define SHOP_MQ_BROKER_TXN_INT_H

#include <stdatomic.h>

#include "mq/broker/txn.h"

#define BK_TXN_BUCKETS 16384
#define BK_TXN_MEMBERS_MAX 1024

enum { BK_DECIDE_COMMIT = 1, BK_DECIDE_ROLLBACK = 2, BK_DECIDE_DISCARD = 3 };

typedef struct bk_half {
    struct bk_half *next; /* hash chain */
    char *id, *group;
    uint64_t offset; /* in %HALF% */
    int64_t due_ms;  /* wall clock: when to check it next */
    uint32_t checks; /* check-backs so far (since the broker started) */
    int checking;    /* the checker is asking about it now */
} bk_half;

typedef struct bk_txn_member_ent {
    char *group, *member, *url;
    int64_t seen_ms; /* monotonic */
} bk_txn_member_ent;

typedef struct bk_txn {
    bk_half *buckets[BK_TXN_BUCKETS];
    size_t npending;
    bk_txn_member_ent *members;
    size_t nmembers;
    size_t rr; /* the member asked first rotates */
    pthread_mutex_t *bmu;
    pthread_t thread;
    int running;
    atomic_int stop;
} bk_txn;

bk_half *bk_txn_find(bk_txn *x, const char *id);
/* Stores the decision about h (the committed copy first) and forgets h;
 * `by` says who decided (a member id or "producer"). 0 or -errno (h kept). */
int bk_txn_decide(mq_broker *b, bk_half *h, int decision, const char *by, char *err, size_t errlen);

#endif
