/* Order ids in blocks from the orders' identity sequence (see order_ids.h). */
#include "services/order/order_ids.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/status.h"
#include "services/common/svc_db.h"

#define BLOCK_MAX 1024

struct order_ids {
    pthread_mutex_t mu;
    int block;
    int next, count; /* ids[next..count) are unused */
    int64_t ids[BLOCK_MAX];
};

static const shop_stmt st_take = {"order_ids_take",
                                  "SELECT nextval(pg_get_serial_sequence('orders', 'order_id'))"
                                  " FROM generate_series(1, $1::int)"};

order_ids *order_ids_new(int block)
{
    order_ids *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    p->block = block < 1 ? 1 : block > BLOCK_MAX ? BLOCK_MAX : block;
    return p;
}

void order_ids_free(order_ids *p)
{
    if (p == NULL)
        return;
    pthread_mutex_destroy(&p->mu);
    free(p);
}

rpc_status order_ids_prepare(PGconn *conn, shop_error *err)
{
    return shop_db_prepare(conn, &st_take, 1, err);
}

/* Fetches `n` ids into out[]; fails (INTERNAL) when fewer came back. */
static rpc_status take(PGconn *conn, int n, int64_t *out, shop_error *err)
{
    char a[24];
    const char *params[] = {shop_db_i64(a, n)};
    PGresult *res = NULL;
    rpc_status st = shop_db_run(conn, &st_take, 1, params, &res, err);
    if (st != RPC_OK)
        return st;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && i < n; i++)
        out[i] = shop_db_get_i64(res, i, 0);
    PQclear(res);
    if (rows < n)
        return shop_error_set(err, RPC_INTERNAL, "the id sequence gave %d of %d ids", rows, n);
    return RPC_OK;
}

rpc_status order_ids_next(order_ids *p, PGconn *conn, int64_t *id, shop_error *err)
{
    if (p == NULL)
        return take(conn, 1, id, err);
    pthread_mutex_lock(&p->mu);
    if (p->next == p->count) {
        rpc_status st = take(conn, p->block, p->ids, err);
        if (st != RPC_OK) {
            pthread_mutex_unlock(&p->mu);
            return st;
        }
        p->next = 0;
        p->count = p->block;
    }
    *id = p->ids[p->next++];
    pthread_mutex_unlock(&p->mu);
    return RPC_OK;
}
