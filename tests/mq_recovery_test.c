/* Store recovery with a real broker: a record cut in half or with a bad CRC
 * at the end of the last segment is truncated on restart, everything before
 * it is served, and appends continue at the truncated offset; segments roll
 * and retention deletes the oldest. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/mq_testkit.h"
#include "base/clock.h"

static mqt_broker broker;

static void up(void)
{
    mqt_broker_init(&broker, "recovery");
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "broker did not start");
}

static void down(void)
{
    mqt_broker_cleanup(&broker);
}

/* The start and payload length of the last record of the first segment. */
static void last_record(const char *path, off_t *start, uint32_t *len)
{
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0, "open %s", path);
    off_t pos = 0;
    *start = -1;
    for (;;) {
        uint32_t hdr[2];
        if (pread(fd, hdr, sizeof hdr, pos) != (ssize_t)sizeof hdr || hdr[0] == 0)
            break;
        *start = pos;
        *len = hdr[0];
        pos += 8 + hdr[0];
    }
    close(fd);
    cr_assert_geq(*start, 0, "no record in %s", path);
}

static void send_100_and_stop(char *seg, size_t seglen)
{
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    cr_assert_eq(mqt_send_range(p, "ledger", 0, 100, 10, 256), 0);
    mq_producer_close(p);
    cr_assert_eq(mqt_broker_stop(&broker, SIGTERM), 0, "SIGTERM must drain and exit 0");
    snprintf(seg, seglen, "%s/0000000001.seg", broker.dir);
}

static void expect_99_then_append_at_99(void)
{
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "restart failed");
    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &broker, "reader", "ledger", 101), 0);
    cr_assert_eq(mqt_collector_wait(&k, 99, 10000), 0, "got %llu of 99",
                 (unsigned long long)mqt_collector_distinct(&k));
    shop_sleep_ms(200);
    pthread_mutex_lock(&k.mu);
    cr_assert_eq(k.count[99], 0, "the torn record was served");
    cr_assert_eq(k.corrupt, 0);
    pthread_mutex_unlock(&k.mu);

    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    uint8_t body[256];
    mqt_body(100, body, sizeof body);
    mq_send_result r;
    cr_assert_eq(mq_producer_send(p, "ledger", NULL, body, sizeof body, NULL, &r), RPC_OK);
    cr_assert_eq(r.offset, 99);
    cr_assert_eq(mqt_collector_wait(&k, 100, 10000), 0);
    mq_producer_close(p);
    mqt_collector_stop(&k);
    int fd = open(broker.p.log_path, O_RDONLY);
    char log[16384] = "";
    cr_assert_gt(read(fd, log, sizeof log - 1), 0);
    close(fd);
    cr_assert(strstr(log, "truncated torn tail"), "recovery did not report the cut");
}

Test(mq_recovery, a_record_cut_in_half_at_the_end_of_a_segment_is_truncated, .init = up,
     .fini = down)
{
    char seg[512];
    send_100_and_stop(seg, sizeof seg);
    off_t start;
    uint32_t len;
    last_record(seg, &start, &len);
    cr_assert_eq(truncate(seg, start + 8 + len / 2), 0);
    expect_99_then_append_at_99();
}

Test(mq_recovery, a_last_record_with_a_bad_crc_is_truncated_not_served, .init = up, .fini = down)
{
    char seg[512];
    send_100_and_stop(seg, sizeof seg);
    off_t start;
    uint32_t len;
    last_record(seg, &start, &len);
    int fd = open(seg, O_RDWR);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, start + 8 + len - 3), 1);
    b ^= 0x5a;
    cr_assert_eq(pwrite(fd, &b, 1, start + 8 + len - 3), 1);
    close(fd);
    expect_99_then_append_at_99();
}

static int count_segments(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '\\.seg$'", dir);
    FILE *f = popen(cmd, "r");
    int n = 0;
    if (f && fscanf(f, "%d", &n) != 1)
        n = 0;
    if (f)
        pclose(f);
    return n;
}

Test(mq_recovery, segments_roll_and_retention_deletes_the_oldest, .init = up, .fini = down)
{
    mqt_broker_cleanup(&broker); /* a fresh store with small segments */
    mqt_broker_init(&broker, "retention");
    const char *small[] = {"--segment-bytes", "65536", "--retention-bytes", "200000", NULL};
    cr_assert_eq(mqt_broker_start(&broker, small), 0);
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    /* ~2,000 records of ~330 bytes: about 10 segments of 64 KiB written. */
    cr_assert_eq(mqt_send_range(p, "ledger", 0, 2000, 50, 256), 0);
    int64_t until = shop_now_ms() + 5000;
    while (count_segments(broker.dir) > 4 && shop_now_ms() < until)
        shop_sleep_ms(50);
    int n = count_segments(broker.dir);
    cr_assert_leq(n, 4, "%d segments kept", n);
    cr_assert_geq(n, 2);
    /* the topic's size follows: only what the kept segments hold */
    char out[4096];
    const char *args[] = {"mq", "topic", "ledger", "--url", broker.url, NULL};
    cr_assert_eq(mqt_cli(args, out, sizeof out), 0, "%s", out);
    unsigned long long start = 0, end = 0, msgs = 0, bytes = 0;
    const char *line = strstr(out, "topic=ledger");
    cr_assert_not_null(line, "%s", out);
    cr_assert_eq(sscanf(line, "topic=ledger start=%llu end=%llu messages=%llu bytes=%llu", &start,
                        &end, &msgs, &bytes),
                 4, "%s", out);
    cr_expect_gt(start, 0, "retention moved the start");
    cr_expect_geq(bytes, msgs * 256, "%llu bytes for %llu messages", bytes, msgs);
    cr_expect_leq(bytes, (unsigned long long)n * 65536, "%llu bytes in %d segments", bytes, n);
    /* The newest records are still served after a restart. */
    mqt_broker_stop(&broker, SIGKILL);
    cr_assert_eq(mqt_broker_start(&broker, small), 0);
    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &broker, "late", "ledger", 2000), 0);
    until = shop_now_ms() + 10000;
    while (shop_now_ms() < until) {
        pthread_mutex_lock(&k.mu);
        int last = k.count[1999];
        pthread_mutex_unlock(&k.mu);
        if (last)
            break;
        shop_sleep_ms(20);
    }
    pthread_mutex_lock(&k.mu);
    cr_assert_eq(k.count[1999], 1);
    cr_assert_eq(k.count[0], 0, "a deleted record was served");
    pthread_mutex_unlock(&k.mu);
    mqt_collector_stop(&k);
    mq_producer_close(p);
}
