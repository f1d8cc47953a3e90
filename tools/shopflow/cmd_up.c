/* shopflow up: the whole shop on this machine until Ctrl-C. Starts the
 * private PostgreSQL, recreates the three databases with fixtures, starts
 * shop-stock, shop-coupon and shop-order (with --arch async, mq-broker and
 * mq-delayd first), prints their addresses, then supervises them
 * (up_supervisor.h: a daemon that exits is reported, restarted with
 * --restart, and the others stay up; `shopflow status|kill|fault ...` act on
 * it from other terminals through the state file of up_state.h), and stops
 * them all (a SIGTERM drain) on Ctrl-C or SIGTERM. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "services/hosts/hosts.h"
#include "services/pg/pg_ha.h"
#include "services/stack/nats_cluster.h"
#include "services/stack/shop_stack.h"
#include "tools/shopflow/commands.h"
#include "tools/shopflow/up_state.h"
#include "tools/shopflow/up_supervisor.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: shopflow up [--arch sync|async] [--mq broker|nats] [--goods N] [--stock S]\n"
        "                   [--users U] ... [--restart] [--hosts local|netns] [--db ha|local]\n\n"
        "Starts PostgreSQL, loads fixtures (goods 1..N with S units each; one coupon\n"
        "per user, coupon_id = user_id = 1..U), starts the services and prints their\n"
        "addresses, and supervises them: a daemon that exits is reported and the others\n"
        "stay up. From another terminal: shopflow status, shopflow kill|pause|resume|\n"
        "start|restart SERVICE, shopflow fault SERVICE delay=MS|drop=P|clear.\n"
        "Ctrl-C stops them all.\n\n"
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
        "  --db-prefix P         databases P order_db, P stock_db, P coupon_db [none];\n"
        "                        other commands find this stack with --prefix P\n"
        "  --restart             start a daemon that exits again (0.5 s, doubling to 30 s)\n"
        "  --hosts local|netns   netns: every daemon on its own host, a network namespace\n"
        "                        with its own address (10.231.<k>.0/24) on a private\n"
        "                        bridge, so a host's link can be cut (root only) [local]\n"
        "  --db ha|local         with --hosts netns: ha runs each service's database as a\n"
        "                        primary and a synchronous standby on hosts of their own,\n"
        "                        failed over by pg_auto_failover (its monitor on host\n"
        "                        pg-monitor); local keeps the private cluster on its\n"
        "                        Unix socket (quicker to start) [ha]\n\n"
        "exit: 0 stopped cleanly, 1 a start failed or a daemon did not exit cleanly, 2 usage\n");
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
    HOSTS,
    DB,
    ARCH,
    PREFIX,
    RESTART
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
static int parse(int argc, char **argv, shop_stack_opts *o, int *restart)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"arch", required_argument, NULL, ARCH},
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
        {"restart", no_argument, NULL, RESTART},
        {"mq", required_argument, NULL, MQ},
        {"hosts", required_argument, NULL, HOSTS},
        {"db", required_argument, NULL, DB},
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
        } else if (c == KEEP) {
            o->keep_data = 1;
        } else if (c == LOGS) {
            o->log_dir = optarg;
        } else if (c == PREFIX) {
            o->db_prefix = optarg;
        } else if (c == MQ) {
            o->mq = optarg;
        } else if (c == HOSTS) {
            o->hosts = optarg;
        } else if (c == DB) {
            o->db = optarg;
        } else if (c == RESTART) {
            *restart = 1;
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
    if (o->hosts != NULL && strcmp(o->hosts, "local") != 0 && strcmp(o->hosts, "netns") != 0) {
        fprintf(stderr, "shopflow up: unknown --hosts %s (local or netns)\n", o->hosts);
        return -1;
    }
    if (o->db != NULL && strcmp(o->db, "ha") != 0 && strcmp(o->db, "local") != 0) {
        fprintf(stderr, "shopflow up: unknown --db %s (ha or local)\n", o->db);
        return -1;
    }
    if (o->db != NULL && (o->hosts == NULL || strcmp(o->hosts, "netns") != 0)) {
        fprintf(stderr, "shopflow up: --db needs --hosts netns\n");
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

/* Supervises until Ctrl-C / SIGTERM. */
static void supervise(up_sup *sup, const sigset_t *set)
{
    for (;;) {
        struct timespec now = {0, 0};
        if (sigtimedwait(set, NULL, &now) > 0)
            return;
        up_sup_tick(sup, 100);
    }
}

static void print_stack(const shop_stack *st, const shop_stack_opts *o)
{
    printf("postgres  %s\n", st->pg_url);
    for (int i = 0; i < SHOP_STACK_NPROCS; i++)
        printf("%-9s pid=%d url=%s db=%s metrics=%s/metrics\n", st->procs[i].name,
               (int)st->procs[i].pid, st->procs[i].url, st->procs[i].db, st->procs[i].metrics_url);
    for (int i = 0; i < SHOP_STACK_NPROCS && st->pg_ha != NULL; i++)
        printf("%-9s %s (pg_auto_failover formation %s; monitor %s)\n", st->procs[i].db,
               st->procs[i].pg_url, st->procs[i].name, st->pg_ha->monitor_url);
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
    if (st->hosts != NULL)
        printf("hosts     one network namespace per daemon (shopflow%d-<name>) on bridge %s, "
               "this host %s; shopflow down --hosts netns removes what a crash leaves\n",
               st->hosts->k, st->hosts->bridge, st->hosts->gateway);
    if (!o->keep_data)
        printf("fixtures  goods=1..%lld stock=%lld price_cents=%lld coupons=users=1..%lld "
               "discount_cents=%lld\n",
               (long long)o->goods, (long long)o->stock, (long long)o->price_cents,
               (long long)o->users, (long long)o->discount_cents);
    printf("arch=%s ready; try:\n  shopflow call --wait %s shop.order.OrderService/PlaceOrder "
           "'request_id=r1 user_id=1 goods_id=1 count=1 coupon_id=1'\n"
           "  shopflow call --wait %s shop.order.OrderService/PayOrder 'order_id=1'\n"
           "  shopflow status%s%s    shopflow kill coupon    shopflow fault stock delay=200\n"
           "Ctrl-C stops everything.\n",
           o->arch, st->procs[SHOP_STACK_ORDER].url, st->procs[SHOP_STACK_ORDER].url,
           o->db_prefix[0] ? " --prefix " : "", o->db_prefix);
    fflush(stdout);
}

int cmd_up(int argc, char **argv)
{
    shop_stack_opts o = shop_stack_defaults();
    o.port_base = 7301;
    int restart = 0;
    int rc = parse(argc, argv, &o, &restart);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    char state_path[600];
    up_state_path(o.db_prefix, state_path, sizeof state_path);
    up_state prev;
    if (up_state_read(state_path, &prev, NULL) == RPC_OK) {
        fprintf(stderr,
                "shopflow up: a stack already runs with this prefix (pid %d, %s); stop it with "
                "Ctrl-C or `kill %d`, or use another --db-prefix\n",
                (int)prev.pid, state_path, (int)prev.pid);
        return 1;
    }
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
    up_sup sup;
    if (up_sup_start(&sup, &st, restart, &err) != RPC_OK) {
        fprintf(stderr, "shopflow up: %s\n", err.message);
        shop_stack_stop(&st);
        return 1;
    }
    up_state me = {.pid = getpid()};
    snprintf(me.control_url, sizeof me.control_url, "%s", sup.control_url);
    snprintf(me.arch, sizeof me.arch, "%s", o.arch);
    if (up_state_write(state_path, &me, &err) != RPC_OK) {
        fprintf(stderr, "shopflow up: %s\n", err.message);
        up_sup_stop(&sup);
        return 1;
    }
    printf("control   url=%s state=%s%s\n", sup.control_url, state_path,
           restart ? " restart=on" : "");
    print_stack(&st, &o);
    supervise(&sup, &set);
    int stopped = up_sup_stop(&sup);
    unlink(state_path);
    printf("stopped%s\n", stopped == 0 ? "" : " (some daemon did not exit cleanly)");
    return stopped == 0 ? 0 : 1;
}
