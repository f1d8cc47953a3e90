/* shop-order: the order daemon. With --arch sync (the architecture before the
 * refactor) PlaceOrder calls the stock and coupon services over RPC, and a
 * background worker closes unpaid orders and delivers compensations. */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "services/common/svc_outbox_arch.h"
#include "services/order/order_async.h"
#include "services/order/order_async_rpc.h"
#include "services/order/order_logic.h"
#include "services/order/order_svc.h"

enum {
    OPT_STOCK = 0x200,
    OPT_COUPON,
    OPT_PAY_WINDOW,
    OPT_MEMBER_TIMEOUT,
    OPT_CLOSE_INTERVAL,
    OPT_ARCH,
    OPT_PUBLISH,
};

static const char *cli_stock, *cli_coupon, *cli_pay_window, *cli_member_timeout,
    *cli_close_interval, *cli_arch, *cli_publish;

static int extra_flag(int opt, const char *arg)
{
    const char **slot[] = {&cli_stock,          &cli_coupon, &cli_pay_window, &cli_member_timeout,
                           &cli_close_interval, &cli_arch,   &cli_publish};
    if (svc_arch_flag(opt, arg))
        return 1;
    if (opt < OPT_STOCK || opt > OPT_PUBLISH)
        return 0;
    *slot[opt - OPT_STOCK] = arg;
    return 1;
}

static void extra_usage(FILE *out, const char *env)
{
    svc_arch_usage(out, env);
    fprintf(out,
            "      --pay-window-level N  async: the pay window as a delay level 1..18\n"
            "      --stock URL      the stock service [$SHOP_ORDER_STOCK,\n"
            "                       default tcp://127.0.0.1:7302]\n"
            "      --coupon URL     the coupon service [$SHOP_ORDER_COUPON,\n"
            "                       default tcp://127.0.0.1:7303]\n"
            "      --pay-window-ms MS  unpaid orders are closed after this\n"
            "                       [$SHOP_ORDER_PAY_WINDOW_MS, default 1800000 = 30 min]\n"
            "      --member-timeout-ms MS  cap on each member call, within the caller's\n"
            "                       deadline [$SHOP_ORDER_MEMBER_TIMEOUT_MS, default 2000]\n"
            "      --close-interval-ms MS  period of the unpaid-order close scan\n"
            "                       [$SHOP_ORDER_CLOSE_INTERVAL_MS, default 1000]\n"
            "      --publish outbox|txmsg  async: order.placed through the outbox (default)\n"
            "                       or as a transactional message (half, order row,\n"
            "                       commit; check-back from order_db) [$SHOP_ORDER_PUBLISH]\n");
}

static order_svc svc;

static int open_channel(rpc_channel **ch, const char *url, int attempts)
{
    rpc_channel_opts o = {.default_timeout_ms = 2000,
                          .retry = {.max_attempts = attempts, .initial_backoff_ms = 20}};
    rpc_error err;
    if (rpc_channel_open(ch, url, &o, &err) != RPC_OK) {
        shop_log_error("cannot dial url=%s error=\"%s\"", url, err.message);
        return -1;
    }
    /* Members normally run already: connect before taking orders, so the
     * first PlaceOrder does not fail fast for a connection still in progress. */
    for (int64_t until = shop_now_ms() + 1000; shop_now_ms() < until;) {
        if (rpc_channel_connected(*ch) > 0)
            return 0;
        shop_sleep_ms(5);
    }
    shop_log_warn("member not reachable yet url=%s", url);
    return 0;
}

static int start(shop_daemon *d)
{
    svc.d = d;
    const char *arch = shop_daemon_str(d, "ARCH", cli_arch, "sync");
    d->arch = arch;
    if (strcmp(arch, "async") == 0)
        return order_async_daemon_start(&svc, cli_pay_window, cli_publish);
    if (strcmp(arch, "sync") != 0) {
        shop_log_error("unsupported architecture arch=%s hint=\"this build knows --arch sync\"",
                       arch);
        return -1;
    }
    svc.stock_url = shop_daemon_str(d, "STOCK", cli_stock, "tcp://127.0.0.1:7302");
    svc.coupon_url = shop_daemon_str(d, "COUPON", cli_coupon, "tcp://127.0.0.1:7303");
    if (shop_daemon_i64(d, "--pay-window-ms", "PAY_WINDOW_MS", cli_pay_window, 1800000, 0,
                        INT64_C(31536000000), &svc.pay_window_ms) != 0 ||
        shop_daemon_i64(d, "--member-timeout-ms", "MEMBER_TIMEOUT_MS", cli_member_timeout, 2000, 1,
                        600000, &svc.member_timeout_ms) != 0 ||
        shop_daemon_i64(d, "--close-interval-ms", "CLOSE_INTERVAL_MS", cli_close_interval, 1000, 10,
                        3600000, &svc.close_interval_ms) != 0)
        return -1;
    /* The placing flow may retry a lost connection once; the background
     * worker has its own backoff and never blocks on a member that is down. */
    if (open_channel(&svc.stock, svc.stock_url, 2) != 0 ||
        open_channel(&svc.coupon, svc.coupon_url, 2) != 0 ||
        open_channel(&svc.stock_bg, svc.stock_url, 1) != 0 ||
        open_channel(&svc.coupon_bg, svc.coupon_url, 1) != 0)
        return -1;
    rpc_error err;
    if (order_rpc_register(&svc, &err) != RPC_OK) {
        shop_log_error("register failed error=\"%s\"", err.message);
        return -1;
    }
    if (order_background_start(&svc) != 0) {
        shop_log_error("cannot start the background worker");
        return -1;
    }
    shop_log_info("sync architecture stock=%s coupon=%s pay_window_ms=%lld member_timeout_ms=%lld",
                  svc.stock_url, svc.coupon_url, (long long)svc.pay_window_ms,
                  (long long)svc.member_timeout_ms);
    return 0;
}

static void stop(shop_daemon *d)
{
    (void)d;
    order_async_daemon_stop();
    order_background_stop(&svc);
    rpc_channel *chs[] = {svc.stock, svc.coupon, svc.stock_bg, svc.coupon_bg};
    for (size_t i = 0; i < sizeof chs / sizeof chs[0]; i++)
        if (chs[i] != NULL)
            rpc_channel_close(chs[i]);
}

int main(int argc, char **argv)
{
    static const struct option extra[] = {
        {"stock", required_argument, NULL, OPT_STOCK},
        {"coupon", required_argument, NULL, OPT_COUPON},
        {"pay-window-ms", required_argument, NULL, OPT_PAY_WINDOW},
        {"member-timeout-ms", required_argument, NULL, OPT_MEMBER_TIMEOUT},
        {"close-interval-ms", required_argument, NULL, OPT_CLOSE_INTERVAL},
        {"arch", required_argument, NULL, OPT_ARCH},
        {"publish", required_argument, NULL, OPT_PUBLISH},
        SVC_ASYNC_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    static const shop_daemon_spec spec = {
        .prog = "shop-order",
        .service = "order",
        .env = "SHOP_ORDER",
        .default_listen = "tcp://127.0.0.1:7301",
        .default_metrics = "http://127.0.0.1:9301",
        .about = "The order service: shop.order.OrderService (PlaceOrder, PayOrder, GetOrder,\n"
                 "CancelOrder) on its own database, order_db.",
        .setup = order_async_prepare, /* order_logic_prepare + the async statements */
        .extra_conns = 1,             /* the background worker */
        .extra_opts = extra,
        .extra_flag = extra_flag,
        .extra_usage = extra_usage,
        .start = start,
        .stop = stop,
    };
    return shop_daemon_main(&spec, argc, argv);
}
