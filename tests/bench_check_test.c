/* The invariant checker passes a consistent set of orders and catches each
 * violation planted on purpose in real order_db, stock_db and coupon_db
 * databases, naming the order (or goods) it concerns. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/harness/shop_check.h"
#include "tests/support/testsupport.h"

static char order_ci[1024], stock_ci[1024], coupon_ci[1024];
static PGconn *odb, *sdb, *cdb;
static int64_t order_a, order_b, order_c;

/* Runs `sql` with text parameters; returns the first value as a number. */
static int64_t exec(PGconn *c, const char *sql, int n, const char *p0, const char *p1,
                    const char *p2, const char *p3, const char *p4)
{
    const char *params[] = {p0, p1, p2, p3, p4};
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
              PQresultErrorMessage(r));
    int64_t v = PQntuples(r) > 0 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return v;
}

static const char *num(char *buf, int64_t v)
{
    snprintf(buf, 24, "%lld", (long long)v);
    return buf;
}

/* An order row; pay_by is now + `pay_in` (an interval like '10 minutes'). */
static int64_t add_order(const char *status, int count, int64_t coupon, const char *pay_in)
{
    char cnt[24], cp[24];
    return exec(odb,
                "INSERT INTO orders (request_id, user_id, goods_id, count, coupon_id, status, "
                "pay_by) VALUES (gen_random_uuid()::text, 1, 1, $1::int, "
                "nullif($2::bigint, 0), $3, clock_timestamp() + $4::interval) "
                "RETURNING order_id",
                4, num(cnt, count), num(cp, coupon), status, pay_in, NULL);
}

/* A successful DEDUCT or RESTORE that really moved the stock. */
static void stock_op(int64_t order, const char *op, int count)
{
    char id[24], cnt[24];
    exec(sdb,
         "INSERT INTO stock_log (order_id, op, goods_id, count, result) "
         "VALUES ($1::bigint, $2, 1, $3::int, 'OK')",
         3, num(id, order), op, num(cnt, count), NULL, NULL);
    exec(sdb, "UPDATE goods SET stock = stock + $1::int WHERE goods_id = 1", 1,
         num(cnt, strcmp(op, "DEDUCT") == 0 ? -count : count), NULL, NULL, NULL, NULL);
}

/* A successful USE (the coupon is then held by the order) or RESTORE. */
static void coupon_op(int64_t order, const char *op, int64_t coupon)
{
    char id[24], cp[24];
    exec(cdb,
         "INSERT INTO coupon_log (order_id, op, coupon_id, result) "
         "VALUES ($1::bigint, $2, $3::bigint, 'OK')",
         3, num(id, order), op, num(cp, coupon), NULL, NULL);
    if (strcmp(op, "USE") == 0)
        exec(cdb,
             "UPDATE coupons SET status = 'USED', order_id = $1::bigint, used_at = now() "
             "WHERE coupon_id = $2::bigint",
             2, id, cp, NULL, NULL, NULL);
    else
        exec(cdb,
             "UPDATE coupons SET status = 'UNUSED', order_id = NULL, used_at = NULL "
             "WHERE coupon_id = $1::bigint",
             1, cp, NULL, NULL, NULL, NULL);
}

static PGconn *connect_db(const char *ci)
{
    PGconn *c = PQconnectdb(ci);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    return c;
}

/* A consistent shop: a confirmed order with a coupon, a paid one without,
 * a cancelled one fully compensated, a pending one inside its window and
 * one rejected for stock (nothing moved). */
static void setup(void)
{
    ts_pg_fresh_db("bcheck", "order", order_ci, sizeof order_ci);
    ts_pg_fresh_db("bcheck", "stock", stock_ci, sizeof stock_ci);
    ts_pg_fresh_db("bcheck", "coupon", coupon_ci, sizeof coupon_ci);
    odb = connect_db(order_ci);
    sdb = connect_db(stock_ci);
    cdb = connect_db(coupon_ci);
    exec(sdb, "INSERT INTO goods VALUES (1, 100, 100, 500)", 0, NULL, NULL, NULL, NULL, NULL);
    exec(cdb, "INSERT INTO coupons (coupon_id, user_id) SELECT g, 1 FROM generate_series(10, 19) g",
         0, NULL, NULL, NULL, NULL, NULL);
    order_a = add_order("CONFIRMED", 2, 10, "10 minutes");
    stock_op(order_a, "DEDUCT", 2);
    coupon_op(order_a, "USE", 10);
    order_b = add_order("PAID", 1, 0, "10 minutes");
    stock_op(order_b, "DEDUCT", 1);
    order_c = add_order("CANCELLED", 3, 11, "10 minutes");
    stock_op(order_c, "DEDUCT", 3);
    coupon_op(order_c, "USE", 11);
    stock_op(order_c, "RESTORE", 3);
    coupon_op(order_c, "RESTORE", 11);
    add_order("PENDING", 1, 12, "10 minutes");
    int64_t rejected = add_order("CANCELLED", 500, 0, "10 minutes");
    char id[24];
    exec(sdb,
         "INSERT INTO stock_log (order_id, op, goods_id, count, result) "
         "VALUES ($1::bigint, 'DEDUCT', 1, 500, 'OUT_OF_STOCK')",
         1, num(id, rejected), NULL, NULL, NULL, NULL);
}

static void teardown(void)
{
    PQfinish(odb);
    PQfinish(sdb);
    PQfinish(cdb);
}

static shop_check_report run_check(const int64_t *acked, size_t n_acked, int64_t grace)
{
    shop_check_input in = {order_ci, stock_ci, coupon_ci, acked, n_acked, grace};
    shop_check_report rep;
    shop_error err = {0};
    cr_assert_eq(shop_check_run(&in, &rep, &err), RPC_OK, "%s", err.message);
    return rep;
}

/* The report has a violation of `inv` about `order_id` (or goods `subject`). */
static int lists(const shop_check_report *r, shop_invariant inv, int64_t order_id, int64_t subject)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].inv == inv && r->v[i].order_id == order_id &&
            (subject == 0 || r->v[i].subject == subject))
            return 1;
    return 0;
}

static void expect_only(shop_check_report *r, shop_invariant inv, int64_t order_id, int64_t subject)
{
    if (!lists(r, inv, order_id, subject) || shop_check_total(r) != 1)
        shop_check_print(r, stderr, 20);
    cr_assert(lists(r, inv, order_id, subject), "%s not reported for order %lld",
              shop_invariant_name(inv), (long long)order_id);
    cr_assert_eq(shop_check_total(r), 1, "exactly one violation expected");
    shop_check_report_free(r);
}

TestSuite(bench_check, .init = setup, .fini = teardown, .timeout = 120);

Test(bench_check, a_consistent_shop_has_no_violations)
{
    int64_t acked[] = {order_a, order_b, order_c};
    shop_check_report r = run_check(acked, 3, 0);
    if (shop_check_total(&r))
        shop_check_print(&r, stderr, 20);
    cr_assert_eq(shop_check_total(&r), 0);
    cr_assert_eq(r.orders, 5);
    cr_assert_eq(r.by_status[3], 2, "two CANCELLED orders");
    shop_check_report_free(&r);
}

Test(bench_check, negative_stock_is_caught)
{
    /* The schema's CHECK forbids it: drop it to corrupt the row on purpose. */
    exec(sdb, "ALTER TABLE goods DROP CONSTRAINT goods_stock_check", 0, NULL, NULL, NULL, NULL,
         NULL);
    exec(sdb, "UPDATE goods SET stock = -4", 0, NULL, NULL, NULL, NULL, NULL);
    shop_check_report r = run_check(NULL, 0, 0);
    cr_assert(lists(&r, SHOP_INV_STOCK_NONNEGATIVE, 0, 1));
    cr_assert(lists(&r, SHOP_INV_STOCK_BALANCE, 0, 1), "stock vanished, so it cannot balance");
    cr_assert_eq(shop_check_total(&r), 2);
    shop_check_report_free(&r);
}

Test(bench_check, stock_that_does_not_balance_is_caught)
{
    exec(sdb, "UPDATE goods SET stock = stock - 1", 0, NULL, NULL, NULL, NULL, NULL);
    shop_check_report r = run_check(NULL, 0, 0);
    expect_only(&r, SHOP_INV_STOCK_BALANCE, 0, 1);
}

Test(bench_check, a_coupon_used_by_two_live_orders_is_caught)
{
    int64_t twin = add_order("CONFIRMED", 1, 10, "10 minutes");
    stock_op(twin, "DEDUCT", 1);
    shop_check_report r = run_check(NULL, 0, 0);
    cr_assert(lists(&r, SHOP_INV_COUPON_ONE_ORDER, twin, 10));
    /* The twin never got the coupon from coupon_db either. */
    cr_assert(lists(&r, SHOP_INV_LIVE_HAS_MEMBERS, twin, 10));
    cr_assert_eq(shop_check_total(&r), 2);
    shop_check_report_free(&r);
}

Test(bench_check, a_paid_order_without_its_stock_is_caught)
{
    int64_t paid = add_order("PAID", 1, 0, "10 minutes");
    shop_check_report r = run_check(NULL, 0, 0);
    expect_only(&r, SHOP_INV_LIVE_HAS_MEMBERS, paid, 1);
}

Test(bench_check, a_paid_order_whose_coupon_was_restored_is_caught)
{
    coupon_op(order_a, "RESTORE", 10);
    shop_check_report r = run_check(NULL, 0, 0);
    expect_only(&r, SHOP_INV_LIVE_HAS_MEMBERS, order_a, 10);
}

Test(bench_check, a_cancelled_order_never_restored_is_caught)
{
    int64_t dead = add_order("CLOSED", 2, 13, "-1 minutes");
    stock_op(dead, "DEDUCT", 2);
    shop_check_report r = run_check(NULL, 0, 0);
    expect_only(&r, SHOP_INV_DEAD_RESTORED, dead, 1);
}

Test(bench_check, a_cancelled_order_still_holding_its_coupon_is_caught)
{
    int64_t dead = add_order("CANCELLED", 2, 13, "10 minutes");
    stock_op(dead, "DEDUCT", 2);
    stock_op(dead, "RESTORE", 2);
    coupon_op(dead, "USE", 13);
    shop_check_report r = run_check(NULL, 0, 0);
    expect_only(&r, SHOP_INV_DEAD_RESTORED, dead, 13);
}

Test(bench_check, a_deduct_for_an_order_that_does_not_exist_is_caught)
{
    stock_op(987654, "DEDUCT", 1);
    shop_check_report r = run_check(NULL, 0, 0);
    expect_only(&r, SHOP_INV_NO_ORPHAN_CHANGE, 987654, 1);
}

Test(bench_check, an_acknowledged_order_missing_from_order_db_is_caught)
{
    int64_t acked[] = {order_a, 424242};
    shop_check_report r = run_check(acked, 2, 0);
    expect_only(&r, SHOP_INV_ACKED_EXISTS, 424242, 0);
}

Test(bench_check, a_pending_order_past_its_window_is_caught_unless_skipped)
{
    int64_t stale = add_order("PENDING", 1, 0, "-5 seconds");
    shop_check_report r = run_check(NULL, 0, 60000);
    cr_assert_eq(shop_check_total(&r), 0, "inside the grace period");
    shop_check_report_free(&r);
    r = run_check(NULL, 0, -1);
    cr_assert_eq(shop_check_total(&r), 0, "rule skipped");
    shop_check_report_free(&r);
    r = run_check(NULL, 0, 0);
    expect_only(&r, SHOP_INV_NO_STALE_PENDING, stale, 0);
}

Test(bench_check, an_unreachable_database_is_an_error_naming_it)
{
    shop_check_input in = {order_ci, "host=/nonexistent dbname=x", coupon_ci, NULL, 0, 0};
    shop_check_report rep;
    shop_error err = {0};
    cr_assert_eq(shop_check_run(&in, &rep, &err), RPC_UNAVAILABLE, "%s", err.message);
    cr_assert_not_null(strstr(err.message, "stock_db"), "%s", err.message);
}
