/* Fuzz target: request frames to mq-delayd through its real server
 * (mq/delayd/delay_server.c: decode, stats; delay_writer.c: validation,
 * send records, cancel by topic and key with the record read back, group
 * commit, reply). One mq-delayd without timer or sink (nothing is ever due
 * for delivery) runs in process for the whole fuzzing run, its log in a
 * scratch directory; each frame of an input (tests/fuzz/fuzz.h) is sent
 * over nng inproc and its reply awaited. Invariant: every frame gets a
 * reply within 10 s that decodes, with a known status, and one result per
 * message of an accepted send. */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdlib.h>
#include <string.h>

#include "mq/delayd/delayd.h"
#include "mq_delay.pb-c.h"
#include "tests/fuzz/fuzz.h"

#define URL "inproc://shopflow-fuzz-delayd"

static delayd d;
static nng_socket req;

static void stop(void)
{
    nng_close(req);
    d.stopping = 1;
    delayd_writer_stop(&d);
    delayd_server_stop(&d);
    delay_log_close(d.log);
    delay_index_free(&d.ix);
}

static void start(void)
{
    fuzz_quiet_logs();
    const char *dir = fuzz_dir("delayd-request");
    fuzz_dir_clear(dir);
    d.cfg = (delayd_config){.listen_url = URL,
                            .data_dir = dir,
                            .segment_bytes = 1u << 16,
                            .max_delay_ms = 3456000000,
                            .sink_timeout_ms = 1000,
                            .max_backoff_ms = 100};
    pthread_mutex_init(&d.mu, NULL);
    pthread_cond_init(&d.timer_cv, NULL);
    pthread_mutex_init(&d.qmu, NULL);
    pthread_cond_init(&d.qcv, NULL);
    delay_index_init(&d.ix);
    shop_error err = {0};
    if (delay_log_open(dir, d.cfg.segment_bytes, &d.log, &err) != 0 ||
        delayd_recover(&d, &err) != 0 || delayd_writer_start(&d) != 0 ||
        delayd_server_start(&d, &err) != 0)
        fuzz_fail(__FILE__, __LINE__, err.message);
    if (nng_req0_open(&req) != 0 || nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 10000) != 0 ||
        nng_socket_set_ms(req, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE) != 0 ||
        nng_dial(req, URL, NULL, 0) != 0)
        fuzz_fail(__FILE__, __LINE__, "cannot dial the in-process mq-delayd");
    atexit(stop);
}

static void check_reply(nng_msg *m, const uint8_t *frame, size_t len)
{
    Shop__Mq__Delay__Reply *r =
        shop__mq__delay__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    FUZZ_CHECK(r != NULL);
    FUZZ_CHECK(r->status >= 0 && r->status < 17);
    Shop__Mq__Delay__Request *q = shop__mq__delay__request__unpack(NULL, len, frame);
    FUZZ_CHECK(q != NULL || r->status != 0);
    if (q != NULL && q->op_case == SHOP__MQ__DELAY__REQUEST__OP_SEND && r->status == 0)
        FUZZ_CHECK(r->n_results == q->send->n_messages);
    if (q != NULL && q->op_case == SHOP__MQ__DELAY__REQUEST__OP_STATS && r->status == 0)
        FUZZ_CHECK(r->stats != NULL);
    if (q != NULL)
        shop__mq__delay__request__free_unpacked(q, NULL);
    shop__mq__delay__reply__free_unpacked(r, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static int started;
    if (!started) {
        start();
        started = 1;
    }
    fuzz_frames f = {data, len};
    const uint8_t *frame;
    size_t flen;
    while (fuzz_next_frame(&f, &frame, &flen)) {
        nng_msg *m;
        FUZZ_CHECK(nng_msg_alloc(&m, flen) == 0);
        if (flen > 0)
            memcpy(nng_msg_body(m), frame, flen);
        FUZZ_CHECK(nng_sendmsg(req, m, 0) == 0);
        nng_msg *rep = NULL;
        int rv = nng_recvmsg(req, &rep, 0);
        if (rv != 0)
            fuzz_fail(__FILE__, __LINE__, "mq-delayd did not reply within 10 s");
        check_reply(rep, frame, flen);
        nng_msg_free(rep);
    }
    return 0;
}
