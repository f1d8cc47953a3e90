/* Fuzz target: one RPC request frame through the server's whole frame path
 * in process (rpc/serve.c): admission (size limit, envelope decode, method
 * lookup), then deadline, payload decode into the method's input type,
 * handler (which reads the envelope's metadata) and reply encode. Methods:
 * shop.rpctest.Echo (Echo, RoundTrip over a message with every field type)
 * and the built-in Health and Admin services. Invariant: every frame gets a
 * reply envelope that decodes, with a known status, and OK only for a frame
 * whose envelope and payload decode. */
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "rpc/internal.h"
#include "rpc_echo.rpc.h"
#include "tests/fuzz/fuzz.h"

static rpc_status echo(rpc_ctx *ctx, const Shop__Rpctest__EchoRequest *req,
                       Shop__Rpctest__EchoReply *reply, void *user)
{
    (void)user;
    const char *tag = rpc_ctx_metadata(ctx, "x-tag");
    if (tag != NULL && strcmp(tag, "fail") == 0)
        return rpc_ctx_fail(ctx, RPC_ABORTED, "asked to fail by x-tag");
    reply->data = req->data;
    return RPC_OK;
}

static rpc_status round_trip(rpc_ctx *ctx, const Shop__Rpctest__AllTypes *req,
                             Shop__Rpctest__AllTypes *reply, void *user)
{
    (void)user;
    (void)rpc_ctx_remaining_ms(ctx);
    *reply = *req;
    return RPC_OK;
}

static rpc_server *server(void)
{
    static rpc_server *srv;
    static const shop_rpctest_Echo_server impl = {.Echo = echo, .RoundTrip = round_trip};
    if (srv != NULL)
        return srv;
    fuzz_quiet_logs();
    rpc_server_opts so = {.workers = 1, .queue_depth = 1, .max_msg_bytes = 1u << 16};
    if (rpc_server_new(&srv, &so, NULL) != RPC_OK ||
        shop_rpctest_Echo_register(srv, &impl, NULL) != RPC_OK ||
        rpc_server_start(srv, NULL) != RPC_OK)
        abort();
    return srv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    rpc_server *s = server();
    nng_msg *in = NULL, *reject = NULL;
    if (nng_msg_alloc(&in, len) != 0)
        return 0;
    if (len > 0)
        memcpy(nng_msg_body(in), data, len);
    Shop__Rpc__Request *req = NULL;
    rpc_method *m = rpc__admit(s, in, &req, &reject);
    nng_msg_free(in);
    FUZZ_CHECK((m == NULL) == (reject != NULL));
    nng_msg *out = m != NULL ? rpc__run(s, m, req, shop_now_ms()) : reject;
    FUZZ_CHECK(out != NULL);
    Shop__Rpc__Reply *rep = shop__rpc__reply__unpack(NULL, nng_msg_len(out), nng_msg_body(out));
    FUZZ_CHECK(rep != NULL);
    FUZZ_CHECK(rep->status < RPC_STATUS_COUNT);
    FUZZ_CHECK(m != NULL || rep->status != RPC_OK);
    shop__rpc__reply__free_unpacked(rep, NULL);
    nng_msg_free(out);
    return 0;
}
