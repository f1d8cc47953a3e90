/* Slab, heap and key hash of the delay index (see delay_index.h). */
#include "mq/delayd/delay_index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOPICS 65535

void delay_index_init(delay_index *ix)
{
    memset(ix, 0, sizeof *ix);
    ix->free_head = DELAY_NIL;
}

void delay_index_free(delay_index *ix)
{
    for (uint32_t i = 0; i < ix->n_topics; i++) {
        free(ix->topics[i].name);
    }
    free(ix->topics);
    free(ix->e);
    free(ix->heap);
    free(ix->buckets);
    delay_index_init(ix);
}

int delay_index_topic(delay_index *ix, const char *name, size_t len)
{
    for (uint32_t i = 0; i < ix->n_topics; i++) {
        if (strlen(ix->topics[i].name) == len && memcmp(ix->topics[i].name, name, len) == 0) {
            return (int)i;
        }
    }
    if (ix->n_topics >= MAX_TOPICS) {
        return -1;
    }
    delay_topic *t = realloc(ix->topics, (ix->n_topics + 1) * sizeof *t);
    if (!t) {
        return -1;
    }
    ix->topics = t;
    char *s = malloc(len + 1);
    if (!s) {
        return -1;
    }
    memcpy(s, name, len);
    s[len] = '\0';
    ix->topics[ix->n_topics] = (delay_topic){s, 0, 0};
    return (int)ix->n_topics++;
}

uint32_t delay_key_hash(int topic, const char *key, size_t len)
{
    if (len == 0) {
        return 0;
    }
    uint32_t h = 2166136261u ^ (uint32_t)topic;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)key[i]) * 16777619u;
    }
    return h ? h : 1;
}

/* ---- heap on (due, seg, off) ---- */

static int before(const delay_index *ix, uint32_t a, uint32_t b)
{
    const delay_entry *x = &ix->e[a], *y = &ix->e[b];
    if (x->due_us != y->due_us) {
        return x->due_us < y->due_us;
    }
    if (x->seg != y->seg) {
        return x->seg < y->seg;
    }
    return x->off < y->off;
}

static void heap_set(delay_index *ix, uint32_t pos, uint32_t idx)
{
    ix->heap[pos] = idx;
    ix->e[idx].hpos = pos;
}

static void sift_up(delay_index *ix, uint32_t pos)
{
    uint32_t idx = ix->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!before(ix, idx, ix->heap[parent])) {
            break;
        }
        heap_set(ix, pos, ix->heap[parent]);
        pos = parent;
    }
    heap_set(ix, pos, idx);
}

static void sift_down(delay_index *ix, uint32_t pos)
{
    uint32_t idx = ix->heap[pos];
    for (;;) {
        uint32_t c = 2 * pos + 1;
        if (c >= ix->heap_n) {
            break;
        }
        if (c + 1 < ix->heap_n && before(ix, ix->heap[c + 1], ix->heap[c])) {
            c++;
        }
        if (!before(ix, ix->heap[c], idx)) {
            break;
        }
        heap_set(ix, pos, ix->heap[c]);
        pos = c;
    }
    heap_set(ix, pos, idx);
}

static int heap_push(delay_index *ix, uint32_t idx)
{
    if (ix->heap_n == ix->heap_cap) {
        uint32_t cap = ix->heap_cap ? ix->heap_cap * 2 : 1024;
        uint32_t *h = realloc(ix->heap, cap * sizeof *h);
        if (!h) {
            return -ENOMEM;
        }
        ix->heap = h;
        ix->heap_cap = cap;
    }
    heap_set(ix, ix->heap_n++, idx);
    sift_up(ix, ix->heap_n - 1);
    return 0;
}

static void heap_delete(delay_index *ix, uint32_t pos)
{
    uint32_t last = ix->heap[--ix->heap_n];
    if (pos == ix->heap_n) {
        return;
    }
    heap_set(ix, pos, last);
    if (pos > 0 && before(ix, last, ix->heap[(pos - 1) / 2])) {
        sift_up(ix, pos);
    } else {
        sift_down(ix, pos);
    }
}

/* ---- key hash ---- */

static int rehash(delay_index *ix, uint32_t nb)
{
    uint32_t *b = malloc((size_t)nb * sizeof *b);
    if (!b) {
        return -ENOMEM;
    }
    memset(b, 0xff, (size_t)nb * sizeof *b);
    for (uint32_t i = 0; i < ix->used; i++) {
        delay_entry *en = &ix->e[i];
        if (en->state == DELAY_PENDING && en->khash) {
            en->hnext = b[en->khash & (nb - 1)];
            b[en->khash & (nb - 1)] = i;
        }
    }
    free(ix->buckets);
    ix->buckets = b;
    ix->nbuckets = nb;
    return 0;
}

static int key_insert(delay_index *ix, uint32_t idx)
{
    delay_entry *en = &ix->e[idx];
    if (!en->khash) {
        return 0;
    }
    if (ix->n_keyed + 1 > ix->nbuckets) {
        /* rehash chains every keyed PENDING entry: hide this one from it, or
         * it would be chained twice (a cycle) */
        uint8_t state = en->state;
        en->state = DELAY_FREE;
        int rv = rehash(ix, ix->nbuckets ? ix->nbuckets * 2 : 1024);
        en->state = state;
        if (rv != 0) {
            return -ENOMEM;
        }
    }
    uint32_t b = en->khash & (ix->nbuckets - 1);
    en->hnext = ix->buckets[b];
    ix->buckets[b] = idx;
    ix->n_keyed++;
    return 0;
}

static void key_delete(delay_index *ix, uint32_t idx)
{
    delay_entry *en = &ix->e[idx];
    if (!en->khash) {
        return;
    }
    uint32_t *p = &ix->buckets[en->khash & (ix->nbuckets - 1)];
    while (*p != DELAY_NIL && *p != idx) {
        p = &ix->e[*p].hnext;
    }
    if (*p == idx) {
        *p = en->hnext;
        ix->n_keyed--;
    }
}

/* ---- slab ---- */

static int slab_alloc(delay_index *ix, uint32_t *idx)
{
    if (ix->free_head != DELAY_NIL) {
        *idx = ix->free_head;
        ix->free_head = ix->e[*idx].hpos;
        return 0;
    }
    if (ix->used == ix->cap) {
        uint32_t cap = ix->cap ? ix->cap * 2 : 1024;
        delay_entry *e = realloc(ix->e, (size_t)cap * sizeof *e);
        if (!e) {
            return -ENOMEM;
        }
        ix->e = e;
        ix->cap = cap;
    }
    *idx = ix->used++;
    return 0;
}

static void slab_free(delay_index *ix, uint32_t idx)
{
    ix->e[idx].state = DELAY_FREE;
    ix->e[idx].hpos = ix->free_head;
    ix->free_head = idx;
}

int delay_index_add(delay_index *ix, int64_t due_us, uint32_t seg, uint32_t off, int topic,
                    uint32_t khash)
{
    uint32_t idx;
    if (slab_alloc(ix, &idx) != 0) {
        return -ENOMEM;
    }
    ix->e[idx] =
        (delay_entry){due_us, seg, off, khash, 0, DELAY_NIL, (uint16_t)topic, DELAY_PENDING};
    if (heap_push(ix, idx) != 0 || key_insert(ix, idx) != 0) {
        if (ix->e[idx].hpos < ix->heap_n && ix->heap[ix->e[idx].hpos] == idx) {
            heap_delete(ix, ix->e[idx].hpos);
        }
        slab_free(ix, idx);
        return -ENOMEM;
    }
    ix->topics[topic].pending++;
    ix->pending++;
    return 0;
}

int delay_index_load(delay_index *ix, int64_t due_us, uint32_t seg, uint32_t off, int topic,
                     uint32_t khash)
{
    uint32_t idx;
    if (ix->free_head != DELAY_NIL || slab_alloc(ix, &idx) != 0) {
        return -ENOMEM; /* loading appends in log order; no free list yet */
    }
    ix->e[idx] =
        (delay_entry){due_us, seg, off, khash, 0, DELAY_NIL, (uint16_t)topic, DELAY_PENDING};
    return 0;
}

int delay_index_load_mark(delay_index *ix, uint32_t seg, uint32_t off)
{
    uint64_t want = ((uint64_t)seg << 32) | off;
    uint32_t lo = 0, hi = ix->used;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint64_t at = ((uint64_t)ix->e[mid].seg << 32) | ix->e[mid].off;
        if (at < want) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < ix->used && ix->e[lo].seg == seg && ix->e[lo].off == off &&
        ix->e[lo].state == DELAY_PENDING) {
        ix->e[lo].state = DELAY_DEAD;
        return 1;
    }
    return 0;
}

int delay_index_load_done(delay_index *ix)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < ix->used; i++) {
        if (ix->e[i].state == DELAY_PENDING) {
            ix->e[n++] = ix->e[i];
        }
    }
    ix->used = n;
    if (n > ix->heap_cap) {
        uint32_t *h = realloc(ix->heap, (size_t)n * sizeof *h);
        if (!h) {
            return -ENOMEM;
        }
        ix->heap = h;
        ix->heap_cap = n;
    }
    uint32_t nb = 1024;
    while (nb < n) {
        nb *= 2;
    }
    for (uint32_t i = 0; i < n; i++) {
        heap_set(ix, i, i);
        ix->topics[ix->e[i].topic].pending++;
        ix->n_keyed += ix->e[i].khash != 0;
    }
    ix->heap_n = n;
    ix->pending = n;
    for (uint32_t i = n / 2; i-- > 0;) {
        sift_down(ix, i);
    }
    return rehash(ix, nb);
}

int64_t delay_index_next_due(const delay_index *ix)
{
    return ix->heap_n ? ix->e[ix->heap[0]].due_us : INT64_MAX;
}

uint32_t delay_index_pop(delay_index *ix)
{
    uint32_t idx = ix->heap[0];
    heap_delete(ix, 0);
    key_delete(ix, idx);
    ix->e[idx].state = DELAY_IN_FLIGHT;
    return idx;
}

void delay_index_unpop(delay_index *ix, uint32_t idx)
{
    ix->e[idx].state = DELAY_PENDING;
    if (heap_push(ix, idx) != 0 || key_insert(ix, idx) != 0) {
        ix->e[idx].state = DELAY_IN_FLIGHT; /* the log still has it: a restart finds it */
    }
}

void delay_index_release(delay_index *ix, uint32_t idx)
{
    ix->topics[ix->e[idx].topic].pending--;
    ix->pending--;
    slab_free(ix, idx);
}

size_t delay_index_find(const delay_index *ix, int topic, uint32_t khash, uint32_t *out, size_t max)
{
    size_t n = 0;
    if (!khash || !ix->nbuckets) {
        return 0;
    }
    for (uint32_t i = ix->buckets[khash & (ix->nbuckets - 1)]; i != DELAY_NIL && n < max;
         i = ix->e[i].hnext) {
        if (ix->e[i].khash == khash && ix->e[i].topic == topic) {
            out[n++] = i;
        }
    }
    return n;
}

void delay_index_remove(delay_index *ix, uint32_t idx)
{
    heap_delete(ix, ix->e[idx].hpos);
    key_delete(ix, idx);
    delay_index_release(ix, idx);
}

void delay_index_move(delay_index *ix, uint32_t idx, uint32_t seg, uint32_t off)
{
    ix->e[idx].seg = seg;
    ix->e[idx].off = off;
    /* (due, seg, off) is the heap key: restore the order among equal dues */
    uint32_t pos = ix->e[idx].hpos;
    if (pos > 0 && before(ix, idx, ix->heap[(pos - 1) / 2])) {
        sift_up(ix, pos);
    } else {
        sift_down(ix, pos);
    }
}

void delay_index_topic_stats(delay_index *ix)
{
    for (uint32_t t = 0; t < ix->n_topics; t++) {
        ix->topics[t].next_due_us = 0;
    }
    for (uint32_t i = 0; i < ix->heap_n; i++) {
        const delay_entry *en = &ix->e[ix->heap[i]];
        delay_topic *t = &ix->topics[en->topic];
        if (t->next_due_us == 0 || en->due_us < t->next_due_us) {
            t->next_due_us = en->due_us;
        }
    }
}
