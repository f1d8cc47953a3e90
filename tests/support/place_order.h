/* PlaceOrder for the integration tests: one order of goods 1 with the
 * user's own coupon (coupon_id = user_id, as the stack's fixtures make them),
 * optionally under the caller's W3C traceparent. */
#ifndef SHOP_TESTS_PLACE_ORDER_H
#define SHOP_TESTS_PLACE_ORDER_H

#include <stdint.h>

#include "rpc/rpc.h"

/* Waits for the server (5 s deadline); OK with *order_id, else the status
 * with err filled. traceparent may be NULL. */
rpc_status ts_place_order(rpc_channel *ch, const char *request_id, int64_t user_id,
                          const char *traceparent, int64_t *order_id, rpc_error *err);

#endif
