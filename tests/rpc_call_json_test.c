/* `shopflow call` in JSON against a real rpc-echod: a request given with -d
 * (inline, @file, @-) in the proto3 JSON mapping, the reply printed with
 * --json, --describe of services, methods and types, and the errors. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/rpc_support.h"

static echod srv;

static void up(void)
{
    echod_start(&srv, NULL);
}

static void down(void)
{
    ts_stop(&srv.proc, SIGTERM, 5000);
}

TestSuite(rpc_call_json, .init = up, .fini = down);

Test(rpc_call_json, every_kind_of_field_round_trips_through_json)
{
    char out[8192];
    int rc = ts_shopflow(
        out, sizeof out,
        "call --json -d '{\"fDouble\": 1.5, \"f_int64\": \"-9000000000\", \"fUint64\": "
        "\"18446744073709551615\", \"fSint32\": -3, \"fBool\": true, \"fString\": \"h\\u00e9 "
        "\\\"q\\\"\", \"fBytes\": \"AAEC/w==\", \"fEnum\": 2, \"fInner\": {\"label\": \"x\", "
        "\"n\": 3}, \"rInt32\": [1, 2], \"rInner\": [{\"n\": 7}, {}], \"fMap\": {\"a\": 1}, "
        "\"cNumber\": 42, \"fFloat\": \"-Infinity\", \"fInt32\": null}' %s "
        "shop.rpctest.Echo/RoundTrip",
        srv.url);
    cr_assert_eq(rc, 0, "%s", out);
    const char *want[] = {"\"fDouble\": 1.5",
                          "\"fInt64\": \"-9000000000\"",
                          "\"fUint64\": \"18446744073709551615\"",
                          "\"fSint32\": -3",
                          "\"fBool\": true",
                          "\"fString\": \"h\xc3\xa9 \\\"q\\\"\"",
                          "\"fBytes\": \"AAEC/w==\"",
                          "\"fEnum\": \"GREEN\"",
                          "\"label\": \"x\"",
                          "\"fMap\": {\n    \"a\": 1\n  }",
                          "\"cNumber\": \"42\"",
                          "\"fFloat\": \"-Infinity\""};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect(strstr(out, want[i]) != NULL, "missing %s in %s", want[i], out);
    cr_expect(strstr(out, "fInt32") == NULL, "defaults are left out: %s", out);
}

Test(rpc_call_json, the_request_comes_from_a_file_or_stdin)
{
    char path[256], out[4096];
    snprintf(path, sizeof path, "%s/shopflow-call-%d.json", ts_tmp_dir(), (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"fString\": \"from a file\", \"fBytes\": \"_-8\"}\n", f);
    fclose(f);
    cr_assert_eq(
        ts_shopflow(out, sizeof out, "call -d @%s %s shop.rpctest.Echo/RoundTrip", path, srv.url),
        0, "%s", out);
    cr_expect(strstr(out, "f_string: \"from a file\"") != NULL, "%s", out);
    cr_expect(strstr(out, "f_bytes: \"\xff\xef\"") != NULL, "URL-safe base64 is read: %s", out);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"rString\": [\"a\", \"b\"]}\n", f);
    fclose(f);
    cr_assert_eq(ts_shopflow(out, sizeof out, "call -d @- %s shop.rpctest.Echo/RoundTrip < %s",
                             srv.url, path),
                 0, "%s", out);
    unlink(path);
    cr_expect(strstr(out, "r_string: \"a\"\nr_string: \"b\"") != NULL, "%s", out);
}

Test(rpc_call_json, bad_json_and_unknown_fields_exit_2_naming_the_problem)
{
    char out[4096];
    cr_expect_eq(ts_shopflow(out, sizeof out,
                             "call -d '{\"fInt32\": ' %s shop.rpctest.Echo/RoundTrip", srv.url),
                 2, "%s", out);
    cr_expect(strstr(out, "line 1") != NULL, "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out,
                             "call -d '{\"nope\": 1}' %s shop.rpctest.Echo/RoundTrip", srv.url),
                 2, "%s", out);
    cr_expect(strstr(out, "no field 'nope'") && strstr(out, "--describe"), "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out,
                             "call -d '{\"fInt32\": 99999999999}' %s shop.rpctest.Echo/RoundTrip",
                             srv.url),
                 2, "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out,
                             "call -d '{\"fBytes\": \"***\"}' %s "
                             "shop.rpctest.Echo/RoundTrip",
                             srv.url),
                 2, "%s", out);
    cr_expect_eq(
        ts_shopflow(out, sizeof out, "call -d '[1]' %s shop.rpctest.Echo/RoundTrip", srv.url), 2,
        "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out,
                             "call -d '{}' %s shop.rpctest.Echo/RoundTrip f_int32=1", srv.url),
                 2, "both forms: %s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out,
                             "call -d @/nonexistent %s shop.rpctest.Echo/RoundTrip", srv.url),
                 2, "%s", out);
}

Test(rpc_call_json, describe_prints_services_methods_and_types_in_proto_form)
{
    char out[8192];
    cr_assert_eq(ts_shopflow(out, sizeof out, "call --describe shop.order.OrderService"), 0, "%s",
                 out);
    cr_expect(strstr(out, "rpc PlaceOrder(shop.order.PlaceOrderRequest) returns "
                          "(shop.order.PlaceOrderReply);") != NULL,
              "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "call --describe shop.rpctest.Echo/RoundTrip"), 0,
                 "%s", out);
    cr_expect(strstr(out, "repeated int32 r_int32 = 18;") &&
                  strstr(out, "map<string, int32> "
                              "f_map = 21;") &&
                  strstr(out, "  oneof {\n    string c_text = 22;") &&
                  strstr(out, "enum shop.rpctest.Color {") &&
                  strstr(out, "message shop.rpctest.Inner {"),
              "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "call --describe shop.order.OrderStatus"), 0, "%s",
                 out);
    cr_expect(strstr(out, "PENDING = 1;") != NULL, "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "call --describe shop.nope.Nothing"), 2, "%s", out);
}
