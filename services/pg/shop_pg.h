/* The embedded PostgreSQL: a private cluster under var/pg that every tool and
 * test shares, and the per-service databases with their migrations.
 *
 * With SHOPFLOW_PG set (a libpq URL or conninfo) everything points at that
 * server instead and the cluster functions only report on it. */
#ifndef SHOP_PG_H
#define SHOP_PG_H

#include <stddef.h>

#include "base/error.h"

#define SHOP_PG_ERRLEN 512
#define SHOP_PG_CONNLEN 1024

/* Where the private cluster lives: $SHOPFLOW_VAR/pg, else <source>/var/pg. */
const char *shop_pg_var_dir(void);

typedef struct shop_pg_status {
    int running;  /* 1 when the server answers */
    int external; /* 1 when SHOPFLOW_PG points elsewhere */
    int pid;      /* postmaster pid (private cluster), 0 if unknown */
    int port;     /* TCP port on 127.0.0.1 */
    char socket_dir[512];
    char data_dir[512];
} shop_pg_status;

/* Creates the cluster on first use (initdb, as an unprivileged user when run
 * as root), starts it if it is not running (a second start is a no-op; a stale
 * pid file from a crash is handled), creates order_db, stock_db and coupon_db
 * and applies their migrations. Returns 0 or -1 with `err` filled. */
rpc_status shop_pg_start(shop_pg_status *st, shop_error *err);

/* Stops the private cluster (fast shutdown). Not running is not an error. */
rpc_status shop_pg_stop(shop_error *err);

/* Fills `st`; returns 0 (running or not) or -1 on an error reading state. */
rpc_status shop_pg_get_status(shop_pg_status *st, shop_error *err);

/* Stops the cluster and deletes its data directory. */
rpc_status shop_pg_reset(shop_error *err);

/* The server's base URL: SHOPFLOW_PG, or the private cluster's. */
rpc_status shop_pg_base_url(char *out, size_t outlen, shop_error *err);

/* A libpq conninfo string for database `dbname` on the configured server
 * (`base` may be NULL for SHOPFLOW_PG / the private cluster). */
rpc_status shop_pg_conninfo(const char *base, const char *dbname, char *out, size_t outlen,
                            shop_error *err);

/* Creates database `dbname` if missing and applies the versioned SQL files of
 * `sql_dir` (NNN_name.sql, in name order, each once, each in a transaction). */
rpc_status shop_pg_ensure_database(const char *base, const char *dbname, const char *sql_dir,
                                   shop_error *err);

/* Drops database `dbname` if it exists (closing other sessions first). */
rpc_status shop_pg_drop_database(const char *base, const char *dbname, shop_error *err);

/* The migrations folder of a service: <source>/services/<service>/sql
 * ($SHOPFLOW_SQL_DIR/<service> when set). */
void shop_pg_sql_dir(const char *service, char *out, size_t outlen);

/* The three services and their databases. */
extern const char *const shop_pg_services[3]; /* "order", "stock", "coupon" */

#endif
