/* The baselines every broker figure is read against, measured in the same
 * run on the same disk and transport: pwrite+fdatasync into a preallocated,
 * synced file; an nng REQ/REP echo with 1 client and with N clients against
 * an asynchronous (context-based) echo server. */
#include "bench.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpc/clock.h"

int mqb_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double mqb_percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

void mqb_baseline_fsync(const mqb_opts *o, mqb_baselines *b)
{
    char path[600];
    snprintf(path, sizeof path, "%s/baseline.fsync", o->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    size_t total = (size_t)o->fsync_n * o->size;
    char *zeros = calloc(1, total + 1);
    double *lat = calloc((size_t)o->fsync_n, sizeof *lat);
    if (fd < 0 || !zeros || !lat || pwrite(fd, zeros, total, 0) != (ssize_t)total ||
        fsync(fd) != 0) {
        fprintf(stderr, "mq-bench: cannot prepare %s\n", path);
        exit(1);
    }
    char *rec = malloc(o->size);
    memset(rec, 'x', o->size);
    int64_t t0 = shop_now_ns();
    for (long i = 0; i < o->fsync_n; i++) {
        int64_t s = shop_now_ns();
        if (pwrite(fd, rec, o->size, (off_t)((size_t)i * o->size)) != (ssize_t)o->size ||
            fdatasync(fd) != 0)
            exit(1);
        lat[i] = (double)(shop_now_ns() - s) / 1e3;
    }
    double secs = (double)(shop_now_ns() - t0) / 1e9;
    b->fsync_us = mqb_percentile(lat, (size_t)o->fsync_n, 50);
    printf("case=baseline_fsync n=%ld size=%zu p50_us=%.1f p99_us=%.1f ops_per_s=%.0f\n",
           o->fsync_n, o->size, b->fsync_us, mqb_percentile(lat, (size_t)o->fsync_n, 99),
           (double)o->fsync_n / secs);
    fflush(stdout);
    close(fd);
    unlink(path);
    free(zeros);
    free(lat);
    free(rec);
}

/* The echo server: contexts answering in their callback. */
typedef struct echo_ctx {
    nng_ctx ctx;
    nng_aio *aio;
    int sending;
} echo_ctx;

static void echo_cb(void *arg)
{
    echo_ctx *c = arg;
    if (nng_aio_result(c->aio) != 0) {
        if (c->sending)
            nng_msg_free(nng_aio_get_msg(c->aio));
        else if (nng_aio_result(c->aio) == NNG_ECLOSED)
            return;
        c->sending = 0;
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    if (c->sending) {
        c->sending = 0;
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    c->sending = 1;
    nng_ctx_send(c->ctx, c->aio); /* the request message goes back as the reply */
}

typedef struct echo_client {
    const char *url;
    const mqb_opts *o;
    long n;
    int64_t until_ns;
    double *lat;
    long done;
} echo_client;

static void *echo_client_main(void *arg)
{
    echo_client *c = arg;
    nng_socket s;
    if (nng_req0_open(&s) != 0 || nng_dial(s, c->url, NULL, 0) != 0)
        return NULL;
    char *buf = calloc(1, c->o->size);
    for (long i = 0; c->lat ? i < c->n : shop_now_ns() < c->until_ns; i++) {
        int64_t t = shop_now_ns();
        void *rep;
        size_t len;
        if (nng_send(s, buf, c->o->size, 0) != 0 || nng_recv(s, &rep, &len, NNG_FLAG_ALLOC) != 0)
            break;
        nng_free(rep, len);
        if (c->lat)
            c->lat[i] = (double)(shop_now_ns() - t) / 1e3;
        c->done++;
    }
    free(buf);
    nng_close(s);
    return NULL;
}

void mqb_baseline_echo(const mqb_opts *o, mqb_baselines *b)
{
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", mqb_free_port());
    nng_socket srv;
    echo_ctx ctxs[64];
    if (nng_rep0_open(&srv) != 0 || nng_listen(srv, url, NULL, 0) != 0) {
        fprintf(stderr, "mq-bench: echo server cannot listen on %s\n", url);
        exit(1);
    }
    for (int i = 0; i < 64; i++) {
        ctxs[i].sending = 0;
        nng_aio_alloc(&ctxs[i].aio, echo_cb, &ctxs[i]);
        nng_ctx_open(&ctxs[i].ctx, srv);
        nng_ctx_recv(ctxs[i].ctx, ctxs[i].aio);
    }
    echo_client one = {.url = url, .o = o, .n = o->echo_n};
    one.lat = calloc((size_t)o->echo_n, sizeof *one.lat);
    int64_t t0 = shop_now_ns();
    echo_client_main(&one);
    double secs = (double)(shop_now_ns() - t0) / 1e9;
    b->echo_us = mqb_percentile(one.lat, (size_t)one.done, 50);
    printf("case=baseline_echo_1 n=%ld p50_us=%.1f p99_us=%.1f req_per_s=%.0f\n", one.done,
           b->echo_us, mqb_percentile(one.lat, (size_t)one.done, 99), (double)one.done / secs);
    fflush(stdout);
    free(one.lat);

    int n = o->clients;
    pthread_t *th = calloc((size_t)n, sizeof *th);
    echo_client *cs = calloc((size_t)n, sizeof *cs);
    int64_t until = shop_now_ns() + (int64_t)o->seconds * 1000000000;
    t0 = shop_now_ns();
    for (int i = 0; i < n; i++) {
        cs[i] = (echo_client){.url = url, .o = o, .until_ns = until};
        pthread_create(&th[i], NULL, echo_client_main, &cs[i]);
    }
    long total = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        total += cs[i].done;
    }
    secs = (double)(shop_now_ns() - t0) / 1e9;
    b->echo32_rps = (double)total / secs;
    printf("case=baseline_echo_%d clients=%d n=%ld req_per_s=%.0f\n", n, n, total, b->echo32_rps);
    fflush(stdout);
    free(th);
    free(cs);
    nng_close(srv);
    for (int i = 0; i < 64; i++) {
        nng_aio_stop(ctxs[i].aio);
        nng_aio_free(ctxs[i].aio);
    }
}
