/* Internal to the consumer: the keys an ordered consumer holds back after a
 * RECONSUME_LATER. The broker keeps the held message in place and takes
 * back the key's later messages it had already sent to this consumer
 * (mq/broker/ordered.c); the consumer must not handle those. They are the
 * key's messages past the held offset from batches published up to the
 * reply to the ack that carried the RECONSUME_LATER (AckReply.last_seq):
 * anything of the key in a later batch, or the held message itself coming
 * back, ends the hold. */
#ifndef SHOP_MQ_CONSUMER_HELD_H
#define SHOP_MQ_CONSUMER_HELD_H

#include <stddef.h>
#include <stdint.h>

typedef struct mq_held {
    char *topic, *key;
    uint64_t offset;
    uint64_t req;      /* the ack request that carries it (0: not sent yet) */
    uint64_t last_seq; /* that request's AckReply.last_seq (0: not known yet) */
} mq_held;

typedef struct mq_held_set {
    mq_held *v;
    size_t n, cap;
} mq_held_set;

void mq_held_add(mq_held_set *s, const char *topic, const char *key, uint64_t offset);
/* The holds not yet sent go with ack request `req`. */
void mq_held_sent(mq_held_set *s, uint64_t req);
/* Ack requests up to `req` completed, the last one answered `last_seq`. */
void mq_held_answered(mq_held_set *s, uint64_t req, uint64_t last_seq);
/* 1: skip this delivery (from batch `seq`, 0: unknown) of key at offset;
 * 0: handle it (which may end a hold). */
int mq_held_skip(mq_held_set *s, const char *topic, const char *key, uint64_t offset, uint64_t seq);
/* Forgets every hold (subscribed again: the broker starts afresh). */
void mq_held_clear(mq_held_set *s);

#endif
