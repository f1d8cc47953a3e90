/* Cancelling a paid or cancelled order's pending order.timeout off the
 * request path. The cancel is an optimisation: the timeout consumer closes an
 * order only if it is still unpaid, so a cancel that never happens (mq-delayd
 * down, queue full) costs one no-op delivery later, never correctness. That
 * is why PayOrder must not wait for it. */
#ifndef SHOP_ORDER_TIMEOUT_CANCEL_H
#define SHOP_ORDER_TIMEOUT_CANCEL_H

#include <stdint.h>

typedef struct timeout_canceller timeout_canceller;

/* Starts the background thread that talks to mq-delayd at `delay_url`. */
timeout_canceller *timeout_canceller_start(const char *delay_url);

/* Queues the cancel of order `order_id`'s timeout; never blocks. */
void timeout_canceller_post(timeout_canceller *tc, int64_t order_id);

/* Stops the thread (pending cancels are dropped) and frees everything. */
void timeout_canceller_stop(timeout_canceller *tc);

#endif
