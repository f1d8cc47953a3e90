/* The coupon service's RPC face: registers shop.coupon.CouponService handlers
 * (thin adapters over coupon_logic) on a daemon's server. */
#ifndef SHOP_COUPON_RPC_H
#define SHOP_COUPON_RPC_H

#include "services/common/svc_daemon.h"
#include "shop_coupon.rpc.h"

rpc_status coupon_rpc_register(shop_daemon *d, rpc_error *err);

#endif
