/* shop-stock: the goods/stock daemon: RPC, and with --arch async the order.* consumer. */
#include "base/log.h"
#include "services/common/svc_daemon.h"
#include "services/common/svc_outbox_arch.h"
#include "services/stock/stock_consumer.h"
#include "services/stock/stock_logic.h"
#include "services/stock/stock_rpc.h"

static int start(shop_daemon *d)
{
    rpc_error err;
    if (stock_rpc_register(d, &err) != RPC_OK) {
        shop_log_error("register failed error=\"%s\"", err.message);
        return -1;
    }
    return svc_arch_member_start(d, stock_consumer_config);
}

int main(int argc, char **argv)
{
    static const shop_daemon_spec spec = {
        .prog = "shop-stock",
        .service = "stock",
        .env = "SHOP_STOCK",
        .default_listen = "tcp://127.0.0.1:7302",
        .default_metrics = "http://127.0.0.1:9302",
        .about = "The goods/stock service: shop.stock.StockService (Deduct, Restore, GetStock)\n"
                 "on its own database, stock_db.",
        .setup = stock_logic_prepare,
        .start = start,
        .stop = svc_arch_member_stop,
        .extra_opts = svc_arch_opts,
        .extra_flag = svc_arch_flag,
        .extra_usage = svc_arch_usage,
    };
    return shop_daemon_main(&spec, argc, argv);
}
