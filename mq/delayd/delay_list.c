/* mq-delayd's List request: the earliest `limit` pending messages (of one
 * topic or all) with their topic, key and due time.
 *
 * The request is untrusted: the limit is clamped to 1..MQ_DELAY_LIST_MAX
 * and a topic name is only compared, never added to the topic table. The
 * index is scanned in chunks (the mutex is released between them, as the
 * relocation does), keeping the earliest entries in a bounded max-heap, so
 * memory stays O(limit) and senders wait at most one chunk. Records are
 * then read back from the log outside the mutex; one that is gone by then
 * (delivered or moved meanwhile) is left out of the listing. */
#include <stdlib.h>
#include <string.h>

#include "mq/delayd/delayd.h"
#include "mq/mq_delay.h"
#include "mq_delay.pb-c.h"
#include "base/status.h"

#define LIST_DEFAULT 100
#define SCAN_CHUNK 65536

typedef struct pick {
    int64_t due_us;
    uint32_t seg, off;
} pick;

static int later(const pick *a, const pick *b)
{
    if (a->due_us != b->due_us)
        return a->due_us > b->due_us;
    return a->seg != b->seg ? a->seg > b->seg : a->off > b->off;
}

/* Bounded max-heap on (due, position): the root is the latest kept. */
static void keep(pick *h, size_t *n, size_t cap, pick p)
{
    size_t i;
    if (*n < cap) {
        i = (*n)++;
        while (i > 0 && later(&p, &h[(i - 1) / 2])) {
            h[i] = h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        h[i] = p;
        return;
    }
    if (!later(&h[0], &p))
        return;
    i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && later(&h[c + 1], &h[c]))
            c++;
        if (!later(&h[c], &p))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = p;
}

static int by_due(const void *a, const void *b)
{
    return later(a, b) ? 1 : later(b, a) ? -1 : 0;
}

/* The topic's id, -1 for all, -2 when no such topic is known. */
static int find_topic(const delay_index *ix, const char *name)
{
    if (name == NULL || name[0] == '\0')
        return -1;
    for (uint32_t i = 0; i < ix->n_topics; i++)
        if (strcmp(ix->topics[i].name, name) == 0)
            return (int)i;
    return -2;
}

/* Scans the index; fills h (sorted by due) and *matched. */
static size_t scan(delayd *d, const char *topic, pick *h, size_t cap, uint64_t *matched)
{
    size_t n = 0;
    *matched = 0;
    for (uint32_t from = 0;; from += SCAN_CHUNK) {
        pthread_mutex_lock(&d->mu);
        int t = find_topic(&d->ix, topic);
        uint32_t used = d->ix.used;
        for (uint32_t i = from; t != -2 && i < used && i < from + SCAN_CHUNK; i++) {
            const delay_entry *e = &d->ix.e[i];
            if (e->state != DELAY_PENDING || (t >= 0 && e->topic != t))
                continue;
            (*matched)++;
            keep(h, &n, cap, (pick){e->due_us, e->seg, e->off});
        }
        pthread_mutex_unlock(&d->mu);
        if (t == -2 || from + SCAN_CHUNK >= used)
            break;
    }
    qsort(h, n, sizeof *h, by_due);
    return n;
}

/* Reads one pick's record back into m (strings malloc'd); 0 or -1. */
static int load(delayd *d, const pick *p, Shop__Mq__Delay__PendingMessage *m)
{
    uint64_t id = DELAY_ID(p->seg, p->off), unused;
    uint8_t *rec = NULL;
    uint32_t len = 0;
    delay_send_rec r;
    if (delay_log_read(d->log, id, &rec, &len) != 0 ||
        delay_rec_decode(rec, len, &r, &unused) != DELAY_REC_SEND) {
        free(rec);
        return -1;
    }
    shop__mq__delay__pending_message__init(m);
    m->topic = strndup(r.topic, r.topic_len);
    m->key = strndup(r.key, r.key_len);
    m->id = id;
    m->due_us = r.due_us;
    m->body_len = r.body_len;
    free(rec);
    if (m->topic == NULL || m->key == NULL) {
        free(m->topic);
        free(m->key);
        return -1;
    }
    return 0;
}

void delayd_reply_list(delayd_srv_ctx *sc, delayd *d, const void *list_request)
{
    const Shop__Mq__Delay__ListRequest *lr = list_request;
    Shop__Mq__Delay__Reply rep = SHOP__MQ__DELAY__REPLY__INIT;
    size_t cap = lr->limit == 0                  ? LIST_DEFAULT
                 : lr->limit > MQ_DELAY_LIST_MAX ? MQ_DELAY_LIST_MAX
                                                 : lr->limit;
    pick *h = calloc(cap, sizeof *h);
    Shop__Mq__Delay__PendingMessage *ms = calloc(cap, sizeof *ms);
    Shop__Mq__Delay__PendingMessage **mp = calloc(cap, sizeof *mp);
    if (h == NULL || ms == NULL || mp == NULL) {
        rep.status = RPC_RESOURCE_EXHAUSTED;
        rep.error = "mq-delayd: out of memory for the listing";
        delayd_server_reply(sc, &rep);
        goto done;
    }
    uint64_t matched = 0;
    size_t n = scan(d, lr->topic, h, cap, &matched), k = 0;
    for (size_t i = 0; i < n; i++)
        if (load(d, &h[i], &ms[k]) == 0) {
            mp[k] = &ms[k];
            k++;
        }
    rep.pending = mp;
    rep.n_pending = k;
    rep.matched = matched;
    delayd_server_reply(sc, &rep);
    for (size_t i = 0; i < k; i++) {
        free(ms[i].topic);
        free(ms[i].key);
    }
done:
    free(h);
    free(ms);
    free(mp);
}
