/* The daemons' PostgreSQL pool: a lost connection fails its call with
 * UNAVAILABLE and is reopened (statements prepared again) on its next use;
 * an exhausted pool times out with a message. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/status.h"
#include "services/common/svc_pool.h"
#include "services/stock/stock_logic.h"
#include "tests/support/testsupport.h"

static shop_pool *open_pool(const char *test, int size, char *conninfo, size_t len)
{
    shop_error err = {0};
    ts_pg_fresh_db(test, "stock", conninfo, len);
    shop_pool *pool = NULL;
    cr_assert_eq(shop_pool_open(conninfo, size, stock_logic_prepare, &pool, &err), RPC_OK, "%s",
                 err.message);
    return pool;
}

Test(svc_pool, a_connection_killed_by_the_server_is_reopened_on_next_use)
{
    char conninfo[1024];
    shop_error msg = {0};
    shop_error err = {0};
    shop_pool *pool = open_pool("pool_kill", 1, conninfo, sizeof conninfo);
    PGconn *c = NULL;
    cr_assert_eq(shop_pool_acquire(pool, 1000, &c, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(stock_seed(c, 1, 1, 5, 100, &msg), RPC_OK, "%s", msg.message);

    PGconn *admin = PQconnectdb(conninfo);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", PQbackendPID(c));
    const char *params[] = {pid};
    PQclear(PQexecParams(admin, "SELECT pg_terminate_backend($1::int)", 1, NULL, params, NULL, NULL,
                         0));
    PQfinish(admin);

    stock_goods g;
    cr_expect_eq(stock_get(c, 1, &g, &msg), RPC_UNAVAILABLE, "%s", msg.message);
    shop_pool_release(pool, c);
    cr_assert_eq(shop_pool_acquire(pool, 1000, &c, &err), RPC_OK, "%s", err.message);
    cr_expect_eq(stock_get(c, 1, &g, &msg), RPC_OK, "%s", msg.message);
    cr_expect_eq(g.stock, 5);
    shop_pool_release(pool, c);
    shop_pool_close(pool);
    ts_pg_drop_db("pool_kill", "stock");
}

Test(svc_pool, an_exhausted_pool_times_out_with_a_message)
{
    char conninfo[1024];
    shop_error err = {0};
    shop_pool *pool = open_pool("pool_busy", 1, conninfo, sizeof conninfo);
    PGconn *c = NULL, *none = NULL;
    cr_assert_eq(shop_pool_acquire(pool, 1000, &c, &err), RPC_OK, "%s", err.message);
    cr_expect_eq(shop_pool_acquire(pool, 50, &none, &err), RPC_RESOURCE_EXHAUSTED);
    cr_expect_null(none);
    cr_expect(strstr(err.message, "no database connection free") != NULL, "%s", err.message);
    shop_pool_release(pool, c);
    shop_pool_close(pool);
    ts_pg_drop_db("pool_busy", "stock");
}

Test(svc_pool, a_wrong_address_fails_at_open)
{
    shop_error err = {0};
    shop_pool *pool = NULL;
    cr_expect_eq(
        shop_pool_open("host=127.0.0.1 port=1 dbname=x connect_timeout=2", 2, NULL, &pool, &err),
        RPC_UNAVAILABLE);
    cr_expect_null(pool);
    cr_expect(strstr(err.message, "connect to PostgreSQL") != NULL, "%s", err.message);
}
