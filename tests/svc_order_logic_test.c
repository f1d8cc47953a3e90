/* The order business functions against a real, freshly migrated order_db:
 * idempotent placement, the state machine's conditional transitions, the
 * close scan, and the compensations a cancellation persists. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "base/clock.h"
#include "base/status.h"
#include "services/order/order_logic.h"
#include "tests/support/testsupport.h"

static char conninfo[1024];

static PGconn *open_order_db(const char *test)
{
    shop_error err = {0};
    ts_pg_fresh_db(test, "order", conninfo, sizeof conninfo);
    PGconn *conn = PQconnectdb(conninfo);
    cr_assert_eq(PQstatus(conn), CONNECTION_OK, "%s", PQerrorMessage(conn));
    cr_assert_eq(order_logic_prepare(conn, &err), 0, "%s", err.message);
    return conn;
}

static shop_order place(PGconn *c, const char *rid, int64_t coupon, int64_t window_ms)
{
    order_place_args a = {rid, 7, 3, 2, coupon, window_ms};
    shop_order o;
    int dup;
    shop_error msg = {0};
    cr_assert_eq(order_place(c, &a, &o, &dup, &msg), RPC_OK, "%s", msg.message);
    return o;
}

static int64_t pending_comps(PGconn *c)
{
    int64_t n;
    shop_error msg = {0};
    cr_assert_eq(order_comp_pending(c, &n, &msg), RPC_OK, "%s", msg.message);
    return n;
}

Test(svc_order, place_inserts_a_pending_order_with_its_pay_deadline)
{
    PGconn *c = open_order_db("order_place");
    int64_t before = shop_wall_ms() * 1000;
    shop_order o = place(c, "r-1", 9, 60000);
    cr_expect_gt(o.order_id, 0);
    cr_expect_eq(o.status, ORDER_PENDING);
    cr_expect_str_eq(o.request_id, "r-1");
    cr_expect_eq(o.coupon_id, 9);
    cr_expect_geq(o.accepted_us, before - 1000000);
    cr_expect_geq(o.pay_by_us - o.accepted_us, 59000000);
    PQfinish(c);
    ts_pg_drop_db("order_place", "order");
}

Test(svc_order, a_repeated_request_id_returns_the_first_order)
{
    PGconn *c = open_order_db("order_dup");
    shop_order first = place(c, "r-dup", 0, 60000);
    order_place_args a = {"r-dup", 8, 4, 5, 0, 60000};
    shop_order again;
    int dup = 0;
    shop_error msg = {0};
    cr_assert_eq(order_place(c, &a, &again, &dup, &msg), RPC_OK, "%s", msg.message);
    cr_expect_eq(dup, 1);
    cr_expect_eq(again.order_id, first.order_id);
    cr_expect_eq(again.goods_id, 3, "the first order's fields, not the repeat's");
    a.request_id = "r-other";
    cr_assert_eq(order_place(c, &a, &again, &dup, &msg), RPC_OK, "%s", msg.message);
    cr_expect_eq(dup, 0);
    cr_expect_neq(again.order_id, first.order_id);
    PQfinish(c);
    ts_pg_drop_db("order_dup", "order");
}

Test(svc_order, bad_placements_are_refused_with_invalid_argument)
{
    PGconn *c = open_order_db("order_bad");
    char rid[100];
    shop_error msg = {0};
    memset(rid, 'x', 99);
    rid[99] = '\0';
    order_place_args a = {rid, 7, 3, 2, 0, 1000};
    shop_order o;
    int dup;
    cr_expect_eq(order_place(c, &a, &o, &dup, &msg), RPC_INVALID_ARGUMENT);
    a.request_id = "ok";
    a.count = 0;
    cr_expect_eq(order_place(c, &a, &o, &dup, &msg), RPC_INVALID_ARGUMENT);
    cr_expect_eq(order_get(c, 424242, &o, &msg), RPC_NOT_FOUND);
    PQfinish(c);
    ts_pg_drop_db("order_bad", "order");
}

Test(svc_order, confirm_then_pay_records_the_timeline)
{
    PGconn *c = open_order_db("order_pay");
    shop_order o = place(c, "r-pay", 0, 60000);
    shop_error msg = {0};
    int64_t t = shop_wall_ms() * 1000;
    cr_assert_eq(order_confirm(c, o.order_id, 500, t, 0, &o, &msg), RPC_OK, "%s", msg.message);
    cr_expect_eq(o.status, ORDER_CONFIRMED);
    cr_expect_eq(o.amount_cents, 500);
    cr_expect_eq(o.stock_us / 1000, t / 1000);
    cr_expect_gt(o.confirmed_us, 0);
    cr_assert_eq(order_pay(c, o.order_id, &o, &msg), RPC_OK, "%s", msg.message);
    cr_expect_eq(o.status, ORDER_PAID);
    cr_expect_gt(o.paid_us, 0);
    cr_expect_eq(order_pay(c, o.order_id, &o, &msg), RPC_FAILED_PRECONDITION);
    cr_expect(strstr(msg.message, "PAID") != NULL, "%s", msg.message);
    PQfinish(c);
    ts_pg_drop_db("order_pay", "order");
}

Test(svc_order, the_placing_flow_may_still_confirm_or_cancel_an_order_paid_early)
{
    PGconn *c = open_order_db("order_early");
    shop_error msg = {0};
    shop_order a = place(c, "r-a", 0, 60000), b = place(c, "r-b", 0, 60000);
    cr_assert_eq(order_pay(c, a.order_id, &a, &msg), RPC_OK, "%s", msg.message);
    cr_assert_eq(order_confirm(c, a.order_id, 100, 1, 0, &a, &msg), RPC_OK, "%s", msg.message);
    cr_expect_eq(a.status, ORDER_PAID);
    cr_expect_gt(a.confirmed_us, 0);
    cr_assert_eq(order_pay(c, b.order_id, &b, &msg), RPC_OK, "%s", msg.message);
    cr_assert_eq(order_fail(c, b.order_id, "out of stock", RPC_FAILED_PRECONDITION, 0, &b, &msg),
                 RPC_OK, "%s", msg.message);
    cr_expect_eq(b.status, ORDER_CANCELLED);
    cr_expect_eq(b.fail_code, RPC_FAILED_PRECONDITION);
    PQfinish(c);
    ts_pg_drop_db("order_early", "order");
}

Test(svc_order, a_failed_order_persists_the_restores_it_owes)
{
    PGconn *c = open_order_db("order_fail");
    shop_error msg = {0};
    shop_order o = place(c, "r-f", 11, 60000);
    cr_assert_eq(order_fail(c, o.order_id, "coupon service unavailable", RPC_UNAVAILABLE,
                            ORDER_COMP_STOCK | ORDER_COMP_COUPON, &o, &msg),
                 RPC_OK, "%s", msg.message);
    cr_expect_eq(o.status, ORDER_CANCELLED);
    cr_expect_str_eq(o.reason, "coupon service unavailable");
    cr_expect_gt(o.cancelled_us, 0);
    order_comp rows[8];
    int n;
    cr_assert_eq(order_comp_due(c, rows, 8, &n, &msg), RPC_OK, "%s", msg.message);
    cr_assert_eq(n, 2);
    int stock = rows[0].target == ORDER_COMP_STOCK ? 0 : 1;
    cr_expect_eq(rows[stock].goods_id, 3);
    cr_expect_eq(rows[stock].count, 2);
    cr_expect_eq(rows[1 - stock].coupon_id, 11);
    /* A failed delivery waits for its backoff; a delivered one is done. */
    cr_assert_eq(order_comp_retry(c, rows[0].id, 60000, "unavailable", &msg), RPC_OK);
    cr_assert_eq(order_comp_done(c, &rows[1].id, 1, &msg), RPC_OK);
    cr_assert_eq(order_comp_due(c, rows, 8, &n, &msg), RPC_OK, "%s", msg.message);
    cr_expect_eq(n, 0);
    cr_expect_eq(pending_comps(c), 1);
    /* Failing it again neither changes it nor owes anything twice. */
    cr_expect_eq(order_fail(c, o.order_id, "again", RPC_UNAVAILABLE, ORDER_COMP_STOCK, &o, &msg),
                 RPC_FAILED_PRECONDITION);
    cr_expect_eq(pending_comps(c), 1);
    PQfinish(c);
    ts_pg_drop_db("order_fail", "order");
}

Test(svc_order, unpaid_orders_past_their_window_are_closed_and_owe_restores)
{
    PGconn *c = open_order_db("order_close");
    shop_error msg = {0};
    shop_order due = place(c, "r-due", 5, 0);
    shop_order later = place(c, "r-later", 0, 60000);
    shop_order paid = place(c, "r-paid", 0, 60000);
    cr_assert_eq(order_pay(c, paid.order_id, &paid, &msg), RPC_OK, "%s", msg.message);
    int closed = 0;
    cr_assert_eq(order_close_expired(c, 100, &closed, &msg), RPC_OK, "%s", msg.message);
    cr_expect_eq(closed, 1);
    cr_assert_eq(order_get(c, due.order_id, &due, &msg), RPC_OK);
    cr_expect_eq(due.status, ORDER_CLOSED);
    cr_expect_gt(due.closed_us, 0);
    cr_assert_eq(order_get(c, later.order_id, &later, &msg), RPC_OK);
    cr_expect_eq(later.status, ORDER_PENDING);
    cr_expect_eq(pending_comps(c), 2, "stock and coupon of the closed order");
    cr_expect_eq(order_pay(c, due.order_id, &due, &msg), RPC_FAILED_PRECONDITION);
    cr_expect(strstr(msg.message, "CLOSED") != NULL, "%s", msg.message);
    PQfinish(c);
    ts_pg_drop_db("order_close", "order");
}

Test(svc_order, a_user_cancel_owes_both_restores_but_a_paid_order_cannot_be_cancelled)
{
    PGconn *c = open_order_db("order_cancel");
    shop_error msg = {0};
    shop_order o = place(c, "r-c", 4, 60000), p = place(c, "r-p", 0, 60000);
    cr_assert_eq(order_confirm(c, o.order_id, 10, 1, 1, &o, &msg), RPC_OK, "%s", msg.message);
    cr_assert_eq(order_cancel(c, o.order_id, NULL, &o, &msg), RPC_OK, "%s", msg.message);
    cr_expect_eq(o.status, ORDER_CANCELLED);
    cr_expect_eq(pending_comps(c), 2);
    cr_assert_eq(order_pay(c, p.order_id, &p, &msg), RPC_OK, "%s", msg.message);
    cr_expect_eq(order_cancel(c, p.order_id, NULL, &p, &msg), RPC_FAILED_PRECONDITION);
    PQfinish(c);
    ts_pg_drop_db("order_cancel", "order");
}

struct payer {
    int64_t first, n;
    int paid;
};

static void *pay_all(void *arg)
{
    struct payer *p = arg;
    PGconn *c = PQconnectdb(conninfo);
    shop_error msg = {0};
    if (PQstatus(c) == CONNECTION_OK && order_logic_prepare(c, &msg) == 0) {
        for (int64_t id = p->first; id < p->first + p->n; id++) {
            shop_order o;
            p->paid += order_pay(c, id, &o, &msg) == RPC_OK;
        }
    }
    PQfinish(c);
    return NULL;
}

Test(svc_order, pay_racing_the_close_scan_lets_exactly_one_win_per_order)
{
    PGconn *c = open_order_db("order_race");
    enum { N = 200 };
    int64_t first = 0;
    for (int i = 0; i < N; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "race-%d", i);
        shop_order o = place(c, rid, 0, 300);
        if (i == 0)
            first = o.order_id;
    }
    shop_sleep_ms(250);
    struct payer p = {first, N, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, pay_all, &p), 0);
    shop_error msg = {0};
    int closed_total = 0;
    for (int64_t until = shop_now_ms() + 1500; shop_now_ms() < until;) {
        int closed;
        cr_assert_eq(order_close_expired(c, 7, &closed, &msg), RPC_OK, "%s", msg.message);
        closed_total += closed;
    }
    pthread_join(th, NULL);
    int paid = 0, closed = 0;
    for (int64_t id = first; id < first + N; id++) {
        shop_order o;
        cr_assert_eq(order_get(c, id, &o, &msg), RPC_OK);
        paid += o.status == ORDER_PAID;
        closed += o.status == ORDER_CLOSED;
        cr_expect(o.paid_us == 0 || o.closed_us == 0, "order %lld both paid and closed",
                  (long long)id);
    }
    cr_expect_eq(paid + closed, N);
    cr_expect_eq(paid, p.paid, "every successful pay left the order PAID");
    cr_expect_eq(closed, closed_total);
    cr_expect_eq(pending_comps(c), closed, "each closed order owes its stock restore");
    PQfinish(c);
    ts_pg_drop_db("order_race", "order");
}
