/* Internal to the checker: the rows it reads from the three databases. */
#ifndef SHOP_CHECK_DATA_H
#define SHOP_CHECK_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct check_order {
    int64_t id, goods_id, coupon_id;
    int count;
    int status; /* index into shop_order_status_names */
    int stale;  /* PENDING and past pay_by + grace */
    /* filled from the member logs */
    unsigned char deducted, stock_restored, coupon_used, coupon_restored, holds_coupon;
} check_order;

typedef struct check_log {
    int64_t order_id, ref; /* ref: goods_id or coupon_id */
    int count;
    int restore; /* 0 for DEDUCT/USE, 1 for RESTORE */
} check_log;

typedef struct check_goods {
    int64_t id, stock, initial, deducted, restored;
} check_goods;

typedef struct check_coupon {
    int64_t id, order_id; /* USED coupons only */
} check_coupon;

typedef struct check_data {
    check_order *orders; /* sorted by id */
    size_t n_orders;
    check_log *stock_log, *coupon_log; /* result = OK rows only */
    size_t n_stock_log, n_coupon_log;
    check_goods *goods;
    size_t n_goods;
    check_coupon *coupons;
    size_t n_coupons;
} check_data;

/* Reads everything. On failure returns RPC_UNAVAILABLE (a database cannot be
 * reached), RPC_INTERNAL (a query failed) or RPC_RESOURCE_EXHAUSTED, with err
 * naming the database. */
rpc_status check_data_load(check_data *d, const char *order_db, const char *stock_db,
                           const char *coupon_db, int64_t grace_ms, shop_error *err);

void check_data_free(check_data *d);

#endif
