/* Untrusted bytes: garbage on every broker socket (raw TCP and SP frames
 * that do not decode, requests that decode but make no sense) gets a clear
 * status or a closed connection, and the broker keeps serving. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mq.pb-c.h"
#include "tests/support/mq_testkit.h"
#include "base/clock.h"

static mqt_broker broker;

static void up(void)
{
    mqt_broker_init(&broker, "malformed");
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0, "broker did not start");
}

static void down(void)
{
    mqt_broker_cleanup(&broker);
}

static void raw_tcp_garbage(int port, const void *data, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    ssize_t w = write(fd, data, len);
    (void)w;
    shop_sleep_ms(20);
    close(fd);
}

/* One raw SP request; returns the decoded reply (NULL if none). */
static Shop__Mq__Reply *raw_request(nng_socket s, const void *data, size_t len)
{
    cr_assert_eq(nng_send(s, (void *)data, len, 0), 0);
    void *buf;
    size_t n;
    if (nng_recv(s, &buf, &n, NNG_FLAG_ALLOC) != 0)
        return NULL;
    Shop__Mq__Reply *r = shop__mq__reply__unpack(NULL, n, buf);
    nng_free(buf, n);
    return r;
}

static uint32_t request_status(nng_socket s, const Shop__Mq__Request *req)
{
    uint8_t buf[4096];
    size_t len = shop__mq__request__pack(req, buf);
    Shop__Mq__Reply *r = raw_request(s, buf, len);
    cr_assert_not_null(r, "no reply");
    uint32_t st = r->status;
    if (r->body_case == SHOP__MQ__REPLY__BODY_SEND && r->send->n_results > 0)
        st = r->send->results[0]->status;
    shop__mq__reply__free_unpacked(r, NULL);
    return st;
}

static void still_serving(void)
{
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    cr_assert_eq(mqt_send_range(p, "after", 0, 10, 10, 64), 0, "the broker stopped serving");
    mqt_collector k = {0};
    cr_assert_eq(mqt_collector_start(&k, &broker, "after", "after", 10), 0);
    cr_assert_eq(mqt_collector_wait(&k, 10, 10000), 0);
    mqt_collector_stop(&k);
    mq_producer_close(p);
    cr_assert_eq(kill(broker.p.pid, 0), 0, "the broker died");
}

Test(mq_malformed, raw_tcp_garbage_on_both_sockets_leaves_the_broker_serving, .init = up,
     .fini = down)
{
    uint8_t junk[4096];
    srand(7);
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (uint8_t)rand();
        size_t len = 1 + (size_t)rand() % sizeof junk;
        raw_tcp_garbage(broker.port, junk, len);
        raw_tcp_garbage(broker.pub_port, junk, len);
    }
    /* A valid SP handshake followed by an absurd frame length. */
    const uint8_t sp_hdr[] = {0,    'S',  'P',  0,    0,    0x30, 0,    0,
                              0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    raw_tcp_garbage(broker.port, sp_hdr, sizeof sp_hdr);
    still_serving();
}

Test(mq_malformed, frames_that_do_not_decode_get_invalid_argument, .init = up, .fini = down)
{
    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 3000);
    cr_assert_eq(nng_dial(s, broker.url, NULL, 0), 0);
    uint8_t junk[512];
    srand(11);
    int invalid = 0;
    for (int round = 0; round < 200; round++) {
        size_t len = (size_t)rand() % sizeof junk;
        for (size_t i = 0; i < len; i++)
            junk[i] = (uint8_t)rand();
        Shop__Mq__Reply *r = raw_request(s, junk, len);
        cr_assert_not_null(r, "no reply to garbage frame %d", round);
        invalid += r->status == RPC_INVALID_ARGUMENT;
        cr_assert_neq(r->status, RPC_OK, "garbage accepted");
        shop__mq__reply__free_unpacked(r, NULL);
    }
    cr_assert_gt(invalid, 100);
    nng_close(s);
    still_serving();
}

Test(mq_malformed, requests_that_make_no_sense_get_a_clear_status, .init = up, .fini = down)
{
    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 3000);
    cr_assert_eq(nng_dial(s, broker.url, NULL, 0), 0);

    Shop__Mq__Request empty = SHOP__MQ__REQUEST__INIT;
    cr_assert_eq(request_status(s, &empty), RPC_UNIMPLEMENTED);

    Shop__Mq__Message m = SHOP__MQ__MESSAGE__INIT;
    Shop__Mq__Message *mp[] = {&m};
    m.id = "x";
    m.topic = "%DLQ%someone";
    Shop__Mq__SendRequest sr = SHOP__MQ__SEND_REQUEST__INIT;
    sr.messages = mp;
    sr.n_messages = 1;
    Shop__Mq__Request send = SHOP__MQ__REQUEST__INIT;
    send.body_case = SHOP__MQ__REQUEST__BODY_SEND;
    send.send = &sr;
    cr_assert_eq(request_status(s, &send), RPC_INVALID_ARGUMENT, "reserved topic accepted");
    m.topic = "";
    cr_assert_eq(request_status(s, &send), RPC_INVALID_ARGUMENT, "empty topic accepted");

    Shop__Mq__AckEntry e = SHOP__MQ__ACK_ENTRY__INIT;
    Shop__Mq__AckEntry *ep[] = {&e};
    e.topic = "orders";
    e.offset = UINT64_MAX;
    Shop__Mq__Ack ack = SHOP__MQ__ACK__INIT;
    ack.consumer_id = "nobody";
    ack.entries = ep;
    ack.n_entries = 1;
    Shop__Mq__Request areq = SHOP__MQ__REQUEST__INIT;
    areq.body_case = SHOP__MQ__REQUEST__BODY_ACK;
    areq.ack = &ack;
    cr_assert_eq(request_status(s, &areq), RPC_NOT_FOUND);

    Shop__Mq__Subscribe sub = SHOP__MQ__SUBSCRIBE__INIT;
    sub.consumer_id = "c1";
    sub.group = "g";
    Shop__Mq__Request sreq = SHOP__MQ__REQUEST__INIT;
    sreq.body_case = SHOP__MQ__REQUEST__BODY_SUBSCRIBE;
    sreq.subscribe = &sub;
    cr_assert_eq(request_status(s, &sreq), RPC_INVALID_ARGUMENT, "no topics accepted");
    char *topics[] = {"orders"};
    sub.topics = topics;
    sub.n_topics = 1;
    cr_assert_eq(request_status(s, &sreq), RPC_OK);

    /* A known consumer acking offsets it never got, and pulling nonsense ranges. */
    ack.consumer_id = "c1";
    cr_assert_eq(request_status(s, &areq), RPC_OK);
    Shop__Mq__Pull pull = SHOP__MQ__PULL__INIT;
    pull.consumer_id = "c1";
    pull.from_seq = UINT64_MAX - 1;
    pull.to_seq = 3;
    Shop__Mq__Request preq = SHOP__MQ__REQUEST__INIT;
    preq.body_case = SHOP__MQ__REQUEST__BODY_PULL;
    preq.pull = &pull;
    cr_assert_eq(request_status(s, &preq), RPC_OK);
    pull.from_seq = 0;
    pull.to_seq = UINT64_MAX;
    cr_assert_eq(request_status(s, &preq), RPC_OK);

    Shop__Mq__Dlq dlq = SHOP__MQ__DLQ__INIT;
    dlq.group = "no-such-group";
    Shop__Mq__Request dreq = SHOP__MQ__REQUEST__INIT;
    dreq.body_case = SHOP__MQ__REQUEST__BODY_DLQ;
    dreq.dlq = &dlq;
    cr_assert_eq(request_status(s, &dreq), RPC_NOT_FOUND);
    nng_close(s);
    still_serving();
}
