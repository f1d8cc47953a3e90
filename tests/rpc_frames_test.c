/* Untrusted frames sent with a raw nng REQ socket (malformed, truncated,
 * 10 MiB) get a status and leave the server serving; every protobuf field
 * type survives a round trip. */
#include <signal.h>
#include <stdlib.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "rpc.pb-c.h"
#include "tests/rpc_support.h"

static echod srv;

static void up(void)
{
    echod_start(&srv, NULL);
}

static void down(void)
{
    cr_expect_eq(ts_stop(&srv.proc, SIGTERM, 5000), 0, "rpc-echod did not exit 0");
}

TestSuite(rpc_frames, .init = up, .fini = down);

/* Sends raw bytes; returns the reply's status, or -1 when none came back. */
static int raw_call(const void *frame, size_t len)
{
    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
    nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
    cr_assert_eq(nng_dial(s, srv.url, NULL, 0), 0);
    int status = -1;
    if (nng_send(s, (void *)frame, len, 0) == 0) {
        void *buf = NULL;
        size_t n = 0;
        if (nng_recv(s, &buf, &n, NNG_FLAG_ALLOC) == 0) {
            Shop__Rpc__Reply *rep = shop__rpc__reply__unpack(NULL, n, buf);
            if (rep != NULL) {
                status = (int)rep->status;
                shop__rpc__reply__free_unpacked(rep, NULL);
            }
            nng_free(buf, n);
        }
    }
    nng_close(s);
    return status;
}

static void still_serving(void)
{
    rpc_channel *ch = echod_channel(&srv, 3000);
    rpc_error err = {0};
    cr_expect_eq(echo_once(ch, "still here", &err), RPC_OK, "%s", err.message);
    rpc_channel_close(ch);
}

Test(rpc_frames, a_malformed_envelope_is_invalid_argument_and_the_server_keeps_serving)
{
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99};
    cr_expect_eq(raw_call(junk, sizeof junk), RPC_INVALID_ARGUMENT);
    still_serving();
}

Test(rpc_frames, a_truncated_envelope_is_invalid_argument_and_the_server_keeps_serving)
{
    Shop__Rpc__Request req = SHOP__RPC__REQUEST__INIT;
    req.method = shop_rpctest_Echo_Echo_METHOD;
    req.payload.data = (uint8_t *)"\x0a\x03"
                                  "abc";
    req.payload.len = 5;
    uint8_t buf[256];
    size_t len = shop__rpc__request__pack(&req, buf);
    cr_expect_eq(raw_call(buf, len - 4), RPC_INVALID_ARGUMENT);
    still_serving();
}

Test(rpc_frames, an_empty_frame_is_invalid_argument)
{
    /* An empty envelope decodes to no method at all. */
    int st = raw_call("", 0);
    cr_expect(st == RPC_INVALID_ARGUMENT || st == RPC_UNIMPLEMENTED, "got %d", st);
    still_serving();
}

Test(rpc_frames, a_10_mib_frame_is_resource_exhausted_and_the_server_keeps_serving)
{
    size_t big = 10u << 20;
    Shop__Rpc__Request req = SHOP__RPC__REQUEST__INIT;
    req.method = shop_rpctest_Echo_Echo_METHOD;
    req.payload.data = calloc(1, big);
    req.payload.len = big;
    size_t len = shop__rpc__request__get_packed_size(&req);
    uint8_t *buf = malloc(len);
    shop__rpc__request__pack(&req, buf);
    cr_expect_eq(raw_call(buf, len), RPC_RESOURCE_EXHAUSTED);
    free(buf);
    free(req.payload.data);
    still_serving();
}

Test(rpc_frames, a_request_over_the_limit_is_refused_by_the_channel_before_sending)
{
    rpc_channel *ch = echod_channel(&srv, 3000);
    size_t big = RPC_DEFAULT_MAX_MSG + 1;
    uint8_t *payload = calloc(1, big), *out = NULL;
    size_t out_len = 0;
    rpc_error err = {0};
    rpc_status st = rpc_channel_call_bytes(ch, shop_rpctest_Echo_Echo_METHOD, payload, big, &out,
                                           &out_len, NULL, &err);
    cr_expect_eq(st, RPC_RESOURCE_EXHAUSTED, "got %s", rpc_status_name(st));
    cr_expect_eq(err.attempts, 0);
    free(payload);
    rpc_channel_close(ch);
}

Test(rpc_frames, every_protobuf_field_type_survives_a_round_trip)
{
    Shop__Rpctest__Inner inner = SHOP__RPCTEST__INNER__INIT, r1 = SHOP__RPCTEST__INNER__INIT,
                         r2 = SHOP__RPCTEST__INNER__INIT;
    inner.label = "inner";
    inner.n = -7;
    r1.label = "r1";
    r2.n = 2;
    Shop__Rpctest__Inner *rinner[] = {&r1, &r2};
    int32_t ri[] = {1, -2, 300000};
    char *rs[] = {"a", "", "ccc"};
    Shop__Rpctest__AllTypes__FMapEntry e1 = SHOP__RPCTEST__ALL_TYPES__FMAP_ENTRY__INIT;
    e1.key = "k";
    e1.value = 42;
    Shop__Rpctest__AllTypes__FMapEntry *map[] = {&e1};

    Shop__Rpctest__AllTypes in = SHOP__RPCTEST__ALL_TYPES__INIT;
    in.f_double = 3.25;
    in.f_float = -1.5f;
    in.f_int32 = -123;
    in.f_int64 = -1234567890123LL;
    in.f_uint32 = 4000000000u;
    in.f_uint64 = 18000000000000000000ULL;
    in.f_sint32 = -99;
    in.f_sint64 = -9999999999LL;
    in.f_fixed32 = 0xdeadbeef;
    in.f_fixed64 = 0x0123456789abcdefULL;
    in.f_sfixed32 = -5;
    in.f_sfixed64 = -6;
    in.f_bool = 1;
    in.f_string = "héllo";
    in.f_bytes.data = (uint8_t *)"\x00\x01\xff";
    in.f_bytes.len = 3;
    in.f_enum = SHOP__RPCTEST__COLOR__GREEN;
    in.f_inner = &inner;
    in.n_r_int32 = 3;
    in.r_int32 = ri;
    in.n_r_string = 3;
    in.r_string = rs;
    in.n_r_inner = 2;
    in.r_inner = rinner;
    in.n_f_map = 1;
    in.f_map = map;
    in.choice_case = SHOP__RPCTEST__ALL_TYPES__CHOICE_C_NUMBER;
    in.c_number = 77;

    rpc_channel *ch = echod_channel(&srv, 3000);
    Shop__Rpctest__AllTypes *out = NULL;
    rpc_error err = {0};
    cr_assert_eq(shop_rpctest_Echo_RoundTrip(ch, &in, &out, NULL, &err), RPC_OK, "%s", err.message);
    cr_expect_eq(out->f_double, 3.25);
    cr_expect_eq(out->f_float, -1.5f);
    cr_expect_eq(out->f_int32, -123);
    cr_expect_eq(out->f_int64, -1234567890123LL);
    cr_expect_eq(out->f_uint32, 4000000000u);
    cr_expect_eq(out->f_uint64, 18000000000000000000ULL);
    cr_expect_eq(out->f_sint32, -99);
    cr_expect_eq(out->f_sint64, -9999999999LL);
    cr_expect_eq(out->f_fixed32, 0xdeadbeef);
    cr_expect_eq(out->f_fixed64, 0x0123456789abcdefULL);
    cr_expect_eq(out->f_sfixed32, -5);
    cr_expect_eq(out->f_sfixed64, -6);
    cr_expect_eq(out->f_bool, 1);
    cr_expect_str_eq(out->f_string, "héllo");
    cr_expect_eq(out->f_bytes.len, 3);
    cr_expect_eq(memcmp(out->f_bytes.data, "\x00\x01\xff", 3), 0);
    cr_expect_eq(out->f_enum, SHOP__RPCTEST__COLOR__GREEN);
    cr_assert_not_null(out->f_inner);
    cr_expect_str_eq(out->f_inner->label, "inner");
    cr_expect_eq(out->f_inner->n, -7);
    cr_assert_eq(out->n_r_int32, 3);
    cr_expect_eq(out->r_int32[2], 300000);
    cr_assert_eq(out->n_r_string, 3);
    cr_expect_str_eq(out->r_string[2], "ccc");
    cr_assert_eq(out->n_r_inner, 2);
    cr_expect_str_eq(out->r_inner[0]->label, "r1");
    cr_expect_eq(out->r_inner[1]->n, 2);
    cr_assert_eq(out->n_f_map, 1);
    cr_expect_str_eq(out->f_map[0]->key, "k");
    cr_expect_eq(out->f_map[0]->value, 42);
    cr_expect_eq(out->choice_case, SHOP__RPCTEST__ALL_TYPES__CHOICE_C_NUMBER);
    cr_expect_eq(out->c_number, 77);
    shop__rpctest__all_types__free_unpacked(out, NULL);
    rpc_channel_close(ch);
}

Test(rpc_frames, hundreds_of_random_frames_never_take_the_server_down)
{
    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
    cr_assert_eq(nng_dial(s, srv.url, NULL, 0), 0);
    unsigned seed = 12345;
    uint8_t buf[512];
    int answered = 0;
    for (int i = 0; i < 300; i++) {
        size_t len = (size_t)(rand_r(&seed) % (int)sizeof buf);
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)rand_r(&seed);
        /* Half the frames start like a real envelope so the decoder goes deeper. */
        if (i % 2 == 0 && len > 2) {
            buf[0] = 0x12;
            buf[1] = (uint8_t)(len - 2 < 0x7f ? len - 2 : 0x7f);
        }
        cr_assert_eq(nng_send(s, buf, len, 0), 0);
        void *rep = NULL;
        size_t n = 0;
        cr_assert_eq(nng_recv(s, &rep, &n, NNG_FLAG_ALLOC), 0, "no reply to frame %d", i);
        Shop__Rpc__Reply *r = shop__rpc__reply__unpack(NULL, n, rep);
        cr_assert_not_null(r, "reply %d does not decode", i);
        answered += r->status != RPC_OK;
        shop__rpc__reply__free_unpacked(r, NULL);
        nng_free(rep, n);
    }
    nng_close(s);
    cr_expect_eq(answered, 300, "every random frame gets an error status");
    still_serving();
}
