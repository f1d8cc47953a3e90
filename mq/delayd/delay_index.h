/* The in-memory index of pending delayed messages: a 32-byte entry per
 * message (due time, where its record is, its topic and key hash) in a slab,
 * a binary min-heap on (due, id) for the timer, and a hash of (topic, key)
 * for cancel. Bodies stay in the log. Not thread-safe: the daemon guards it
 * with one mutex. */
#ifndef SHOP_MQ_DELAY_INDEX_H
#define SHOP_MQ_DELAY_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define DELAY_NIL UINT32_MAX

typedef struct delay_entry {
    int64_t due_us;
    uint32_t seg, off;
    uint32_t khash; /* 0: no key */
    uint32_t hpos;  /* heap position; free-list link when free */
    uint32_t hnext; /* next in the key bucket */
    uint16_t topic;
    uint8_t state;
} delay_entry;

enum { DELAY_FREE, DELAY_PENDING, DELAY_IN_FLIGHT, DELAY_DEAD };

typedef struct delay_topic {
    char *name;
    uint64_t pending;
    int64_t next_due_us; /* filled by delay_index_topic_stats */
} delay_topic;

typedef struct delay_index {
    delay_entry *e;
    uint32_t used, cap, free_head;
    uint32_t *heap;
    uint32_t heap_n, heap_cap;
    uint32_t *buckets;
    uint32_t nbuckets, n_keyed;
    delay_topic *topics;
    uint32_t n_topics;
    uint64_t pending;
} delay_index;

void delay_index_init(delay_index *ix);
void delay_index_free(delay_index *ix);

/* The id of a topic name, created on first use; -1 when the table is full. */
int delay_index_topic(delay_index *ix, const char *name, size_t len);
uint32_t delay_key_hash(int topic, const char *key, size_t len);

/* Adds a pending message; returns 0 or -ENOMEM. */
int delay_index_add(delay_index *ix, int64_t due_us, uint32_t seg, uint32_t off, int topic,
                    uint32_t khash);

/* Recovery, in log order: load records, drop marked ones, then build. */
int delay_index_load(delay_index *ix, int64_t due_us, uint32_t seg, uint32_t off, int topic,
                     uint32_t khash);
int delay_index_load_mark(delay_index *ix, uint32_t seg, uint32_t off);
int delay_index_load_done(delay_index *ix);

/* Due time of the earliest pending message, INT64_MAX if none. */
int64_t delay_index_next_due(const delay_index *ix);
/* Takes the earliest message out of the heap and the key hash (in flight). */
uint32_t delay_index_pop(delay_index *ix);
/* Puts an in-flight message back (shutdown before it was delivered). */
void delay_index_unpop(delay_index *ix, uint32_t idx);
/* Forgets a delivered in-flight message. */
void delay_index_release(delay_index *ix, uint32_t idx);
/* Pending messages with this topic and key hash, at most max of them. */
size_t delay_index_find(const delay_index *ix, int topic, uint32_t khash, uint32_t *out,
                        size_t max);
/* Removes a pending message (cancel). */
void delay_index_remove(delay_index *ix, uint32_t idx);
/* Points a pending message at its new record (copied forward). */
void delay_index_move(delay_index *ix, uint32_t idx, uint32_t seg, uint32_t off);
/* Fills every topic's next_due_us (O(pending)). */
void delay_index_topic_stats(delay_index *ix);

#endif
