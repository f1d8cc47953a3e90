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
    PGconn **idle; /* NULL entries are slots whose connection must be opened */
};

static PGconn *connect_one(shop_pool *pool, char *err, size_t errlen)
{
    PGconn *conn = PQconnectdb(pool->conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, errlen, "connect to PostgreSQL: %s", PQerrorMessage(conn));
        char *nl = strchr(err, '\n');
        if (nl != NULL)
            *nl = '\0';
        PQfinish(conn);
        return NULL;
    }
    if (pool->setup != NULL && pool->setup(conn, err, errlen) != 0) {
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

shop_pool *shop_pool_open(const char *conninfo, int size, shop_pool_setup_fn setup, char *err,
                          size_t errlen)
{
    if (size < 1) {
        snprintf(err, errlen, "pool size must be at least 1 (got %d)", size);
        return NULL;
    }
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
        pool->idle[i] = connect_one(pool, err, errlen);
        if (pool->idle[i] == NULL) {
            pool->nidle = i;
            shop_pool_close(pool);
            return NULL;
        }
    }
    pool->nidle = size;
    return pool;
fail:
    snprintf(err, errlen, "out of memory");
    if (pool != NULL) {
        free(pool->conninfo);
        free(pool->idle);
        free(pool);
    }
    return NULL;
}

PGconn *shop_pool_acquire(shop_pool *pool, int timeout_ms, char *err, size_t errlen)
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
        int rc = timeout_ms < 0 ? pthread_cond_wait(&pool->cv, &pool->mu)
                                : pthread_cond_timedwait(&pool->cv, &pool->mu, &until);
        if (rc == ETIMEDOUT && pool->nidle == 0) {
            pthread_mutex_unlock(&pool->mu);
            snprintf(err, errlen, "no database connection free after %d ms", timeout_ms);
            return NULL;
        }
    }
    PGconn *conn = pool->idle[--pool->nidle];
    pthread_mutex_unlock(&pool->mu);

    if (conn != NULL && PQstatus(conn) != CONNECTION_OK) {
        PQfinish(conn);
        conn = NULL;
    }
    if (conn == NULL)
        conn = connect_one(pool, err, errlen);
    if (conn == NULL) {
        /* Keep the slot: the next caller tries to connect again. */
        pthread_mutex_lock(&pool->mu);
        pool->idle[pool->nidle++] = NULL;
        pthread_cond_signal(&pool->cv);
        pthread_mutex_unlock(&pool->mu);
    }
    return conn;
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
