/* Internal to the bench: the customer's two calls as the load generator's
 * callbacks. Every PlaceOrder is a new user with their own coupon
 * (user = coupon = seq_base + seq + 1), so a coupon failure can only come
 * from the coupon service, never from reuse; a share of the accepted
 * orders is paid right after the reply, outside the accept latency. */
#ifndef SHOP_BENCH_ORDERS_H
#define SHOP_BENCH_ORDERS_H

#include <stdatomic.h>
#include <stdint.h>

#include "rpc/rpc.h"

typedef struct bench_orders {
    rpc_channel *ch;
    const char *tag;   /* request ids are "bench-<tag>-<n>" */
    int64_t goods;     /* goods 1..goods, in turn */
    uint64_t seq_base; /* added to the load's seq: steps of one stack never reuse a user */
    double pay_share;  /* 0..1 */
    int64_t deadline_ms;
    atomic_llong pay_ok, pay_failed;
} bench_orders;

/* shop_load_fn: one PlaceOrder; ctx is a bench_orders. */
int bench_orders_place(void *ctx, int client, uint64_t seq, int64_t deadline_ms, int64_t *order_id);

/* shop_load_followup_fn: pays the order when its seq falls in pay_share. */
void bench_orders_pay(void *ctx, int client, uint64_t seq, int64_t order_id);

#endif
