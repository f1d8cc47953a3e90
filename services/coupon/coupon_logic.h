/* The coupon service's business functions, independent of any transport:
 * the sync RPC handlers and the async consumers both call these.
 *
 * Every function takes a connection to coupon_db (statements prepared by
 * coupon_logic_prepare) and returns a gRPC status code, with `msg` filled for
 * anything but RPC_OK. Each is atomic on its own and also works inside a
 * transaction the caller opened. */
#ifndef SHOP_COUPON_LOGIC_H
#define SHOP_COUPON_LOGIC_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct coupon_result {
    int duplicate;          /* a repeat of an earlier call: its first result */
    int restored;           /* restore: the coupon was given back */
    int64_t discount_cents; /* use: the coupon's value */
    char msg[200];
} coupon_result;

typedef struct coupon_info {
    int64_t coupon_id;
    int64_t user_id;
    int used;
    int64_t order_id; /* 0 when unused */
    int64_t discount_cents;
} coupon_info;

rpc_status coupon_logic_prepare(PGconn *conn, shop_error *err);

/* Marks `coupon_id` used by `order_id`, at most once per order. RPC_OK: used.
 * RPC_FAILED_PRECONDITION: used by another order, not this user's, or the
 * order was already compensated. RPC_NOT_FOUND: no such coupon. A repeat
 * returns the first result with `duplicate` set. */
int coupon_use(PGconn *conn, int64_t order_id, int64_t coupon_id, int64_t user_id,
               coupon_result *out);

/* Gives the coupon back if this order used it, at most once; without a use it
 * records that the order is compensated, so a late use is refused. */
int coupon_restore(PGconn *conn, int64_t order_id, int64_t coupon_id, coupon_result *out);

rpc_status coupon_get(PGconn *conn, int64_t coupon_id, coupon_info *out, shop_error *err);

/* Fixtures: one unused coupon per user, coupon_id = user_id, for users
 * first_user .. first_user+n-1, worth `discount_cents` (existing rows reset). */
rpc_status coupon_seed(PGconn *conn, int64_t first_user, int64_t n, int64_t discount_cents,
                       shop_error *err);

#endif
