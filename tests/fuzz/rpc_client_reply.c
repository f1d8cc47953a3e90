/* Fuzz target: one reply frame through the client's decode path
 * (rpc/call_common.c rpc__decode_reply, then, as rpc_channel_call does, the payload
 * into the method's output type, here shop.rpctest.AllTypes). Invariant: a
 * frame is either OK with an envelope handed out, or a known status with a
 * message and nothing handed out. */
#include <string.h>

#include "rpc/channel_internal.h"
#include "rpc_echo.pb-c.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, len) != 0)
        return 0;
    if (len > 0)
        memcpy(nng_msg_body(m), data, len);
    Shop__Rpc__Reply *env = NULL;
    rpc_error err;
    rpc_status st = rpc__decode_reply(m, &env, &err);
    nng_msg_free(m);
    FUZZ_CHECK(st < RPC_STATUS_COUNT && err.code == st);
    FUZZ_CHECK((st == RPC_OK) == (env != NULL));
    FUZZ_CHECK(strlen(err.message) < sizeof err.message);
    if (env == NULL)
        return 0;
    ProtobufCMessage *out = protobuf_c_message_unpack(&shop__rpctest__all_types__descriptor, NULL,
                                                      env->payload.len, env->payload.data);
    shop__rpc__reply__free_unpacked(env, NULL);
    if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    return 0;
}
