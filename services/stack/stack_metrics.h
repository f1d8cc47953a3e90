/* Where each daemon of a stack serves GET /metrics: a loopback port of its
 * own (port_base + 6 + index, or a free one), passed as --metrics-url. */
#ifndef SHOP_STACK_METRICS_H
#define SHOP_STACK_METRICS_H

#include "services/stack/shop_stack.h"

/* Sets p->metrics_url for the index-th daemon (order, stock, coupon, broker,
 * delayd); RESOURCE_EXHAUSTED when no port is free. */
rpc_status stack_metrics_url(const shop_stack *st, shop_stack_proc *p, int index);

#endif
