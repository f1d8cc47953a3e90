/* The stock service's business functions, independent of any transport: the
 * sync RPC handlers and the async consumers both call these.
 *
 * Every function takes a connection to stock_db (statements prepared by
 * stock_logic_prepare) and returns a gRPC status code, with `msg` filled for
 * anything but RPC_OK. Each function is atomic on its own; it also works
 * inside a transaction the caller opened (e.g. to add an outbox row). */
#ifndef SHOP_STOCK_LOGIC_H
#define SHOP_STOCK_LOGIC_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct stock_result {
    int duplicate;       /* a repeat of an earlier call: its first result */
    int restored;        /* restore: stock was given back */
    int64_t price_cents; /* deduct: unit price */
    int64_t stock_left;  /* -1 when not known */
    char msg[200];       /* why, when the status is not OK */
} stock_result;

typedef struct stock_goods {
    int64_t goods_id;
    int64_t stock;
    int64_t initial_stock;
    int64_t price_cents;
} stock_goods;

/* Prepares this module's statements on a new connection. */
rpc_status stock_logic_prepare(PGconn *conn, shop_error *err);

/* Takes `count` units of `goods_id` for `order_id`, at most once per order.
 * RPC_OK: taken. RPC_FAILED_PRECONDITION: out of stock, or the order was
 * already compensated (a restore arrived first, so this deduct must never
 * apply). RPC_NOT_FOUND: no such goods. A repeat returns the first result
 * with `duplicate` set and changes nothing. */
int stock_deduct(PGconn *conn, int64_t order_id, int64_t goods_id, int32_t count,
                 stock_result *out);

/* Gives back what the order's deduct took, at most once. Without a deduct it
 * changes no stock but records that the order is compensated, so a late
 * deduct is refused. RPC_OK in all these cases (`restored` says which). */
int stock_restore(PGconn *conn, int64_t order_id, int64_t goods_id, int32_t count,
                  stock_result *out);

/* Reads one goods row. RPC_NOT_FOUND when missing. */
rpc_status stock_get(PGconn *conn, int64_t goods_id, stock_goods *out, shop_error *err);

/* Fixtures: goods first_id .. first_id+n-1 with `stock` units each at
 * `price_cents` (existing rows are reset). */
rpc_status stock_seed(PGconn *conn, int64_t first_id, int64_t n, int64_t stock, int64_t price_cents,
                      shop_error *err);

#endif
