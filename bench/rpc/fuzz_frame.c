/* rpc-fuzz-frame: the server's frame decoder as a fuzz target. Each input is
 * one request frame; it goes through admission (size, envelope, method) and,
 * when admitted, the full run (deadline, payload decode, handler, reply
 * encode) of an in-process server serving shop.rpctest.Echo.
 *
 *   rpc-fuzz-frame FILE...     runs each file (for AFL++/honggfuzz: @@)
 *   rpc-fuzz-frame             runs stdin
 * Built with clang -fsanitize=fuzzer and -DRPC_LIBFUZZER, it is a libFuzzer
 * target instead. Exits 0 unless something crashes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "rpc/internal.h"
#include "rpc_echo.rpc.h"
#include "base/version.h"

static rpc_status echo(rpc_ctx *ctx, const Shop__Rpctest__EchoRequest *req,
                       Shop__Rpctest__EchoReply *reply, void *user)
{
    (void)ctx;
    (void)user;
    reply->data = req->data;
    return RPC_OK;
}

static rpc_status round_trip(rpc_ctx *ctx, const Shop__Rpctest__AllTypes *req,
                             Shop__Rpctest__AllTypes *reply, void *user)
{
    (void)ctx;
    (void)user;
    *reply = *req;
    return RPC_OK;
}

static rpc_server *server(void)
{
    static rpc_server *srv;
    static const shop_rpctest_Echo_server impl = {.Echo = echo, .RoundTrip = round_trip};
    if (srv != NULL)
        return srv;
    rpc_server_opts so = {.workers = 1, .queue_depth = 1, .max_msg_bytes = 1u << 20};
    if (rpc_server_new(&srv, &so, NULL) != RPC_OK ||
        shop_rpctest_Echo_register(srv, &impl, NULL) != RPC_OK ||
        rpc_server_start(srv, NULL) != RPC_OK)
        abort();
    return srv;
}

static void one_frame(const uint8_t *data, size_t len)
{
    rpc_server *s = server();
    nng_msg *in = NULL, *reject = NULL;
    if (nng_msg_alloc(&in, len) != 0)
        return;
    if (len > 0)
        memcpy(nng_msg_body(in), data, len);
    Shop__Rpc__Request *req = NULL;
    rpc_method *m = rpc__admit(s, in, &req, &reject);
    nng_msg_free(in);
    nng_msg *out = m != NULL ? rpc__run(s, m, req, shop_now_ms()) : reject;
    if (out != NULL)
        nng_msg_free(out);
}

#ifdef RPC_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    one_frame(data, len);
    return 0;
}
#else
static int run_file(FILE *f)
{
    size_t cap = 1u << 16, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *grown = realloc(buf, cap *= 2);
            if (grown == NULL)
                break;
            buf = grown;
        }
    }
    if (buf == NULL)
        return 1;
    one_frame(buf, len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (shop_version_asked(argc, argv, "rpc-fuzz-frame"))
        return 0;
    int rc = 0;
    if (argc < 2)
        rc = run_file(stdin);
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (f == NULL) {
            perror(argv[i]);
            rc = 1;
            continue;
        }
        rc |= run_file(f);
        fclose(f);
    }
    rpc_server_free(server());
    return rc;
}
#endif
