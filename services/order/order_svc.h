/* The order daemon's shared state and its parts: the RPC handlers
 * (order_rpc.c), the sync PlaceOrder flow (order_sync.c) and the background
 * worker that closes unpaid orders and delivers compensations
 * (order_background.c). */
#ifndef SHOP_ORDER_SVC_H
#define SHOP_ORDER_SVC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "services/common/svc_daemon.h"
#include "services/order/order_logic.h"
#include "shop_order.rpc.h"

typedef struct order_svc {
    shop_daemon *d;
    const char *stock_url, *coupon_url;
    rpc_channel *stock, *coupon;       /* the placing flow's calls */
    rpc_channel *stock_bg, *coupon_bg; /* compensations: no channel retries */
    int64_t pay_window_ms;
    int64_t member_timeout_ms; /* cap per member call within the caller's deadline */
    int64_t close_interval_ms;
    /* the background worker */
    pthread_t bg;
    int bg_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int stop;
    int kick;
} order_svc;

/* The sync PlaceOrder: order PENDING -> Stock.Deduct -> Coupon.Use ->
 * CONFIRMED, compensating on failure. */
rpc_status order_sync_place(order_svc *svc, rpc_ctx *ctx, const Shop__Order__PlaceOrderRequest *req,
                            Shop__Order__PlaceOrderReply *reply);

/* The order as a reply message, allocated on the call. */
Shop__Order__Order *order_to_msg(rpc_ctx *ctx, const shop_order *o);

rpc_status order_rpc_register(order_svc *svc, rpc_error *err);

/* Starts / stops the background worker; order_background_kick wakes it
 * (e.g. after compensations were persisted). */
int order_background_start(order_svc *svc);
void order_background_kick(order_svc *svc);
void order_background_stop(order_svc *svc);

#endif
