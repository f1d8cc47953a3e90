/* The stock service's RPC face: registers shop.stock.StockService handlers
 * (thin adapters over stock_logic) on a daemon's server. */
#ifndef SHOP_STOCK_RPC_H
#define SHOP_STOCK_RPC_H

#include "services/common/svc_daemon.h"
#include "shop_stock.rpc.h"

rpc_status stock_rpc_register(shop_daemon *d, rpc_error *err);

#endif
