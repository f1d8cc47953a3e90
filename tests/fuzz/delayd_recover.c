/* Fuzz target: mq-delayd's log through its recovery (mq/delayd/delay_log.c
 * segment scan: length and CRC32C framing; delay_record.c: record decode,
 * index rebuild with delivered/cancelled marks, compaction). The input is a
 * flags byte then up to three segment files as frames (tests/fuzz/fuzz.h),
 * written into a scratch directory and recovered as a restarted mq-delayd
 * does. Flag bit 0 rewrites each record's CRC to match its payload first,
 * so that the fuzzer gets past the checksum to the record decoder.
 * Invariants: recovery succeeds, and every message it indexes as pending
 * reads back from the log as a SEND record of its topic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/delayd/delayd.h"
#include "tests/fuzz/fuzz.h"

static void check_pending(delayd *d)
{
    uint64_t pending = 0;
    for (uint32_t i = 0; i < d->ix.used; i++) {
        delay_entry *e = &d->ix.e[i];
        if (e->state != DELAY_PENDING)
            continue;
        pending++;
        uint8_t *p;
        uint32_t len;
        FUZZ_CHECK(delay_log_read(d->log, DELAY_ID(e->seg, e->off), &p, &len) == 0);
        delay_send_rec r;
        uint64_t unused;
        FUZZ_CHECK(delay_rec_decode(p, len, &r, &unused) == DELAY_REC_SEND);
        FUZZ_CHECK(e->topic < d->ix.n_topics);
        const char *name = d->ix.topics[e->topic].name;
        FUZZ_CHECK(strlen(name) == r.topic_len && memcmp(name, r.topic, r.topic_len) == 0);
        free(p);
    }
    FUZZ_CHECK(pending == d->ix.pending);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 1)
        return 0;
    fuzz_quiet_logs();
    const char *dir = fuzz_dir("delayd-recover");
    fuzz_dir_clear(dir);
    fuzz_write_segments(dir, ".dlog", data, len);
    delayd d;
    memset(&d, 0, sizeof d);
    pthread_mutex_init(&d.mu, NULL);
    delay_index_init(&d.ix);
    shop_error err = {0};
    if (delay_log_open(dir, 4096, &d.log, &err) != 0 || delayd_recover(&d, &err) != 0)
        fuzz_fail(__FILE__, __LINE__, err.message);
    check_pending(&d);
    delay_log_close(d.log);
    delay_index_free(&d.ix);
    pthread_mutex_destroy(&d.mu);
    return 0;
}
