/* A full disk, for real: mq-broker and mq-delayd run as child processes with
 * their data on a small tmpfs mounted for the test, and a filler file takes
 * the rest of it. A send is refused with RESOURCE_EXHAUSTED "disk full: ...",
 * reads keep working, sends are taken again once the filler is gone (no
 * restart), and everything acknowledged is there after a kill -9. Needs
 * mount(2) (root or CAP_SYS_ADMIN); skipped without it. A failing fdatasync,
 * which tmpfs cannot produce, is injected (tests/support/failsync.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mq/mq_delay.h"
#include "tests/support/mq_testkit.h"
#include "base/clock.h"

#define SEGMENT (1u << 20)

static char mnt[160];
static mqt_broker broker;
static ts_proc delayd;
static char delayd_dir[256];
static mq_producer *producer;
static char failsync_flag[256]; /* while this file exists, syncs fail */

/* Mounts an 8 MiB tmpfs on a fresh temporary directory, or skips. */
static void disk_up(void)
{
    snprintf(mnt, sizeof mnt, "%s/shopflow-diskfull-XXXXXX", ts_tmp_dir());
    cr_assert_not_null(mkdtemp(mnt), "mkdtemp: %s", strerror(errno));
    if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=8m,mode=0755") != 0) {
        int e = errno;
        rmdir(mnt);
        mnt[0] = '\0';
        cr_skip_test("cannot mount a tmpfs for a full disk (%s): needs root or CAP_SYS_ADMIN",
                     strerror(e));
    }
}

/* Also after a failed assertion: the daemons go, then the mount and its dir. */
static void down(void)
{
    if (producer)
        mq_producer_close(producer);
    producer = NULL;
    if (broker.p.pid > 0)
        mqt_broker_stop(&broker, SIGKILL);
    if (delayd.pid > 0)
        ts_stop(&delayd, SIGKILL, 5000);
    delayd.pid = 0;
    if (broker.dir[0])
        mqt_broker_cleanup(&broker);
    broker.dir[0] = '\0';
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", delayd_dir);
    if (delayd_dir[0] && system(cmd) != 0)
        fprintf(stderr, "cannot clean %s\n", delayd_dir);
    delayd_dir[0] = '\0';
    if (failsync_flag[0])
        unlink(failsync_flag);
    failsync_flag[0] = '\0';
    if (mnt[0]) {
        if (umount2(mnt, MNT_DETACH) != 0)
            fprintf(stderr, "umount %s: %s\n", mnt, strerror(errno));
        rmdir(mnt);
        mnt[0] = '\0';
    }
}

/* Writes a file until the tmpfs has no free block left. */
static void fill_disk(void)
{
    static char chunk[1 << 16];
    char path[256];
    snprintf(path, sizeof path, "%s/filler", mnt);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
    memset(chunk, 0xab, sizeof chunk);
    for (size_t n = sizeof chunk; n >= 512;) {
        if (write(fd, chunk, n) < 0) {
            cr_assert_eq(errno, ENOSPC, "filler: %s", strerror(errno));
            n /= 2;
        }
    }
    close(fd);
    struct statvfs v;
    cr_assert_eq(statvfs(mnt, &v), 0);
    cr_assert_eq(v.f_bavail, 0, "the tmpfs still has %lu free blocks", (unsigned long)v.f_bavail);
}

static void free_disk(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/filler", mnt);
    cr_assert_eq(unlink(path), 0, "unlink %s: %s", path, strerror(errno));
}

/* Waits until `path` exists with `size` bytes (a spare segment is ready). */
static void wait_file(const char *path, off_t size)
{
    struct stat st;
    int64_t until = shop_now_ms() + 10000;
    while (shop_now_ms() < until && (stat(path, &st) != 0 || st.st_size != size))
        shop_sleep_ms(20);
    cr_assert(stat(path, &st) == 0 && st.st_size == size, "%s never got ready", path);
    shop_sleep_ms(200); /* its fdatasync and hand-over */
}

static void broker_up(void)
{
    disk_up();
    mqt_broker_init(&broker, "diskfull");
    snprintf(broker.dir, sizeof broker.dir, "%s/mq", mnt);
    const char *extra[] = {"--segment-bytes", "1048576", NULL};
    cr_assert_eq(mqt_broker_start(&broker, extra), 0, "broker did not start");
    char spare[300];
    snprintf(spare, sizeof spare, "%s/spare.tmp", broker.dir);
    wait_file(spare, SEGMENT);
    cr_assert_eq(mq_producer_open(broker.url, NULL, &producer), RPC_OK);
}

/* Sends body index i (len bytes) with the message id "m-<i>". */
static rpc_status send_one(uint64_t i, size_t len, mq_send_result *r)
{
    static uint8_t body[1 << 16];
    char id[32];
    snprintf(id, sizeof id, "m-%llu", (unsigned long long)i);
    mq_send_opts o = {.id = id};
    mqt_body(i, body, len);
    return mq_producer_send(producer, "orders", "k", body, len, &o, r);
}

static void expect_disk_full(rpc_status st, const char *message, const char *what)
{
    cr_assert_eq(st, RPC_RESOURCE_EXHAUSTED, "%s: %s", rpc_status_name(st), message);
    cr_assert(strncmp(message, "disk full: ", 11) == 0, "message: %s", message);
    cr_assert(strstr(message, what) && strstr(message, "No space left on device"), "message: %s",
              message);
}

/* A new group reads topic "orders": exactly indices [0, n), none corrupt. */
static void expect_consumed(const char *group, uint64_t n)
{
    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &broker, group, "orders", n), 0);
    cr_assert_eq(mqt_collector_wait(&k, n, 15000), 0, "consumed %llu of %llu",
                 (unsigned long long)mqt_collector_distinct(&k), (unsigned long long)n);
    shop_sleep_ms(300); /* anything that should not be there would come now */
    pthread_mutex_lock(&k.mu);
    uint64_t corrupt = k.corrupt;
    pthread_mutex_unlock(&k.mu);
    mqt_collector_stop(&k);
    cr_assert_eq(corrupt, 0, "corrupt or unexpected messages: %llu", (unsigned long long)corrupt);
}

static void expect_stats(uint64_t end)
{
    char out[8192], want[64];
    const char *stats[] = {"mq", "stats", "--url", broker.url, NULL};
    cr_assert_eq(mqt_cli(stats, out, sizeof out), 0, "%s", out);
    snprintf(want, sizeof want, " %llu", (unsigned long long)end);
    cr_assert(strstr(out, "orders") && strstr(out, want), "stats: %s", out);
}

Test(mq_diskfull,
     a_broker_on_a_full_disk_refuses_sends_serves_reads_and_takes_sends_once_there_is_room,
     .fini = down)
{
    broker_up();
    fill_disk();
    /* The active segment and the spare are preallocated: sends go on until a
     * new segment is needed and cannot be created. */
    mq_send_result r;
    rpc_status st = RPC_OK;
    uint64_t acked = 0;
    while (acked < 400 && (st = send_one(acked, 16384, &r)) == RPC_OK) {
        cr_assert_eq(r.offset, acked);
        acked++;
    }
    cr_assert(acked > 0 && acked < 400, "acked %llu", (unsigned long long)acked);
    expect_disk_full(st, r.message, "cannot create segment");
    expect_disk_full(send_one(acked, 16384, &r), r.message, "cannot create segment");

    char out[8192];
    const char *send[] = {"mq", "send", "orders", "--size", "16384", "--url", broker.url, NULL};
    cr_assert_neq(mqt_cli(send, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "shopflow mq send: RESOURCE_EXHAUSTED: disk full: cannot create segment"),
              "%s", out);

    /* Reads while full. */
    expect_stats(acked);
    expect_consumed("while-full", acked);

    /* Room again: the refused id is stored at the next offset, not a duplicate. */
    free_disk();
    cr_assert_eq(send_one(acked, 16384, &r), RPC_OK, "%s", r.message);
    cr_assert_eq(r.offset, acked);
    cr_assert_eq(r.duplicate, 0);
    for (uint64_t i = acked + 1; i < acked + 11; i++)
        cr_assert_eq(send_one(i, 16384, &r), RPC_OK, "%s", r.message);
    uint64_t total = acked + 11;

    mqt_broker_stop(&broker, SIGKILL);
    const char *extra[] = {"--segment-bytes", "1048576", NULL};
    cr_assert_eq(mqt_broker_start(&broker, extra), 0, "broker did not restart");
    expect_consumed("after-restart", total);
}

/* The refused message `i` sent again is stored at offset i (no offset was
 * used up by the refusal), and after a kill -9 exactly [0, i] are there. */
static void expect_stored_at_its_offset(uint64_t i, size_t len)
{
    mq_send_result r;
    cr_assert_eq(send_one(i, len, &r), RPC_OK, "%s", r.message);
    cr_assert_eq(r.offset, i, "offsets advanced past the refused send: %llu",
                 (unsigned long long)r.offset);
    cr_assert_eq(r.duplicate, 0);
    mqt_broker_stop(&broker, SIGKILL);
    const char *extra[] = {"--segment-bytes", "1048576", NULL};
    cr_assert_eq(mqt_broker_start(&broker, extra), 0, "broker did not restart");
    expect_consumed("after-restart", i + 1);
}

/* The segment's unused tail made a hole again, so that the next append's
 * pwrite (in group commit) needs blocks the full disk does not have. */
static void punch_tail(const char *seg)
{
    int fd = open(seg, O_RDWR | O_CLOEXEC);
    cr_assert(fd >= 0, "open %s: %s", seg, strerror(errno));
    static uint8_t data[SEGMENT];
    cr_assert_eq(pread(fd, data, SEGMENT, 0), (ssize_t)SEGMENT);
    size_t end = SEGMENT;
    while (end > 0 && data[end - 1] == 0)
        end--;
    off_t from = (off_t)((end + 4095) / 4096 * 4096);
    cr_assert_eq(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, from, SEGMENT - from), 0,
                 "punch: %s", strerror(errno));
    close(fd);
}

/* Writes a torn record (a header whose record never made it) right after
 * the last record of the segment: a crash mid-write. Needs no new block. */
static void tear_tail(const char *seg)
{
    int fd = open(seg, O_RDWR | O_CLOEXEC);
    cr_assert(fd >= 0, "open %s: %s", seg, strerror(errno));
    uint32_t hdr[2];
    off_t at = 0;
    while (pread(fd, hdr, sizeof hdr, at) == (ssize_t)sizeof hdr && hdr[0] != 0)
        at += (off_t)sizeof hdr + hdr[0];
    hdr[0] = 100; /* short: tmpfs would need a page to read a hole through mmap */
    hdr[1] = 12345;
    cr_assert_eq(pwrite(fd, hdr, sizeof hdr, at), (ssize_t)sizeof hdr, "torn header: %s",
                 strerror(errno));
    close(fd);
}

Test(mq_diskfull,
     a_write_that_fails_in_group_commit_is_refused_and_leaves_no_record_or_offset_behind,
     .fini = down)
{
    broker_up();
    mq_send_result r;
    for (uint64_t i = 0; i < 8; i++)
        cr_assert_eq(send_one(i, 1024, &r), RPC_OK, "%s", r.message);
    char seg[300];
    snprintf(seg, sizeof seg, "%s/0000000001.seg", broker.dir);
    punch_tail(seg);
    fill_disk();

    /* 8 KiB reaches into the hole: a short write, then ENOSPC. */
    expect_disk_full(send_one(8, 8192, &r), r.message, "cannot append to segment");
    /* The next try first has to clear what the failed write may have left. */
    expect_disk_full(send_one(8, 8192, &r), r.message, "segment");
    expect_stats(8);
    expect_consumed("while-full", 8);

    /* A crash right now, the disk still full, with a torn record at the end:
     * the broker starts, cuts the torn tail, and the refused record is not
     * recovered (its range was cleared at once: punching needs no space). */
    mqt_broker_stop(&broker, SIGKILL);
    tear_tail(seg);
    const char *extra[] = {"--segment-bytes", "1048576", NULL};
    cr_assert_eq(mqt_broker_start(&broker, extra), 0, "broker did not restart on a full disk");
    expect_stats(8);
    expect_consumed("restarted-full", 8);

    free_disk();
    expect_stored_at_its_offset(8, 8192);
}

Test(mq_diskfull, a_retry_copy_that_a_failed_write_drops_is_stored_again_once_there_is_room,
     .fini = down)
{
    broker_up();
    mq_send_result r;
    cr_assert_eq(send_one(0, 3000, &r), RPC_OK, "%s", r.message);
    char seg[300];
    snprintf(seg, sizeof seg, "%s/0000000001.seg", broker.dir);
    punch_tail(seg);
    fill_disk();

    /* RECONSUME_LATER acks the original and writes a retry copy, which
     * reaches into the hole: the write fails and the copy is dropped. */
    mqt_collector k = {.reconsume_later = 1};
    cr_assert_eq(mqt_collector_start(&k, &broker, "retrying", "orders", 1), 0);
    cr_assert_eq(mqt_collector_wait(&k, 1, 10000), 0);
    shop_sleep_ms(1000);
    pthread_mutex_lock(&k.mu);
    uint32_t seen = k.count[0];
    pthread_mutex_unlock(&k.mu);
    cr_assert_eq(seen, 1, "delivered %u times while the disk was full", seen);

    /* Room again: the kept copy is stored and the message comes back. */
    free_disk();
    int64_t until = shop_now_ms() + 10000;
    while (shop_now_ms() < until && seen < 2) {
        shop_sleep_ms(50);
        pthread_mutex_lock(&k.mu);
        seen = k.count[0];
        pthread_mutex_unlock(&k.mu);
    }
    mqt_collector_stop(&k);
    cr_assert(seen >= 2, "the retry copy was lost: delivered %u times", seen);
}

static int delayd_port;
static char delayd_url[64];

static void delayd_start(void)
{
    char sink[64];
    snprintf(sink, sizeof sink, "tcp://127.0.0.1:%d", ts_free_port());
    char *argv[] = {"mq-delayd", "--listen",         delayd_url, "--data-dir",
                    delayd_dir,  "--sink",           sink,       "--segment-mb",
                    "1",         "--max-backoff-ms", "100",      NULL};
    cr_assert_eq(ts_spawn(&delayd, argv), 0);
    cr_assert_eq(ts_wait_port(&delayd, delayd_port, 10000), 0, "mq-delayd did not come up");
}

static uint64_t delayd_pending(mq_delay_client *c)
{
    mq_delay_stats s;
    shop_error err = {0};
    cr_assert_eq(mq_delay_get_stats(c, &s, &err), RPC_OK, "stats: %s", err.message);
    uint64_t n = s.pending;
    mq_delay_stats_free(&s);
    return n;
}

/* Mounts, starts mq-delayd once its spare segment is ready, opens a client. */
static mq_delay_client *delayd_up(void)
{
    disk_up();
    delayd_port = ts_free_port();
    snprintf(delayd_url, sizeof delayd_url, "tcp://127.0.0.1:%d", delayd_port);
    snprintf(delayd_dir, sizeof delayd_dir, "%s/delayd", mnt);
    delayd_start();
    char ready[320];
    snprintf(ready, sizeof ready, "%s/spare.dlog.ready", delayd_dir);
    wait_file(ready, SEGMENT);
    mq_delay_client *c;
    shop_error err = {0};
    cr_assert_eq(mq_delay_client_open(delayd_url, 5000, &c, &err), RPC_OK, "%s", err.message);
    return c;
}

static rpc_status delay_send(mq_delay_client *c, const char *key, size_t len, mq_delay_result *r,
                             shop_error *err)
{
    static uint8_t body[1 << 16];
    shop_error_clear(err);
    return mq_delay_send(c, "later", key, body, len, 3600 * 1000, 0, r, err);
}

/* Kills mq-delayd (-9), restarts it: `pending` messages are waiting. */
static void expect_pending_after_restart(uint64_t pending)
{
    shop_error err = {0};
    mq_delay_client *c;
    ts_stop(&delayd, SIGKILL, 5000);
    delayd.pid = 0;
    delayd_start();
    cr_assert_eq(mq_delay_client_open(delayd_url, 5000, &c, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(delayd_pending(c), pending, "after a kill -9 and restart");
    mq_delay_client_close(c);
}

Test(mq_diskfull, mq_delayd_on_a_full_disk_refuses_delayed_sends_serves_stats_and_takes_them_again,
     .fini = down)
{
    mq_delay_client *c = delayd_up();
    fill_disk();

    mq_delay_result r = {0};
    shop_error err = {0};
    int st = RPC_OK;
    uint64_t acked = 0;
    while (acked < 400) {
        char key[32];
        snprintf(key, sizeof key, "k-%llu", (unsigned long long)acked);
        if ((st = delay_send(c, key, 16384, &r, &err)) != RPC_OK)
            break;
        acked++;
    }
    cr_assert(acked > 0 && acked < 400, "acked %llu", (unsigned long long)acked);
    expect_disk_full(st, err.message, "cannot create segment");
    expect_disk_full(r.status, r.error, "cannot create segment");

    /* Through the producer, the caller gets mq-delayd's words unchanged. */
    static uint8_t body[16384];
    mq_producer_opts po = {.delay_url = delayd_url};
    cr_assert_eq(mq_producer_open("tcp://127.0.0.1:1", &po, &producer), RPC_OK);
    mq_send_opts so = {.delay_ms = 3600 * 1000};
    mq_send_result pr;
    expect_disk_full(mq_producer_send(producer, "later", "p", body, sizeof body, &so, &pr),
                     pr.message, "cannot create segment");

    cr_assert_eq(delayd_pending(c), acked, "stats while full");

    /* A restart while the disk is still full: up, stats answer, sends refused. */
    mq_delay_client_close(c);
    ts_stop(&delayd, SIGKILL, 5000);
    delayd.pid = 0;
    delayd_start();
    cr_assert_eq(mq_delay_client_open(delayd_url, 5000, &c, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(delayd_pending(c), acked, "stats after a restart on a full disk");
    expect_disk_full(delay_send(c, "refused", 16384, &r, &err), err.message,
                     "cannot create segment");

    free_disk();
    st = delay_send(c, "again", 16384, &r, &err);
    cr_assert_eq(st, RPC_OK, "%s: %s", rpc_status_name(st), err.message);
    cr_assert_eq(delayd_pending(c), acked + 1);
    mq_delay_client_close(c);
    expect_pending_after_restart(acked + 1);
}

Test(mq_diskfull, mq_delayd_refuses_a_send_whose_write_fails_and_stores_it_once_there_is_room,
     .fini = down)
{
    mq_delay_client *c = delayd_up();
    mq_delay_result r = {0};
    shop_error err = {0};
    for (int i = 0; i < 8; i++)
        cr_assert_eq(delay_send(c, "before", 1024, &r, &err), RPC_OK, "%s", err.message);
    char seg[160];
    snprintf(seg, sizeof seg, "%s/0000000001.dlog", delayd_dir);
    punch_tail(seg);
    fill_disk();

    expect_disk_full(delay_send(c, "refused", 8192, &r, &err), err.message,
                     "cannot append to segment");
    expect_disk_full(delay_send(c, "refused", 8192, &r, &err), err.message, "segment");
    cr_assert_eq(delayd_pending(c), 8, "stats while full");

    free_disk();
    cr_assert_eq(delay_send(c, "refused", 8192, &r, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(delayd_pending(c), 9);
    mq_delay_client_close(c);
    expect_pending_after_restart(9);
}

/* The daemons started next preload the failing sync (LD_PRELOAD; ASan then
 * must not insist on coming first); `on` = 0 undoes it for later children. */
static void failsync_env(int on)
{
    static char asan_saved[512];
    static int had_asan;
    if (on) {
        char lib[512], asan[600];
        ts_bin("libshopfailsync.so", lib, sizeof lib);
        snprintf(failsync_flag, sizeof failsync_flag, "%s/shopflow-failsync-%d", ts_tmp_dir(),
                 (int)getpid());
        const char *old = getenv("ASAN_OPTIONS");
        had_asan = old != NULL;
        snprintf(asan_saved, sizeof asan_saved, "%s", old ? old : "");
        snprintf(asan, sizeof asan, "%s%sverify_asan_link_order=0", asan_saved,
                 had_asan && *asan_saved ? ":" : "");
        setenv("LD_PRELOAD", lib, 1);
        setenv("SHOP_FAIL_SYNC_IF", failsync_flag, 1);
        setenv("ASAN_OPTIONS", asan, 1);
        return;
    }
    unsetenv("LD_PRELOAD");
    unsetenv("SHOP_FAIL_SYNC_IF");
    if (had_asan)
        setenv("ASAN_OPTIONS", asan_saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
}

static void failsync(int on)
{
    if (on) {
        int fd = open(failsync_flag, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        cr_assert(fd >= 0, "%s: %s", failsync_flag, strerror(errno));
        close(fd);
    } else {
        cr_assert_eq(unlink(failsync_flag), 0);
    }
}

Test(mq_diskfull, a_failed_fdatasync_refuses_what_it_covered_and_the_log_goes_back_to_the_last_sync,
     .fini = down)
{
    mqt_broker_init(&broker, "syncfail");
    failsync_env(1);
    const char *extra[] = {"--segment-bytes", "1048576", NULL};
    int started = mqt_broker_start(&broker, extra);
    failsync_env(0);
    cr_assert_eq(started, 0, "broker did not start");
    cr_assert_eq(mq_producer_open(broker.url, NULL, &producer), RPC_OK);
    mq_send_result r;
    for (uint64_t i = 0; i < 5; i++)
        cr_assert_eq(send_one(i, 1024, &r), RPC_OK, "%s", r.message);

    /* Written, not synced: refused, and dropped back to the last sync. */
    failsync(1);
    expect_disk_full(send_one(5, 1024, &r), r.message, "cannot sync segment");
    /* The dropped range cannot be made durable either: nothing is appended. */
    expect_disk_full(send_one(5, 1024, &r), r.message, "cannot clear the unsynced tail");
    expect_stats(5);
    expect_consumed("while-failing", 5);

    failsync(0);
    expect_stored_at_its_offset(5, 1024);
}

Test(mq_diskfull, mq_delayd_refuses_a_send_whose_fdatasync_fails_and_takes_it_once_syncs_work,
     .fini = down)
{
    delayd_port = ts_free_port();
    snprintf(delayd_url, sizeof delayd_url, "tcp://127.0.0.1:%d", delayd_port);
    snprintf(delayd_dir, sizeof delayd_dir, "%s/shopflow-syncfail-delayd-%d", ts_tmp_dir(),
             (int)getpid());
    failsync_env(1);
    delayd_start();
    failsync_env(0);
    mq_delay_client *c;
    shop_error err = {0};
    cr_assert_eq(mq_delay_client_open(delayd_url, 5000, &c, &err), RPC_OK, "%s", err.message);
    mq_delay_result r = {0};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(delay_send(c, "before", 1024, &r, &err), RPC_OK, "%s", err.message);

    failsync(1);
    expect_disk_full(delay_send(c, "refused", 1024, &r, &err), err.message, "cannot sync segment");
    expect_disk_full(delay_send(c, "refused", 1024, &r, &err), err.message,
                     "cannot clear the unsynced tail");
    cr_assert_eq(delayd_pending(c), 3, "stats while syncs fail");

    failsync(0);
    cr_assert_eq(delay_send(c, "refused", 1024, &r, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(delayd_pending(c), 4);
    mq_delay_client_close(c);
    expect_pending_after_restart(4);
}
