/* Transactional (half) messages against a real mq-broker: a half is not
 * delivered before its commit and once after it; a rollback never; an
 * undecided half is checked back, and discarded after the last check; a
 * producer killed (kill -9, another process) after its half is answered for
 * by another member of its group; undecided halves survive a kill -9 of the
 * broker and are checked back after it restarts. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "tests/support/mq_testkit.h"

#define BODY 64
#define BY_INDEX (-1) /* even body indices commit, odd ones roll back */

static mqt_broker b;
static const char *const fast_checks[] = {"--txn-check-ms", "300", "--txn-check-max", "4", NULL};

static void up(void)
{
    mqt_broker_init(&b, "txn");
    cr_assert_eq(mqt_broker_start(&b, fast_checks), 0);
}

static void down(void)
{
    mqt_broker_cleanup(&b);
}

TestSuite(mq_txn, .init = up, .fini = down, .timeout = 90);

typedef struct checker {
    int calls;
    int answer; /* an mq_txn_state, or BY_INDEX */
} checker;

static mq_txn_state check_back(const mq_msg *m, void *arg)
{
    checker *c = arg;
    __atomic_add_fetch(&c->calls, 1, __ATOMIC_SEQ_CST);
    if (strcmp(m->topic, "tx.orders") != 0)
        return MQ_TXN_UNKNOWN; /* the check must see the original topic */
    if (c->answer != BY_INDEX)
        return (mq_txn_state)c->answer;
    int64_t i = mqt_body_check(m->body, m->len);
    return i < 0 ? MQ_TXN_UNKNOWN : i % 2 == 0 ? MQ_TXN_COMMIT : MQ_TXN_ROLLBACK;
}

static int calls(checker *c)
{
    return __atomic_load_n(&c->calls, __ATOMIC_SEQ_CST);
}

static mq_txn_producer *open_member(const char *group, checker *c)
{
    mq_txn_producer *p = NULL;
    shop_error err = {0};
    cr_assert_eq(mq_txn_producer_open(b.url, group, check_back, c, NULL, &p, &err), RPC_OK, "%s",
                 err.message);
    return p;
}

static rpc_status send_half(mq_txn_producer *p, uint64_t i, mq_send_result *r)
{
    uint8_t body[BODY];
    mqt_body(i, body, sizeof body);
    return mq_producer_send_half(p, "tx.orders", "k", body, sizeof body, NULL, r);
}

static unsigned seen(mqt_collector *k, size_t i)
{
    pthread_mutex_lock(&k->mu);
    unsigned n = k->count[i];
    pthread_mutex_unlock(&k->mu);
    return n;
}

Test(mq_txn, commit_is_delivered_once_and_rollback_never)
{
    checker c = {.answer = MQ_TXN_UNKNOWN};
    mq_txn_producer *p = open_member("txgroup", &c);
    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &b, "g", "tx.orders", 4), 0);
    mq_send_result h0, h1;
    cr_assert_eq(send_half(p, 0, &h0), RPC_OK, "%s", h0.message);
    cr_assert_eq(send_half(p, 1, &h1), RPC_OK, "%s", h1.message);
    shop_sleep_ms(200);
    cr_expect_eq(mqt_collector_distinct(&k), 0,
                 "a half message is not delivered before its commit");
    shop_error err = {0};
    cr_assert_eq(mq_producer_end_txn(p, h0.id, MQ_TXN_COMMIT, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(mq_producer_end_txn(p, h1.id, MQ_TXN_ROLLBACK, &err), RPC_OK, "%s", err.message);
    cr_expect_eq(mq_producer_end_txn(p, h0.id, MQ_TXN_COMMIT, &err), RPC_OK,
                 "the same decision again is OK: %s", err.message);
    cr_expect_eq(mq_producer_end_txn(p, h1.id, MQ_TXN_COMMIT, &err), RPC_FAILED_PRECONDITION);
    cr_expect(strstr(err.message, "ROLLBACK") != NULL, "%s", err.message);
    cr_expect_eq(mq_producer_end_txn(p, "no-such-half", MQ_TXN_COMMIT, &err), RPC_NOT_FOUND);
    cr_expect_eq(mq_producer_send_half(p, "%HALF%", "k", "x", 1, NULL, &h1), RPC_INVALID_ARGUMENT);
    mq_txn_producer *nats = NULL;
    cr_expect_eq(
        mq_txn_producer_open("nats://127.0.0.1:4222", "g", check_back, &c, NULL, &nats, &err),
        RPC_UNIMPLEMENTED, "the JetStream backend has no half messages");
    cr_expect(strstr(err.message, "NATS") != NULL, "%s", err.message);
    cr_assert_eq(mqt_collector_wait(&k, 1, 5000), 0);
    shop_sleep_ms(1500); /* several check-back periods: nothing more comes */
    cr_expect_eq(seen(&k, 0), 1, "committed: delivered once");
    cr_expect_eq(seen(&k, 1), 0, "rolled back: never delivered");
    cr_expect_eq(calls(&c), 0, "decided halves are not checked back");
    mqt_collector_stop(&k);
    mq_txn_producer_close(p);
}

Test(mq_txn, undecided_halves_are_checked_back_and_unknown_ones_discarded)
{
    checker c = {.answer = BY_INDEX}, unsure = {.answer = MQ_TXN_UNKNOWN};
    mq_txn_producer *p = open_member("txgroup", &c);
    mq_txn_producer *q = open_member("unsure", &unsure);
    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &b, "g", "tx.orders", 4), 0);
    mq_send_result h[3];
    cr_assert_eq(send_half(p, 0, &h[0]), RPC_OK);
    cr_assert_eq(send_half(p, 1, &h[1]), RPC_OK);
    cr_assert_eq(send_half(q, 2, &h[2]), RPC_OK);
    cr_assert_eq(mqt_collector_wait(&k, 1, 5000), 0, "the check-back commits index 0");
    int64_t until = shop_now_ms() + 8000;
    while (calls(&unsure) < 4 && shop_now_ms() < until)
        shop_sleep_ms(50);
    shop_sleep_ms(1000);
    cr_expect_eq(seen(&k, 0), 1, "committed by the check-back, once");
    cr_expect_eq(seen(&k, 1), 0, "rolled back by the check-back");
    cr_expect_eq(calls(&c), 2, "one check-back per half: %d", calls(&c));
    cr_expect_eq(calls(&unsure), 4, "UNKNOWN is asked again up to --txn-check-max: %d",
                 calls(&unsure));
    cr_expect_eq(seen(&k, 2), 0, "discarded, never delivered");
    shop_error err = {0};
    cr_expect_eq(mq_producer_end_txn(q, h[2].id, MQ_TXN_COMMIT, &err), RPC_FAILED_PRECONDITION,
                 "a discarded half cannot be committed late: %s", err.message);
    mqt_collector_stop(&k);
    mq_txn_producer_close(p);
    mq_txn_producer_close(q);
}

typedef struct counter {
    int n;
} counter;

static mq_consume_result count_it(const mq_msg *m, void *arg)
{
    counter *c = arg;
    if (m->len == 5 && memcmp(m->body, "paid!", 5) == 0)
        __atomic_add_fetch(&c->n, 1, __ATOMIC_SEQ_CST);
    return MQ_CONSUME_SUCCESS;
}

static int log_has_half(void *arg)
{
    return ts_log_has(arg, "half id=killed-1");
}

Test(mq_txn, producer_killed_after_its_half_another_member_decides)
{
    /* the producer: another process (`shopflow mq send-half`, undecided),
     * killed with SIGKILL once its half is stored */
    ts_proc prod;
    char *const argv[] = {"shopflow", "mq",   "send-half", "tx.orders", "paid!", "--group",
                          "txgroup",  "--id", "killed-1",  "--url",     b.url,   NULL};
    cr_assert_eq(ts_spawn(&prod, argv), 0);
    if (ts_wait_until(&prod, log_has_half, &prod, 10000) != 0)
        ts_dump_log(&prod);
    cr_assert(ts_log_has(&prod, "half id=killed-1"));
    ts_stop(&prod, SIGKILL, 1000);
    /* another member of the group, whose local transaction committed; the
     * dead one stays registered for up to 3 s and is skipped */
    checker c = {.answer = MQ_TXN_COMMIT};
    mq_txn_producer *p = open_member("txgroup", &c);
    counter got = {0};
    mq_consumer *k;
    shop_error err = {0};
    const char *topics[] = {"tx.orders"};
    mq_consumer_opts co = {.url = b.url, .pub_url = b.pub_url};
    cr_assert_eq(mq_consumer_open("g", topics, 1, count_it, &got, &co, &k, &err), RPC_OK);
    cr_assert_eq(mq_consumer_start(k, &err), RPC_OK);
    int64_t until = shop_now_ms() + 10000;
    while (__atomic_load_n(&got.n, __ATOMIC_SEQ_CST) == 0 && shop_now_ms() < until)
        shop_sleep_ms(20);
    shop_sleep_ms(1000);
    cr_expect_eq(got.n, 1, "committed by the other member, delivered once: %d", got.n);
    cr_expect_eq(calls(&c), 1, "asked once: %d", calls(&c));
    char out[16384];
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq trace killed-1 --url %s", b.url), 0, "%s", out);
    cr_expect(strstr(out, "HALF") && strstr(out, "CHECK") && strstr(out, "COMMIT") &&
                  strstr(out, "STORED          tx.orders@0") && strstr(out, "DELIVERED") &&
                  strstr(out, "ACKED"),
              "the trace shows half, check-back, commit, delivery and ack: %s", out);
    mq_consumer_close(k);
    mq_txn_producer_close(p);
}

Test(mq_txn, undecided_halves_survive_a_broker_kill_9)
{
    /* check-backs slow enough that none runs before the kill */
    static const char *const slow[] = {"--txn-check-ms", "2500", NULL};
    mqt_broker_stop(&b, SIGTERM);
    cr_assert_eq(mqt_broker_start(&b, slow), 0);
    checker c = {.answer = BY_INDEX};
    mq_txn_producer *p = open_member("txgroup", &c);
    mq_send_result h[10];
    for (uint64_t i = 0; i < 10; i++)
        cr_assert_eq(send_half(p, i, &h[i]), RPC_OK, "%s", h[i].message);
    shop_error err = {0};
    cr_assert_eq(mq_producer_end_txn(p, h[8].id, MQ_TXN_COMMIT, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(mq_producer_end_txn(p, h[9].id, MQ_TXN_ROLLBACK, &err), RPC_OK, "%s", err.message);
    mqt_broker_stop(&b, SIGKILL);
    cr_expect_eq(calls(&c), 0, "no check-back before the kill");
    cr_assert_eq(mqt_broker_start(&b, slow), 0);
    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &b, "g", "tx.orders", 10), 0);
    /* 0, 2, 4, 6 by check-back after the restart, 8 committed before it */
    cr_assert_eq(mqt_collector_wait(&k, 5, 15000), 0, "distinct=%llu",
                 (unsigned long long)mqt_collector_distinct(&k));
    shop_sleep_ms(1500);
    for (size_t i = 0; i < 10; i++)
        cr_expect_eq(seen(&k, i), i % 2 == 0 ? 1u : 0u, "index %zu seen %u times", i, seen(&k, i));
    cr_expect_eq(calls(&c), 8, "the 8 undecided halves were checked back once: %d", calls(&c));
    mqt_collector_stop(&k);
    mq_txn_producer_close(p);
}
