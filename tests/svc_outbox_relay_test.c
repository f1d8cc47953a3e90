/* The outbox relay's housekeeping against a real mq-broker and a freshly
 * migrated order_db: a row the broker refuses for good is parked (kept,
 * with its error) and the rows after it still flow; the trim deletes only
 * published rows and inbox slots older than the retention, oldest first and
 * a bounded batch at a time. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/status.h"
#include "services/common/svc_outbox.h"
#include "tests/support/testsupport.h"

static char conninfo[1024];

static PGconn *open_order_db(const char *test)
{
    ts_pg_fresh_db(test, "order", conninfo, sizeof conninfo);
    PGconn *conn = PQconnectdb(conninfo);
    cr_assert_eq(PQstatus(conn), CONNECTION_OK, "%s", PQerrorMessage(conn));
    return conn;
}

static int64_t scalar(PGconn *c, const char *sql)
{
    PGresult *res = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    int64_t v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *res = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0);
    cr_assert(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK,
              "%s: %s", sql, PQerrorMessage(c));
    PQclear(res);
}

static void add(PGconn *c, const char *topic, const char *key)
{
    shop_error msg = {0};
    cr_assert_eq(svc_outbox_add(c, topic, key, "body", 4, 0, &msg), RPC_OK, "%s", msg.message);
}

Test(svc_outbox_relay, a_row_the_broker_refuses_for_good_is_parked_and_the_rows_after_it_flow)
{
    PGconn *c = open_order_db("relay_park");
    int port = ts_free_port();
    char url[64], pub[64], dir[160], sport[16];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    snprintf(pub, sizeof pub, "tcp://127.0.0.1:%d", ts_free_port());
    snprintf(dir, sizeof dir, "%s/shopflow-relay-test-%d", ts_tmp_dir(), (int)getpid());
    snprintf(sport, sizeof sport, "%d", port);
    char *argv[] = {"mq-broker", "--url", url, "--pub-url", pub, "--data-dir", dir, NULL};
    ts_proc broker;
    cr_assert_eq(ts_spawn(&broker, argv), 0);
    cr_assert_eq(ts_wait_port(&broker, port, 10000), 0, "mq-broker did not start");

    add(c, "relay.ok", "1");
    add(c, "%not-a-topic", "2"); /* the client library refuses it: INVALID_ARGUMENT */
    add(c, "relay.ok", "3");
    svc_relay_cfg cfg = {.name = "relaytest", .conninfo = conninfo, .mq_url = url, .idle_ms = 20};
    svc_relay *r = NULL;
    shop_error err = {0};
    cr_assert_eq(svc_relay_start(&cfg, &r, &err), RPC_OK, "%s", err.message);
    int64_t until = shop_now_ms() + 10000;
    while (shop_now_ms() < until &&
           scalar(c, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") < 2)
        shop_sleep_ms(20);
    svc_relay_stop(r);

    cr_expect_eq(scalar(c, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"
                           " AND topic = 'relay.ok'"),
                 2);
    cr_expect_eq(scalar(c, "SELECT count(*) FROM outbox WHERE topic = '%not-a-topic'"
                           " AND published_at IS NULL AND failed_at IS NOT NULL"
                           " AND last_error LIKE '%topic%'"),
                 1, "the refused row is kept, parked, with its error");
    cr_expect_eq(svc_outbox_backlog(c), 1, "a parked row still counts as unpublished");
    ts_stop(&broker, SIGTERM, 5000);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    PQfinish(c);
    ts_pg_drop_db("relay_park", "order");
}

Test(svc_outbox_relay, the_trim_deletes_only_published_rows_and_inbox_slots_past_the_retention)
{
    PGconn *c = open_order_db("relay_trim");
    exec_ok(c, "INSERT INTO outbox (topic, msg_key, body, created_at, published_at) VALUES"
               " ('old.published', '1', 'x', now() - interval '8 days', now() - interval '8 days'),"
               " ('old.published', '2', 'x', now() - interval '8 days', now() - interval '8 days'),"
               " ('old.unpublished', '3', 'x', now() - interval '8 days', NULL),"
               " ('recent.published', '4', 'x', now() - interval '1 hour', now())");
    exec_ok(c, "INSERT INTO outbox (topic, msg_key, body, created_at, failed_at, last_error)"
               " VALUES ('old.parked', '5', 'x', now() - interval '8 days', now(), 'refused')");
    exec_ok(c, "INSERT INTO inbox (order_id, topic, at) VALUES"
               " (1, 'stock.deducted', now() - interval '8 days'),"
               " (1, 'coupon.used', now() - interval '8 days'),"
               " (2, 'stock.deducted', now())");
    int64_t day_ms = 24LL * 3600 * 1000;

    /* a bounded batch: at most one row of each table per call here */
    cr_expect_eq(svc_outbox_trim(c, day_ms, 1, 1), 2);
    cr_expect_eq(svc_outbox_trim(c, day_ms, 1, 1000), 2);
    cr_expect_eq(svc_outbox_trim(c, day_ms, 1, 1000), 0, "nothing left past the retention");

    cr_expect_eq(scalar(c, "SELECT count(*) FROM outbox WHERE topic = 'old.published'"), 0);
    cr_expect_eq(scalar(c, "SELECT count(*) FROM outbox WHERE topic IN"
                           " ('old.unpublished', 'old.parked', 'recent.published')"),
                 3, "unpublished, parked and recent rows are kept");
    cr_expect_eq(scalar(c, "SELECT count(*) FROM inbox"), 1);
    cr_expect_eq(scalar(c, "SELECT count(*) FROM inbox WHERE order_id = 2"), 1);
    PQfinish(c);
    ts_pg_drop_db("relay_trim", "order");
}
