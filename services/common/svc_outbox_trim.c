/* The relay's housekeeping on the service's own database: parking a row its
 * destination refused for good, and deleting what no longer needs keeping
 * (published outbox rows, and the order service's inbox slots, after the
 * retention period). Deletes go oldest first in primary-key order, a bounded
 * batch per call, so a call costs an index range scan and never a table
 * scan, and never holds locks for long. */
#include <stdlib.h>

#include "services/common/svc_db.h"
#include "services/common/svc_outbox.h"

int svc_outbox_park(PGconn *conn, int64_t id, const char *error)
{
    char a[24];
    const char *params[] = {shop_db_i64(a, id), error != NULL ? error : ""};
    PGresult *res = PQexecParams(conn,
                                 "UPDATE outbox SET failed_at = clock_timestamp(),"
                                 " last_error = $2::text WHERE id = $1::bigint",
                                 2, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok ? 0 : -1;
}

/* Runs one bounded delete; returns rows deleted or -1. */
static int64_t delete_batch(PGconn *conn, const char *sql, int64_t retention_ms, int limit)
{
    char a[24], b[24];
    const char *params[] = {shop_db_i64(a, retention_ms), shop_db_i64(b, limit)};
    PGresult *res = PQexecParams(conn, sql, 2, NULL, params, NULL, NULL, 0);
    int64_t n = PQresultStatus(res) == PGRES_COMMAND_OK ? strtoll(PQcmdTuples(res), NULL, 10) : -1;
    PQclear(res);
    return n;
}

int64_t svc_outbox_trim(PGconn *conn, int64_t retention_ms, int inbox, int limit)
{
    /* Ids grow with created_at, so the oldest rows are the first ids; rows
     * still unpublished or parked are kept whatever their age. */
    int64_t n = delete_batch(conn,
                             "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id"
                             " LIMIT $2::int) AND published_at IS NOT NULL AND created_at <"
                             " clock_timestamp() - $1::bigint * interval '1 millisecond'",
                             retention_ms, limit);
    if (n < 0 || !inbox)
        return n;
    int64_t m = delete_batch(conn,
                             "DELETE FROM inbox WHERE (order_id, topic) IN (SELECT order_id, topic"
                             " FROM inbox ORDER BY order_id, topic LIMIT $2::int) AND at <"
                             " clock_timestamp() - $1::bigint * interval '1 millisecond'",
                             retention_ms, limit);
    return m < 0 ? -1 : n + m;
}
