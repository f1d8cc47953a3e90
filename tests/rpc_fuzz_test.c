/* Mutation fuzzing of the server's frame path in-process (under ASan in CI):
 * valid frames with flipped bytes, truncations and garbage never crash,
 * leak or get an OK for a frame that does not decode. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "rpc/internal.h"
#include "rpc_echo.rpc.h"

static rpc_status round_trip(rpc_ctx *ctx, const Shop__Rpctest__AllTypes *req,
                             Shop__Rpctest__AllTypes *reply, void *user)
{
    (void)ctx;
    (void)user;
    *reply = *req;
    return RPC_OK;
}

static rpc_server *srv;

static void up(void)
{
    static const shop_rpctest_Echo_server impl = {.RoundTrip = round_trip};
    rpc_server_opts so = {.workers = 1, .queue_depth = 1, .max_msg_bytes = 1u << 16};
    cr_assert_eq(rpc_server_new(&srv, &so, NULL), RPC_OK);
    cr_assert_eq(shop_rpctest_Echo_register(srv, &impl, NULL), RPC_OK);
    cr_assert_eq(rpc_server_start(srv, NULL), RPC_OK);
}

static void down(void)
{
    rpc_server_free(srv);
}

/* Runs one frame through admission and the handler; returns the reply status. */
static int serve_frame(const uint8_t *data, size_t len)
{
    nng_msg *in = NULL, *reject = NULL;
    cr_assert_eq(nng_msg_alloc(&in, len), 0);
    if (len > 0)
        memcpy(nng_msg_body(in), data, len);
    Shop__Rpc__Request *req = NULL;
    rpc_method *m = rpc__admit(srv, in, &req, &reject);
    nng_msg_free(in);
    nng_msg *out = m != NULL ? rpc__run(srv, m, req, shop_now_ms()) : reject;
    cr_assert_not_null(out);
    Shop__Rpc__Reply *rep = shop__rpc__reply__unpack(NULL, nng_msg_len(out), nng_msg_body(out));
    cr_assert_not_null(rep, "every reply decodes");
    int status = (int)rep->status;
    shop__rpc__reply__free_unpacked(rep, NULL);
    nng_msg_free(out);
    return status;
}

/* A valid RoundTrip frame with a payload using many field types. */
static size_t seed_frame(uint8_t *buf, size_t cap)
{
    Shop__Rpctest__Inner inner = SHOP__RPCTEST__INNER__INIT;
    inner.label = "inner";
    int32_t ri[] = {1, -2, 3};
    Shop__Rpctest__AllTypes all = SHOP__RPCTEST__ALL_TYPES__INIT;
    all.f_string = "hello";
    all.f_int64 = -77;
    all.f_double = 1.5;
    all.f_inner = &inner;
    all.n_r_int32 = 3;
    all.r_int32 = ri;
    uint8_t payload[256];
    Shop__Rpc__Request req = SHOP__RPC__REQUEST__INIT;
    req.method = shop_rpctest_Echo_RoundTrip_METHOD;
    req.timeout_ms = 5000;
    req.payload.data = payload;
    req.payload.len = shop__rpctest__all_types__pack(&all, payload);
    cr_assert_leq(shop__rpc__request__get_packed_size(&req), cap);
    return shop__rpc__request__pack(&req, buf);
}

TestSuite(rpc_fuzz, .init = up, .fini = down);

Test(rpc_fuzz, the_seed_frame_is_served)
{
    uint8_t buf[512];
    size_t len = seed_frame(buf, sizeof buf);
    cr_expect_eq(serve_frame(buf, len), RPC_OK);
}

Test(rpc_fuzz, twenty_thousand_mutated_frames_get_a_status_and_never_crash)
{
    uint8_t seed[512], buf[600];
    size_t seed_len = seed_frame(seed, sizeof seed);
    unsigned rnd = 4242;
    int by_status[RPC_STATUS_COUNT] = {0};
    for (int i = 0; i < 20000; i++) {
        size_t len = seed_len;
        memcpy(buf, seed, seed_len);
        int flips = 1 + rand_r(&rnd) % 4;
        for (int f = 0; f < flips; f++)
            buf[rand_r(&rnd) % (int)len] ^= (uint8_t)(1u << (rand_r(&rnd) % 8));
        switch (rand_r(&rnd) % 4) {
        case 0: /* truncate */
            len = (size_t)(rand_r(&rnd) % (int)(len + 1));
            break;
        case 1: /* append garbage */
            for (int k = 0; k < 16; k++)
                buf[len++] = (uint8_t)rand_r(&rnd);
            break;
        default:
            break;
        }
        int st = serve_frame(buf, len);
        cr_assert(st >= 0 && st < RPC_STATUS_COUNT, "status %d", st);
        by_status[st]++;
    }
    /* Mutations hit the method name, the envelope and the payload alike. */
    cr_expect_gt(by_status[RPC_INVALID_ARGUMENT], 0);
    cr_expect_gt(by_status[RPC_UNIMPLEMENTED], 0);
}
