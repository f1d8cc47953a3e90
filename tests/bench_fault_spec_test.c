/* The fault-spec parser accepts every documented form and rejects bad specs
 * with an error that names the bad part. */
#include <criterion/criterion.h>
#include <string.h>

#include "bench/harness/shop_fault.h"

static shop_fault_plan plan;
static shop_error err;

static void parse_ok(const char *spec)
{
    shop_error_clear(&err);
    cr_assert_eq(shop_fault_parse(&plan, spec, &err), RPC_OK, "'%s' rejected: %s", spec,
                 err.message);
}

static void parse_fails_naming(const char *spec, const char *part)
{
    shop_fault_plan before = plan;
    cr_assert_eq(shop_fault_parse(&plan, spec, &err), RPC_INVALID_ARGUMENT, "'%s' accepted", spec);
    cr_assert_eq(err.code, RPC_INVALID_ARGUMENT);
    cr_assert_not_null(strstr(err.message, part), "error for '%s' does not name '%s': %s", spec,
                       part, err.message);
    cr_assert_eq(plan.n, before.n, "a failed parse must leave the plan unchanged");
}

static void reset(void)
{
    memset(&plan, 0, sizeof plan);
}

TestSuite(bench_fault_spec, .init = reset);

Test(bench_fault_spec, kill_then_restart_on_one_service_parses_to_two_actions)
{
    parse_ok("coupon:kill@5s,restart@15s");
    cr_assert_eq(plan.n, 2);
    cr_assert_eq(plan.faults[0].service, SHOP_SVC_COUPON);
    cr_assert_eq(plan.faults[0].kind, SHOP_FAULT_KILL);
    cr_assert_eq(plan.faults[0].at_ms, 5000);
    cr_assert_eq(plan.faults[1].service, SHOP_SVC_COUPON);
    cr_assert_eq(plan.faults[1].kind, SHOP_FAULT_RESTART);
    cr_assert_eq(plan.faults[1].at_ms, 15000);
    cr_assert_eq(shop_fault_validate(&plan, &err), RPC_OK, "%s", err.message);
}

Test(bench_fault_spec, windows_and_parameters_parse_with_every_time_unit)
{
    parse_ok("stock:pause@1500ms-2.5s");
    parse_ok("order:delay=200@1s-1m");
    parse_ok("broker:drop=0.25@0s-3s");
    parse_ok("delayd:kill@100ms");
    cr_assert_eq(plan.n, 4);
    cr_assert_eq(plan.faults[0].kind, SHOP_FAULT_PAUSE);
    cr_assert_eq(plan.faults[0].at_ms, 1500);
    cr_assert_eq(plan.faults[0].until_ms, 2500);
    cr_assert_eq(plan.faults[1].kind, SHOP_FAULT_DELAY);
    cr_assert_eq(plan.faults[1].delay_ms, 200);
    cr_assert_eq(plan.faults[1].until_ms, 60000);
    cr_assert_eq(plan.faults[2].kind, SHOP_FAULT_DROP);
    cr_assert_float_eq(plan.faults[2].drop_p, 0.25, 1e-9);
    cr_assert_eq(plan.faults[3].service, SHOP_SVC_DELAYD);
}

Test(bench_fault_spec, an_action_may_switch_service_inside_one_spec)
{
    parse_ok("coupon:kill@5s,stock:pause@2s-4s,restart@9s");
    cr_assert_eq(plan.n, 3);
    cr_assert_eq(plan.faults[1].service, SHOP_SVC_STOCK);
    cr_assert_eq(plan.faults[2].service, SHOP_SVC_STOCK, "restart follows the last service");
}

Test(bench_fault_spec, unknown_services_and_actions_are_named)
{
    parse_fails_naming("payment:kill@5s", "unknown service 'payment'");
    parse_fails_naming("coupon:kil@5s", "unknown action 'kil'");
    parse_fails_naming("kill@5s", "without a service");
    parse_fails_naming("", "empty fault spec");
}

Test(bench_fault_spec, bad_times_are_named)
{
    parse_fails_naming("coupon:kill@5", "time '5' needs a unit");
    parse_fails_naming("coupon:kill@5h", "unknown unit 'h'");
    parse_fails_naming("coupon:kill", "has no time");
    parse_fails_naming("coupon:kill@", "missing or malformed time");
    parse_fails_naming("coupon:kill@-3s", "this action takes one time");
    parse_fails_naming("coupon:pause@5s", "needs a window");
    parse_fails_naming("coupon:pause@5s-2s", "window '5s-2s' ends before it starts");
    parse_fails_naming("coupon:kill@2d", "unknown unit 'd'");
}

Test(bench_fault_spec, bad_parameters_are_named)
{
    parse_fails_naming("stock:delay@1s-2s", "needs a value");
    parse_fails_naming("stock:delay=abc@1s-2s", "delay 'abc'");
    parse_fails_naming("stock:delay=0@1s-2s", "delay '0'");
    parse_fails_naming("stock:drop=1.5@1s-2s", "drop '1.5' must be a probability");
    parse_fails_naming("stock:drop=@1s-2s", "needs a value");
    parse_fails_naming("stock:kill=3@1s", "takes no value");
}

Test(bench_fault_spec, a_later_bad_action_rejects_the_whole_spec)
{
    parse_fails_naming("coupon:kill@5s,restrat@15s", "unknown action 'restrat'");
    cr_assert_eq(plan.n, 0);
}

Test(bench_fault_spec, validation_sorts_and_rejects_impossible_schedules)
{
    parse_ok("coupon:restart@15s");
    cr_assert_eq(shop_fault_validate(&plan, &err), RPC_INVALID_ARGUMENT);
    cr_assert_not_null(strstr(err.message, "no earlier kill"), "%s", err.message);

    reset();
    parse_ok("coupon:kill@5s,kill@8s");
    cr_assert_eq(shop_fault_validate(&plan, &err), RPC_INVALID_ARGUMENT);
    cr_assert_not_null(strstr(err.message, "already killed"), "%s", err.message);

    reset();
    parse_ok("stock:pause@1s-5s,pause@4s-6s");
    cr_assert_eq(shop_fault_validate(&plan, &err), RPC_INVALID_ARGUMENT);
    cr_assert_not_null(strstr(err.message, "overlaps"), "%s", err.message);

    reset();
    parse_ok("coupon:restart@15s");
    parse_ok("coupon:kill@5s");
    cr_assert_eq(shop_fault_validate(&plan, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(plan.faults[0].kind, SHOP_FAULT_KILL, "validation sorts by time");
}

Test(bench_fault_spec, formatting_round_trips_through_the_parser)
{
    parse_ok("stock:delay=150@2s-4s,drop=0.5@5s-6s,pause@7s-8s,kill@9s,restart@10s");
    shop_fault_plan first = plan;
    for (size_t i = 0; i < first.n; i++) {
        char text[64];
        shop_fault_format(&first.faults[i], text, sizeof text);
        reset();
        parse_ok(text);
        cr_assert_eq(memcmp(&plan.faults[0], &first.faults[i], sizeof plan.faults[0]), 0,
                     "'%s' does not round-trip", text);
    }
}

Test(bench_fault_spec, host_link_faults_parse_validate_and_format)
{
    parse_ok("coupon:partition@5s,heal@10s");
    parse_ok("stock:bandwidth=500kbit@1s-2s");
    cr_assert_eq(plan.n, 3);
    cr_assert_eq(plan.faults[0].kind, SHOP_FAULT_PARTITION);
    cr_assert_eq(plan.faults[1].kind, SHOP_FAULT_HEAL);
    cr_assert_eq(plan.faults[1].at_ms, 10000);
    cr_assert_eq(plan.faults[2].kind, SHOP_FAULT_BANDWIDTH);
    cr_assert_str_eq(plan.faults[2].rate, "500kbit");
    cr_assert_eq(shop_fault_validate(&plan, &err), RPC_OK, "%s", err.message);
    char out[64];
    shop_fault_format(&plan.faults[0], out, sizeof out);
    cr_expect_str_eq(out, "stock:bandwidth=500kbit@1000ms-2000ms");
    shop_fault_format(&plan.faults[1], out, sizeof out);
    cr_expect_str_eq(out, "coupon:partition@5000ms");
    parse_fails_naming("stock:bandwidth=fast@1s-2s", "fast");
    parse_fails_naming("stock:bandwidth=1mbit@1s", "window");
    parse_fails_naming("stock:partition=1@1s", "takes no value");
}

Test(bench_fault_spec, a_heal_needs_an_earlier_partition)
{
    parse_ok("coupon:heal@5s");
    cr_assert_eq(shop_fault_validate(&plan, &err), RPC_INVALID_ARGUMENT);
    cr_expect_not_null(strstr(err.message, "no earlier partition"), "%s", err.message);
    memset(&plan, 0, sizeof plan);
    parse_ok("coupon:partition@1s,partition@2s,heal@3s");
    cr_assert_eq(shop_fault_validate(&plan, &err), RPC_INVALID_ARGUMENT);
    cr_expect_not_null(strstr(err.message, "already partitioned"), "%s", err.message);
}
