/* Prepared statements and the mapping of PostgreSQL errors to gRPC codes. */
#include "services/common/svc_db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"

int shop_db_prepare(PGconn *conn, const shop_stmt *stmts, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        PGresult *res = PQprepare(conn, stmts[i].name, stmts[i].sql, 0, NULL);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(err, errlen, "prepare %s: %s", stmts[i].name, PQerrorMessage(conn));
        PQclear(res);
        if (!ok)
            return -1;
    }
    return 0;
}

/* The gRPC status for a failed statement, from its SQLSTATE. */
static int status_of(PGconn *conn, const PGresult *res)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return RPC_UNAVAILABLE;
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state == NULL)
        return RPC_UNAVAILABLE; /* no result at all: the server went away */
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return RPC_ABORTED;
    if (strcmp(state, "23514") == 0)
        return RPC_FAILED_PRECONDITION;
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
        return RPC_UNAVAILABLE; /* connection exception, admin shutdown */
    if (strncmp(state, "22", 2) == 0)
        return RPC_INVALID_ARGUMENT; /* data exception: out of range, bad encoding, ... */
    return RPC_INTERNAL;
}

static void first_line(char *msg, size_t msglen, const char *prefix, const char *text)
{
    snprintf(msg, msglen, "%s: %s", prefix, text != NULL ? text : "no error text");
    char *nl = strchr(msg, '\n');
    if (nl != NULL)
        *nl = '\0';
}

PGresult *shop_db_run(PGconn *conn, const shop_stmt *stmt, int nparams, const char *const *params,
                      int *status, char *msg, size_t msglen)
{
    PGresult *res = PQexecPrepared(conn, stmt->name, nparams, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        *status = RPC_OK;
        return res;
    }
    *status = status_of(conn, res);
    first_line(msg, msglen, stmt->name, PQerrorMessage(conn));
    PQclear(res);
    return NULL;
}

PGresult *shop_db_run_once(PGconn *conn, const shop_stmt *apply, const shop_stmt *first,
                           int nparams, int nfirst, const char *const *params, int *duplicate,
                           int *status, char *msg, size_t msglen)
{
    *duplicate = 0;
    PGresult *res = shop_db_run(conn, apply, nparams, params, status, msg, msglen);
    if (res == NULL || PQntuples(res) > 0)
        return res;
    PQclear(res);
    res = shop_db_run(conn, first, nfirst, params, status, msg, msglen);
    if (res != NULL && PQntuples(res) > 0)
        *duplicate = 1;
    return res;
}

PGresult *shop_db_run_undo(PGconn *conn, const shop_stmt *claim, int nclaim, const shop_stmt *apply,
                           const shop_stmt *first, const char *const *params, int *duplicate,
                           int *status, char *msg, size_t msglen)
{
    *duplicate = 0;
    PGresult *res = shop_db_run(conn, claim, nclaim, params, status, msg, msglen);
    if (res == NULL)
        return NULL;
    PQclear(res);
    res = shop_db_run_once(conn, apply, first, 1, 1, params, duplicate, status, msg, msglen);
    if (res != NULL && PQntuples(res) == 0) {
        PQclear(res);
        snprintf(msg, msglen, "undo of order %s left no record", params[0]);
        *status = RPC_INTERNAL;
        return NULL;
    }
    return res;
}

int shop_db_command(PGconn *conn, const char *sql, int *status, char *msg, size_t msglen)
{
    /* A fixed utility command with no parameters (BEGIN/COMMIT/ROLLBACK). */
    PGresult *res = PQexec(conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    *status = ok ? RPC_OK : status_of(conn, res);
    if (!ok)
        first_line(msg, msglen, sql, PQerrorMessage(conn));
    PQclear(res);
    return ok ? 0 : -1;
}

const char *shop_db_i64(char *buf, int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

int64_t shop_db_get_i64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int shop_db_is_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col);
}
