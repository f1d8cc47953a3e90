/* A bounded nng_close for the channel and the server (see internal.h):
 * nng 1.5.2's close can hang forever once its reaper thread is stuck. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "base/clock.h"
#include "rpc/internal.h"

/* nng 1.5.2 can hang in nng_close, for one when its reaper thread got
 * stuck after a connection dropped in the middle of a multi-write frame
 * (see rpc/README.md). A stuck close must not hang the caller: it runs on its
 * own thread and is waited for at most `wait_ms`. Returns 0 once closed, -1
 * if it is still running (the thread then owns the job). */
typedef struct close_job {
    nng_socket sock;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, abandoned;
} close_job;

static void close_job_free(close_job *j)
{
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

static void *close_socket_main(void *arg)
{
    close_job *j = arg;
    nng_close(j->sock);
    pthread_mutex_lock(&j->mu);
    j->done = 1;
    int abandoned = j->abandoned;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (abandoned)
        close_job_free(j);
    return NULL;
}

int rpc__close_socket_bounded(nng_socket sock, int wait_ms)
{
    close_job *j = calloc(1, sizeof *j);
    pthread_t th;
    if (j == NULL) {
        nng_close(sock);
        return 0;
    }
    j->sock = sock;
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&th, NULL, close_socket_main, j) != 0) {
        nng_close(sock);
        close_job_free(j);
        return 0;
    }
    int64_t ns = (shop_now_ms() + wait_ms) * 1000000;
    struct timespec until = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    pthread_mutex_lock(&j->mu);
    while (!j->done && pthread_cond_timedwait(&j->cv, &j->mu, &until) != ETIMEDOUT) {
    }
    int done = j->done;
    j->abandoned = !done;
    pthread_mutex_unlock(&j->mu);
    if (!done) {
        pthread_detach(th);
        return -1;
    }
    pthread_join(th, NULL);
    close_job_free(j);
    return 0;
}
