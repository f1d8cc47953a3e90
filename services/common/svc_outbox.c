/* Writing to the outbox: one parameterised INSERT inside the caller's
 * transaction (the body travels as binary bytea). */
#include "services/common/svc_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/status.h"
#include "base/trace.h"

rpc_status svc_outbox_add(PGconn *conn, const char *topic, const char *key, const void *body,
                          size_t len, int64_t delay_ms, shop_error *err)
{
    char delay[24];
    snprintf(delay, sizeof delay, "%lld", (long long)(delay_ms > 0 ? delay_ms : 0));
    /* The event carries the trace of the work that wrote it (base/trace.h). */
    char tp[SHOP_TRACEPARENT_LEN + 1] = "";
    const shop_trace *cur = shop_trace_current();
    if (cur != NULL) {
        shop_trace hop;
        shop_trace_child(cur, &hop);
        shop_trace_format(&hop, tp);
    }
    const char *values[] = {topic, key != NULL ? key : "", len > 0 ? body : "", delay, tp};
    int lengths[] = {0, 0, (int)len, 0, 0};
    int formats[] = {0, 0, 1, 0, 0};
    PGresult *res = PQexecParams(conn,
                                 "INSERT INTO outbox (topic, msg_key, body, delay_ms, traceparent)"
                                 " VALUES ($1::text, NULLIF($2::text, ''), $3::bytea, $4::bigint,"
                                 " NULLIF($5::text, ''))",
                                 5, NULL, values, lengths, formats, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (ok)
        return RPC_OK;
    const char *why = PQerrorMessage(conn);
    return shop_error_set(err, PQstatus(conn) == CONNECTION_OK ? RPC_INTERNAL : RPC_UNAVAILABLE,
                          "outbox insert (%s): %.*s", topic, (int)strcspn(why, "\n"), why);
}

int64_t svc_outbox_backlog(PGconn *conn)
{
    PGresult *res = PQexecParams(conn, "SELECT count(*) FROM outbox WHERE published_at IS NULL", 0,
                                 NULL, NULL, NULL, NULL, 0);
    int64_t n = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

int64_t svc_outbox_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
