/* The keys an ordered consumer holds back after a RECONSUME_LATER (see
 * consumer_held.h). Holds are few and short-lived: a plain array. */
#include "mq/consumer_held.h"

#include <stdlib.h>
#include <string.h>

void mq_held_add(mq_held_set *s, const char *topic, const char *key, uint64_t offset)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].key, key) == 0 && strcmp(s->v[i].topic, topic) == 0) {
            s->v[i].offset = offset;
            s->v[i].req = s->v[i].last_seq = 0;
            return;
        }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        mq_held *n = realloc(s->v, cap * sizeof *n);
        if (!n)
            return; /* the broker still holds the key; its later messages would be handled */
        s->v = n;
        s->cap = cap;
    }
    mq_held *h = &s->v[s->n];
    *h = (mq_held){.topic = strdup(topic), .key = strdup(key), .offset = offset};
    if (!h->topic || !h->key) {
        free(h->topic);
        free(h->key);
        return;
    }
    s->n++;
}

void mq_held_sent(mq_held_set *s, uint64_t req)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].req == 0)
            s->v[i].req = req;
}

void mq_held_answered(mq_held_set *s, uint64_t req, uint64_t last_seq)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].req != 0 && s->v[i].req <= req && s->v[i].last_seq == 0)
            s->v[i].last_seq = last_seq ? last_seq : 1;
}

static void drop(mq_held_set *s, size_t i)
{
    free(s->v[i].topic);
    free(s->v[i].key);
    s->v[i] = s->v[--s->n];
}

int mq_held_skip(mq_held_set *s, const char *topic, const char *key, uint64_t offset, uint64_t seq)
{
    for (size_t i = 0; i < s->n; i++) {
        mq_held *h = &s->v[i];
        if (strcmp(h->key, key) != 0 || strcmp(h->topic, topic) != 0)
            continue;
        if (offset > h->offset && (h->last_seq == 0 || seq == 0 || seq <= h->last_seq))
            return 1; /* taken back by the broker: it comes again after the held one */
        drop(s, i);   /* the held message again, or the key's next after the hold */
        return 0;
    }
    return 0;
}

void mq_held_clear(mq_held_set *s)
{
    while (s->n > 0)
        drop(s, s->n - 1);
}
