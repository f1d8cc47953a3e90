/* base/metrics internals shared by the registry and the text writer. */
#ifndef SHOP_BASE_METRICS_INT_H
#define SHOP_BASE_METRICS_INT_H

#include <stddef.h>

#include "base/metrics.h"

struct shop_metrics_out {
    char *buf;
    size_t len, cap;
    int failed; /* out of memory: the page is dropped */
};

#endif
