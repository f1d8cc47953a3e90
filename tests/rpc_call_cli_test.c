/* `shopflow call` against a real rpc-echod: requests built from descriptors,
 * replies printed as protobuf text, exit codes from the status. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

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

TestSuite(rpc_call_cli, .init = up, .fini = down);

/* Runs `shopflow call ARGS` (a shell-quoted string); returns the exit code
 * and the combined output in out. */
static int shopflow_call(const char *args, char *out, size_t outlen)
{
    return ts_shopflow(out, outlen, "call %s", args);
}

Test(rpc_call_cli, a_request_with_nested_repeated_and_enum_fields_round_trips_as_text)
{
    char args[512], out[4096];
    snprintf(args, sizeof args,
             "%s shop.rpctest.Echo/RoundTrip 'f_int32=-5 f_string=\"two words\" f_enum=GREEN "
             "f_inner.label=x r_int32=1 r_int32=2 r_inner[0].n=7 f_bool=true'",
             srv.url);
    cr_assert_eq(shopflow_call(args, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "f_int32: -5\n") != NULL, "%s", out);
    cr_expect(strstr(out, "f_string: \"two words\"\n") != NULL, "%s", out);
    cr_expect(strstr(out, "f_enum: GREEN\n") != NULL, "%s", out);
    cr_expect(strstr(out, "f_inner {\n  label: \"x\"\n}\n") != NULL, "%s", out);
    cr_expect(strstr(out, "r_int32: 1\nr_int32: 2\n") != NULL, "%s", out);
    cr_expect(strstr(out, "r_inner {\n  n: 7\n}\n") != NULL, "%s", out);
    cr_expect(strstr(out, "f_bool: true\n") != NULL, "%s", out);
}

Test(rpc_call_cli, a_bad_field_name_or_value_is_named_in_the_error)
{
    char args[256], out[4096];
    snprintf(args, sizeof args, "%s shop.rpctest.Echo/RoundTrip 'f_inner.nope=1'", srv.url);
    cr_expect_eq(shopflow_call(args, out, sizeof out), 2);
    cr_expect(strstr(out, "'nope'") != NULL, "%s", out);
    snprintf(args, sizeof args, "%s shop.rpctest.Echo/RoundTrip f_uint32=-1", srv.url);
    cr_expect_eq(shopflow_call(args, out, sizeof out), 2);
    cr_expect(strstr(out, "f_uint32") != NULL, "%s", out);
    snprintf(args, sizeof args, "%s shop.rpctest.Echo/RoundTrip f_enum=PURPLE", srv.url);
    cr_expect_eq(shopflow_call(args, out, sizeof out), 2);
    cr_expect(strstr(out, "f_enum") != NULL, "%s", out);
}

Test(rpc_call_cli, the_exit_code_is_64_plus_the_status_code)
{
    char args[256], out[4096];
    snprintf(args, sizeof args, "%s shop.rpctest.Echo/Fail 'code=9 message=\"sold out\"'", srv.url);
    cr_expect_eq(shopflow_call(args, out, sizeof out), 64 + RPC_FAILED_PRECONDITION);
    cr_expect(strstr(out, "FAILED_PRECONDITION: sold out") != NULL, "%s", out);
    snprintf(args, sizeof args, "--timeout 100 %s shop.rpctest.Echo/Sleep ms=400", srv.url);
    cr_expect_eq(shopflow_call(args, out, sizeof out), 64 + RPC_DEADLINE_EXCEEDED, "%s", out);
}

Test(rpc_call_cli, list_prints_every_method_the_server_exposes)
{
    char args[256], out[4096];
    snprintf(args, sizeof args, "--list %s", srv.url);
    cr_assert_eq(shopflow_call(args, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "shop.rpctest.Echo/Echo(shop.rpctest.EchoRequest) returns "
                          "(shop.rpctest.EchoReply)\n") != NULL,
              "%s", out);
    cr_expect(strstr(out, "shop.health.Health/Check(") != NULL, "%s", out);
}

Test(rpc_call_cli, no_server_exits_with_unavailable)
{
    char args[256], out[4096];
    snprintf(args, sizeof args, "tcp://127.0.0.1:%d shop.health.Health/Check", ts_free_port());
    cr_expect_eq(shopflow_call(args, out, sizeof out), 64 + RPC_UNAVAILABLE, "%s", out);
}

Test(rpc_call_cli, metadata_given_with_H_reaches_the_handler)
{
    char args[256], out[4096];
    snprintf(args, sizeof args, "-H trace=cli-7 %s shop.rpctest.Echo/Sleep ms=0", srv.url);
    cr_assert_eq(shopflow_call(args, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "trace: \"cli-7\"\n") != NULL, "%s", out);
}
