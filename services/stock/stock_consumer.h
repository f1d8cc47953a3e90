/* The stock service's consumer (async architecture): applies order.placed
 * with stock_deduct and publishes stock.deducted or stock.rejected through
 * its outbox in the same transaction; order.cancelled and order.closed give
 * the stock back with stock_restore. Group "stock". */
#ifndef SHOP_STOCK_CONSUMER_H
#define SHOP_STOCK_CONSUMER_H

#include "services/common/svc_outbox_consumer.h"

#define STOCK_CONSUMER_GROUP "stock"

/* Fills the topics, group, setup and handler of `cfg`; the caller sets the
 * database, the broker and the relay. */
void stock_consumer_config(svc_consumer_cfg *cfg);

#endif
