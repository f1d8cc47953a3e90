/* Fuzz target: request frames from the broker's REP socket through its
 * decoder and every handler (mq/broker/requests.c bk_handle: send,
 * subscribe, heartbeat, ack, pull, stats, dlq; then dispatch.c delivery,
 * redelivery and retry.c reconsume/DLQ between frames). An input is a
 * sequence of frames (tests/fuzz/fuzz.h) run against a fresh broker whose
 * store lives in a scratch directory, so that subscribe, send, pull and ack
 * can meet within one input and a crash replays alone. The clock handed to
 * the ticks moves 600 ms per frame, so ack timeouts (1 s) and consumer
 * timeouts (5 s) happen inside an input. Invariant: every frame gets a
 * reply that decodes, with a known status, and one result per message of
 * a send. */
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <stdlib.h>
#include <string.h>

#include "mq/broker/broker.h"
#include "mq/broker/trace.h"
#include "mq/broker/txn.h"
#include "base/clock.h"
#include "tests/fuzz/fuzz.h"

static void check_reply(nng_msg *m, const uint8_t *frame, size_t len)
{
    FUZZ_CHECK(m != NULL);
    Shop__Mq__Reply *r = shop__mq__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    FUZZ_CHECK(r != NULL);
    FUZZ_CHECK(r->status < 17);
    Shop__Mq__Request *req = shop__mq__request__unpack(NULL, len, frame);
    FUZZ_CHECK(req != NULL || r->status != 0);
    if (req != NULL && req->body_case == SHOP__MQ__REQUEST__BODY_SEND && r->status == 0) {
        FUZZ_CHECK(r->body_case == SHOP__MQ__REPLY__BODY_SEND);
        FUZZ_CHECK(r->send->n_results == req->send->n_messages);
    }
    if (req != NULL)
        shop__mq__request__free_unpacked(req, NULL);
    shop__mq__reply__free_unpacked(r, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static nng_socket pub;
    static int pub_open;
    if (!pub_open) {
        fuzz_quiet_logs();
        if (nng_pub0_open(&pub) != 0)
            abort();
        pub_open = 1;
    }
    const char *dir = fuzz_dir("broker-request");
    fuzz_dir_clear(dir);
    mq_broker b;
    memset(&b, 0, sizeof b);
    b.o = (mq_broker_opts){.data_dir = dir,
                           .flush_sync = 0,
                           .ack_timeout_ms = 1000,
                           .consumer_timeout_ms = 5000,
                           .retry_scale = 0.0001,
                           .max_inflight = 64,
                           .segment_bytes = 1u << 16};
    b.pub = pub;
    mq_store_opts so = {.dir = dir, .segment_bytes = 1u << 16};
    char err[256];
    if (mq_store_open(&b.store, &so, err, sizeof err) != 0 ||
        bk_txn_open(&b, err, sizeof err) != 0 ||
        bk_trace_open(&b.trace, dir, 1024, err, sizeof err) != 0)
        fuzz_fail(__FILE__, __LINE__, err);
    mq_store_on_append(b.store, bk_trace_stored, b.trace); /* halves, ends, traces too */
    atomic_store(&b.durable, UINT64_MAX);

    int64_t now = shop_now_ms();
    fuzz_frames f = {data, len};
    const uint8_t *frame;
    size_t flen;
    while (fuzz_next_frame(&f, &frame, &flen)) {
        nng_msg *m = bk_handle(&b, frame, flen);
        check_reply(m, frame, flen);
        nng_msg_free(m);
        FUZZ_CHECK(mq_store_flush(b.store) == 0);
        now += 600;
        bk_tick(&b, now);
        bk_dispatch(&b);
    }
    bk_groups_free(&b);
    bk_txn_close(&b);
    bk_trace_close(b.trace);
    mq_store_close(b.store);
    return 0;
}
