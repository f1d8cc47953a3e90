/* The stack's metrics endpoints: one loopback port per daemon. */
#include "services/stack/stack_metrics.h"

#include <stdio.h>

#include "services/stack/stack_net.h"

/* After the RPC ports (base+0..2), the broker, the delay queue and the
 * broker's PUB port (base+3..5). */
#define METRICS_OFFSET 6

rpc_status stack_metrics_url(const shop_stack *st, shop_stack_proc *p, int index)
{
    int port = st->opts.port_base > 0 ? st->opts.port_base + METRICS_OFFSET + index
                                      : shop_stack_free_port();
    if (port <= 0)
        return RPC_RESOURCE_EXHAUSTED;
    snprintf(p->metrics_url, sizeof p->metrics_url, "http://127.0.0.1:%d", port);
    return RPC_OK;
}
