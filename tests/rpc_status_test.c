/* Every status rule of the rpc server, produced by a real rpc-echod process
 * over real sockets. */
#include <signal.h>

#include "base/clock.h"
#include "health.rpc.h"
#include "rpc_admin.rpc.h"
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
    rpc_status st =
        rpc_channel_call_bytes(ch, "shop.rpctest.Echo/Nope", NULL, 0, &out, &len, NULL, &err);
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
    rpc_status st = rpc_channel_call_bytes(ch, shop_rpctest_Echo_Echo_METHOD, junk, sizeof junk,
                                           &out, &len, NULL, &err);
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

Test(rpc_status, the_health_check_says_serving_for_the_server_and_its_services)
{
    rpc_channel *ch = echod_channel(&srv, 2000);
    const char *names[] = {"", "shop.rpctest.Echo"};
    for (int i = 0; i < 2; i++) {
        Shop__Health__HealthCheckRequest req = SHOP__HEALTH__HEALTH_CHECK_REQUEST__INIT;
        req.service = (char *)names[i];
        Shop__Health__HealthCheckResponse *rep = NULL;
        rpc_error err = {0};
        cr_assert_eq(shop_health_Health_Check(ch, &req, &rep, NULL, &err), RPC_OK, "%s",
                     err.message);
        cr_expect_eq(rep->status, SHOP__HEALTH__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
        shop__health__health_check_response__free_unpacked(rep, NULL);
    }
    Shop__Health__HealthCheckRequest req = SHOP__HEALTH__HEALTH_CHECK_REQUEST__INIT;
    req.service = "shop.nope.Nothing";
    Shop__Health__HealthCheckResponse *rep = NULL;
    rpc_error err = {0};
    cr_expect_eq(shop_health_Health_Check(ch, &req, &rep, NULL, &err), RPC_NOT_FOUND);
    rpc_channel_close(ch);
}

Test(rpc_status, stats_count_calls_and_errors_by_code_with_latency_percentiles)
{
    rpc_channel *ch = echod_channel(&srv, 2000);
    rpc_error err = {0};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(echo_once(ch, "x", &err), RPC_OK);
    Shop__Rpctest__FailRequest freq = SHOP__RPCTEST__FAIL_REQUEST__INIT;
    freq.code = RPC_NOT_FOUND;
    freq.message = "gone";
    Shop__Rpctest__FailReply *frep = NULL;
    for (int i = 0; i < 2; i++)
        cr_assert_eq(shop_rpctest_Echo_Fail(ch, &freq, &frep, NULL, &err), RPC_NOT_FOUND);

    Shop__Rpc__StatsRequest req = SHOP__RPC__STATS_REQUEST__INIT;
    Shop__Rpc__StatsReply *rep = NULL;
    cr_assert_eq(shop_rpc_Admin_Stats(ch, &req, &rep, NULL, &err), RPC_OK, "%s", err.message);
    int seen = 0;
    for (size_t i = 0; i < rep->n_methods; i++) {
        Shop__Rpc__MethodStats *m = rep->methods[i];
        if (strcmp(m->name, shop_rpctest_Echo_Echo_METHOD) == 0) {
            seen++;
            cr_expect_geq(m->count, 5);
            cr_expect_eq(m->n_errors, 0);
            cr_expect_gt(m->p50_us, 0);
            cr_expect_geq(m->p99_us, m->p50_us);
        } else if (strcmp(m->name, shop_rpctest_Echo_Fail_METHOD) == 0) {
            seen++;
            cr_expect_geq(m->count, 2);
            cr_assert_eq(m->n_errors, 1);
            cr_expect_str_eq(m->errors[0]->code, "NOT_FOUND");
            cr_expect_geq(m->errors[0]->count, 2);
        }
    }
    cr_expect_eq(seen, 2);
    shop__rpc__stats_reply__free_unpacked(rep, NULL);
    rpc_channel_close(ch);
}

Test(rpc_status, list_methods_names_every_registered_method_with_its_types)
{
    rpc_channel *ch = echod_channel(&srv, 2000);
    Shop__Rpc__ListMethodsRequest req = SHOP__RPC__LIST_METHODS_REQUEST__INIT;
    Shop__Rpc__ListMethodsReply *rep = NULL;
    rpc_error err = {0};
    cr_assert_eq(shop_rpc_Admin_ListMethods(ch, &req, &rep, NULL, &err), RPC_OK, "%s", err.message);
    int found = 0;
    for (size_t i = 0; i < rep->n_methods; i++)
        if (strcmp(rep->methods[i]->name, shop_rpctest_Echo_RoundTrip_METHOD) == 0) {
            found = 1;
            cr_expect_str_eq(rep->methods[i]->input_type, "shop.rpctest.AllTypes");
        }
    cr_expect(found);
    cr_expect_eq(rep->n_methods, 5 + 1 + 2); /* Echo's, Health's, Admin's */
    shop__rpc__list_methods_reply__free_unpacked(rep, NULL);
    rpc_channel_close(ch);
}
