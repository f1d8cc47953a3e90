/* At least once over a lossy PUB/SUB: batches lost on the way are noticed
 * (a jump in the batch sequence, or a heartbeat reporting batches never
 * seen) and pulled over REQ/REP; a delivery never acknowledged comes again
 * after the ack timeout. */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <string.h>

#include "mq.pb-c.h"
#include "tests/support/mq_testkit.h"
#include "base/clock.h"

static mqt_broker broker;

static void down(void)
{
    mqt_broker_cleanup(&broker);
}

Test(mq_repair, pubsub_drops_are_detected_and_repaired_by_pull_before_any_ack_timeout, .fini = down)
{
    mqt_broker_init(&broker, "repair");
    const char *slow_timeout[] = {"--ack-timeout-ms", "60000", NULL};
    cr_assert_eq(mqt_broker_start(&broker, slow_timeout), 0);
    mqt_collector k = {.drop_every = 3};
    cr_assert_eq(mqt_collector_start(&k, &broker, "lossy", "orders", 3000), 0);
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    cr_assert_eq(mqt_send_range(p, "orders", 0, 3000, 10, 64), 0);
    cr_assert_eq(mqt_collector_wait(&k, 3000, 20000), 0, "got %llu of 3000",
                 (unsigned long long)mqt_collector_distinct(&k));
    mq_consumer_stats st;
    mq_consumer_get_stats(k.c, &st);
    cr_assert_gt(st.gaps, 0, "no gap was detected");
    cr_assert_gt(st.repaired, 0, "nothing was pulled");
    cr_assert_eq(k.corrupt, 0);
    mqt_collector_stop(&k);
    mq_producer_close(p);
}

static uint32_t call(nng_socket s, Shop__Mq__Request *req)
{
    uint8_t buf[1024];
    size_t len = shop__mq__request__pack(req, buf);
    cr_assert_eq(nng_send(s, buf, len, 0), 0);
    void *rep;
    size_t n;
    cr_assert_eq(nng_recv(s, &rep, &n, NNG_FLAG_ALLOC), 0);
    Shop__Mq__Reply *r = shop__mq__reply__unpack(NULL, n, rep);
    nng_free(rep, n);
    cr_assert_not_null(r);
    uint32_t st = r->status;
    shop__mq__reply__free_unpacked(r, NULL);
    return st;
}

/* Receives one delivery batch for "raw"; returns its first offset or -1. */
static int64_t recv_batch(nng_socket sub, uint64_t *seq)
{
    void *m;
    size_t n;
    if (nng_recv(sub, &m, &n, NNG_FLAG_ALLOC) != 0)
        return -1;
    Shop__Mq__Deliver *d = shop__mq__deliver__unpack(NULL, n - 4, (uint8_t *)m + 4);
    nng_free(m, n);
    cr_assert_not_null(d);
    int64_t off = d->n_deliveries ? (int64_t)d->deliveries[0]->offset : -1;
    *seq = d->seq;
    shop__mq__deliver__free_unpacked(d, NULL);
    return off;
}

Test(mq_repair, an_unacked_message_is_redelivered_after_its_ack_timeout, .fini = down)
{
    mqt_broker_init(&broker, "acktimeout");
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0);
    nng_socket req, sub;
    cr_assert_eq(nng_req0_open(&req), 0);
    cr_assert_eq(nng_sub0_open(&sub), 0);
    nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 3000);
    nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 300);
    cr_assert_eq(nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "raw\n", 4), 0);
    cr_assert_eq(nng_dial(req, broker.url, NULL, 0), 0);
    cr_assert_eq(nng_dial(sub, broker.pub_url, NULL, 0), 0);
    shop_sleep_ms(100);

    char *topics[] = {"orders"};
    Shop__Mq__Subscribe s = SHOP__MQ__SUBSCRIBE__INIT;
    s.consumer_id = "raw";
    s.group = "g";
    s.topics = topics;
    s.n_topics = 1;
    Shop__Mq__Request sreq = SHOP__MQ__REQUEST__INIT;
    sreq.body_case = SHOP__MQ__REQUEST__BODY_SUBSCRIBE;
    sreq.subscribe = &s;
    cr_assert_eq(call(req, &sreq), RPC_OK);

    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    cr_assert_eq(mqt_send_range(p, "orders", 0, 1, 1, 64), 0);

    /* Heartbeats keep the consumer alive; it never acks. */
    Shop__Mq__Heartbeat hb = SHOP__MQ__HEARTBEAT__INIT;
    hb.consumer_id = "raw";
    Shop__Mq__Request hreq = SHOP__MQ__REQUEST__INIT;
    hreq.body_case = SHOP__MQ__REQUEST__BODY_HEARTBEAT;
    hreq.heartbeat = &hb;
    int64_t t0 = shop_now_ms(), first_at = -1, again_at = -1;
    uint64_t seq, first_seq = 0;
    while (shop_now_ms() - t0 < 8000 && again_at < 0) {
        int64_t off = recv_batch(sub, &seq);
        if (off == 0 && first_at < 0) {
            first_at = shop_now_ms();
            first_seq = seq;
        } else if (off == 0 && seq > first_seq) {
            again_at = shop_now_ms();
        }
        cr_assert_eq(call(req, &hreq), RPC_OK);
    }
    cr_assert_geq(first_at, 0, "never delivered");
    cr_assert_geq(again_at, 0, "not redelivered after the ack timeout");
    cr_assert_geq(again_at - first_at, 1200, "redelivered after %lld ms, before the timeout",
                  (long long)(again_at - first_at));
    mq_producer_close(p);
    nng_close(req);
    nng_close(sub);
}
