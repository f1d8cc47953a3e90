/* The connection pool: a stack of idle connections under one mutex. */
#include "services/common/svc_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct shop_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *conninfo;
    shop_pool_setup_fn setup;
    int size;
    int nidle;
    int waiting;   /* threads blocked in acquire */
    PGconn **idle; /* NULL entries are slots whose connection must be opened */
};

static rpc_status connect_one(shop_pool *pool, PGconn **out, shop_error *err)
{
    PGconn *conn = PQconnectdb(pool->conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        const char *why = PQerrorMessage(conn);
        size_t len = strcspn(why, "\n");
        shop_error_set(err, RPC_UNAVAILABLE, "connect to PostgreSQL: %.*s", (int)len, why);
        PQfinish(conn);
        return RPC_UNAVAILABLE;
    }
    if (pool->setup != NULL) {
        rpc_status st = pool->setup(conn, err);
        if (st != RPC_OK) {
            PQfinish(conn);
            return st;
        }
    }
    *out = conn;
    return RPC_OK;
}

rpc_status shop_pool_open(const char *conninfo, int size, shop_pool_setup_fn setup, shop_pool **out,
                          shop_error *err)
{
    if (size < 1)
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "pool size must be at least 1 (got %d)",
                              size);
    shop_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        goto fail;
    pool->conninfo = strdup(conninfo);
    pool->idle = calloc((size_t)size, sizeof *pool->idle);
    pool->size = size;
    pool->setup = setup;
    if (pool->conninfo == NULL || pool->idle == NULL)
        goto fail;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    for (int i = 0; i < size; i++) {
        rpc_status st = connect_one(pool, &pool->idle[i], err);
        if (st != RPC_OK) {
            pool->nidle = i;
            shop_pool_close(pool);
            return st;
        }
    }
    pool->nidle = size;
    *out = pool;
    return RPC_OK;
fail:
    if (pool != NULL) {
        free(pool->conninfo);
        free(pool->idle);
        free(pool);
    }
    return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
}

rpc_status shop_pool_acquire(shop_pool *pool, int timeout_ms, PGconn **out, shop_error *err)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    if (timeout_ms > 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&pool->mu);
    while (pool->nidle == 0) {
        pool->waiting++;
        int rc = timeout_ms < 0 ? pthread_cond_wait(&pool->cv, &pool->mu)
                                : pthread_cond_timedwait(&pool->cv, &pool->mu, &until);
        pool->waiting--;
        if (rc == ETIMEDOUT && pool->nidle == 0) {
            pthread_mutex_unlock(&pool->mu);
            return shop_error_set(err, RPC_RESOURCE_EXHAUSTED,
                                  "no database connection free after %d ms", timeout_ms);
        }
    }
    PGconn *conn = pool->idle[--pool->nidle];
    pthread_mutex_unlock(&pool->mu);

    if (conn != NULL && PQstatus(conn) != CONNECTION_OK) {
        PQfinish(conn);
        conn = NULL;
    }
    rpc_status st = RPC_OK;
    if (conn == NULL)
        st = connect_one(pool, &conn, err);
    if (st != RPC_OK) {
        /* Keep the slot: the next caller tries to connect again. */
        pthread_mutex_lock(&pool->mu);
        pool->idle[pool->nidle++] = NULL;
        pthread_cond_signal(&pool->cv);
        pthread_mutex_unlock(&pool->mu);
        return st;
    }
    *out = conn;
    return RPC_OK;
}

void shop_pool_release(shop_pool *pool, PGconn *conn)
{
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK &&
        PQtransactionStatus(conn) != PQTRANS_IDLE) {
        /* A caller that returned early inside a transaction: undo it. */
        PQclear(PQexec(conn, "ROLLBACK"));
    }
    if (conn != NULL && PQstatus(conn) != CONNECTION_OK) {
        PQfinish(conn);
        conn = NULL;
    }
    pthread_mutex_lock(&pool->mu);
    pool->idle[pool->nidle++] = conn;
    pthread_cond_signal(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}

int shop_pool_size(const shop_pool *pool)
{
    return pool->size;
}

void shop_pool_usage(shop_pool *pool, int *in_use, int *waiting)
{
    pthread_mutex_lock(&pool->mu);
    *in_use = pool->size - pool->nidle;
    *waiting = pool->waiting;
    pthread_mutex_unlock(&pool->mu);
}

void shop_pool_close(shop_pool *pool)
{
    if (pool == NULL)
        return;
    for (int i = 0; i < pool->nidle; i++)
        if (pool->idle[i] != NULL)
            PQfinish(pool->idle[i]);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cv);
    free(pool->conninfo);
    free(pool->idle);
    free(pool);
}
