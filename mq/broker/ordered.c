/* Ordered consumption (RocketMQ's orderly consumer, per sharding key): in an
 * ordered group, the records of one key are handed out one at a time, in
 * offset order, across all of the group's instances. The message key is the
 * sharding key; a record without a key is not ordered.
 *
 * Invariant: of a key's records in the window, only the oldest one that is
 * not yet acknowledged (the head) is ever READY or WAITING. While the head
 * is INFLIGHT, its instance owns the key and up to BK_ORDER_DEPTH of the
 * key's next records follow it there, INFLIGHT too, in offset order (the
 * instance handles its deliveries in order on one thread, so still one at a
 * time); the rest are BK_BLOCKED, linked behind it. Only the head's ack is
 * taken, and it moves the key on: to the next record already in flight, or
 * (none) the key has no owner and its next head is ready for anyone.
 *
 * Taken back: when its instance dies or leaves, the head is ready again and
 * the followers blocked behind it, so a key moves to another instance only
 * once its unacknowledged records are released. An ack timeout with the
 * instance still there sends the head and followers to it again.
 * RECONSUME_LATER keeps the head in place (WAITING until its retry delay
 * passes, then back to its owner) and takes back the followers, which the
 * consumer skips (mq/consumer_held.h); other keys flow.
 *
 * Nothing here is persisted: after a restart the window is read again from
 * the committed offset, which rebuilds every key's order from the log. Keys
 * are told apart by a 64-bit hash; two keys that collide are simply ordered
 * together (slower, never wrong). */
#include "mq/broker/broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "mq/broker/trace.h"

#define KEY_SLOTS (2 * BK_WINDOW) /* a window never holds more keys than entries */

typedef struct key_slot {
    uint64_t hash; /* 0: empty */
    uint64_t head; /* offset + 1 of the oldest record not yet acknowledged */
    uint64_t tail; /* offset + 1 of the newest */
    int32_t owner; /* the consumer the key's records go to, -1: anyone */
} key_slot;

struct bk_keys {
    key_slot *slots;   /* open addressing, linear probing, KEY_SLOTS of them */
    uint64_t *hash_of; /* per window entry: its key's hash (0: no key) */
    uint64_t *link;    /* per window entry: the next record of its key */
};

int bk_ordered_enable(bk_queue *q)
{
    if (q->keys)
        return 0;
    bk_keys *k = calloc(1, sizeof *k);
    if (!k || !(k->slots = calloc(KEY_SLOTS, sizeof *k->slots)) ||
        !(k->hash_of = calloc(BK_WINDOW, sizeof *k->hash_of)) ||
        !(k->link = calloc(BK_WINDOW, sizeof *k->link))) {
        if (k) {
            free(k->slots);
            free(k->hash_of);
        }
        free(k);
        return -1;
    }
    q->keys = k;
    return 0;
}

void bk_ordered_free(bk_queue *q)
{
    if (!q->keys)
        return;
    free(q->keys->slots);
    free(q->keys->hash_of);
    free(q->keys->link);
    free(q->keys);
    q->keys = NULL;
}

void bk_ordered_clear(bk_queue *q)
{
    if (q->keys)
        memset(q->keys->slots, 0, KEY_SLOTS * sizeof *q->keys->slots);
}

/* The window restarts at the committed offset (nobody holds anything). */
static void window_restart(mq_broker *b, bk_queue *q)
{
    memset(q->win, 0, BK_WINDOW * sizeof *q->win);
    q->next = q->base;
    q->inflight = q->waiting = 0;
    q->ready_head = q->ready_len = 0;
    b->offsets_dirty = 1;
}

int bk_group_set_ordered(mq_broker *b, bk_group *g, int ordered)
{
    for (size_t i = 0; i < g->nq; i++) {
        bk_queue *q = g->queues[i];
        if (q->retry)
            continue;
        if (ordered && bk_ordered_enable(q) != 0)
            return -1;
        if (!ordered)
            bk_ordered_free(q);
        bk_ordered_clear(q);
        window_restart(b, q);
    }
    for (size_t i = 0; i < b->ncons; i++)
        if (b->cons[i] && b->cons[i]->g == g)
            b->cons[i]->inflight = 0; /* what they held is forgotten */
    g->ordered = ordered;
    shop_log_info("group mode group=%s ordered=%d", g->name, ordered);
    return 0;
}

/* The key (field 3) of a packed Record, without unpacking the rest. */
static int record_key(const uint8_t *p, size_t len, const uint8_t **key, size_t *klen)
{
    size_t i = 0;
    *klen = 0;
    while (i < len) {
        uint64_t tag = 0, v = 0;
        for (int s = 0; i < len && s < 64; s += 7) {
            tag |= (uint64_t)(p[i] & 0x7f) << s;
            if (!(p[i++] & 0x80))
                break;
        }
        unsigned wt = tag & 7;
        if (wt == 0) {
            while (i < len && (p[i++] & 0x80))
                ;
            continue;
        }
        if (wt == 1 || wt == 5) {
            i += wt == 1 ? 8 : 4;
            continue;
        }
        if (wt != 2)
            return -1;
        for (int s = 0; i < len && s < 64; s += 7) {
            v |= (uint64_t)(p[i] & 0x7f) << s;
            if (!(p[i++] & 0x80))
                break;
        }
        if (v > len - i)
            return -1;
        if (tag >> 3 == 3) {
            *key = p + i;
            *klen = (size_t)v;
            return 0;
        }
        i += (size_t)v;
    }
    return 0;
}

static uint64_t key_hash(const uint8_t *k, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 1099511628211ull;
    return h ? h : 1;
}

static key_slot *slot_find(bk_keys *k, uint64_t hash, int create)
{
    for (size_t i = hash & (KEY_SLOTS - 1);; i = (i + 1) & (KEY_SLOTS - 1)) {
        key_slot *s = &k->slots[i];
        if (s->hash == hash)
            return s;
        if (s->hash == 0) {
            if (!create)
                return NULL;
            *s = (key_slot){.hash = hash, .owner = -1};
            return s;
        }
    }
}

/* Linear probing's deletion: later slots of the run move back into the hole. */
static void slot_delete(bk_keys *k, key_slot *s)
{
    size_t hole = (size_t)(s - k->slots);
    for (size_t i = (hole + 1) & (KEY_SLOTS - 1); k->slots[i].hash; i = (i + 1) & (KEY_SLOTS - 1)) {
        size_t home = k->slots[i].hash & (KEY_SLOTS - 1);
        /* movable if its home is not in (hole, i], cyclically */
        if ((i > hole && (home <= hole || home > i)) || (i < hole && home <= hole && home > i)) {
            k->slots[hole] = k->slots[i];
            hole = i;
        }
    }
    k->slots[hole].hash = 0;
}

static key_slot *slot_of(bk_queue *q, uint64_t off)
{
    uint64_t h = q->keys->hash_of[off % BK_WINDOW];
    return h ? slot_find(q->keys, h, 0) : NULL;
}

static bk_entry *entry(bk_queue *q, uint64_t off1)
{
    return &q->win[(off1 - 1) % BK_WINDOW];
}

/* The key's owner gets its next records while the ones before are in
 * flight to it, up to BK_ORDER_DEPTH: a key's records are still handled one
 * at a time (the owner handles its deliveries in order, on one thread), but
 * without a round trip between two of them. */
static void top_up(mq_broker *b, bk_queue *q, key_slot *s)
{
    bk_consumer *c = s->owner >= 0 && (size_t)s->owner < b->ncons ? b->cons[s->owner] : NULL;
    if (!c || c->g != q->g)
        return;
    uint64_t cur = s->head;
    int n = 0;
    for (;;) {
        bk_entry *e = entry(q, cur);
        if (e->state == BK_INFLIGHT && e->consumer == s->owner)
            n++;
        else if (e->state == BK_BLOCKED && n > 0 && n < BK_ORDER_DEPTH &&
                 c->inflight < c->max_inflight && bk_give(b, q, cur - 1, s->owner) == 0)
            n++;
        else
            return;
        if (cur == s->tail)
            return;
        cur = q->keys->link[(cur - 1) % BK_WINDOW];
    }
}

int bk_ordered_admit(mq_broker *b, bk_queue *q, uint64_t off)
{
    bk_keys *k = q->keys;
    size_t w = off % BK_WINDOW;
    k->hash_of[w] = 0;
    const uint8_t *data, *key = NULL;
    size_t len, klen = 0;
    if (mq_store_read(b->store, q->t, off, &data, &len) != 0 ||
        record_key(data, len, &key, &klen) != 0 || klen == 0)
        return 1; /* no key (or unreadable: the fill fails and acks it) */
    uint64_t h = key_hash(key, klen);
    k->hash_of[w] = h;
    key_slot *s = slot_find(k, h, 1);
    if (s->tail == 0) {
        s->head = s->tail = off + 1;
        return 1;
    }
    k->link[(s->tail - 1) % BK_WINDOW] = off + 1;
    s->tail = off + 1;
    q->win[w].state = BK_BLOCKED;
    top_up(b, q, s);
    return 0;
}

int bk_ordered_is_head(bk_queue *q, uint64_t off)
{
    key_slot *s = slot_of(q, off);
    return !s || s->head == off + 1;
}

int32_t bk_ordered_owner(mq_broker *b, bk_queue *q, uint64_t off, int32_t picked)
{
    key_slot *s = slot_of(q, off);
    if (!s || s->owner < 0 || (size_t)s->owner >= b->ncons || !b->cons[s->owner] ||
        b->cons[s->owner]->g != q->g)
        return picked;
    return s->owner;
}

void bk_ordered_sent(mq_broker *b, bk_queue *q, uint64_t off, int32_t slot)
{
    key_slot *s = slot_of(q, off);
    if (!s)
        return;
    s->owner = slot;
    top_up(b, q, s);
}

/* Takes a record in flight back: counts given back, then `state`. */
static void take_back(mq_broker *b, bk_queue *q, bk_entry *e, uint8_t state)
{
    bk_consumer *c =
        e->consumer >= 0 && (size_t)e->consumer < b->ncons ? b->cons[e->consumer] : NULL;
    if (c && c->inflight > 0)
        c->inflight--;
    q->inflight--;
    e->state = state;
}

/* The key's records in flight after its head go back behind it. */
static void revoke_after_head(mq_broker *b, bk_queue *q, key_slot *s)
{
    for (uint64_t cur = s->head; cur != s->tail;) {
        cur = q->keys->link[(cur - 1) % BK_WINDOW];
        bk_entry *e = entry(q, cur);
        if (e->state != BK_INFLIGHT)
            break;
        take_back(b, q, e, BK_BLOCKED);
    }
}

int bk_ordered_requeue(mq_broker *b, bk_queue *q, uint64_t off)
{
    bk_entry *e = &q->win[off % BK_WINDOW];
    key_slot *s = slot_of(q, off);
    if (!s || s->head == off + 1) { /* the head (or no key): ready again, the key with it */
        if (s) {
            revoke_after_head(b, q, s);
            s->owner = -1;
        }
        take_back(b, q, e, BK_READY);
        bk_queue_push_ready(q, off);
        return 1;
    }
    if (entry(q, s->head)->state == BK_INFLIGHT)
        return 0; /* goes back with its head */
    take_back(b, q, e, BK_BLOCKED);
    return 0;
}

/* Sends the record at off1 - 1 again to the consumer that holds it. */
static int send_again(mq_broker *b, bk_queue *q, bk_consumer *c, uint64_t off1, int64_t now)
{
    bk_entry *e = entry(q, off1);
    if (bk_delivery_fill(b, q, off1 - 1, &c->out[c->nout]) != 0)
        return -1;
    c->out_bytes += c->out[c->nout].record.len;
    e->seq = (uint32_t)(c->seq + 1);
    e->when_ms = now + b->o.ack_timeout_ms;
    bk_trace_note(b->trace, BK_TR_DELIVERED, q->t->name, off1 - 1, q->g->name, c->id,
                  e->reconsume + 1u);
    if (++c->nout == BK_BATCH_MAX || c->out_bytes >= BK_BATCH_BYTES)
        bk_publish(b, c);
    return 0;
}

void bk_ordered_timeout(mq_broker *b, bk_queue *q, uint64_t off, int64_t now)
{
    bk_entry *e = &q->win[off % BK_WINDOW];
    key_slot *s = slot_of(q, off);
    if (s && s->head != off + 1) {
        e->when_ms = now + b->o.ack_timeout_ms; /* a follower waits for its head */
        return;
    }
    bk_consumer *c =
        e->consumer >= 0 && (size_t)e->consumer < b->ncons ? b->cons[e->consumer] : NULL;
    if (!s || !c || c->g != q->g) {
        bk_ordered_requeue(b, q, off);
        return;
    }
    bk_trace_note(b->trace, BK_TR_TIMEOUT, q->t->name, off, q->g->name, c->id, e->reconsume + 1u);
    /* Its instance is alive (it heartbeats): a delivery or an ack was lost.
     * The head and the records behind it go to it again, in order, and only
     * to it, so that the key never runs on two instances at once. */
    for (uint64_t cur = s->head;;) {
        bk_entry *f = entry(q, cur);
        if (f->state != BK_INFLIGHT || f->consumer != e->consumer ||
            send_again(b, q, c, cur, now) != 0 || cur == s->tail)
            return;
        cur = q->keys->link[(cur - 1) % BK_WINDOW];
    }
}

void bk_ordered_release(mq_broker *b, bk_queue *q, uint64_t off)
{
    bk_keys *k = q->keys;
    size_t w = off % BK_WINDOW;
    key_slot *s = slot_of(q, off);
    if (!s || s->head != off + 1)
        return; /* no key, or not the head (acks of others are refused) */
    k->hash_of[w] = 0;
    if (s->tail == off + 1) {
        slot_delete(k, s);
        return;
    }
    s->head = k->link[w];
    bk_entry *e = entry(q, s->head);
    if (e->state == BK_INFLIGHT) { /* on its way to the owner already */
        top_up(b, q, s);
        return;
    }
    s->owner = -1;
    if (e->state == BK_BLOCKED) {
        e->state = BK_READY;
        bk_queue_push_ready(q, s->head - 1);
    }
}

int bk_ordered_hold(mq_broker *b, bk_queue *q, uint64_t off, char *err, size_t errlen)
{
    bk_entry *e = &q->win[off % BK_WINDOW];
    if (e->reconsume >= q->g->max_reconsume)
        return bk_reconsume_later(b, q, off, err, errlen) == 0 ? 1 : -1; /* to the DLQ */
    key_slot *s = slot_of(q, off);
    if (s) /* the owner skips what it got of the key after this one (mq/consumer.c) */
        revoke_after_head(b, q, s);
    if (e->state == BK_INFLIGHT)
        take_back(b, q, e, BK_WAITING);
    e->state = BK_WAITING;
    e->when_ms = shop_wall_ms() + bk_retry_delay_ms(b, e->reconsume);
    e->reconsume++;
    q->waiting++;
    return 0;
}
