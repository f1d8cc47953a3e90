/* Prepared statements and the mapping of PostgreSQL errors to gRPC codes. */
#include "services/common/svc_db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"

rpc_status shop_db_prepare(PGconn *conn, const shop_stmt *stmts, size_t n, shop_error *err)
{
    for (size_t i = 0; i < n; i++) {
        PGresult *res = PQprepare(conn, stmts[i].name, stmts[i].sql, 0, NULL);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            shop_error_set(err, RPC_INTERNAL, "prepare %s: %s", stmts[i].name,
                           PQerrorMessage(conn));
        PQclear(res);
        if (!ok)
            return shop_error_code(err);
    }
    return RPC_OK;
}

/* The gRPC status for a failed statement, from its SQLSTATE. */
static rpc_status status_of(PGconn *conn, const PGresult *res)
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
    if (strcmp(state, "25006") == 0)
        return RPC_UNAVAILABLE; /* a standby now (demoted): the primary is elsewhere */
    if (strncmp(state, "22", 2) == 0)
        return RPC_INVALID_ARGUMENT; /* data exception: out of range, bad encoding, ... */
    return RPC_INTERNAL;
}

/* Sets err to code and "<prefix>: <first line of PostgreSQL's message>". */
static rpc_status fail_first_line(shop_error *err, rpc_status code, const char *prefix,
                                  const char *text)
{
    if (text == NULL)
        text = "no error text";
    return shop_error_set(err, code, "%s: %.*s", prefix, (int)strcspn(text, "\n"), text);
}

rpc_status shop_db_run(PGconn *conn, const shop_stmt *stmt, int nparams, const char *const *params,
                       PGresult **out, shop_error *err)
{
    PGresult *res = PQexecPrepared(conn, stmt->name, nparams, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        *out = res;
        return RPC_OK;
    }
    rpc_status code = status_of(conn, res);
    PQclear(res);
    return fail_first_line(err, code, stmt->name, PQerrorMessage(conn));
}

rpc_status shop_db_run_once(PGconn *conn, const shop_stmt *apply, const shop_stmt *first,
                            int nparams, int nfirst, const char *const *params, int *duplicate,
                            PGresult **out, shop_error *err)
{
    *duplicate = 0;
    PGresult *res = NULL;
    rpc_status st = shop_db_run(conn, apply, nparams, params, &res, err);
    if (st != RPC_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        res = NULL;
        if ((st = shop_db_run(conn, first, nfirst, params, &res, err)) != RPC_OK)
            return st;
        *duplicate = PQntuples(res) > 0;
    }
    *out = res;
    return RPC_OK;
}

rpc_status shop_db_run_undo(PGconn *conn, const shop_stmt *claim, int nclaim,
                            const shop_stmt *apply, const shop_stmt *first,
                            const char *const *params, int *duplicate, PGresult **out,
                            shop_error *err)
{
    *duplicate = 0;
    PGresult *res = NULL;
    rpc_status st = shop_db_run(conn, claim, nclaim, params, &res, err);
    if (st != RPC_OK)
        return st;
    PQclear(res);
    res = NULL;
    if ((st = shop_db_run_once(conn, apply, first, 1, 1, params, duplicate, &res, err)) != RPC_OK)
        return st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return shop_error_set(err, RPC_INTERNAL, "undo of order %s left no record", params[0]);
    }
    *out = res;
    return RPC_OK;
}

rpc_status shop_db_command(PGconn *conn, const char *sql, shop_error *err)
{
    /* A fixed utility command with no parameters (BEGIN/COMMIT/ROLLBACK). */
    PGresult *res = PQexec(conn, sql);
    rpc_status st = PQresultStatus(res) == PGRES_COMMAND_OK ? RPC_OK : status_of(conn, res);
    PQclear(res);
    if (st != RPC_OK)
        return fail_first_line(err, st, sql, PQerrorMessage(conn));
    return RPC_OK;
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
