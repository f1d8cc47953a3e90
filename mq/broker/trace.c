/* The trace's memory side: a ring of the newest events (bounded: the oldest
 * are overwritten), the names they refer to, and the lookup by message id:
 * the STORED events carrying the id's hash give the stored copies (topic,
 * offset) of the message, then every event about one of those copies. */
#include "mq/broker/trace_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "mq/broker/keyindex.h"

static const char *const kind_names[BK_TR_KINDS] = {
    "?",   "STORED",   "DELIVERED", "ACKED",    "RECONSUME_LATER", "TIMEOUT",
    "DLQ", "REDRIVEN", "COMMIT",    "ROLLBACK", "CHECK",           "DISCARD"};

const char *bk_trace_kind_name(int kind)
{
    return kind > 0 && kind < BK_TR_KINDS ? kind_names[kind] : "?";
}

const char *bk_trace_name(const bk_trace *t, uint32_t id)
{
    if (id == 0)
        return "";
    return t && id <= t->nnames && t->names[id] ? t->names[id] : "?";
}

/* The name's id, interned (with `id` when loading, 0: the next one). */
uint32_t bk_trace_intern_id(bk_trace *t, const char *name, uint32_t id)
{
    if (!name || !*name)
        return 0;
    uint64_t h = mq_keyindex_hash(name);
    for (uint32_t i = 0; i < BK_TRACE_NAME_SLOTS; i++) {
        uint32_t *s = &t->slots[(h + i) % BK_TRACE_NAME_SLOTS];
        if (*s == 0) {
            if (id == 0)
                id = t->nnames + 1;
            if (id > BK_TRACE_NAMES_MAX)
                return BK_TRACE_NONAME;
            char *copy = strdup(name);
            if (!copy)
                return BK_TRACE_NONAME;
            free(t->names[id]);
            t->names[id] = copy;
            if (id > t->nnames)
                t->nnames = id;
            *s = id;
            uint8_t rec[4 + 256];
            size_t n = strlen(name) < 256 ? strlen(name) : 255;
            memcpy(rec, &id, 4);
            memcpy(rec + 4, name, n);
            bk_trace_buf_add(t, BK_TRACE_REC_NAME, rec, 4 + n);
            return id;
        }
        if (t->names[*s] && strcmp(t->names[*s], name) == 0)
            return *s;
    }
    return BK_TRACE_NONAME;
}

void bk_trace_push(bk_trace *t, const bk_trace_ev *e)
{
    t->ring[t->head % t->cap] = *e;
    t->head++;
}

static void add(bk_trace *t, bk_trace_ev *e)
{
    bk_trace_push(t, e);
    bk_trace_buf_add(t, BK_TRACE_REC_EVENT, e, sizeof *e);
}

void bk_trace_stored(void *trace, const Shop__Mq__Record *rec)
{
    bk_trace *t = trace;
    if (!t)
        return;
    bk_trace_ev e = {.ts_ms = rec->timestamp_ms,
                     .offset = rec->offset,
                     .id_hash = rec->id && *rec->id ? mq_keyindex_hash(rec->id) : 0,
                     .topic = bk_trace_intern_id(t, rec->topic, 0),
                     .kind = BK_TR_STORED};
    add(t, &e);
}

/* The id of `name` as bk_trace_intern_id gives it, without hashing the
 * name when it is the pointer noted last in this role: the id's text is
 * compared still, as a freed name's memory may hold another name since. */
static uint32_t intern_memo(bk_trace *t, bk_trace_memo *m, const char *name)
{
    if (name && name == m->ptr && m->id <= t->nnames && t->names[m->id] &&
        strcmp(t->names[m->id], name) == 0)
        return m->id;
    uint32_t id = bk_trace_intern_id(t, name, 0);
    if (id != 0 && id != BK_TRACE_NONAME)
        *m = (bk_trace_memo){name, id};
    return id;
}

void bk_trace_note(bk_trace *t, int kind, const char *topic, uint64_t offset, const char *group,
                   const char *consumer, unsigned attempt)
{
    if (!t)
        return;
    bk_trace_ev e = {.ts_ms = shop_wall_ms(),
                     .offset = offset,
                     .topic = intern_memo(t, &t->memo[0], topic),
                     .group = intern_memo(t, &t->memo[1], group),
                     .consumer = intern_memo(t, &t->memo[2], consumer),
                     .attempt = (uint16_t)(attempt > 65535 ? 65535 : attempt),
                     .kind = (uint8_t)kind};
    add(t, &e);
}

#define KEYS_MAX 256

typedef struct trace_key {
    uint32_t topic;
    uint64_t offset;
} trace_key;

static int key_has(const trace_key *k, size_t n, uint32_t topic, uint64_t offset)
{
    for (size_t i = 0; i < n; i++)
        if (k[i].topic == topic && k[i].offset == offset)
            return 1;
    return 0;
}

/* The id of a name already interned (0: none), without interning it. */
static uint32_t name_lookup(const bk_trace *t, const char *name)
{
    uint64_t h = mq_keyindex_hash(name);
    for (uint32_t i = 0; i < BK_TRACE_NAME_SLOTS; i++) {
        uint32_t s = t->slots[(h + i) % BK_TRACE_NAME_SLOTS];
        if (s == 0)
            return 0;
        if (t->names[s] && strcmp(t->names[s], name) == 0)
            return s;
    }
    return 0;
}

size_t bk_trace_find(bk_trace *t, const char *id, const char *const *topics, const uint64_t *offs,
                     size_t nkeys, bk_trace_ev *out, size_t max, int *truncated)
{
    *truncated = 0;
    if (!t || !id || !*id)
        return 0;
    trace_key keys[KEYS_MAX];
    size_t nk = 0;
    for (size_t i = 0; i < nkeys && nk < KEYS_MAX; i++) {
        uint32_t topic = name_lookup(t, topics[i]);
        if (topic && !key_has(keys, nk, topic, offs[i]))
            keys[nk++] = (trace_key){topic, offs[i]};
    }
    uint64_t h = mq_keyindex_hash(id);
    uint64_t first = t->head > t->cap ? t->head - t->cap : 0;
    for (uint64_t i = first; i < t->head && nk < KEYS_MAX; i++) {
        const bk_trace_ev *e = &t->ring[i % t->cap];
        if (e->kind == BK_TR_STORED && e->id_hash == h && !key_has(keys, nk, e->topic, e->offset))
            keys[nk++] = (trace_key){e->topic, e->offset};
    }
    size_t n = 0;
    for (uint64_t i = first; i < t->head; i++) {
        const bk_trace_ev *e = &t->ring[i % t->cap];
        if (!key_has(keys, nk, e->topic, e->offset))
            continue;
        if (n == max) {
            *truncated = 1;
            break;
        }
        out[n++] = *e;
    }
    return n;
}

int bk_trace_open(bk_trace **out, const char *dir, size_t events, char *err, size_t errlen)
{
    *out = NULL;
    if (events == 0)
        return 0;
    bk_trace *t = calloc(1, sizeof *t);
    if (t) {
        t->cap = events;
        t->fd = -1;
        t->ring = calloc(events, sizeof *t->ring);
        t->names = calloc(BK_TRACE_NAMES_MAX + 1, sizeof *t->names);
        t->slots = calloc(BK_TRACE_NAME_SLOTS, sizeof *t->slots);
    }
    if (!t || !t->ring || !t->names || !t->slots) {
        bk_trace_close(t);
        snprintf(err, errlen, "out of memory for a trace of %zu events", events);
        return -1;
    }
    if (bk_trace_files_load(t, dir, err, errlen) != 0) {
        bk_trace_close(t);
        return -1;
    }
    *out = t;
    return 0;
}
