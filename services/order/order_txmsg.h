/* PlaceOrder's order.placed as a transactional message (--publish txmsg),
 * instead of an outbox row: the half message is sent first, the order row
 * is committed in order_db, then the half is committed (or rolled back when
 * the order was not inserted). The broker asks the producer group
 * "shop-order" back about a half left undecided (this process died between
 * the steps, or the commit did not reach the broker): any live shop-order
 * answers from order_db, COMMIT when the order row exists. The delayed
 * order.timeout stays an outbox row (half messages cannot be delayed). */
#ifndef SHOP_ORDER_TXMSG_H
#define SHOP_ORDER_TXMSG_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "mq/mq.h"

#define ORDER_TXMSG_GROUP "shop-order"

typedef struct order_txmsg order_txmsg;

/* A member of the producer group on the broker at mq_url; its check-backs
 * read order_db through a connection of their own (conninfo). */
rpc_status order_txmsg_open(const char *mq_url, const char *conninfo, order_txmsg **out,
                            shop_error *err);
void order_txmsg_close(order_txmsg *t);

/* The half of order.placed for order_id (id "order-placed-<order_id>"). */
rpc_status order_txmsg_half(order_txmsg *t, int64_t order_id, const void *body, size_t len,
                            char id[MQ_ID_LEN], shop_error *err);

/* Commits or rolls back the half; a failure is left to the check-back. */
void order_txmsg_end(order_txmsg *t, const char *id, int commit);

#endif
