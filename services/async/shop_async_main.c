/* shop-async: the async side of one service as its own process: the outbox
 * relay and the consumer of `order`, `stock` or `coupon` (plus, for order,
 * the bridge from mq-delayd to the broker). The services' daemons run the
 * same code with --arch async; this runner lets tests and operators kill
 * and restart a service's consumer on its own. mq-delayd hands the due
 * order.timeout messages straight to the broker (its --broker). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/mq_delay.h"
#include "base/log.h"
#include "base/status.h"
#include "services/common/svc_flags.h"
#include "services/common/svc_signal.h"
#include "services/coupon/coupon_consumer.h"
#include "services/order/order_async.h"
#include "services/pg/shop_pg.h"
#include "services/stock/stock_consumer.h"
#include "base/version.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: shop-async order|stock|coupon [options]\n"
        "Runs the async side of one service: its outbox relay and its consumer.\n\n"
        "  --pg CONNINFO         the service database (SHOP_ASYNC_PG; default: the\n"
        "                        configured server's <service>_db, created and migrated)\n"
        "  --mq URL              broker requests (MQ_URL, default " MQ_DEFAULT_URL ")\n"
        "  --mq-pub URL          broker deliveries (MQ_PUB_URL, default " MQ_DEFAULT_PUB_URL ")\n"
        "  --delay URL           mq-delayd (MQ_DELAY_URL, default " MQ_DELAY_URL_DEFAULT ")\n"
        "  --pay-window-ms N     order: pay window (SHOP_ASYNC_PAY_WINDOW_MS, default 1800000)\n"
        "  --dup-publish         test switch: publish every event twice\n"
        "  --dup-deliver         test switch: handle every delivery twice\n"
        "  --crash-after-commits N  test switch: exit 99 after the N-th commit, before\n"
        "                        its ack (SHOP_ASYNC_CRASH_AFTER_COMMITS)\n"
        "  --help                this text\n");
}

typedef struct opts {
    const char *role, *pg, *mq, *pub, *delay, *window, *crash;
    int dup_publish, dup_deliver;
} opts;

static int parse(int argc, char **argv, opts *o)
{
    static const struct option longopts[] = {{"pg", required_argument, NULL, 'p'},
                                             {"mq", required_argument, NULL, 'm'},
                                             {"mq-pub", required_argument, NULL, 'P'},
                                             {"delay", required_argument, NULL, 'd'},
                                             {"pay-window-ms", required_argument, NULL, 'w'},
                                             {"dup-publish", no_argument, NULL, 'D'},
                                             {"dup-deliver", no_argument, NULL, 'R'},
                                             {"crash-after-commits", required_argument, NULL, 'c'},
                                             {"help", no_argument, NULL, 'h'},
                                             {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            o->pg = optarg;
            break;
        case 'm':
            o->mq = optarg;
            break;
        case 'P':
            o->pub = optarg;
            break;
        case 'd':
            o->delay = optarg;
            break;
        case 'w':
            o->window = optarg;
            break;
        case 'D':
            o->dup_publish = 1;
            break;
        case 'R':
            o->dup_deliver = 1;
            break;
        case 'c':
            o->crash = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    if (optind + 1 != argc)
        return -1;
    o->role = argv[optind];
    if (strcmp(o->role, "order") != 0 && strcmp(o->role, "stock") != 0 &&
        strcmp(o->role, "coupon") != 0)
        return -1;
    return 0;
}

/* The database: --pg as given, else <role>_db on the configured server,
 * created and migrated. */
static int database(const opts *o, char *out, int outlen)
{
    char db[64], sql[512];
    shop_error err = {0};
    const char *pg = shop_flag_str(o->pg, "SHOP_ASYNC_PG", NULL);
    if (pg != NULL) {
        snprintf(out, (size_t)outlen, "%s", pg);
        return 0;
    }
    snprintf(db, sizeof db, "%s_db", o->role);
    shop_pg_sql_dir(o->role, sql, sizeof sql);
    if (shop_pg_ensure_database(NULL, db, sql, &err) != RPC_OK ||
        shop_pg_conninfo(NULL, db, out, (size_t)outlen, &err) != RPC_OK) {
        fprintf(stderr, "shop-async: %s\n", err.message);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (shop_version_asked(argc, argv, "shop-async"))
        return 0;
    opts o = {0};
    char conninfo[1024];
    shop_error err = {0};
    int64_t window = 0, crash = 0;
    if (parse(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    if (shop_flag_i64("shop-async", "--pay-window-ms", o.window, "SHOP_ASYNC_PAY_WINDOW_MS",
                      ORDER_PAY_WINDOW_DEFAULT_MS, 1, 40LL * 24 * 3600 * 1000, &window) != 0 ||
        shop_flag_i64("shop-async", "--crash-after-commits", o.crash,
                      "SHOP_ASYNC_CRASH_AFTER_COMMITS", 0, 0, 1000000000, &crash) != 0)
        return 2;
    char comp[32];
    snprintf(comp, sizeof comp, "shop-async-%s", o.role);
    shop_log_init(comp);
    shop_signals_block();
    if (database(&o, conninfo, sizeof conninfo) != 0)
        return 1;
    const char *mq = shop_flag_str(o.mq, "MQ_URL", MQ_DEFAULT_URL);
    const char *pub = shop_flag_str(o.pub, "MQ_PUB_URL", MQ_DEFAULT_PUB_URL);
    order_async *oa = NULL;
    svc_member *m = NULL;
    rpc_status st;
    if (strcmp(o.role, "order") == 0) {
        order_async_cfg c = {
            .conninfo = conninfo,
            .mq_url = mq,
            .pub_url = pub,
            .delay_url = shop_flag_str(o.delay, "MQ_DELAY_URL", MQ_DELAY_URL_DEFAULT),
            .pay_window_ms = window,
            .dup_publish = o.dup_publish,
            .dup_deliver = o.dup_deliver,
            .crash_after_commits = (int)crash,
        };
        st = order_async_start(&c, &oa, &err);
    } else {
        svc_member_cfg c = {
            .config = strcmp(o.role, "stock") == 0 ? stock_consumer_config : coupon_consumer_config,
            .conninfo = conninfo,
            .mq_url = mq,
            .pub_url = pub,
            .dup_publish = o.dup_publish,
            .dup_deliver = o.dup_deliver,
            .crash_after_commits = (int)crash,
        };
        st = svc_member_start(&c, &m, &err);
    }
    if (st != RPC_OK) {
        shop_log_error("start failed status=%s error=\"%s\"", rpc_status_name(st), err.message);
        return 1;
    }
    shop_log_info("ready role=%s mq=%s", o.role, mq);
    int sig;
    while ((sig = shop_signals_wait(-1)) == 0 || sig == 1) /* SIGHUP (1): keep running */
        ;
    shop_log_info("draining signal=%d", sig);
    order_async_stop(oa);
    svc_member_stop(m);
    shop_log_info("stopped");
    return 0;
}
