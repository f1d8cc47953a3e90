/* A fixed-size pool of PostgreSQL connections, sized to a daemon's worker
 * pool so that a handler never waits for a connection another handler could
 * have released. Broken connections are reopened on their next use. */
#ifndef SHOP_SVC_POOL_H
#define SHOP_SVC_POOL_H

#include <libpq-fe.h>
#include <stddef.h>

typedef struct shop_pool shop_pool;

/* Called on every new connection, e.g. to prepare statements. */
typedef int (*shop_pool_setup_fn)(PGconn *conn, char *err, size_t errlen);

/* Opens `size` connections to `conninfo` (all at once, so a wrong address
 * fails at start). Returns NULL with `err` filled. */
shop_pool *shop_pool_open(const char *conninfo, int size, shop_pool_setup_fn setup, char *err,
                          size_t errlen);

/* Takes a connection, waiting at most `timeout_ms` (<0: forever). Returns
 * NULL on timeout or when no connection can be (re)opened, with `err` filled. */
PGconn *shop_pool_acquire(shop_pool *pool, int timeout_ms, char *err, size_t errlen);

/* Gives a connection back. A connection left inside a transaction or broken
 * is rolled back or reopened before it is handed out again. */
void shop_pool_release(shop_pool *pool, PGconn *conn);

int shop_pool_size(const shop_pool *pool);

/* Closes every connection; all must have been released. */
void shop_pool_close(shop_pool *pool);

#endif
