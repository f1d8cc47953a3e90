/* The order service's business functions, independent of any transport: the
 * sync PlaceOrder flow and the async consumers both call these.
 *
 * Every function takes a connection to order_db (statements prepared by
 * order_logic_prepare) and returns a gRPC status code with `msg` filled for
 * anything but RPC_OK. Each is one atomic statement, so it also works inside
 * a transaction the caller opened (e.g. to add outbox rows). State changes
 * are conditional updates: of two racing changes (pay and close, confirm and
 * cancel) exactly one wins and the other gets FAILED_PRECONDITION. */
#ifndef SHOP_ORDER_LOGIC_H
#define SHOP_ORDER_LOGIC_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* The same numbers as shop.order.OrderStatus. */
typedef enum order_status {
    ORDER_UNKNOWN = 0,
    ORDER_PENDING = 1,
    ORDER_CONFIRMED = 2,
    ORDER_PAID = 3,
    ORDER_CANCELLED = 4,
    ORDER_CLOSED = 5,
} order_status;

#define ORDER_REQUEST_ID_MAX 64

typedef struct shop_order {
    int64_t order_id;
    char request_id[ORDER_REQUEST_ID_MAX + 1];
    int64_t user_id;
    int64_t goods_id;
    int32_t count;
    int64_t coupon_id; /* 0 = none */
    int64_t amount_cents;
    int status; /* order_status */
    char reason[200];
    int fail_code; /* gRPC status the order failed with, 0 if none */
    int64_t pay_by_us;
    /* the timeline, Unix microseconds, 0 = not reached */
    int64_t accepted_us, stock_us, coupon_us, confirmed_us, cancelled_us, closed_us, paid_us;
    char trace_id[33]; /* W3C trace id of the order ("" for orders from before traces) */
} shop_order;

typedef struct order_place_args {
    const char *request_id; /* "" or NULL: not idempotent */
    int64_t user_id;
    int64_t goods_id;
    int32_t count;
    int64_t coupon_id; /* 0 = none */
    int64_t pay_window_ms;
} order_place_args;

/* What a cancellation owes the members: Restore calls persisted with it. */
enum { ORDER_COMP_STOCK = 1, ORDER_COMP_COUPON = 2 };

typedef struct order_comp {
    int64_t id;
    int64_t order_id;
    int target; /* ORDER_COMP_STOCK or ORDER_COMP_COUPON */
    int64_t goods_id;
    int32_t count;
    int64_t coupon_id;
    int attempts;
    char trace_id[33]; /* the order's trace ("" for orders from before traces) */
} order_comp;

const char *order_status_name(int status);

rpc_status order_logic_prepare(PGconn *conn, shop_error *err);

/* Inserts the order PENDING with pay_by = now + pay window. A repeated
 * request_id inserts nothing and returns the first order with *duplicate. */
/* RPC_OK when `a` is a valid order, else INVALID_ARGUMENT with `msg`. */
rpc_status order_place_check(const order_place_args *a, shop_error *err);

rpc_status order_place(PGconn *conn, const order_place_args *args, shop_order *out, int *duplicate,
                       shop_error *err);

rpc_status order_get(PGconn *conn, int64_t order_id, shop_order *out, shop_error *err);
rpc_status order_get_by_request(PGconn *conn, const char *request_id, shop_order *out,
                                shop_error *err);

/* Both members succeeded: PENDING -> CONFIRMED (a PAID order stays PAID and
 * is marked confirmed), with the amount and the members' step times. */
rpc_status order_confirm(PGconn *conn, int64_t order_id, int64_t amount_cents, int64_t stock_us,
                         int64_t coupon_us, shop_order *out, shop_error *err);

/* A member failed while placing: PENDING (or PAID but not yet confirmed) ->
 * CANCELLED with `reason` and `fail_code`, persisting the compensations in
 * `comp` (ORDER_COMP_* bits) in the same statement. */
rpc_status order_fail(PGconn *conn, int64_t order_id, const char *reason, int fail_code, int comp,
                      shop_order *out, shop_error *err);

/* The user cancels: PENDING/CONFIRMED -> CANCELLED, owing both restores. */
rpc_status order_cancel(PGconn *conn, int64_t order_id, const char *reason, shop_order *out,
                        shop_error *err);

/* PENDING/CONFIRMED -> PAID while the pay window is open; otherwise
 * FAILED_PRECONDITION saying why, NOT_FOUND for an unknown order. */
rpc_status order_pay(PGconn *conn, int64_t order_id, shop_order *out, shop_error *err);

/* Closes up to `limit` unpaid orders past their pay window, persisting the
 * restores they owe. *closed is how many were closed. */
rpc_status order_close_expired(PGconn *conn, int limit, int *closed, shop_error *err);

/* Compensations due for delivery (at most `max`). */
rpc_status order_comp_due(PGconn *conn, order_comp *rows, int max, int *n, shop_error *err);

/* The members acknowledged these restores (n <= 64, ids of order_comp_due). */
rpc_status order_comp_done(PGconn *conn, const int64_t *ids, int n, shop_error *err);

/* Delivery failed: try again after `backoff_ms`. */
rpc_status order_comp_retry(PGconn *conn, int64_t id, int64_t backoff_ms, const char *error,
                            shop_error *err);

/* Compensations not yet delivered. */
rpc_status order_comp_pending(PGconn *conn, int64_t *n, shop_error *err);

#endif
