/* The embedded PostgreSQL helper's lifecycle on a cluster of its own:
 * start, a second start, stop, and a restart after SIGKILL of postgres. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/clock.h"
#include "tests/support/testsupport.h"
#include "services/pg/shop_pg.h"

static char var_dir[256];

static void own_cluster(void)
{
    unsetenv("SHOPFLOW_PG");
    snprintf(var_dir, sizeof var_dir, "%s/shopflow-pg-lifecycle-%d", ts_tmp_dir(), (int)getpid());
    setenv("SHOPFLOW_VAR", var_dir, 1);
}

static void remove_cluster(void)
{
    shop_error err = {0};
    if (shop_pg_reset(&err) != 0)
        fprintf(stderr, "reset: %s\n", err.message);
    rmdir(var_dir);
}

static PGconn *connect_to(const char *dbname)
{
    char conninfo[SHOP_PG_CONNLEN];
    shop_error err = {0};
    cr_assert_eq(shop_pg_conninfo(NULL, dbname, conninfo, sizeof conninfo, &err), 0, "%s",
                 err.message);
    PGconn *conn = PQconnectdb(conninfo);
    cr_assert_eq(PQstatus(conn), CONNECTION_OK, "%s", PQerrorMessage(conn));
    return conn;
}

static void exec_ok(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    cr_assert(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK,
              "%s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
}

TestSuite(pg_lifecycle, .init = own_cluster, .fini = remove_cluster, .timeout = 120);

Test(pg_lifecycle, start_creates_the_cluster_and_the_three_service_databases)
{
    shop_pg_status st;
    shop_error err = {0};
    cr_assert_eq(shop_pg_start(&st, &err), 0, "%s", err.message);
    cr_expect(st.running);
    cr_expect_gt(st.port, 0);
    cr_expect_gt(st.pid, 0);
    const char *dbs[] = {"order_db", "stock_db", "coupon_db"};
    for (int i = 0; i < 3; i++) {
        PGconn *conn = connect_to(dbs[i]);
        exec_ok(conn, "SELECT count(*) FROM schema_migrations");
        PQfinish(conn);
    }
}

Test(pg_lifecycle, a_second_start_is_a_no_op)
{
    shop_pg_status first, second;
    shop_error err = {0};
    cr_assert_eq(shop_pg_start(&first, &err), 0, "%s", err.message);
    int64_t t0 = shop_now_ms();
    cr_assert_eq(shop_pg_start(&second, &err), 0, "%s", err.message);
    cr_expect_eq(second.pid, first.pid, "the running server was not reused");
    cr_expect_eq(second.port, first.port);
    cr_expect_lt(shop_now_ms() - t0, 10000);
}

Test(pg_lifecycle, stop_stops_and_start_brings_back_the_data)
{
    shop_pg_status st;
    shop_error err = {0};
    cr_assert_eq(shop_pg_start(&st, &err), 0, "%s", err.message);
    PGconn *conn = connect_to("stock_db");
    exec_ok(conn, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)");
    PQfinish(conn);

    cr_assert_eq(shop_pg_stop(&err), 0, "%s", err.message);
    cr_assert_eq(shop_pg_get_status(&st, &err), 0);
    cr_expect_not(st.running);
    cr_expect_eq(shop_pg_stop(&err), 0, "stopping a stopped cluster fails: %s", err.message);

    cr_assert_eq(shop_pg_start(&st, &err), 0, "%s", err.message);
    conn = connect_to("stock_db");
    PGresult *res = PQexec(conn, "SELECT v FROM kept");
    cr_assert_eq(PQntuples(res), 1);
    cr_expect_str_eq(PQgetvalue(res, 0, 0), "7");
    PQclear(res);
    PQfinish(conn);
}

Test(pg_lifecycle, start_after_sigkill_of_postgres_recovers_committed_data)
{
    shop_pg_status st;
    shop_error err = {0};
    cr_assert_eq(shop_pg_start(&st, &err), 0, "%s", err.message);
    PGconn *conn = connect_to("order_db");
    exec_ok(conn, "CREATE TABLE committed (v int); INSERT INTO committed VALUES (42)");
    PQfinish(conn);

    int old_pid = st.pid;
    cr_assert_eq(kill(old_pid, SIGKILL), 0);
    for (int i = 0; i < 100 && kill(old_pid, 0) == 0; i++)
        shop_sleep_ms(20);
    cr_assert_eq(shop_pg_get_status(&st, &err), 0);
    cr_expect_not(st.running, "a killed server still reported running");

    cr_assert_eq(shop_pg_start(&st, &err), 0, "restart after SIGKILL: %s", err.message);
    cr_expect(st.running);
    cr_expect_neq(st.pid, old_pid);
    conn = connect_to("order_db");
    PGresult *res = PQexec(conn, "SELECT v FROM committed");
    cr_assert_eq(PQntuples(res), 1, "committed row lost across SIGKILL");
    cr_expect_str_eq(PQgetvalue(res, 0, 0), "42");
    PQclear(res);
    PQfinish(conn);
}
