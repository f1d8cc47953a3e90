/* The order service in the async architecture.
 *
 * PlaceOrder is one statement: the order PENDING and two outbox rows,
 * order.placed and order.timeout delayed by the pay window. The relay publishes them; the order
 * consumer (group "order") applies the members' results (stock.*, coupon.*) and the due
 * order.timeout through the inbox table, in the transaction of the state change:
 *
 *   both members OK         -> CONFIRMED (order_confirm)
 *   one member rejected     -> CANCELLED + order.cancelled (the other restores)
 *   order.timeout, unpaid   -> CLOSED + order.closed (both restore)
 *
 * PayOrder is a conditional update (PENDING/CONFIRMED and inside the window),
 * so pay and close serialise on the row and exactly one wins; a paid order's
 * pending timeout is then cancelled in mq-delayd. */
#ifndef SHOP_ORDER_ASYNC_H
#define SHOP_ORDER_ASYNC_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "services/common/svc_outbox.h"
#include "services/common/svc_outbox_consumer.h"
#include "services/order/order_logic.h"

#include "base/error.h"

#define ORDER_CONSUMER_GROUP "order"
#define ORDER_PAY_WINDOW_DEFAULT_MS (30LL * 60 * 1000)

/* Prepares order_logic's statements and this module's on a new connection. */
rpc_status order_async_prepare(PGconn *conn, shop_error *err);
/* The flows' own statements (part of order_async_prepare). */
rpc_status order_async_flows_prepare(PGconn *conn, shop_error *err);

typedef struct order_async order_async;

typedef struct order_async_cfg {
    const char *conninfo;         /* order_db */
    const char *mq_url, *pub_url; /* the broker (NULL: environment or defaults) */
    const char *delay_url;        /* mq-delayd (NULL: MQ_DELAY_URL_DEFAULT) */
    int64_t pay_window_ms;        /* 0: 30 min */
    int publish_txmsg;            /* order.placed as a transactional message, not an outbox row */
    /* test switches */
    int dup_publish;         /* the relay publishes every broker row twice */
    int dup_deliver;         /* the consumer handles every delivery twice */
    int crash_after_commits; /* the consumer _exits after the N-th commit */
} order_async_cfg;

/* Starts the relay and the consumer. mq-delayd hands the due order.timeout
 * to the broker (its --broker), where the consumer reads it. */
rpc_status order_async_start(const order_async_cfg *cfg, order_async **out, shop_error *err);
void order_async_stop(order_async *oa);

int64_t order_async_pay_window_ms(const order_async *oa);

/* PlaceOrder (async): the order PENDING plus order.placed and order.timeout
 * in one statement (one round trip, one commit); `oa` (may be NULL) holds
 * the pool of order ids and wakes the relay. A repeated request_id returns
 * the first order with *duplicate set. */
rpc_status order_async_place(order_async *oa, PGconn *conn, const order_place_args *args,
                             shop_order *out, int *duplicate, shop_error *err);

/* PayOrder (async): order_pay, then cancels the order's pending
 * order.timeout in mq-delayd (best effort: a timeout that still arrives
 * finds the order PAID and changes nothing). */
rpc_status order_async_pay(order_async *oa, PGconn *conn, int64_t order_id, shop_order *out,
                           shop_error *err);

/* CancelOrder (async): PENDING/CONFIRMED -> CANCELLED + order.cancelled. */
rpc_status order_async_cancel(order_async *oa, PGconn *conn, int64_t order_id, const char *reason,
                              shop_order *out, shop_error *err);

/* The consumer's configuration (topics, group, setup, handler). */
void order_async_consumer_config(svc_consumer_cfg *cfg);

/* Writes order.cancelled or order.closed for `o` to the outbox (inside the
 * caller's transaction). */
rpc_status order_async_publish_release(PGconn *conn, const char *topic, const shop_order *o,
                                       shop_error *err);

/* Single statements (inside the caller's transaction). */
rpc_status order_async_close(PGconn *conn, int64_t order_id, int *closed, shop_order *out,
                             shop_error *err);
rpc_status order_async_user_cancel(PGconn *conn, int64_t order_id, const char *reason,
                                   int *cancelled, shop_order *out, shop_error *err);

/* Runs BEGIN / COMMIT / ROLLBACK; RPC_OK or the failure's status. */
rpc_status order_async_tx(PGconn *conn, const char *sql, shop_error *err);

#endif
