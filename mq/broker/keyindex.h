/* The broker's key index, for `shopflow mq get --key` (RocketMQ's
 * queryMsgByKey): from a message key to where the most recent records with
 * that key are stored. Bounded: KEYIDX_SETS sets of KEYIDX_WAYS entries
 * (2^18 entries, 8 MiB), a new entry replacing the oldest of its set, so old
 * keys fall out as new ones come in. Lookups return candidates: the caller
 * reads each record back and compares its key (hash collisions; records
 * gone by retention or a failed write). The store fills it on every append
 * and recovery rebuilds it while it scans the segments. Loop thread only. */
#ifndef MQ_BROKER_KEYINDEX_H
#define MQ_BROKER_KEYINDEX_H

#include <stddef.h>
#include <stdint.h>

#define KEYIDX_WAYS 4
#define KEYIDX_SETS (1u << 16)

typedef struct mq_keyhit {
    uint64_t topic_hash; /* mq_keyindex_hash of the topic's name */
    uint64_t offset;
} mq_keyhit;

typedef struct mq_keyindex mq_keyindex;

/* NULL when out of memory. */
mq_keyindex *mq_keyindex_new(void);
void mq_keyindex_free(mq_keyindex *k);

/* Records that `topic` has a record with `key` at `offset` (no-op for an
 * empty key). */
void mq_keyindex_put(mq_keyindex *k, const char *topic, const char *key, uint64_t offset);

/* Candidates for `key`, newest first, at most max (<= KEYIDX_WAYS). */
size_t mq_keyindex_find(const mq_keyindex *k, const char *key, mq_keyhit *out, size_t max);

/* FNV-1a, never 0. */
uint64_t mq_keyindex_hash(const char *s);

#endif
