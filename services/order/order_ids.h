/* Order ids handed out ahead of the insert: the async PlaceOrder packs its
 * events (which carry the order id) before the one statement that writes the
 * order and its outbox rows, so the id cannot come from that statement. The
 * pool takes ids from the orders' own identity sequence in blocks (one round
 * trip per block); ids a stopped process never used are gaps, as with any
 * sequence. Thread-safe. */
#ifndef SHOP_ORDER_IDS_H
#define SHOP_ORDER_IDS_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct order_ids order_ids;

/* Prepares the pool's statement on a new connection (0, or -1 with err). */
rpc_status order_ids_prepare(PGconn *conn, shop_error *err);

/* A pool that fetches `block` ids at a time (1..1024). NULL on no memory. */
order_ids *order_ids_new(int block);
void order_ids_free(order_ids *ids);

/* The next unused order id, fetched through `conn` when the pool is empty.
 * `ids` may be NULL: one id is fetched. RPC_OK, or a status with `msg`. */
rpc_status order_ids_next(order_ids *ids, PGconn *conn, int64_t *id, shop_error *err);

#endif
