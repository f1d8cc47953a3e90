/* The broker's bounded key index (keyindex.h): a set-associative table. */
#include "mq/broker/keyindex.h"

#include <stdlib.h>

typedef struct key_slot {
    uint64_t key_hash; /* 0: empty */
    uint64_t topic_hash;
    uint64_t offset;
    uint64_t seq; /* insertion order, to replace the oldest and list the newest first */
} key_slot;

struct mq_keyindex {
    key_slot *slots;
    uint64_t seq;
};

uint64_t mq_keyindex_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h | 1;
}

mq_keyindex *mq_keyindex_new(void)
{
    mq_keyindex *k = calloc(1, sizeof *k);
    if (k != NULL &&
        (k->slots = calloc((size_t)KEYIDX_SETS * KEYIDX_WAYS, sizeof *k->slots)) == NULL) {
        free(k);
        k = NULL;
    }
    return k;
}

void mq_keyindex_free(mq_keyindex *k)
{
    if (k != NULL)
        free(k->slots);
    free(k);
}

static key_slot *set_of(const mq_keyindex *k, uint64_t h)
{
    /* the high bits pick the set, so a set's entries differ in the low ones */
    return &k->slots[(size_t)((h >> 40) & (KEYIDX_SETS - 1)) * KEYIDX_WAYS];
}

void mq_keyindex_put(mq_keyindex *k, const char *topic, const char *key, uint64_t offset)
{
    if (k == NULL || key == NULL || *key == '\0')
        return;
    uint64_t h = mq_keyindex_hash(key);
    key_slot *set = set_of(k, h), *victim = &set[0];
    for (int i = 0; i < KEYIDX_WAYS; i++) {
        if (set[i].key_hash == 0) {
            victim = &set[i];
            break;
        }
        if (set[i].seq < victim->seq)
            victim = &set[i];
    }
    *victim = (key_slot){h, mq_keyindex_hash(topic), offset, ++k->seq};
}

size_t mq_keyindex_find(const mq_keyindex *k, const char *key, mq_keyhit *out, size_t max)
{
    if (k == NULL || key == NULL || *key == '\0')
        return 0;
    uint64_t h = mq_keyindex_hash(key);
    const key_slot *set = set_of(k, h);
    const key_slot *hits[KEYIDX_WAYS];
    size_t n = 0;
    for (int i = 0; i < KEYIDX_WAYS; i++)
        if (set[i].key_hash == h)
            hits[n++] = &set[i];
    for (size_t i = 1; i < n; i++) /* newest first */
        for (size_t j = i; j > 0 && hits[j]->seq > hits[j - 1]->seq; j--) {
            const key_slot *t = hits[j];
            hits[j] = hits[j - 1];
            hits[j - 1] = t;
        }
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++)
        out[i] = (mq_keyhit){hits[i]->topic_hash, hits[i]->offset};
    return n;
}
