/* The stock business functions against a real, freshly migrated stock_db:
 * at-most-once deduct and restore, first results on repeats, compensation
 * before deduct, and no overselling under concurrency. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "base/status.h"
#include "services/stock/stock_logic.h"
#include "tests/support/testsupport.h"

static PGconn *open_stock_db(const char *test)
{
    char conninfo[1024];
    shop_error err = {0};
    ts_pg_fresh_db(test, "stock", conninfo, sizeof conninfo);
    PGconn *conn = PQconnectdb(conninfo);
    cr_assert_eq(PQstatus(conn), CONNECTION_OK, "%s", PQerrorMessage(conn));
    cr_assert_eq(stock_logic_prepare(conn, &err), 0, "%s", err.message);
    cr_assert_eq(stock_seed(conn, 1, 3, 10, 250, &err), RPC_OK, "%s", err.message);
    return conn;
}

static int64_t stock_of(PGconn *conn, int64_t goods_id)
{
    stock_goods g;
    shop_error msg = {0};
    cr_assert_eq(stock_get(conn, goods_id, &g, &msg), RPC_OK, "%s", msg.message);
    return g.stock;
}

Test(svc_stock, deduct_takes_stock_and_returns_price)
{
    PGconn *c = open_stock_db("stock_deduct");
    stock_result r;
    cr_assert_eq(stock_deduct(c, 100, 1, 3, &r), RPC_OK, "%s", r.msg);
    cr_expect_eq(r.price_cents, 250);
    cr_expect_eq(r.stock_left, 7);
    cr_expect_eq(r.duplicate, 0);
    cr_expect_eq(stock_of(c, 1), 7);
    PQfinish(c);
    ts_pg_drop_db("stock_deduct", "stock");
}

Test(svc_stock, deduct_twice_for_one_order_changes_stock_once)
{
    PGconn *c = open_stock_db("stock_dup");
    stock_result r;
    cr_assert_eq(stock_deduct(c, 100, 1, 4, &r), RPC_OK, "%s", r.msg);
    cr_assert_eq(stock_deduct(c, 100, 1, 4, &r), RPC_OK, "%s", r.msg);
    cr_expect_eq(r.duplicate, 1);
    cr_expect_eq(stock_of(c, 1), 6);
    PQfinish(c);
    ts_pg_drop_db("stock_dup", "stock");
}

Test(svc_stock, out_of_stock_is_refused_and_its_repeat_too_even_after_a_refill)
{
    PGconn *c = open_stock_db("stock_oos");
    stock_result r;
    cr_assert_eq(stock_deduct(c, 100, 1, 11, &r), RPC_FAILED_PRECONDITION);
    cr_expect(strstr(r.msg, "out of stock") != NULL, "%s", r.msg);
    cr_expect_eq(stock_of(c, 1), 10);
    shop_error err = {0};
    cr_assert_eq(stock_seed(c, 1, 1, 50, 250, &err), RPC_OK);
    cr_assert_eq(stock_deduct(c, 100, 1, 11, &r), RPC_FAILED_PRECONDITION);
    cr_expect_eq(r.duplicate, 1);
    cr_expect_eq(stock_of(c, 1), 50);
    PQfinish(c);
    ts_pg_drop_db("stock_oos", "stock");
}

Test(svc_stock, unknown_goods_and_bad_arguments_are_reported)
{
    PGconn *c = open_stock_db("stock_bad");
    stock_result r;
    cr_expect_eq(stock_deduct(c, 100, 99, 1, &r), RPC_NOT_FOUND);
    cr_expect(strstr(r.msg, "99") != NULL, "%s", r.msg);
    cr_expect_eq(stock_deduct(c, 100, 1, 0, &r), RPC_INVALID_ARGUMENT);
    cr_expect_eq(stock_deduct(c, -1, 1, 1, &r), RPC_INVALID_ARGUMENT);
    cr_expect_eq(stock_restore(c, 100, 1, -2, &r), RPC_INVALID_ARGUMENT);
    PQfinish(c);
    ts_pg_drop_db("stock_bad", "stock");
}

Test(svc_stock, restore_gives_back_once)
{
    PGconn *c = open_stock_db("stock_restore");
    stock_result r;
    cr_assert_eq(stock_deduct(c, 100, 2, 5, &r), RPC_OK, "%s", r.msg);
    cr_assert_eq(stock_restore(c, 100, 2, 5, &r), RPC_OK, "%s", r.msg);
    cr_expect_eq(r.restored, 1);
    cr_expect_eq(r.stock_left, 10);
    cr_assert_eq(stock_restore(c, 100, 2, 5, &r), RPC_OK, "%s", r.msg);
    cr_expect_eq(r.duplicate, 1);
    cr_expect_eq(r.restored, 1, "a repeat returns the first result");
    cr_expect_eq(stock_of(c, 2), 10);
    PQfinish(c);
    ts_pg_drop_db("stock_restore", "stock");
}

Test(svc_stock, restore_without_deduct_changes_nothing_and_refuses_a_late_deduct)
{
    PGconn *c = open_stock_db("stock_void");
    stock_result r;
    cr_assert_eq(stock_restore(c, 100, 3, 2, &r), RPC_OK, "%s", r.msg);
    cr_expect_eq(r.restored, 0);
    cr_expect_eq(stock_of(c, 3), 10);
    cr_assert_eq(stock_deduct(c, 100, 3, 2, &r), RPC_FAILED_PRECONDITION);
    cr_expect(strstr(r.msg, "compensated") != NULL, "%s", r.msg);
    cr_expect_eq(stock_of(c, 3), 10);
    PQfinish(c);
    ts_pg_drop_db("stock_void", "stock");
}

Test(svc_stock, restore_after_a_refused_deduct_gives_nothing_back)
{
    PGconn *c = open_stock_db("stock_noop");
    stock_result r;
    cr_assert_eq(stock_deduct(c, 100, 1, 20, &r), RPC_FAILED_PRECONDITION);
    cr_assert_eq(stock_restore(c, 100, 1, 20, &r), RPC_OK, "%s", r.msg);
    cr_expect_eq(r.restored, 0);
    cr_expect_eq(stock_of(c, 1), 10);
    PQfinish(c);
    ts_pg_drop_db("stock_noop", "stock");
}

struct racer {
    char conninfo[1024];
    int64_t order_id;
    int status;
};

/* A conninfo for the database `c` is connected to. */
static void same_db(char *out, size_t outlen, PGconn *c)
{
    snprintf(out, outlen, "host=%s port=%s user=%s dbname=%s", PQhost(c), PQport(c), PQuser(c),
             PQdb(c));
}

static void *race_deduct(void *arg)
{
    struct racer *r = arg;
    shop_error err = {0};
    PGconn *c = PQconnectdb(r->conninfo);
    r->status = -1;
    if (PQstatus(c) == CONNECTION_OK && stock_logic_prepare(c, &err) == 0) {
        stock_result res;
        r->status = stock_deduct(c, r->order_id, 1, 1, &res);
    }
    PQfinish(c);
    return NULL;
}

Test(svc_stock, fifty_concurrent_deducts_for_the_last_ten_units_sell_exactly_ten)
{
    PGconn *c = open_stock_db("stock_race");
    enum { N = 50 };
    static struct racer racers[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        same_db(racers[i].conninfo, sizeof racers[i].conninfo, c);
        racers[i].order_id = 1000 + i;
        cr_assert_eq(pthread_create(&th[i], NULL, race_deduct, &racers[i]), 0);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += racers[i].status == RPC_OK;
        refused += racers[i].status == RPC_FAILED_PRECONDITION;
    }
    cr_expect_eq(ok, 10);
    cr_expect_eq(refused, 40);
    cr_expect_eq(stock_of(c, 1), 0);
    PQfinish(c);
    ts_pg_drop_db("stock_race", "stock");
}

Test(svc_stock, twenty_concurrent_deducts_for_one_order_take_stock_once)
{
    PGconn *c = open_stock_db("stock_race_dup");
    enum { N = 20 };
    static struct racer racers[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        same_db(racers[i].conninfo, sizeof racers[i].conninfo, c);
        racers[i].order_id = 777;
        cr_assert_eq(pthread_create(&th[i], NULL, race_deduct, &racers[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(racers[i].status, RPC_OK);
    }
    cr_expect_eq(stock_of(c, 1), 9);
    PQfinish(c);
    ts_pg_drop_db("stock_race_dup", "stock");
}
