/* Fuzz target: the broker's on-disk records through recovery
 * (mq/broker/recover.c segment scan: length, CRC32C, shop.mq.Record decode,
 * index and recent-id rebuild, torn-tail cut; store.c reads). The input is
 * a flags byte then up to three segment files as frames (tests/fuzz/fuzz.h);
 * they are written into a scratch directory and opened with mq_store_open,
 * as a restarted broker does; a fourth frame, if any, is the group offsets
 * file (offsets.c), loaded next. Flag bit 0 rewrites each record's CRC to
 * match its payload first, so that the fuzzer gets past the checksum to the
 * record decoder. Invariants: recovery succeeds; every record it then
 * serves decodes and carries its own topic and offset; an append after
 * recovery reads back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/broker/broker.h"
#include "tests/fuzz/fuzz.h"

static void check_served(mq_store *s)
{
    for (size_t i = 0; i < mq_store_topic_count(s); i++) {
        mq_topic *t = mq_store_topic_at(s, i);
        FUZZ_CHECK(t->start <= t->end);
        for (uint64_t off = t->start; off < t->end; off++) {
            const uint8_t *data;
            size_t len;
            if (mq_store_read(s, t, off, &data, &len) != 0)
                continue;
            Shop__Mq__Record *r = shop__mq__record__unpack(NULL, len, data);
            FUZZ_CHECK(r != NULL);
            FUZZ_CHECK(strcmp(r->topic, t->name) == 0);
            FUZZ_CHECK(r->offset == off);
            shop__mq__record__free_unpacked(r, NULL);
        }
    }
}

/* The group offsets file, as the broker loads it after the store. */
static void load_offsets(const char *dir, mq_store *s)
{
    mq_broker b;
    memset(&b, 0, sizeof b);
    b.o.data_dir = dir;
    b.store = s;
    char err[256];
    FUZZ_CHECK(bk_offsets_load(&b, err, sizeof err) == 0);
    for (size_t i = 0; i < b.ngroups; i++)
        for (size_t j = 0; j < b.groups[i]->nq; j++) {
            const bk_queue *q = b.groups[i]->queues[j];
            FUZZ_CHECK(q->base == q->next && q->t->start <= q->base && q->base <= q->t->end);
        }
    free(bk_offsets_snapshot(&b));
    bk_groups_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 1)
        return 0;
    fuzz_quiet_logs();
    const char *dir = fuzz_dir("broker-recover");
    fuzz_dir_clear(dir);
    fuzz_frames rest = fuzz_write_segments(dir, ".seg", data, len);
    const uint8_t *offsets;
    size_t olen;
    if (fuzz_next_frame(&rest, &offsets, &olen))
        fuzz_write_file(dir, "offsets", offsets, olen);
    mq_store_opts so = {.dir = dir, .segment_bytes = 1u << 16};
    mq_store *s;
    char err[256];
    if (mq_store_open(&s, &so, err, sizeof err) != 0)
        fuzz_fail(__FILE__, __LINE__, err);
    check_served(s);
    load_offsets(dir, s);

    Shop__Mq__Record rec = SHOP__MQ__RECORD__INIT;
    rec.id = "after-recovery";
    rec.topic = "fuzz";
    rec.body.data = (uint8_t *)"body";
    rec.body.len = 4;
    uint64_t off;
    FUZZ_CHECK(mq_store_append(s, &rec, &off, err, sizeof err) == 0);
    mq_topic *t = mq_store_topic(s, "fuzz", 0);
    FUZZ_CHECK(t != NULL && off + 1 == t->end);
    check_served(s);
    mq_store_close(s);
    return 0;
}
