/* Fuzz target: the `field=value` parser of `shopflow call` (rpc/text.c).
 * The input is one command line of assignments; it is split and applied to
 * a shop.rpctest.AllTypes (every scalar type, enum, nested, repeated, map
 * and oneof fields), then the message is printed as text and packed, as the
 * call command does. Invariant: whatever the parser accepted packs into
 * bytes that decode again as the same type. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/text.h"
#include "rpc_echo.pb-c.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static FILE *sink;
    if (sink == NULL && (sink = fopen("/dev/null", "w")) == NULL)
        abort();
    char *line = malloc(len + 1);
    if (line == NULL)
        return 0;
    memcpy(line, data, len);
    line[len] = '\0';
    ProtobufCMessage *m = rpc_text_new(&shop__rpctest__all_types__descriptor);
    FUZZ_CHECK(m != NULL);
    shop_error err = {0};
    if (rpc_text_assign_all(m, line, &err) != RPC_OK)
        FUZZ_CHECK(err.code != RPC_OK && strlen(err.message) < sizeof err.message);
    rpc_text_print(sink, m, 0);
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    FUZZ_CHECK(buf != NULL);
    FUZZ_CHECK(protobuf_c_message_pack(m, buf) == n);
    ProtobufCMessage *back =
        protobuf_c_message_unpack(&shop__rpctest__all_types__descriptor, NULL, n, buf);
    FUZZ_CHECK(back != NULL);
    protobuf_c_message_free_unpacked(back, NULL);
    free(buf);
    protobuf_c_message_free_unpacked(m, NULL);
    free(line);
    return 0;
}
