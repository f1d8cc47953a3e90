/* shopflow up: the whole shop on this machine until Ctrl-C. Starts the
 * private PostgreSQL, recreates the three databases with fixtures, starts
 * shop-stock, shop-coupon and shop-order (with --arch async, mq-broker and
 * mq-delayd first), prints their addresses, and stops them all (a SIGTERM
 * drain) on Ctrl-C or SIGTERM. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/shopflow/commands.h"
#include "services/stack/nats_cluster.h"
#include "services/stack/shop_stack.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: shopflow up [--arch sync|async] [--mq broker|nats] [--goods N] [--stock S]\n"
            "                   [--users U] ...\n\n"
            "Starts PostgreSQL, loads fixtures (goods 1..N with S units each; one coupon\n"
            "per user, coupon_id = user_id = 1..U), starts the services and prints their\n"
            "addresses. Ctrl-C stops them all.\n\n"
            "  --arch sync|async     sync: PlaceOrder calls stock and coupon; async: through\n"
            "                        mq-broker and mq-delayd (on port-base+3, +4, +5) [sync]\n"
            "  --mq broker|nats      async: the embedded mq-broker, or a three-node loopback\n"
            "                        nats-server cluster with JetStream (R3 streams) in its\n"
            "                        place; mq-delayd stays in front of either [broker]\n"
            "  --goods N             goods to create [100]\n"
            "  --stock S             units of each goods [1000]\n"
            "  --users U             users, one coupon each [1000]\n"
            "  --price-cents P       unit price [1999]\n"
            "  --discount-cents D    coupon value [300]\n"
            "  --port-base P         order, stock, coupon on P, P+1, P+2 [7301]; 0: any free\n"
            "                        (GET /metrics of order, stock, coupon, broker, delayd\n"
            "                        on http://127.0.0.1:P+6 .. P+10)\n"
            "  --workers N           handler threads (and database connections) per service\n"
            "  --pay-window-ms MS    unpaid orders are closed after this [1800000]\n"
            "  --keep                keep the databases as they are (no fixtures)\n"
            "  --log-dir DIR         daemon logs to DIR/shop-<name>.log instead of stderr\n"
            "  --db-prefix P         databases P order_db, P stock_db, P coupon_db [none]\n");
}

static int parse_i64(const char *flag, const char *v, int64_t min, int64_t *out)
{
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || x < min) {
        fprintf(stderr, "shopflow up: bad %s '%s' (an integer >= %lld)\n", flag, v, (long long)min);
        return -1;
    }
    *out = x;
    return 0;
}

enum {
    GOODS = 0x100,
    STOCK,
    USERS,
    PRICE,
    DISCOUNT,
    PORTS,
    WORKERS,
    PAYWIN,
    KEEP,
    LOGS,
    MQ,
    ARCH,
    PREFIX
};

/* Takes one numeric option into its field of `o`. */
static int numeric_option(int c, const char *arg, shop_stack_opts *o)
{
    int64_t v = 0;
    switch (c) {
    case GOODS:
        return parse_i64("--goods", arg, 1, &o->goods);
    case STOCK:
        return parse_i64("--stock", arg, 0, &o->stock);
    case USERS:
        return parse_i64("--users", arg, 0, &o->users);
    case PRICE:
        return parse_i64("--price-cents", arg, 0, &o->price_cents);
    case DISCOUNT:
        return parse_i64("--discount-cents", arg, 0, &o->discount_cents);
    case PAYWIN:
        return parse_i64("--pay-window-ms", arg, 1, &o->pay_window_ms);
    case PORTS:
        if (parse_i64("--port-base", arg, 0, &v) != 0 || v > 65533)
            return -1;
        o->port_base = (int)v;
        return 0;
    case WORKERS:
        if (parse_i64("--workers", arg, 1, &v) != 0 || v > 256)
            return -1;
        o->workers = (int)v;
        return 0;
    default:
        return -1;
    }
}

/* 0: go on; 1: help printed; -1: bad usage. */
static int parse(int argc, char **argv, shop_stack_opts *o)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"arch", required_argument, NULL, ARCH},
        {"mq", required_argument, NULL, MQ},
        {"goods", required_argument, NULL, GOODS},
        {"stock", required_argument, NULL, STOCK},
        {"users", required_argument, NULL, USERS},
        {"price-cents", required_argument, NULL, PRICE},
        {"discount-cents", required_argument, NULL, DISCOUNT},
        {"port-base", required_argument, NULL, PORTS},
        {"workers", required_argument, NULL, WORKERS},
        {"pay-window-ms", required_argument, NULL, PAYWIN},
        {"keep", no_argument, NULL, KEEP},
        {"log-dir", required_argument, NULL, LOGS},
        {"db-prefix", required_argument, NULL, PREFIX},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 1;
        } else if (c == ARCH) {
            o->arch = optarg;
        } else if (c == MQ) {
            o->mq = optarg;
        } else if (c == KEEP) {
            o->keep_data = 1;
        } else if (c == LOGS) {
            o->log_dir = optarg;
        } else if (c == PREFIX) {
            o->db_prefix = optarg;
        } else if (c == '?' || numeric_option(c, optarg, o) != 0) {
            if (c == '?')
                usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shopflow up: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (strcmp(o->arch, "sync") != 0 && strcmp(o->arch, "async") != 0) {
        fprintf(stderr, "shopflow up: unknown --arch %s (sync or async)\n", o->arch);
        return -1;
    }
    if (o->mq != NULL && strcmp(o->mq, "broker") != 0 && strcmp(o->mq, "nats") != 0) {
        fprintf(stderr, "shopflow up: unknown --mq %s (broker or nats)\n", o->mq);
        return -1;
    }
    if (o->mq != NULL && strcmp(o->mq, "nats") == 0 && strcmp(o->arch, "async") != 0) {
        fprintf(stderr, "shopflow up: --mq nats needs --arch async\n");
        return -1;
    }
    return 0;
}

/* Waits for Ctrl-C / SIGTERM, or for a daemon to die on its own. */
static void wait_for_stop(shop_stack *st, const sigset_t *set)
{
    for (;;) {
        struct timespec ts = {0, 200 * 1000000L};
        if (sigtimedwait(set, NULL, &ts) > 0)
            return;
        int async = strcmp(st->opts.arch, "async") == 0;
        if (shop_stack_poll(st) < SHOP_STACK_NPROCS + (async ? SHOP_STACK_NMQ : 0)) {
            for (int i = 0; i < SHOP_STACK_NPROCS; i++)
                if (st->procs[i].pid == 0)
                    fprintf(stderr, "shopflow up: shop-%s exited (status %d); stopping\n",
                            st->procs[i].name, st->procs[i].last_status);
            for (int i = 0; i < SHOP_STACK_NMQ && async; i++)
                if (st->mq[i].pid == 0 && !(i == SHOP_STACK_BROKER && st->nats != NULL))
                    fprintf(stderr, "shopflow up: mq-%s exited (status %d); stopping\n",
                            st->mq[i].name, st->mq[i].last_status);
            return;
        }
    }
}

static void print_stack(const shop_stack *st, const shop_stack_opts *o)
{
    printf("postgres  %s\n", st->pg_url);
    for (int i = 0; i < SHOP_STACK_NPROCS; i++)
        printf("%-9s pid=%d url=%s db=%s metrics=%s/metrics\n", st->procs[i].name,
               (int)st->procs[i].pid, st->procs[i].url, st->procs[i].db, st->procs[i].metrics_url);
    if (st->nats != NULL)
        printf("broker    JetStream, %d nats-server nodes: url=%s data=%s\n"
               "delayd    pid=%d url=%s data=%s metrics=%s/metrics\n",
               st->nats->n, st->mq[SHOP_STACK_BROKER].url, st->nats->dir,
               (int)st->mq[SHOP_STACK_DELAYD].pid, st->mq[SHOP_STACK_DELAYD].url, st->delay_dir,
               st->mq[SHOP_STACK_DELAYD].metrics_url);
    else if (strcmp(o->arch, "async") == 0)
        printf("broker    pid=%d url=%s deliveries=%s data=%s metrics=%s/metrics\n"
               "delayd    pid=%d url=%s data=%s metrics=%s/metrics\n",
               (int)st->mq[SHOP_STACK_BROKER].pid, st->mq[SHOP_STACK_BROKER].url, st->mq_pub_url,
               st->mq_dir, st->mq[SHOP_STACK_BROKER].metrics_url,
               (int)st->mq[SHOP_STACK_DELAYD].pid, st->mq[SHOP_STACK_DELAYD].url, st->delay_dir,
               st->mq[SHOP_STACK_DELAYD].metrics_url);
    if (!o->keep_data)
        printf("fixtures  goods=1..%lld stock=%lld price_cents=%lld coupons=users=1..%lld "
               "discount_cents=%lld\n",
               (long long)o->goods, (long long)o->stock, (long long)o->price_cents,
               (long long)o->users, (long long)o->discount_cents);
    printf("arch=%s ready; try:\n  shopflow call --wait %s shop.order.OrderService/PlaceOrder "
           "'request_id=r1 user_id=1 goods_id=1 count=1 coupon_id=1'\n"
           "  shopflow call --wait %s shop.order.OrderService/PayOrder 'order_id=1'\n"
           "Ctrl-C stops everything.\n",
           o->arch, st->procs[SHOP_STACK_ORDER].url, st->procs[SHOP_STACK_ORDER].url);
    fflush(stdout);
}

int cmd_up(int argc, char **argv)
{
    shop_stack_opts o = shop_stack_defaults();
    o.port_base = 7301;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    /* Blocked before the children fork; they unblock their own. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);

    shop_stack st;
    shop_error err = {0};
    if (shop_stack_start(&st, &o, &err) != 0) {
        fprintf(stderr, "shopflow up: %s\n", err.message);
        return 1;
    }
    print_stack(&st, &o);
    wait_for_stop(&st, &set);
    int stopped = shop_stack_stop(&st);
    printf("stopped%s\n", stopped == 0 ? "" : " (some daemon did not exit cleanly)");
    return stopped == 0 ? 0 : 1;
}
