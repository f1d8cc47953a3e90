/* PostgreSQL statements for the services: named, prepared once per
 * connection, always run with parameters, and errors mapped to the gRPC
 * status a caller can act on. */
#ifndef SHOP_SVC_DB_H
#define SHOP_SVC_DB_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct shop_stmt {
    const char *name; /* unique per connection */
    const char *sql;  /* parameters $1..$n, with casts where types are ambiguous */
} shop_stmt;

/* Prepares `n` statements on `conn`. */
rpc_status shop_db_prepare(PGconn *conn, const shop_stmt *stmts, size_t n, shop_error *err);

/* Runs prepared statement `stmt` with text parameters and puts the result
 * in *out (PQclear it). Fails with UNAVAILABLE (connection lost), ABORTED
 * (serialization failure or deadlock: retry), FAILED_PRECONDITION (a CHECK
 * constraint refused the change), INVALID_ARGUMENT (a data exception) or
 * INTERNAL, the message naming the statement. */
rpc_status shop_db_run(PGconn *conn, const shop_stmt *stmt, int nparams, const char *const *params,
                       PGresult **out, shop_error *err);

/* The de-duplicated write: runs `apply`; when it returns no row (the
 * de-duplication slot was already taken, so nothing changed), runs `first`
 * with the first `nfirst` parameters to read the first result and sets
 * *duplicate. *out may have no rows when neither statement found anything. */
rpc_status shop_db_run_once(PGconn *conn, const shop_stmt *apply, const shop_stmt *first,
                            int nparams, int nfirst, const char *const *params, int *duplicate,
                            PGresult **out, shop_error *err);

/* The idempotent undo (a restore): runs `claim` with `nclaim` parameters (an
 * INSERT ... ON CONFLICT DO NOTHING that takes the original operation's
 * de-duplication slot when nothing was done, so a late original is refused),
 * then, as a new statement that sees what the claim waited for, the
 * de-duplicated `apply` / `first` pair with the first parameter. *out has one
 * row (INTERNAL when none came back). */
rpc_status shop_db_run_undo(PGconn *conn, const shop_stmt *claim, int nclaim,
                            const shop_stmt *apply, const shop_stmt *first,
                            const char *const *params, int *duplicate, PGresult **out,
                            shop_error *err);

/* Runs a parameterless utility command (BEGIN, COMMIT, ROLLBACK). */
rpc_status shop_db_command(PGconn *conn, const char *sql, shop_error *err);

/* Formats an integer parameter into `buf` (at least 24 bytes) and returns it. */
const char *shop_db_i64(char *buf, int64_t v);

/* Field (row, col) as an integer; 0 when NULL. */
int64_t shop_db_get_i64(const PGresult *res, int row, int col);

/* 1 when field (row, col) is NULL. */
int shop_db_is_null(const PGresult *res, int row, int col);

#endif
