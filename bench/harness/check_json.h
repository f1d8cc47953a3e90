/* The invariant checker's report as JSON (jansson), for `shopflow check
 * --json` and the bench's report.json. */
#ifndef SHOP_CHECK_JSON_H
#define SHOP_CHECK_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "bench/harness/shop_check.h"

/* {"ok", "orders", "by_status", "goods", "coupons_used", "rules": {name:
 * count}, "violations_total", "violations": [{rule, order_id, subject,
 * detail}] with at most max_each per rule}. A new reference; NULL when out
 * of memory. */
json_t *shop_check_json(const shop_check_report *r, size_t max_each);

#endif
