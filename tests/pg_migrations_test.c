/* Migrations apply each versioned file once, in name order; conninfo strings
 * switch databases on any base URL. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/pg/shop_pg.h"
#include "tests/support/testsupport.h"

static char sql_dir[256];

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", sql_dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static int count_rows(const char *dbname, const char *sql)
{
    char conninfo[SHOP_PG_CONNLEN];
    shop_error err = {0};
    cr_assert_eq(shop_pg_conninfo(NULL, dbname, conninfo, sizeof conninfo, &err), 0);
    PGconn *conn = PQconnectdb(conninfo);
    cr_assert_eq(PQstatus(conn), CONNECTION_OK, "%s", PQerrorMessage(conn));
    PGresult *res = PQexec(conn, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
    int n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(conn);
    return n;
}

Test(pg_migrations, each_file_is_applied_once_in_name_order, .timeout = 60)
{
    ts_pg_up();
    snprintf(sql_dir, sizeof sql_dir, "%s/shopflow-migrations-%d", ts_tmp_dir(), (int)getpid());
    mkdir(sql_dir, 0755);
    write_file("002_fill.sql", "INSERT INTO t VALUES (2);");
    write_file("001_create.sql", "CREATE TABLE t (v int);");
    shop_error err = {0};
    const char *db = "t_pg_migrations_db";
    shop_pg_drop_database(NULL, db, &err);
    cr_assert_eq(shop_pg_ensure_database(NULL, db, sql_dir, &err), 0, "%s", err.message);
    cr_assert_eq(shop_pg_ensure_database(NULL, db, sql_dir, &err), 0, "%s", err.message);
    cr_expect_eq(count_rows(db, "SELECT count(*) FROM t"), 1);
    cr_expect_eq(count_rows(db, "SELECT count(*) FROM schema_migrations"), 2);

    write_file("003_more.sql", "INSERT INTO t VALUES (3);");
    cr_assert_eq(shop_pg_ensure_database(NULL, db, sql_dir, &err), 0, "%s", err.message);
    cr_expect_eq(count_rows(db, "SELECT count(*) FROM t"), 2);
    cr_expect_eq(shop_pg_drop_database(NULL, db, &err), 0, "%s", err.message);
}

Test(pg_migrations, a_failing_migration_is_reported_and_rolled_back, .timeout = 60)
{
    ts_pg_up();
    snprintf(sql_dir, sizeof sql_dir, "%s/shopflow-migrations-bad-%d", ts_tmp_dir(), (int)getpid());
    mkdir(sql_dir, 0755);
    write_file("001_bad.sql", "CREATE TABLE ok_table (v int); SELEC broken;");
    shop_error err = {0};
    const char *db = "t_pg_migrations_bad_db";
    shop_pg_drop_database(NULL, db, &err);
    cr_expect_neq(shop_pg_ensure_database(NULL, db, sql_dir, &err), 0);
    cr_expect(strstr(err.message, "001_bad.sql") != NULL, "error does not name the file: %s",
              err.message);
    cr_expect_eq(count_rows(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'ok_table'"), 0);
    shop_pg_drop_database(NULL, db, &err);
}

Test(pg_migrations, conninfo_replaces_the_database_of_a_url)
{
    char out[SHOP_PG_CONNLEN];
    shop_error err = {0};
    cr_assert_eq(shop_pg_conninfo("postgres://u@127.0.0.1:5999/postgres?connect_timeout=3",
                                  "stock_db", out, sizeof out, &err),
                 0, "%s", err.message);
    cr_expect(strstr(out, "dbname='stock_db'") != NULL, "%s", out);
    cr_expect(strstr(out, "port='5999'") != NULL, "%s", out);
    cr_expect(strstr(out, "dbname='postgres'") == NULL, "%s", out);
    cr_expect_neq(shop_pg_conninfo("postgres://[bad", "x", out, sizeof out, &err), 0);
}
