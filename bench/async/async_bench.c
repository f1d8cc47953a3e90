/* async-bench: what the decoupled architecture costs and buys, measured in
 * one run on this machine. For each architecture it starts the whole stack
 * (shop_stack: PostgreSQL, and for async mq-broker + mq-delayd), places
 * orders over RPC from `clients` threads at a paced total rate, waits until
 * every order is final, and prints PlaceOrder latency, throughput and, from
 * the orders' timelines, the accept-to-final lag. The sync run is the
 * baseline; read the async figures as ratios against it. */
#include <getopt.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/tmpdir.h"
#include "rpc/rpc.h"
#include "services/pg/shop_pg.h"
#include "services/stack/shop_stack.h"
#include "shop_order.rpc.h"
#include "base/version.h"

typedef struct bench_cfg {
    int orders, clients, rate;
} bench_cfg;

typedef struct client {
    pthread_t t;
    rpc_channel *ch;
    const bench_cfg *cfg;
    int first, n; /* users first, first + clients, ... (n of them) */
    int64_t start_us;
    int64_t *lat_us;
    int ok, failed;
} client;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void *client_main(void *arg)
{
    client *c = arg;
    for (int i = 0; i < c->n; i++) {
        int u = c->first + i * c->cfg->clients;
        /* paced: order u is due at start + (u - 1) / rate, whoever is late */
        int64_t due = c->start_us + (int64_t)(u - 1) * 1000000 / c->cfg->rate;
        while (shop_now_us() < due)
            shop_sleep_ms(1);
        char rid[32];
        snprintf(rid, sizeof rid, "bench-%d", u);
        Shop__Order__PlaceOrderRequest rq = SHOP__ORDER__PLACE_ORDER_REQUEST__INIT;
        rq.request_id = rid;
        rq.user_id = u;
        rq.goods_id = u % 100 + 1;
        rq.count = 1;
        rq.coupon_id = u;
        Shop__Order__PlaceOrderReply *rp = NULL;
        rpc_error err = {0};
        rpc_call_opts o = {.timeout_ms = 5000};
        rpc_status st = shop_order_OrderService_PlaceOrder(c->ch, &rq, &rp, &o, &err);
        c->lat_us[c->ok + c->failed] = shop_now_us() - due; /* from its due time: no hiding */
        if (st == RPC_OK) {
            c->ok++;
            shop__order__place_order_reply__free_unpacked(rp, NULL);
        } else {
            c->failed++;
        }
    }
    return NULL;
}

static int64_t query_i64(PGconn *c, const char *sql)
{
    PGresult *r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0);
    int64_t v = PQresultStatus(r) == PGRES_TUPLES_OK && !PQgetisnull(r, 0, 0)
                    ? (int64_t)strtod(PQgetvalue(r, 0, 0), NULL)
                    : -1;
    PQclear(r);
    return v;
}

/* Runs one architecture and prints its row. */
static int run(const char *arch, const bench_cfg *cfg)
{
    shop_stack st;
    shop_stack_opts o = shop_stack_defaults();
    char conninfo[SHOP_PG_CONNLEN];
    shop_error err = {0};
    o.arch = arch;
    o.users = cfg->orders;
    o.db_prefix = strcmp(arch, "async") == 0 ? "bench_async_" : "bench_sync_";
    o.log_dir = shop_tmp_dir();
    if (shop_stack_start(&st, &o, &err) != 0) {
        fprintf(stderr, "async-bench: %s: %s\n", arch, err.message);
        return -1;
    }
    client *cl = calloc((size_t)cfg->clients, sizeof *cl);
    int per = cfg->orders / cfg->clients;
    int64_t start = shop_now_us() + 200000;
    for (int i = 0; i < cfg->clients; i++) {
        rpc_channel_opts co = {.default_timeout_ms = 5000, .retry = {.max_attempts = 1}};
        rpc_error e;
        rpc_channel_open(&cl[i].ch, st.procs[SHOP_STACK_ORDER].url, &co, &e);
        while (rpc_channel_connected(cl[i].ch) <= 0)
            shop_sleep_ms(5);
        cl[i] = (client){.ch = cl[i].ch,
                         .cfg = cfg,
                         .first = i + 1,
                         .n = per,
                         .start_us = start,
                         .lat_us = calloc((size_t)per, sizeof(int64_t))};
    }
    for (int i = 0; i < cfg->clients; i++)
        pthread_create(&cl[i].t, NULL, client_main, &cl[i]);
    int total = 0, ok = 0;
    int64_t *all = calloc((size_t)cfg->orders, sizeof *all);
    for (int i = 0; i < cfg->clients; i++) {
        pthread_join(cl[i].t, NULL);
        memcpy(all + total, cl[i].lat_us, (size_t)(cl[i].ok + cl[i].failed) * sizeof *all);
        total += cl[i].ok + cl[i].failed;
        ok += cl[i].ok;
        rpc_channel_close(cl[i].ch);
        free(cl[i].lat_us);
    }
    double secs = (shop_now_us() - start) / 1e6;
    qsort(all, (size_t)total, sizeof *all, cmp_i64);
    /* wait until nothing is PENDING (async: the members' answers arrive) */
    shop_pg_conninfo(st.pg_url, st.procs[SHOP_STACK_ORDER].db, conninfo, sizeof conninfo, &err);
    PGconn *pg = PQconnectdb(conninfo);
    int64_t until = shop_now_ms() + 60000;
    while (query_i64(pg, "SELECT count(*) FROM orders WHERE status = 'PENDING'") > 0 &&
           shop_now_ms() < until)
        shop_sleep_ms(50);
    const char *lag_sql[] = {
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM"
        " COALESCE(confirmed_at, cancelled_at) - created_at) * 1e6) FROM orders",
        "SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM"
        " COALESCE(confirmed_at, cancelled_at) - created_at) * 1e6) FROM orders",
        "SELECT max(extract(epoch FROM COALESCE(confirmed_at, cancelled_at) - created_at) * 1e6)"
        " FROM orders"};
    int64_t lag[3];
    for (int i = 0; i < 3; i++)
        lag[i] = query_i64(pg, lag_sql[i]);
    int64_t confirmed = query_i64(pg, "SELECT count(*) FROM orders WHERE status = 'CONFIRMED'");
    PQfinish(pg);
    printf("| %-5s | %6d | %5.1f%% | %8.0f | %7.2f | %7.2f | %7.2f | %8lld | %7.2f | %7.2f | "
           "%7.2f |\n",
           arch, total, 100.0 * ok / (total ? total : 1), ok / secs, all[total / 2] / 1000.0,
           all[(int)(total * 0.99)] / 1000.0, all[total - 1] / 1000.0, (long long)confirmed,
           lag[0] / 1000.0, lag[1] / 1000.0, lag[2] / 1000.0);
    fflush(stdout);
    free(all);
    free(cl);
    shop_stack_stop(&st);
    return 0;
}

int main(int argc, char **argv)
{
    if (shop_version_asked(argc, argv, "async-bench"))
        return 0;
    bench_cfg cfg = {.orders = 2000, .clients = 4, .rate = 500};
    static const struct option opts[] = {{"orders", required_argument, NULL, 'n'},
                                         {"clients", required_argument, NULL, 'c'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'n')
            cfg.orders = atoi(optarg);
        else if (ch == 'c')
            cfg.clients = atoi(optarg);
        else if (ch == 'r')
            cfg.rate = atoi(optarg);
        else {
            printf("usage: async-bench [--orders N] [--clients C] [--rate R per second]\n"
                   "Runs sync then async under the same paced load and prints one row each.\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    if (cfg.orders <= 0 || cfg.clients <= 0 || cfg.rate <= 0 || cfg.orders < cfg.clients) {
        fprintf(stderr, "async-bench: orders >= clients > 0 and rate > 0\n");
        return 2;
    }
    cfg.orders -= cfg.orders % cfg.clients;
    printf("%d orders, %d clients, %d orders/s offered; latency from each order's due time (ms)\n",
           cfg.orders, cfg.clients, cfg.rate);
    printf("| arch  | orders | accept | orders/s | place p50 | p99 | max | confirmed | "
           "to final p50 | p99 | max |\n");
    printf("|-------|--------|--------|----------|-----------|-----|-----|-----------|----------"
           "----|-----|-----|\n");
    if (run("sync", &cfg) != 0 || run("async", &cfg) != 0)
        return 1;
    return 0;
}
