/* The coupon business functions against a real, freshly migrated coupon_db:
 * one use per coupon, at-most-once use and restore per order, first results
 * on repeats, and compensation before use. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/status.h"
#include "services/coupon/coupon_logic.h"
#include "tests/support/testsupport.h"

static PGconn *open_coupon_db(const char *test)
{
    char conninfo[1024];
    shop_error err = {0};
    ts_pg_fresh_db(test, "coupon", conninfo, sizeof conninfo);
    PGconn *conn = PQconnectdb(conninfo);
    cr_assert_eq(PQstatus(conn), CONNECTION_OK, "%s", PQerrorMessage(conn));
    cr_assert_eq(coupon_logic_prepare(conn, &err), 0, "%s", err.message);
    cr_assert_eq(coupon_seed(conn, 1, 5, 300, &err), RPC_OK, "%s", err.message);
    return conn;
}

static coupon_info info_of(PGconn *conn, int64_t coupon_id)
{
    coupon_info ci;
    shop_error msg = {0};
    cr_assert_eq(coupon_get(conn, coupon_id, &ci, &msg), RPC_OK, "%s", msg.message);
    return ci;
}

Test(svc_coupon, use_marks_the_coupon_used_by_the_order)
{
    PGconn *c = open_coupon_db("coupon_use");
    coupon_result r;
    cr_assert_eq(coupon_use(c, 100, 2, 2, &r), RPC_OK, "%s", r.msg);
    cr_expect_eq(r.discount_cents, 300);
    coupon_info ci = info_of(c, 2);
    cr_expect_eq(ci.used, 1);
    cr_expect_eq(ci.order_id, 100);
    PQfinish(c);
    ts_pg_drop_db("coupon_use", "coupon");
}

Test(svc_coupon, use_twice_for_one_order_returns_the_first_result)
{
    PGconn *c = open_coupon_db("coupon_dup");
    coupon_result r;
    cr_assert_eq(coupon_use(c, 100, 2, 2, &r), RPC_OK, "%s", r.msg);
    cr_assert_eq(coupon_use(c, 100, 2, 2, &r), RPC_OK, "%s", r.msg);
    cr_expect_eq(r.duplicate, 1);
    cr_expect_eq(r.discount_cents, 300);
    cr_expect_eq(info_of(c, 2).order_id, 100);
    PQfinish(c);
    ts_pg_drop_db("coupon_dup", "coupon");
}

Test(svc_coupon, a_coupon_used_by_one_order_is_refused_to_another)
{
    PGconn *c = open_coupon_db("coupon_reuse");
    coupon_result r;
    cr_assert_eq(coupon_use(c, 100, 3, 3, &r), RPC_OK, "%s", r.msg);
    cr_assert_eq(coupon_use(c, 101, 3, 3, &r), RPC_FAILED_PRECONDITION);
    cr_expect(strstr(r.msg, "already used") != NULL, "%s", r.msg);
    cr_expect_eq(info_of(c, 3).order_id, 100);
    PQfinish(c);
    ts_pg_drop_db("coupon_reuse", "coupon");
}

Test(svc_coupon, another_users_coupon_and_unknown_coupons_are_refused)
{
    PGconn *c = open_coupon_db("coupon_owner");
    coupon_result r;
    cr_expect_eq(coupon_use(c, 100, 3, 4, &r), RPC_FAILED_PRECONDITION);
    cr_expect(strstr(r.msg, "another user") != NULL, "%s", r.msg);
    cr_expect_eq(info_of(c, 3).used, 0);
    cr_expect_eq(coupon_use(c, 102, 99, 99, &r), RPC_NOT_FOUND);
    cr_expect_eq(coupon_use(c, 0, 1, 1, &r), RPC_INVALID_ARGUMENT);
    PQfinish(c);
    ts_pg_drop_db("coupon_owner", "coupon");
}

Test(svc_coupon, restore_frees_the_coupon_once_for_reuse)
{
    PGconn *c = open_coupon_db("coupon_restore");
    coupon_result r;
    cr_assert_eq(coupon_use(c, 100, 1, 1, &r), RPC_OK, "%s", r.msg);
    cr_assert_eq(coupon_restore(c, 100, 1, &r), RPC_OK, "%s", r.msg);
    cr_expect_eq(r.restored, 1);
    cr_expect_eq(info_of(c, 1).used, 0);
    cr_assert_eq(coupon_use(c, 101, 1, 1, &r), RPC_OK, "%s", r.msg);
    /* A repeated restore of the first order must not free the second's use. */
    cr_assert_eq(coupon_restore(c, 100, 1, &r), RPC_OK, "%s", r.msg);
    cr_expect_eq(r.duplicate, 1);
    coupon_info ci = info_of(c, 1);
    cr_expect_eq(ci.used, 1);
    cr_expect_eq(ci.order_id, 101);
    PQfinish(c);
    ts_pg_drop_db("coupon_restore", "coupon");
}

Test(svc_coupon, restore_without_use_changes_nothing_and_refuses_a_late_use)
{
    PGconn *c = open_coupon_db("coupon_void");
    coupon_result r;
    cr_assert_eq(coupon_restore(c, 100, 4, &r), RPC_OK, "%s", r.msg);
    cr_expect_eq(r.restored, 0);
    cr_expect_eq(coupon_use(c, 100, 4, 4, &r), RPC_FAILED_PRECONDITION);
    cr_expect(strstr(r.msg, "compensated") != NULL, "%s", r.msg);
    cr_expect_eq(info_of(c, 4).used, 0);
    PQfinish(c);
    ts_pg_drop_db("coupon_void", "coupon");
}
