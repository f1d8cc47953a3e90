/* The async PlaceOrder statement against a real, freshly migrated order_db:
 * the order and exactly its two outbox rows in one statement, nothing more
 * for a repeated request_id, order ids from the block pool that never
 * collide with the identity default, and a refused order writing nothing. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/status.h"
#include "services/common/svc_outbox.h"
#include "services/order/order_async.h"
#include "services/order/order_ids.h"
#include "shop_events.pb-c.h"
#include "tests/support/testsupport.h"

static char conninfo[1024];

static PGconn *open_order_db(const char *test)
{
    shop_error err = {0};
    ts_pg_fresh_db(test, "order", conninfo, sizeof conninfo);
    PGconn *conn = PQconnectdb(conninfo);
    cr_assert_eq(PQstatus(conn), CONNECTION_OK, "%s", PQerrorMessage(conn));
    cr_assert_eq(order_async_prepare(conn, &err), 0, "%s", err.message);
    return conn;
}

static int64_t count_of(PGconn *c, const char *sql, int64_t id)
{
    char a[24];
    snprintf(a, sizeof a, "%lld", (long long)id);
    const char *p[] = {a};
    PGresult *res = PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    int64_t n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

static shop_order place(PGconn *c, const char *rid, int64_t coupon, int *dup)
{
    order_place_args a = {rid, 7, 3, 2, coupon, 60000};
    shop_order o;
    shop_error msg = {0};
    cr_assert_eq(order_async_place(NULL, c, &a, &o, dup, &msg), RPC_OK, "%s", msg.message);
    return o;
}

Test(order_async_place, writes_the_order_and_its_two_events_in_one_statement)
{
    PGconn *c = open_order_db("oap_events");
    int64_t before = svc_outbox_now_us();
    int dup = 1;
    shop_order o = place(c, "r-1", 9, &dup);
    cr_assert_eq(dup, 0);
    cr_expect_eq(o.status, ORDER_PENDING);
    cr_expect_geq(o.accepted_us, before);
    cr_expect_eq(o.pay_by_us - o.accepted_us, 60000000);

    /* the stored order is the one returned, to the microsecond */
    shop_order s;
    shop_error msg = {0};
    cr_assert_eq(order_get(c, o.order_id, &s, &msg), RPC_OK, "%s", msg.message);
    cr_expect_eq(s.accepted_us, o.accepted_us);
    cr_expect_eq(s.pay_by_us, o.pay_by_us);
    cr_expect_eq(s.coupon_id, 9);
    cr_expect_str_eq(s.request_id, "r-1");

    cr_expect_eq(count_of(c, "SELECT count(*) FROM outbox WHERE msg_key = $1::text", o.order_id),
                 2);
    cr_expect_eq(count_of(c,
                          "SELECT delay_ms FROM outbox WHERE msg_key = $1::text"
                          " AND topic = 'order.timeout'",
                          o.order_id),
                 60000);
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)o.order_id);
    const char *p[] = {key};
    PGresult *res = PQexecParams(c,
                                 "SELECT body FROM outbox WHERE msg_key = $1::text"
                                 " AND topic = 'order.placed' AND delay_ms = 0",
                                 1, NULL, p, NULL, NULL, 1);
    cr_assert_eq(PQntuples(res), 1, "%s", PQerrorMessage(c));
    Shop__Events__OrderPlaced *ev = shop__events__order_placed__unpack(
        NULL, (size_t)PQgetlength(res, 0, 0), (const uint8_t *)PQgetvalue(res, 0, 0));
    cr_assert_not_null(ev);
    cr_expect_eq(ev->order_id, o.order_id);
    cr_expect_eq(ev->coupon_id, 9);
    cr_expect_eq(ev->at_us, o.accepted_us);
    cr_expect_eq(ev->pay_by_us, o.pay_by_us);
    cr_expect_str_eq(ev->request_id, "r-1");
    shop__events__order_placed__free_unpacked(ev, NULL);
    PQclear(res);
    PQfinish(c);
    ts_pg_drop_db("oap_events", "order");
}

Test(order_async_place, a_repeated_request_id_returns_the_first_order_and_writes_nothing)
{
    PGconn *c = open_order_db("oap_dup");
    int dup = 0;
    shop_order first = place(c, "same", 0, &dup);
    shop_order again = place(c, "same", 0, &dup);
    cr_expect_eq(dup, 1);
    cr_expect_eq(again.order_id, first.order_id);
    cr_expect_eq(again.accepted_us, first.accepted_us);
    cr_expect_eq(count_of(c, "SELECT count(*) FROM orders WHERE order_id >= $1::bigint", 0), 1);
    cr_expect_eq(count_of(c, "SELECT count(*) FROM outbox WHERE id >= $1::bigint", 0), 2);
    PQfinish(c);
    ts_pg_drop_db("oap_dup", "order");
}

Test(order_async_place, an_order_without_a_coupon_has_nothing_to_wait_for_on_that_side)
{
    PGconn *c = open_order_db("oap_nocoupon");
    int dup;
    shop_order o = place(c, "", 0, &dup);
    cr_expect_eq(count_of(c,
                          "SELECT count(*) FROM orders WHERE order_id = $1::bigint"
                          " AND coupon_result = 'NONE' AND coupon_at = created_at"
                          " AND coupon_id IS NULL AND request_id IS NULL",
                          o.order_id),
                 1);
    shop_order w = place(c, "", 5, &dup);
    cr_expect_eq(count_of(c,
                          "SELECT count(*) FROM orders WHERE order_id = $1::bigint"
                          " AND coupon_result IS NULL AND coupon_at IS NULL",
                          w.order_id),
                 1);
    PQfinish(c);
    ts_pg_drop_db("oap_nocoupon", "order");
}

Test(order_async_place, pooled_ids_never_collide_with_the_identity_default)
{
    PGconn *c = open_order_db("oap_ids");
    order_ids *ids = order_ids_new(8);
    cr_assert_not_null(ids);
    shop_error msg = {0};
    int64_t last = 0;
    for (int i = 0; i < 20; i++) {
        int64_t id;
        cr_assert_eq(order_ids_next(ids, c, &id, &msg), RPC_OK, "%s", msg.message);
        cr_expect_gt(id, last);
        last = id;
        /* an order placed the sync way takes its id from the same sequence */
        order_place_args a = {NULL, 1, 1, 1, 0, 1000};
        shop_order o;
        int dup;
        cr_assert_eq(order_place(c, &a, &o, &dup, &msg), RPC_OK, "%s", msg.message);
        cr_expect_neq(o.order_id, id);
        cr_expect_eq(count_of(c, "SELECT count(*) FROM orders WHERE order_id = $1::bigint", id), 0);
    }
    order_ids_free(ids);
    PQfinish(c);
    ts_pg_drop_db("oap_ids", "order");
}

Test(order_async_place, a_refused_order_writes_nothing)
{
    PGconn *c = open_order_db("oap_bad");
    order_place_args a = {"bad", 7, 3, 0, 0, 60000}; /* count 0 */
    shop_order o;
    int dup;
    shop_error msg = {0};
    cr_expect_eq(order_async_place(NULL, c, &a, &o, &dup, &msg), RPC_INVALID_ARGUMENT);
    cr_expect(strstr(msg.message, "positive") != NULL, "%s", msg.message);
    cr_expect_eq(count_of(c, "SELECT count(*) FROM outbox WHERE id >= $1::bigint", 0), 0);
    cr_expect_eq(count_of(c, "SELECT count(*) FROM orders WHERE order_id >= $1::bigint", 0), 0);
    PQfinish(c);
    ts_pg_drop_db("oap_bad", "order");
}
