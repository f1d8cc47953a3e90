/* order.placed as a transactional message (see order_txmsg.h). The
 * check-back runs on the producer's member thread with its own order_db
 * connection (opened on first use, opened again after a failure). */
#include "services/order/order_txmsg.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"

/* A half younger than this whose order row is not there may still be in an
 * open order_db transaction: asked again later rather than rolled back. */
#define ORDER_TXMSG_YOUNG_MS 30000

struct order_txmsg {
    mq_txn_producer *p;
    char conninfo[1024];
    PGconn *check_conn; /* the member thread's only */
};

/* 1: the order row exists, 0: it does not, -1: order_db cannot say. */
static int order_exists(order_txmsg *t, const char *order_id)
{
    if (t->check_conn == NULL || PQstatus(t->check_conn) != CONNECTION_OK) {
        if (t->check_conn != NULL)
            PQfinish(t->check_conn);
        t->check_conn = PQconnectdb(t->conninfo);
        if (PQstatus(t->check_conn) != CONNECTION_OK) {
            shop_log_warn("txmsg check-back cannot reach order_db err=\"%s\"",
                          PQerrorMessage(t->check_conn));
            return -1;
        }
    }
    const char *params[] = {order_id};
    PGresult *res = PQexecParams(t->check_conn, "SELECT 1 FROM orders WHERE order_id = $1::bigint",
                                 1, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) > 0 : -1;
    PQclear(res);
    return rc;
}

static mq_txn_state check_back(const mq_msg *m, void *arg)
{
    order_txmsg *t = arg;
    int exists = m->key != NULL && *m->key ? order_exists(t, m->key) : 0;
    mq_txn_state st = exists > 0 ? MQ_TXN_COMMIT
                      : exists < 0 || shop_wall_ms() - m->timestamp_ms < ORDER_TXMSG_YOUNG_MS
                          ? MQ_TXN_UNKNOWN
                          : MQ_TXN_ROLLBACK;
    shop_log_info("txmsg check-back order=%s id=%s state=%s", m->key ? m->key : "", m->id,
                  st == MQ_TXN_COMMIT     ? "COMMIT"
                  : st == MQ_TXN_ROLLBACK ? "ROLLBACK"
                                          : "UNKNOWN");
    return st;
}

rpc_status order_txmsg_open(const char *mq_url, const char *conninfo, order_txmsg **out,
                            shop_error *err)
{
    order_txmsg *t = calloc(1, sizeof *t);
    if (t == NULL)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    snprintf(t->conninfo, sizeof t->conninfo, "%s", conninfo);
    /* PlaceOrder waits for the half: no retries behind its back, and a
     * broker that is down fails it at once with UNAVAILABLE (the client may
     * retry); a slow answer is capped at 1 s */
    mq_txn_producer_opts o = {.timeout_ms = 1000, .retries = -1, .fail_fast = 1};
    rpc_status st = mq_txn_producer_open(mq_url, ORDER_TXMSG_GROUP, check_back, t, &o, &t->p, err);
    if (st != RPC_OK) {
        free(t);
        return st;
    }
    *out = t;
    return RPC_OK;
}

void order_txmsg_close(order_txmsg *t)
{
    if (t == NULL)
        return;
    mq_txn_producer_close(t->p); /* joins the member thread: check_conn is free */
    if (t->check_conn != NULL)
        PQfinish(t->check_conn);
    free(t);
}

rpc_status order_txmsg_half(order_txmsg *t, int64_t order_id, const void *body, size_t len,
                            char id[MQ_ID_LEN], shop_error *err)
{
    char key[24], mid[64];
    snprintf(key, sizeof key, "%lld", (long long)order_id);
    snprintf(mid, sizeof mid, "order-placed-%lld", (long long)order_id);
    mq_send_opts o = {.id = mid};
    mq_send_result r;
    if (mq_producer_send_half(t->p, "order.placed", key, body, len, &o, &r) != RPC_OK)
        return shop_error_set(err, r.status, "order.placed half message: %s", r.message);
    snprintf(id, MQ_ID_LEN, "%s", r.id);
    return RPC_OK;
}

void order_txmsg_end(order_txmsg *t, const char *id, int commit)
{
    shop_error err = {0};
    if (mq_producer_end_txn(t->p, id, commit ? MQ_TXN_COMMIT : MQ_TXN_ROLLBACK, &err) != RPC_OK)
        shop_log_warn("txmsg %s not stored id=%s err=\"%s\" (the check-back decides)",
                      commit ? "commit" : "rollback", id, err.message);
}
