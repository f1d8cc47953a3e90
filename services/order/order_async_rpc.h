/* shop-order --arch async: shop.order.OrderService served by the async flows
 * (order_async.h) and the async runtime (relay + consumer) in the daemon. */
#ifndef SHOP_ORDER_ASYNC_RPC_H
#define SHOP_ORDER_ASYNC_RPC_H

#include "services/order/order_svc.h"

/* Resolves the async flags (pay window from `pay_window_cli`, else
 * --pay-window-level, else $SHOP_ORDER_PAY_WINDOW_MS, default 30 min; how
 * order.placed is published from `publish_cli`, else $SHOP_ORDER_PUBLISH:
 * outbox, the default, or txmsg), starts the runtime and registers the
 * handlers. 0 or -1. */
int order_async_daemon_start(order_svc *svc, const char *pay_window_cli, const char *publish_cli);

/* Stops the runtime (after the RPC drain); a no-op when not started. */
void order_async_daemon_stop(void);

#endif
