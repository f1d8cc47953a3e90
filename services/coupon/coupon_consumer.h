/* The coupon service's consumer (async architecture): applies order.placed
 * with coupon_use and publishes coupon.used or coupon.rejected through its
 * outbox in the same transaction; order.cancelled and order.closed give the
 * coupon back with coupon_restore. Orders without a coupon are not its
 * business. Group "coupon". */
#ifndef SHOP_COUPON_CONSUMER_H
#define SHOP_COUPON_CONSUMER_H

#include "services/common/svc_outbox_consumer.h"

#define COUPON_CONSUMER_GROUP "coupon"

/* Fills the topics, group, setup and handler of `cfg`; the caller sets the
 * database, the broker and the relay. */
void coupon_consumer_config(svc_consumer_cfg *cfg);

#endif
