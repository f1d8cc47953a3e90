/* The baseline: plain nng REQ/REP echo with no envelope, no dispatch and no
 * worker pool. The server echoes in nng's own callback (the fastest an nng
 * server can be); the client gives each caller its own REQ context. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bench/rpc/bench.h"

#define RAW_CTXS 64

typedef struct raw_slot {
    nng_ctx ctx;
    nng_aio *aio;
    int sending;
} raw_slot;

static void raw_slot_cb(void *arg)
{
    raw_slot *s = arg;
    int rv = nng_aio_result(s->aio);
    if (rv == NNG_ECLOSED)
        return;
    if (s->sending || rv != 0) {
        if (s->sending && rv != 0)
            nng_msg_free(nng_aio_get_msg(s->aio));
        s->sending = 0;
        nng_ctx_recv(s->ctx, s->aio);
        return;
    }
    s->sending = 1;
    nng_ctx_send(s->ctx, s->aio); /* the received message goes straight back */
}

int raw_server_main(const char *tcp_url, const char *ipc_url)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    nng_socket sock;
    if (nng_rep0_open(&sock) != 0)
        return 1;
    nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, 0);
    static raw_slot slots[RAW_CTXS];
    for (int i = 0; i < RAW_CTXS; i++) {
        if (nng_ctx_open(&slots[i].ctx, sock) != 0 ||
            nng_aio_alloc(&slots[i].aio, raw_slot_cb, &slots[i]) != 0)
            return 1;
    }
    if (nng_listen(sock, tcp_url, NULL, 0) != 0 || nng_listen(sock, ipc_url, NULL, 0) != 0) {
        fprintf(stderr, "raw echo: cannot listen on %s / %s\n", tcp_url, ipc_url);
        return 1;
    }
    for (int i = 0; i < RAW_CTXS; i++)
        nng_ctx_recv(slots[i].ctx, slots[i].aio);
    int sig;
    sigwait(&sigs, &sig);
    nng_close(sock);
    for (int i = 0; i < RAW_CTXS; i++)
        nng_aio_free(slots[i].aio);
    return 0;
}

typedef struct raw_client {
    nng_socket sock;
    int n;
    nng_ctx *ctx;
    nng_aio **aio;
} raw_client;

void *raw_client_open(const char *url, int callers)
{
    raw_client *c = calloc(1, sizeof *c);
    if (c == NULL || nng_req0_open(&c->sock) != 0)
        return NULL;
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 0);
    if (nng_dial(c->sock, url, NULL, 0) != 0) {
        fprintf(stderr, "raw echo: cannot dial %s\n", url);
        return NULL;
    }
    c->n = callers;
    c->ctx = calloc((size_t)callers, sizeof *c->ctx);
    c->aio = calloc((size_t)callers, sizeof *c->aio);
    for (int i = 0; i < callers; i++) {
        nng_ctx_open(&c->ctx[i], c->sock);
        nng_aio_alloc(&c->aio[i], NULL, NULL);
        nng_aio_set_timeout(c->aio[i], 5000);
    }
    return c;
}

int raw_client_call(void *target, int caller, const uint8_t *payload, size_t len)
{
    raw_client *c = target;
    nng_msg *m;
    if (nng_msg_alloc(&m, len) != 0)
        return -1;
    memcpy(nng_msg_body(m), payload, len);
    nng_aio *aio = c->aio[caller];
    nng_aio_set_msg(aio, m);
    nng_ctx_send(c->ctx[caller], aio);
    nng_aio_wait(aio);
    if (nng_aio_result(aio) != 0) {
        nng_msg_free(m);
        return -1;
    }
    nng_ctx_recv(c->ctx[caller], aio);
    nng_aio_wait(aio);
    if (nng_aio_result(aio) != 0)
        return -1;
    m = nng_aio_get_msg(aio);
    int ok = nng_msg_len(m) == len && memcmp(nng_msg_body(m), payload, len) == 0;
    nng_msg_free(m);
    return ok ? 0 : -1;
}

void raw_client_close(void *target)
{
    raw_client *c = target;
    if (c == NULL)
        return;
    nng_close(c->sock);
    for (int i = 0; i < c->n; i++)
        nng_aio_free(c->aio[i]);
    free(c->ctx);
    free(c->aio);
    free(c);
}
