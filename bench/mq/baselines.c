/* The baselines every broker figure is read against, measured in the same
 * run, interleaved with the broker cases, on the same disk and transport:
 * pwrite+fdatasync into a preallocated, synced file; an nng REQ/REP echo
 * with 1 and with N clients against an asynchronous echo server. */
#include "bench/mq/bench.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"

int mqb_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

void mqb_acc_add(mqb_acc *a, double us)
{
    if (a->lat_ns == NULL) {
        if ((a->lat_ns = malloc(sizeof *a->lat_ns)) == NULL)
            return;
        shop_hist_reset(a->lat_ns);
    }
    shop_hist_record(a->lat_ns, (int64_t)(us * 1e3 + 0.5));
}

void mqb_acc_free(mqb_acc *a)
{
    free(a->lat_ns);
    a->lat_ns = NULL;
}

long mqb_acc_samples(const mqb_acc *a)
{
    return a->lat_ns != NULL ? (long)a->lat_ns->count : 0;
}

double mqb_acc_rate(const mqb_acc *a)
{
    return a->secs > 0 ? (double)a->count / a->secs : 0;
}

double mqb_acc_mean_us(const mqb_acc *a)
{
    return a->count > 0 ? a->secs * 1e6 / (double)a->count : 0;
}

double mqb_percentile(const mqb_acc *a, double p)
{
    if (mqb_acc_samples(a) == 0)
        return 0;
    int64_t ns = p >= 100.0 ? a->lat_ns->max : shop_hist_percentile(a->lat_ns, p);
    return (double)ns / 1e3;
}

/* One file for all rounds, made like a broker segment: 64 MiB (or more)
 * zero-filled and synced once, then written at growing offsets. */
void mqb_fsync_round(const mqb_opts *o, long n, mqb_acc *a)
{
    static int fd = -1;
    static size_t next, size;
    if (fd < 0) {
        char path[600];
        snprintf(path, sizeof path, "%s/baseline.fsync", o->dir);
        size = (size_t)o->fsync_n * o->size;
        size = size > (64u << 20) ? size : (64u << 20);
        char *zeros = calloc(1, 1u << 20);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        for (size_t off = 0; fd >= 0 && zeros && off < size; off += 1u << 20)
            if (pwrite(fd, zeros, 1u << 20, (off_t)off) != 1 << 20)
                fd = -1;
        free(zeros);
        if (fd < 0 || fdatasync(fd) != 0) {
            fprintf(stderr, "mq-bench: cannot prepare %s\n", path);
            exit(1);
        }
        unlink(path); /* gone when the process ends */
    }
    char *buf = malloc(o->size);
    memset(buf, 'x', o->size);
    int64_t t0 = shop_now_ns();
    for (long i = 0; i < n; i++) {
        if (next + o->size > size)
            next = 0;
        int64_t s = shop_now_ns();
        if (pwrite(fd, buf, o->size, (off_t)next) != (ssize_t)o->size || fdatasync(fd) != 0)
            exit(1);
        mqb_acc_add(a, (double)(shop_now_ns() - s) / 1e3);
        next += o->size;
    }
    a->secs += (double)(shop_now_ns() - t0) / 1e9;
    a->count += n;
    free(buf);
}

#define ECHO_CTXS 64

typedef struct echo_ctx {
    nng_ctx ctx;
    nng_aio *aio;
    int sending;
} echo_ctx;

struct mqb_echo {
    nng_socket sock;
    echo_ctx ctxs[ECHO_CTXS];
};

static void echo_cb(void *arg)
{
    echo_ctx *c = arg;
    int rv = nng_aio_result(c->aio);
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
        if (c->sending)
            nng_msg_free(nng_aio_get_msg(c->aio));
        return;
    }
    if (rv != 0 || c->sending) {
        if (rv != 0 && c->sending)
            nng_msg_free(nng_aio_get_msg(c->aio));
        c->sending = 0;
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    c->sending = 1;
    nng_ctx_send(c->ctx, c->aio); /* the request goes back as the reply */
}

mqb_echo *mqb_echo_start(char *url, size_t urllen)
{
    mqb_echo *e = calloc(1, sizeof *e);
    snprintf(url, urllen, "tcp://127.0.0.1:%d", mqb_free_port());
    if (!e || nng_rep0_open(&e->sock) != 0 || nng_listen(e->sock, url, NULL, 0) != 0) {
        fprintf(stderr, "mq-bench: echo server cannot listen on %s\n", url);
        exit(1);
    }
    for (int i = 0; i < ECHO_CTXS; i++) {
        nng_aio_alloc(&e->ctxs[i].aio, echo_cb, &e->ctxs[i]);
        nng_ctx_open(&e->ctxs[i].ctx, e->sock);
        nng_ctx_recv(e->ctxs[i].ctx, e->ctxs[i].aio);
    }
    return e;
}

void mqb_echo_stop(mqb_echo *e)
{
    nng_close(e->sock);
    for (int i = 0; i < ECHO_CTXS; i++) {
        nng_aio_stop(e->ctxs[i].aio);
        nng_aio_free(e->ctxs[i].aio);
    }
    free(e);
}

typedef struct echo_client {
    const char *url;
    size_t size;
    long n;
    int64_t until_ns;
    mqb_acc *lat; /* 1 client only */
    long done;
} echo_client;

static void *echo_client_main(void *arg)
{
    echo_client *c = arg;
    nng_socket s;
    if (nng_req0_open(&s) != 0 || nng_dial(s, c->url, NULL, 0) != 0)
        return NULL;
    char *buf = calloc(1, c->size);
    while (c->n > 0 ? c->done < c->n : shop_now_ns() < c->until_ns) {
        int64_t t = shop_now_ns();
        void *rep;
        size_t len;
        if (nng_send(s, buf, c->size, 0) != 0 || nng_recv(s, &rep, &len, NNG_FLAG_ALLOC) != 0)
            break;
        nng_free(rep, len);
        if (c->lat)
            mqb_acc_add(c->lat, (double)(shop_now_ns() - t) / 1e3);
        c->done++;
    }
    free(buf);
    nng_close(s);
    return NULL;
}

void mqb_echo_round(const mqb_opts *o, const char *url, int clients, long n, int seconds,
                    mqb_acc *a)
{
    pthread_t *th = calloc((size_t)clients, sizeof *th);
    echo_client *cs = calloc((size_t)clients, sizeof *cs);
    int64_t t0 = shop_now_ns();
    for (int i = 0; i < clients; i++) {
        cs[i] = (echo_client){.url = url,
                              .size = o->size,
                              .n = n,
                              .until_ns = t0 + (int64_t)seconds * 1000000000,
                              .lat = clients == 1 ? a : NULL};
        pthread_create(&th[i], NULL, echo_client_main, &cs[i]);
    }
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        a->count += cs[i].done;
    }
    a->secs += (double)(shop_now_ns() - t0) / 1e9;
    free(th);
    free(cs);
}
