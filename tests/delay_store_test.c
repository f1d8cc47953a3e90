/* The delay store's invariants, checked directly: the index pops in due
 * order and its key hash survives growth, removals and pops; the log reads
 * back what it wrote and recovery stops at a torn tail. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mq/delayd/delay_index.h"
#include "mq/delayd/delay_log.h"
#include "base/clock.h"
#include "tests/support/testsupport.h"

Test(delay_store, index_pops_in_due_order_and_finds_every_key_through_growth, .timeout = 30)
{
    enum { N = 20000 };
    delay_index ix;
    delay_index_init(&ix);
    int topic = delay_index_topic(&ix, "t", 1);
    cr_assert_geq(topic, 0);
    srand(7);
    for (uint32_t i = 0; i < N; i++) {
        char key[16];
        int len = snprintf(key, sizeof key, "k%u", i);
        cr_assert_eq(delay_index_add(&ix, rand() % 100000, 1, i, topic,
                                     delay_key_hash(topic, key, (size_t)len)),
                     0);
    }
    /* Every key is findable after the hash grew several times. */
    for (uint32_t i = 0; i < N; i += 97) {
        char key[16];
        uint32_t out[8];
        int len = snprintf(key, sizeof key, "k%u", i);
        size_t n = delay_index_find(&ix, topic, delay_key_hash(topic, key, (size_t)len), out, 8);
        int hit = 0;
        for (size_t k = 0; k < n; k++) {
            hit |= ix.e[out[k]].off == i;
        }
        cr_assert(hit, "key k%u not found", i);
        /* Remove every other found one: cancel. */
        if (i % 2 == 0) {
            for (size_t k = 0; k < n; k++) {
                if (ix.e[out[k]].off == i) {
                    delay_index_remove(&ix, out[k]);
                    break;
                }
            }
        }
    }
    int64_t prev = -1;
    uint64_t popped = 0;
    while (delay_index_next_due(&ix) != INT64_MAX) {
        int64_t due = delay_index_next_due(&ix);
        uint32_t idx = delay_index_pop(&ix);
        cr_assert_geq(due, prev, "out of order");
        prev = due;
        delay_index_release(&ix, idx);
        popped++;
    }
    cr_expect_eq(ix.pending, 0);
    cr_expect_eq(ix.n_keyed, 0);
    cr_expect_eq(popped + ix.topics[topic].pending, N - (N / 97 + 1 + 1) / 2);
    delay_index_free(&ix);
}

Test(delay_store, recovery_load_drops_marked_records_and_builds_a_heap, .timeout = 30)
{
    delay_index ix;
    delay_index_init(&ix);
    int topic = delay_index_topic(&ix, "t", 1);
    for (uint32_t i = 0; i < 1000; i++) {
        cr_assert_eq(delay_index_load(&ix, 5000 - i, 1, i * 10, topic, i % 3 ? i + 1 : 0), 0);
    }
    for (uint32_t i = 0; i < 1000; i += 2) {
        cr_assert_eq(delay_index_load_mark(&ix, 1, i * 10), 1);
    }
    cr_expect_eq(delay_index_load_mark(&ix, 1, 5), 0, "no record at that offset");
    cr_assert_eq(delay_index_load_done(&ix), 0);
    cr_expect_eq(ix.pending, 500);
    int64_t prev = -1;
    while (delay_index_next_due(&ix) != INT64_MAX) {
        int64_t due = delay_index_next_due(&ix);
        cr_assert_geq(due, prev);
        prev = due;
        uint32_t idx = delay_index_pop(&ix);
        cr_assert_eq(ix.e[idx].off / 10 % 2, 1, "a marked record came back");
        delay_index_release(&ix, idx);
    }
    delay_index_free(&ix);
}

static uint64_t visited;
static uint32_t last_len;
static void count_visit(void *arg, uint64_t id, const uint8_t *p, uint32_t len)
{
    (void)arg;
    (void)id;
    (void)p;
    visited++;
    last_len = len;
}

Test(delay_store, log_reads_back_what_it_wrote_and_recovery_stops_at_a_torn_tail)
{
    char dir[128], path[256];
    shop_error err = {0};
    delay_log *l = NULL;
    uint64_t ids[100];
    snprintf(dir, sizeof dir, "%s/shopflow-delay-store-%d-%lld", ts_tmp_dir(), (int)getpid(),
             (long long)shop_now_us());
    cr_assert_eq(delay_log_open(dir, 8u << 20, &l, &err), 0, "%s", err.message);
    cr_assert_eq(delay_log_recover(l, count_visit, NULL, &err), 0, "%s", err.message);
    for (int i = 0; i < 100; i++) {
        uint8_t rec[64];
        memset(rec, i, sizeof rec);
        cr_assert_eq(delay_log_append(l, rec, (uint32_t)(10 + i % 50), &ids[i]), 0);
    }
    cr_assert_eq(delay_log_sync(l), 0);
    for (int i = 0; i < 100; i += 9) {
        uint8_t *p;
        uint32_t len;
        cr_assert_eq(delay_log_read(l, ids[i], &p, &len), 0);
        cr_expect_eq(len, (uint32_t)(10 + i % 50));
        cr_expect_eq(p[0], i);
        free(p);
    }
    delay_log_close(l);
    /* Tear the tail: a header promising 40 bytes, CRC wrong. */
    snprintf(path, sizeof path, "%s/%010u.dlog", dir, DELAY_ID_SEG(ids[99]));
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    uint8_t torn[12] = {40, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9};
    off_t end = DELAY_ID_OFF(ids[99]) + DELAY_LOG_HEADER + 10 + 99 % 50;
    cr_assert_eq(pwrite(fd, torn, sizeof torn, end), (ssize_t)sizeof torn);
    close(fd);
    visited = 0;
    cr_assert_eq(delay_log_open(dir, 8u << 20, &l, &err), 0, "%s", err.message);
    cr_assert_eq(delay_log_recover(l, count_visit, NULL, &err), 0, "%s", err.message);
    cr_expect_eq(visited, 100, "every whole record and nothing of the torn one");
    cr_expect_eq(last_len, 10 + 99 % 50);
    cr_expect_eq(delay_log_segments(l), 2, "recovery starts a fresh segment");
    delay_log_close(l);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    cr_expect_eq(system(path), 0);
}
