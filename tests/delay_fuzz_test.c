/* Fuzzing in process, deterministic: random and mutated payloads through the
 * delay-log record decoder, and randomly corrupted or cut segment files
 * through recovery. Run under ASan/UBSan, this is where a decoder that trusts
 * its input would show. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mq/delayd/delayd.h"
#include "base/clock.h"
#include "tests/support/testsupport.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

Test(delay_fuzz, the_record_decoder_survives_random_and_mutated_payloads)
{
    uint8_t good[128], buf[160];
    delay_send_rec r = {123456, "topic", "key", 5, 3, (const uint8_t *)"body", 4, NULL, 0};
    size_t len = delay_rec_send_size(&r);
    delay_rec_send_encode(&r, good);
    for (int i = 0; i < 200000; i++) {
        size_t n;
        if (i % 2) {
            n = rnd() % sizeof buf;
            for (size_t k = 0; k < n; k++) {
                buf[k] = (uint8_t)rnd();
            }
        } else {
            n = len - rnd() % 4 + rnd() % 4;
            memcpy(buf, good, len);
            for (int k = 0, flips = 1 + (int)(rnd() % 4); k < flips; k++) {
                buf[rnd() % len] = (uint8_t)rnd();
            }
        }
        delay_send_rec out;
        uint64_t mark;
        int type = delay_rec_decode(buf, (uint32_t)n, &out, &mark);
        if (type == DELAY_REC_SEND) {
            /* what the decoder hands out lies inside the payload */
            cr_assert_eq((size_t)DELAY_SEND_HDR + out.topic_len + out.key_len + out.body_len, n);
            cr_assert((const uint8_t *)out.topic >= buf && out.body + out.body_len <= buf + n);
        } else {
            cr_assert(type == -1 || type == DELAY_REC_DELIVERED || type == DELAY_REC_CANCELLED ||
                      type == DELAY_REC_MOVED);
        }
    }
}

static uint64_t visits, bad_crc;
static void check_visit(void *arg, uint64_t id, const uint8_t *p, uint32_t len)
{
    delay_send_rec r;
    uint64_t mark;
    (void)arg;
    (void)id;
    visits++;
    if (delay_rec_decode(p, len, &r, &mark) < 0) {
        bad_crc++; /* a CRC-valid payload that is not one of ours */
    }
}

Test(delay_fuzz, recovery_survives_corrupted_and_cut_segments, .timeout = 120)
{
    char dir[128], path[256], cmd[200];
    shop_error err = {0};
    for (int round = 0; round < 30; round++) {
        delay_log *l = NULL;
        uint64_t id = 0;
        snprintf(dir, sizeof dir, "%s/shopflow-delay-fuzz-%d-%d", ts_tmp_dir(), (int)getpid(),
                 round);
        cr_assert_eq(delay_log_open(dir, 1u << 20, &l, &err), 0, "%s", err.message);
        cr_assert_eq(delay_log_recover(l, check_visit, NULL, &err), 0, "%s", err.message);
        uint32_t seg = 0;
        for (int i = 0; i < 500; i++) {
            static const uint8_t body[200];
            uint8_t rec[300];
            delay_send_rec r = {i, "t", "k", 1, 1, body, (uint32_t)(rnd() % 200), NULL, 0};
            delay_rec_send_encode(&r, rec);
            cr_assert_eq(delay_log_append(l, rec, (uint32_t)delay_rec_send_size(&r), &id), 0);
            seg = DELAY_ID_SEG(id);
        }
        cr_assert_eq(delay_log_sync(l), 0);
        delay_log_close(l);
        /* Flip bytes, write junk headers, or cut the file. */
        snprintf(path, sizeof path, "%s/%010u.dlog", dir, seg);
        int fd = open(path, O_RDWR);
        cr_assert_geq(fd, 0);
        off_t end = DELAY_ID_OFF(id) + 400;
        for (int k = 0, n = 1 + (int)(rnd() % 20); k < n; k++) {
            uint8_t junk[8];
            for (int j = 0; j < 8; j++) {
                junk[j] = (uint8_t)rnd();
            }
            size_t jl = 1 + rnd() % 8;
            cr_assert_eq(pwrite(fd, junk, jl, (off_t)(rnd() % (uint32_t)end)), (ssize_t)jl);
        }
        if (round % 3 == 0) {
            cr_assert_eq(ftruncate(fd, (off_t)(rnd() % (uint32_t)end)), 0);
        }
        close(fd);
        visits = bad_crc = 0;
        cr_assert_eq(delay_log_open(dir, 1u << 20, &l, &err), 0, "%s", err.message);
        cr_assert_eq(delay_log_recover(l, check_visit, NULL, &err), 0, "%s", err.message);
        cr_expect_leq(visits, 500);
        cr_expect_eq(bad_crc, 0, "a record that passed its CRC did not decode");
        delay_log_close(l);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        cr_assert_eq(system(cmd), 0);
    }
}
