/* What order_db's timeline says about confirmation: the accept->CONFIRMED
 * lag per second of a run (by the second the order was accepted), and for
 * a window of wall-clock time how many orders were accepted, how many of
 * them are confirmed, with what lag, and how many confirmations happened in
 * it. Read from `created_at` and `confirmed_at`, so it is the services'
 * own record, not the load generator's view. */
#ifndef SHOP_ORDER_TIMELINE_H
#define SHOP_ORDER_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Per second s (0 .. n-1) from `start_wall_ms`: p50/p99 accept->CONFIRMED
 * of the orders created in it, in us (-1 when none of them is confirmed).
 * Returns RPC_OK or the failure + err. */
rpc_status shop_timeline_lag_series(const char *order_conn, int64_t start_wall_ms, size_t n,
                                    int64_t *p50_us, int64_t *p99_us, shop_error *err);

typedef struct shop_timeline_window {
    int64_t created;                /* orders created in [from, to) */
    int64_t confirmed;              /* ... of which confirmed by now */
    int64_t confirmed_in;           /* confirmations that happened in [from, to) */
    int64_t lag_p50_us, lag_p99_us; /* of the confirmed ones; -1 when none */
} shop_timeline_window;

rpc_status shop_timeline_window_read(const char *order_conn, int64_t from_wall_ms,
                                     int64_t to_wall_ms, shop_timeline_window *out,
                                     shop_error *err);

/* Orders still PENDING (accepted, not yet confirmed nor cancelled). */
rpc_status shop_timeline_pending(const char *order_conn, int64_t *out, shop_error *err);

#endif
