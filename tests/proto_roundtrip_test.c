/* Generated protobuf-c code packs and unpacks the RPC envelope intact. */
#include <criterion/criterion.h>
#include <string.h>

#include "rpc.pb-c.h"

Test(proto, envelope_round_trips_through_pack_and_unpack)
{
    Shop__Rpc__Metadata md = SHOP__RPC__METADATA__INIT;
    md.key = "trace";
    md.value.data = (uint8_t *)"abc";
    md.value.len = 3;
    Shop__Rpc__Metadata *mds[] = {&md};

    Shop__Rpc__Request req = SHOP__RPC__REQUEST__INIT;
    req.call_id = 42;
    req.method = "shop.stock.StockService/Deduct";
    req.timeout_ms = 1500;
    req.n_metadata = 1;
    req.metadata = mds;
    req.payload.data = (uint8_t *)"\x01\x02\x00\x03";
    req.payload.len = 4;

    size_t len = shop__rpc__request__get_packed_size(&req);
    uint8_t buf[256];
    cr_assert_leq(len, sizeof buf);
    cr_assert_eq(shop__rpc__request__pack(&req, buf), len);

    Shop__Rpc__Request *got = shop__rpc__request__unpack(NULL, len, buf);
    cr_assert_not_null(got);
    cr_expect_eq(got->call_id, 42);
    cr_expect_str_eq(got->method, "shop.stock.StockService/Deduct");
    cr_expect_eq(got->timeout_ms, 1500);
    cr_assert_eq(got->n_metadata, 1);
    cr_expect_str_eq(got->metadata[0]->key, "trace");
    cr_expect_eq(got->payload.len, 4);
    cr_expect_eq(memcmp(got->payload.data, "\x01\x02\x00\x03", 4), 0);
    shop__rpc__request__free_unpacked(got, NULL);
}

Test(proto, truncated_bytes_fail_to_unpack)
{
    Shop__Rpc__Request req = SHOP__RPC__REQUEST__INIT;
    req.method = "shop.stock.StockService/Deduct";
    uint8_t buf[128];
    size_t len = shop__rpc__request__pack(&req, buf);
    cr_assert_gt(len, 4);
    cr_expect_null(shop__rpc__request__unpack(NULL, len - 3, buf));
}
