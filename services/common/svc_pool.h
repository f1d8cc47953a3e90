/* A fixed-size pool of PostgreSQL connections, sized to a daemon's worker
 * pool so that a handler never waits for a connection another handler could
 * have released. Broken connections are reopened on their next use. */
#ifndef SHOP_SVC_POOL_H
#define SHOP_SVC_POOL_H

#include <libpq-fe.h>
#include <stddef.h>

#include "base/error.h"

typedef struct shop_pool shop_pool;

/* Called on every new connection, e.g. to prepare statements. */
typedef rpc_status (*shop_pool_setup_fn)(PGconn *conn, shop_error *err);

/* Opens `size` connections to `conninfo` (all at once, so a wrong address
 * fails at start: UNAVAILABLE). */
rpc_status shop_pool_open(const char *conninfo, int size, shop_pool_setup_fn setup, shop_pool **out,
                          shop_error *err);

/* Takes a connection, waiting at most `timeout_ms` (<0: forever). Fails with
 * RESOURCE_EXHAUSTED on timeout, UNAVAILABLE when no connection can be
 * (re)opened. */
rpc_status shop_pool_acquire(shop_pool *pool, int timeout_ms, PGconn **out, shop_error *err);

/* Gives a connection back. A connection left inside a transaction or broken
 * is rolled back or reopened before it is handed out again. */
void shop_pool_release(shop_pool *pool, PGconn *conn);

int shop_pool_size(const shop_pool *pool);

/* Connections handed out now, and threads waiting for one (for metrics). */
void shop_pool_usage(shop_pool *pool, int *in_use, int *waiting);

/* Closes every connection; all must have been released. */
void shop_pool_close(shop_pool *pool);

#endif
