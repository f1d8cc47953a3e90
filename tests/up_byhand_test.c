/* Operating a running `shopflow up` by hand from another terminal, with real
 * daemons: the tutorial's demo (async: kill coupon, PlaceOrder keeps
 * answering, start coupon, everything converges, check clean), supervision
 * (a daemon that dies is reported, the others stay up, --restart brings it
 * back), pause/resume seen by status, link faults through the proxy, and
 * the commands' exit codes. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "services/pg/shop_pg.h"
#include "shop_order.rpc.h"
#include "tests/support/testsupport.h"

static int printed_ready(void *arg)
{
    return ts_log_has(arg, " ready; try:");
}

static void start_up(ts_proc *p, const char *arch, const char *prefix, int restart)
{
    ts_pg_up();
    char *argv[] = {
        "shopflow",    "up",      "--arch",      (char *)arch,   "--goods",
        "3",           "--stock", "50",          "--users",      "10",
        "--port-base", "0",       "--db-prefix", (char *)prefix, restart ? "--restart" : NULL,
        NULL};
    cr_assert_eq(ts_spawn(p, argv), 0);
    if (ts_wait_until(p, printed_ready, p, 40000) != 0) {
        ts_dump_log(p);
        cr_assert_fail("shopflow up --arch %s did not get ready", arch);
    }
}

static void stop_up(ts_proc *p, const char *prefix)
{
    if (p->pid > 0) {
        int rc = ts_stop(p, SIGTERM, 30000);
        if (rc != 0)
            ts_dump_log(p);
        cr_expect_eq(rc, 0, "shopflow up stops everything and exits 0");
    }
    static const char *const svcs[] = {"order", "stock", "coupon"};
    for (int i = 0; i < 3; i++) {
        char db[128];
        snprintf(db, sizeof db, "%s%s_db", prefix, svcs[i]);
        shop_error e = {0};
        shop_pg_drop_database(NULL, db, &e);
    }
    char var[600], cmd[1500];
    snprintf(var, sizeof var, "%s", shop_pg_var_dir());
    char *slash = strrchr(var, '/');
    if (slash != NULL)
        *slash = '\0';
    snprintf(cmd, sizeof cmd, "rm -rf '%s/stack/%smq' '%s/stack/%sdelayd'", var, prefix, var,
             prefix);
    cr_expect_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/stack/%sup.state", var, prefix);
    unlink(cmd); /* left behind by an up that was killed */
}

/* The status line of one process: its state and health columns. */
static void status_of(const char *prefix, const char *name, char *state, char *health, int *pid)
{
    char out[8192];
    cr_assert_eq(ts_shopflow(out, sizeof out, "status --prefix %s", prefix), 0, "%s", out);
    state[0] = health[0] = '\0';
    *pid = -1;
    for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char n[32], prog[32], st[32], h[32];
        int p = 0;
        if (sscanf(line, "%31s %31s %d %31s %31s", n, prog, &p, st, h) == 5 &&
            strcmp(n, name) == 0) {
            strcpy(state, st);
            strcpy(health, h);
            *pid = p;
        }
    }
}

static rpc_status place(rpc_channel *ch, const char *request_id, int64_t user, int64_t *id)
{
    Shop__Order__PlaceOrderRequest rq = SHOP__ORDER__PLACE_ORDER_REQUEST__INIT;
    rq.request_id = (char *)request_id;
    rq.user_id = user;
    rq.goods_id = 1;
    rq.count = 1;
    rq.coupon_id = user;
    Shop__Order__PlaceOrderReply *rp = NULL;
    rpc_error err = {0};
    rpc_call_opts o = {.wait_for_ready = true, .timeout_ms = 5000};
    rpc_status st = shop_order_OrderService_PlaceOrder(ch, &rq, &rp, &o, &err);
    if (st == RPC_OK) {
        *id = rp->order->order_id;
        shop__order__place_order_reply__free_unpacked(rp, NULL);
    }
    return st;
}

static int order_status(rpc_channel *ch, int64_t id)
{
    Shop__Order__GetOrderRequest rq = SHOP__ORDER__GET_ORDER_REQUEST__INIT;
    rq.order_id = id;
    Shop__Order__GetOrderReply *rp = NULL;
    rpc_call_opts o = {.wait_for_ready = true, .timeout_ms = 5000};
    if (shop_order_OrderService_GetOrder(ch, &rq, &rp, &o, NULL) != RPC_OK)
        return -1;
    int s = rp->order->status;
    shop__order__get_order_reply__free_unpacked(rp, NULL);
    return s;
}

Test(up_byhand, the_async_demo_kill_coupon_keep_ordering_start_it_converges_and_checks_clean)
{
    const char *pfx = "t_byh_";
    ts_proc up;
    start_up(&up, "async", pfx, 0);
    char url[128], out[8192], state[32], health[32];
    int pid = 0;
    ts_printed_url(&up, "order", url, sizeof url);

    cr_assert_eq(ts_shopflow(out, sizeof out, "kill coupon --prefix %s", pfx), 0, "%s", out);
    status_of(pfx, "coupon", state, health, &pid);
    cr_expect_str_eq(state, "stopped");
    cr_expect_eq(pid, 0);
    status_of(pfx, "order", state, health, &pid);
    cr_expect_str_eq(state, "running", "the others stay up");
    cr_expect_str_eq(health, "SERVING");

    rpc_channel *ch = NULL;
    cr_assert_eq(rpc_channel_open(&ch, url, NULL, NULL), RPC_OK);
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "byh-%d", i);
        cr_assert_eq(place(ch, rid, i + 1, &ids[i]), RPC_OK,
                     "PlaceOrder answers while coupon is down");
    }
    shop_sleep_ms(300);
    cr_expect_eq(order_status(ch, ids[0]), SHOP__ORDER__ORDER_STATUS__PENDING,
                 "not confirmed without coupon");

    cr_assert_eq(ts_shopflow(out, sizeof out, "start coupon --prefix %s", pfx), 0, "%s", out);
    status_of(pfx, "coupon", state, health, &pid);
    cr_expect_str_eq(state, "running");
    cr_expect_str_eq(health, "SERVING");
    cr_expect_gt(pid, 0);
    int confirmed = 0;
    for (int64_t until = shop_now_ms() + 20000; confirmed < 5 && shop_now_ms() < until;) {
        confirmed = 0;
        for (int i = 0; i < 5; i++)
            confirmed += order_status(ch, ids[i]) == SHOP__ORDER__ORDER_STATUS__CONFIRMED;
        if (confirmed < 5)
            shop_sleep_ms(100);
    }
    cr_expect_eq(confirmed, 5, "every order placed while coupon was down is confirmed");
    rpc_channel_close(ch);

    int rc = ts_shopflow(out, sizeof out, "check --prefix t_byh");
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "all invariants hold") != NULL, "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "check --json --prefix t_byh"), 0, "%s", out);
    cr_expect(strstr(out, "\"ok\": true") && strstr(out, "\"CONFIRMED\": 5"), "%s", out);
    /* the mq commands find the stack's broker and delay queue by themselves */
    cr_expect_eq(ts_shopflow(out, sizeof out, "mq stats --json --prefix %s", pfx), 0, "%s", out);
    cr_expect(strstr(out, "\"topic\": \"order.placed\"") && strstr(out, "\"delay\": {"), "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "delay list --json --prefix %s", pfx), 0, "%s", out);
    cr_expect(strstr(out, "\"topic\": \"order.timeout\"") != NULL,
              "each order's pay-window timeout waits in mq-delayd: %s", out);
    cr_expect(!ts_log_has(&up, "stopping"), "up does not collapse");
    stop_up(&up, pfx);
}

Test(up_byhand, a_daemon_that_dies_is_reported_the_others_stay_up_and_restart_brings_it_back)
{
    const char *pfx = "t_byr_";
    ts_proc up;
    start_up(&up, "sync", pfx, 1);
    char state[32], health[32];
    int pid = 0, pid2 = 0;
    status_of(pfx, "stock", state, health, &pid);
    cr_assert_gt(pid, 0);
    cr_assert_eq(kill(pid, SIGKILL), 0);
    for (int64_t until = shop_now_ms() + 10000;
         !ts_log_has(&up, "shop-stock exited (killed by signal 9") && shop_now_ms() < until;)
        shop_sleep_ms(50);
    cr_expect(ts_log_has(&up, "shop-stock exited (killed by signal 9"), "the exit is reported");
    status_of(pfx, "order", state, health, &pid2);
    cr_expect_str_eq(state, "running", "the others stay up");
    for (int64_t until = shop_now_ms() + 15000; shop_now_ms() < until; shop_sleep_ms(100)) {
        status_of(pfx, "stock", state, health, &pid2);
        if (strcmp(state, "running") == 0 && strcmp(health, "SERVING") == 0)
            break;
    }
    cr_expect_str_eq(state, "running", "--restart starts it again");
    cr_expect_neq(pid2, pid);

    /* pause and resume show in status */
    char out[4096];
    cr_assert_eq(ts_shopflow(out, sizeof out, "pause coupon --prefix %s", pfx), 0, "%s", out);
    status_of(pfx, "coupon", state, health, &pid);
    cr_expect_str_eq(state, "paused");
    cr_expect_str_eq(health, "NOT_RESPONDING");
    cr_assert_eq(ts_shopflow(out, sizeof out, "resume coupon --prefix %s", pfx), 0, "%s", out);
    status_of(pfx, "coupon", state, health, &pid);
    cr_expect_str_eq(health, "SERVING");
    /* a killed daemon stays down even under --restart */
    cr_assert_eq(ts_shopflow(out, sizeof out, "kill coupon --prefix %s", pfx), 0, "%s", out);
    shop_sleep_ms(1500);
    status_of(pfx, "coupon", state, health, &pid);
    cr_expect_str_eq(state, "stopped");
    cr_expect_eq(ts_shopflow(out, sizeof out, "restart coupon --prefix %s", pfx), 0, "%s", out);
    status_of(pfx, "coupon", state, health, &pid);
    cr_expect_str_eq(state, "running");
    stop_up(&up, pfx);
}

Test(up_byhand, a_fault_puts_the_proxy_on_the_link_and_clear_removes_the_delay)
{
    const char *pfx = "t_byf_";
    ts_proc up;
    start_up(&up, "sync", pfx, 0);
    char url[128], out[4096];
    ts_printed_url(&up, "order", url, sizeof url);
    cr_assert_eq(ts_shopflow(out, sizeof out, "fault stock delay=300 --prefix %s", pfx), 0, "%s",
                 out);
    cr_expect(strstr(out, "order -> stock via tcp://127.0.0.1:") != NULL, "%s", out);

    rpc_channel *ch = NULL;
    cr_assert_eq(rpc_channel_open(&ch, url, NULL, NULL), RPC_OK);
    int64_t id = 0, t0 = shop_now_ms();
    cr_assert_eq(place(ch, "byf-1", 1, &id), RPC_OK);
    int64_t slow = shop_now_ms() - t0;
    cr_expect_geq(slow, 600, "the Deduct call and its reply each wait 300 ms (took %lld ms)",
                  (long long)slow);
    cr_assert_eq(ts_shopflow(out, sizeof out, "fault stock clear --prefix %s", pfx), 0, "%s", out);
    t0 = shop_now_ms();
    cr_assert_eq(place(ch, "byf-2", 2, &id), RPC_OK);
    cr_expect_lt(shop_now_ms() - t0, 300, "no delay after clear");
    rpc_channel_close(ch);

    cr_expect_eq(ts_shopflow(out, sizeof out, "fault order delay=1 --prefix %s", pfx), 1,
                 "order's inbound link is not proxied in sync: %s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "fault stock delay=abc --prefix %s", pfx), 2, "%s",
                 out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "kill nosuch --prefix %s", pfx), 2, "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "start order --prefix %s", pfx), 1,
                 "already running: %s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "status --json --prefix %s", pfx), 0, "%s", out);
    cr_expect(strstr(out, "\"delay_ms\": 0") != NULL, "%s", out);

    /* up dies: the daemons it started, on command too, end with it */
    char state[32], health[32];
    int order_pid = 0;
    status_of(pfx, "order", state, health, &order_pid);
    cr_assert_gt(order_pid, 0);
    ts_stop(&up, SIGKILL, 5000);
    int64_t until = shop_now_ms() + 10000;
    while (kill(order_pid, 0) == 0 && shop_now_ms() < until)
        shop_sleep_ms(50);
    cr_expect_neq(kill(order_pid, 0), 0, "shop-order, restarted for the proxy, outlived up");
    cr_expect_eq(ts_shopflow(out, sizeof out, "status --prefix %s", pfx), 1, "%s", out);
    cr_expect(strstr(out, "which is gone") != NULL, "a stale state file is named so: %s", out);
    stop_up(&up, pfx);
}

Test(up_byhand, the_commands_say_so_when_no_stack_runs)
{
    char out[4096];
    cr_expect_eq(ts_shopflow(out, sizeof out, "status --prefix t_none_"), 1, "%s", out);
    cr_expect(strstr(out, "shopflow up") != NULL, "names what to do: %s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "kill coupon --prefix t_none_"), 1, "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "status --help"), 0, "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "fault --help"), 0, "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "kill"), 2, "%s", out);
}
