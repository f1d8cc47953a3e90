/* Every status rule of the rpc server, produced by a real rpc-echod process
 * over real sockets. */
#include <signal.h>

#include "rpc/clock.h"
#include "rpc_admin.rpc.h"
#include "rpc_support.h"

static echod srv;

static void up(void)
{
    echod_start(&srv, NULL);
}

static void down(void)
{
    ts_stop(&srv.proc, SIGTERM, 5000);
}

TestSuite(rpc_status, .init = up, .fini = down);

Test(rpc_status, a_call_through_the_typed_stub_returns_the_reply)
{
    rpc_channel *ch = echod_channel(&srv, 2000);
    rpc_error err = {0};
    cr_expect_eq(echo_once(ch, "hello", &err), RPC_OK, "%s", err.message);
    rpc_channel_close(ch);
}

Test(rpc_status, an_unknown_method_is_unimplemented)
{
    rpc_channel *ch = echod_channel(&srv, 2000);
    rpc_error err = {0};
    uint8_t *out = NULL;
    size_t len = 0;
    rpc_status st = rpc_call_bytes(ch, "shop.rpctest.Echo/Nope", NULL, 0, &out, &len, NULL, &err);
    cr_expect_eq(st, RPC_UNIMPLEMENTED, "got %s", rpc_status_name(st));
    cr_expect(strstr(err.message, "shop.rpctest.Echo/Nope") != NULL, "%s", err.message);
    rpc_channel_close(ch);
}

Test(rpc_status, a_payload_that_does_not_decode_is_invalid_argument)
{
    rpc_channel *ch = echod_channel(&srv, 2000);
    rpc_error err = {0};
    uint8_t *out = NULL;
    size_t len = 0;
    const uint8_t junk[] = {0x0a, 0x50, 0x01}; /* field 1, length 80, 1 byte present */
    rpc_status st = rpc_call_bytes(ch, shop_rpctest_Echo_Echo_METHOD, junk, sizeof junk, &out, &len,
                                   NULL, &err);
    cr_expect_eq(st, RPC_INVALID_ARGUMENT, "got %s", rpc_status_name(st));
    rpc_channel_close(ch);
}

Test(rpc_status, a_handler_status_and_message_reach_the_caller)
{
    rpc_channel *ch = echod_channel(&srv, 2000);
    rpc_error err = {0};
    Shop__Rpctest__FailRequest req = SHOP__RPCTEST__FAIL_REQUEST__INIT;
    req.code = RPC_FAILED_PRECONDITION;
    req.message = "out of stock";
    Shop__Rpctest__FailReply *rep = NULL;
    rpc_status st = shop_rpctest_Echo_Fail(ch, &req, &rep, NULL, &err);
    cr_expect_eq(st, RPC_FAILED_PRECONDITION, "got %s", rpc_status_name(st));
    cr_expect_str_eq(err.message, "out of stock");
    cr_expect_null(rep);
    rpc_channel_close(ch);
}
