/* PostgreSQL statements for the services: named, prepared once per
 * connection, always run with parameters, and errors mapped to the gRPC
 * status a caller can act on. */
#ifndef SHOP_SVC_DB_H
#define SHOP_SVC_DB_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct shop_stmt {
    const char *name; /* unique per connection */
    const char *sql;  /* parameters $1..$n, with casts where types are ambiguous */
} shop_stmt;

/* Prepares `n` statements on `conn`. Returns 0, or -1 with `err` filled. */
int shop_db_prepare(PGconn *conn, const shop_stmt *stmts, size_t n, char *err, size_t errlen);

/* Runs prepared statement `stmt` with text parameters. Returns the result
 * (PQclear it) or NULL with *status set to UNAVAILABLE (connection lost),
 * ABORTED (serialization failure or deadlock, retry), FAILED_PRECONDITION
 * (a CHECK constraint refused the change) or INTERNAL, and `msg` filled. */
PGresult *shop_db_run(PGconn *conn, const shop_stmt *stmt, int nparams, const char *const *params,
                      int *status, char *msg, size_t msglen);

/* The de-duplicated write: runs `apply`; when it returns no row (the
 * de-duplication slot was already taken, so nothing changed), runs `first`
 * with the first `nfirst` parameters to read the first result and sets
 * *duplicate. Returns NULL (with *status) when a statement fails, and a
 * result with no rows when neither statement found anything. */
PGresult *shop_db_run_once(PGconn *conn, const shop_stmt *apply, const shop_stmt *first,
                           int nparams, int nfirst, const char *const *params, int *duplicate,
                           int *status, char *msg, size_t msglen);

/* The idempotent undo (a restore): runs `claim` with `nclaim` parameters (an
 * INSERT ... ON CONFLICT DO NOTHING that takes the original operation's
 * de-duplication slot when nothing was done, so a late original is refused),
 * then, as a new statement that sees what the claim waited for, the
 * de-duplicated `apply` / `first` pair with the first parameter. Returns a
 * result with one row, or NULL with *status (INTERNAL when no row came back). */
PGresult *shop_db_run_undo(PGconn *conn, const shop_stmt *claim, int nclaim, const shop_stmt *apply,
                           const shop_stmt *first, const char *const *params, int *duplicate,
                           int *status, char *msg, size_t msglen);

/* Runs a parameterless utility command (BEGIN, COMMIT, ROLLBACK). */
int shop_db_command(PGconn *conn, const char *sql, int *status, char *msg, size_t msglen);

/* Formats an integer parameter into `buf` (at least 24 bytes) and returns it. */
const char *shop_db_i64(char *buf, int64_t v);

/* Field (row, col) as an integer; 0 when NULL. */
int64_t shop_db_get_i64(const PGresult *res, int row, int col);

/* 1 when field (row, col) is NULL. */
int shop_db_is_null(const PGresult *res, int row, int col);

#endif
