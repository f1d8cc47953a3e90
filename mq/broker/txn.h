/* Transactional (half) messages, as RocketMQ's: a half message is stored in
 * the internal topic %HALF% (never delivered); the producer's decision, or
 * the answer of a check-back to any live member of its producer group, is
 * stored as a record in %TXN_OP% after the committed copy (in the message's
 * own topic, same id, stored once). The undecided halves are rebuilt from
 * the two topics when the broker starts, so they survive a kill -9. */
#ifndef SHOP_MQ_BROKER_TXN_H
#define SHOP_MQ_BROKER_TXN_H

#include <pthread.h>

#include "mq/broker/broker.h"

#define BK_HALF_TOPIC "%HALF%"
#define BK_TXN_OP_TOPIC "%TXN_OP%"
#define BK_PROP_TXN_GROUP "%TXN_GROUP"
#define BK_PROP_HALF_OFFSET "%HALF_OFFSET"
#define BK_TXN_MEMBER_LIVE_MS 3000 /* a member not heard of for this long is not asked */

/* Rebuilds the undecided halves from the log (b->txn). */
int bk_txn_open(mq_broker *b, char *err, size_t errlen);
void bk_txn_close(mq_broker *b);

/* The requests (broker lock held). */
void bk_txn_half(mq_broker *b, const Shop__Mq__TxnHalf *req, Shop__Mq__Reply *rep, bk_arena *a);
void bk_txn_end(mq_broker *b, const Shop__Mq__TxnEnd *req, Shop__Mq__Reply *rep, bk_arena *a);
void bk_txn_member(mq_broker *b, const Shop__Mq__TxnMember *req, Shop__Mq__Reply *rep, bk_arena *a);

/* Undecided halves (for stats and tests). */
size_t bk_txn_pending(const mq_broker *b);

/* The check-back thread (txn_check.c): asks the producer group about halves
 * undecided for --txn-check-ms, up to --txn-check-max times, then discards
 * them. It stores decisions under `bmu` and syncs them itself. */
int bk_txn_checker_start(mq_broker *b, pthread_mutex_t *bmu);
void bk_txn_checker_stop(mq_broker *b);

#endif
