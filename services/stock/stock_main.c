/* shop-stock: the goods/stock daemon (sync architecture: RPC only). */
#include "rpc/log.h"
#include "services/common/svc_daemon.h"
#include "services/stock/stock_logic.h"
#include "services/stock/stock_rpc.h"

static int start(shop_daemon *d)
{
    rpc_error err;
    if (stock_rpc_register(d, &err) != RPC_OK) {
        shop_error("register failed error=\"%s\"", err.message);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const shop_daemon_spec spec = {
        .prog = "shop-stock",
        .service = "stock",
        .env = "SHOP_STOCK",
        .default_listen = "tcp://127.0.0.1:7302",
        .about = "The goods/stock service: shop.stock.StockService (Deduct, Restore, GetStock)\n"
                 "on its own database, stock_db.",
        .setup = stock_logic_prepare,
        .start = start,
    };
    return shop_daemon_main(&spec, argc, argv);
}
