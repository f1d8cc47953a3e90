/* The cross-service invariant checker behind `shopflow check` and every
 * bench run. It reads order_db, stock_db and coupon_db (never writes) and
 * lists every violation by order id (or goods/coupon id for per-row rules). */
#ifndef SHOP_CHECK_H
#define SHOP_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

typedef enum shop_invariant {
    SHOP_INV_STOCK_NONNEGATIVE, /* no goods row has stock < 0 */
    SHOP_INV_STOCK_BALANCE,     /* initial = current + deducted - restored */
    SHOP_INV_COUPON_ONE_ORDER,  /* a coupon is used by at most one live order */
    SHOP_INV_LIVE_HAS_MEMBERS,  /* CONFIRMED/PAID orders hold their stock and coupon */
    SHOP_INV_DEAD_RESTORED,     /* CANCELLED/CLOSED orders had their deductions restored */
    SHOP_INV_NO_ORPHAN_CHANGE,  /* no unrestored deduct/use for an order that does not exist */
    SHOP_INV_ACKED_EXISTS,      /* every order acknowledged to a client exists */
    SHOP_INV_NO_STALE_PENDING,  /* nothing PENDING past its pay window (+ grace) */
    SHOP_INV_COUNT
} shop_invariant;

typedef struct shop_violation {
    shop_invariant inv;
    int64_t order_id; /* 0 when the rule is about a goods or coupon row */
    int64_t subject;  /* goods_id / coupon_id when relevant, else 0 */
    char detail[160];
} shop_violation;

typedef struct shop_check_input {
    const char *order_db; /* libpq conninfo of each database */
    const char *stock_db;
    const char *coupon_db;
    const int64_t *acked; /* order ids acknowledged to clients (may be NULL) */
    size_t n_acked;
    int64_t pending_grace_ms; /* PENDING past pay_by + grace is stale; < 0 skips the rule */
} shop_check_input;

typedef struct shop_check_report {
    size_t counts[SHOP_INV_COUNT];
    shop_violation *v;
    size_t n, cap;
    size_t orders, goods, coupons_used;
    size_t by_status[5]; /* PENDING, CONFIRMED, PAID, CANCELLED, CLOSED */
} shop_check_report;

/* Runs every rule. Returns RPC_OK with `out` filled (free it with
 * shop_check_report_free), or the failure with `err` when a database cannot
 * be read (RPC_UNAVAILABLE when it cannot be reached). */
rpc_status shop_check_run(const shop_check_input *in, shop_check_report *out, shop_error *err);

void shop_check_report_free(shop_check_report *r);

/* All violations of every rule. */
size_t shop_check_total(const shop_check_report *r);

/* One line per rule (ok / N violations) and up to `max_each` violations per
 * rule, by order id. */
void shop_check_print(const shop_check_report *r, FILE *out, size_t max_each);

/* Short name ("stock-balance") and a sentence for each rule. */
const char *shop_invariant_name(shop_invariant inv);
const char *shop_invariant_text(shop_invariant inv);

extern const char *const shop_order_status_names[5];

#endif
