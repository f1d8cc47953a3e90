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

int order_ids_prepare(PGconn *conn, char *err, size_t errlen)
{
    return shop_db_prepare(conn, &st_take, 1, err, errlen);
}

/* Fetches `n` ids into out[]; returns how many came back, or minus a status. */
static int take(PGconn *conn, int n, int64_t *out, char *msg, size_t msglen)
{
    char a[24];
    const char *params[] = {shop_db_i64(a, n)};
    int st;
    PGresult *res = shop_db_run(conn, &st_take, 1, params, &st, msg, msglen);
    if (res == NULL)
        return -st;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && i < n; i++)
        out[i] = shop_db_get_i64(res, i, 0);
    PQclear(res);
    return rows < n ? rows : n;
}

int order_ids_next(order_ids *p, PGconn *conn, int64_t *id, char *msg, size_t msglen)
{
    if (p == NULL) {
        int got = take(conn, 1, id, msg, msglen);
        return got == 1 ? RPC_OK : got < 0 ? -got : RPC_INTERNAL;
    }
    pthread_mutex_lock(&p->mu);
    if (p->next == p->count) {
        int got = take(conn, p->block, p->ids, msg, msglen);
        if (got <= 0) {
            pthread_mutex_unlock(&p->mu);
            return got < 0 ? -got : RPC_INTERNAL;
        }
        p->next = 0;
        p->count = got;
    }
    *id = p->ids[p->next++];
    pthread_mutex_unlock(&p->mu);
    return RPC_OK;
}
