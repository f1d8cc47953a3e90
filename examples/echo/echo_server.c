/* An echo server on the installed shoprpc library: serves example.echo.Echo
 * on the URL given (tcp://127.0.0.1:PORT) until SIGINT or SIGTERM.
 * Usage: echo-server URL */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>

#include "base/version.h"
#include "echo.rpc.h"
#include "rpc/rpc.h"

static atomic_ulong served;

static rpc_status say(rpc_ctx *ctx, const Example__Echo__SayRequest *req,
                      Example__Echo__SayReply *reply, void *user)
{
    (void)user;
    size_t len = snprintf(NULL, 0, "echo: %s", req->text) + 1;
    reply->text = rpc_ctx_alloc(ctx, len);
    snprintf(reply->text, len, "echo: %s", req->text);
    reply->served = atomic_fetch_add(&served, 1) + 1;
    return RPC_OK;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: echo-server URL   (shopflow %s)\n", SHOPFLOW_VERSION);
        return 2;
    }
    /* Block the stop signals before any thread starts, then wait for one. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    rpc_error err = {0};
    rpc_server *srv = NULL;
    static const example_echo_Echo_server impl = {.Say = say};
    if (rpc_server_new(&srv, NULL, &err) != RPC_OK ||
        example_echo_Echo_register(srv, &impl, &err) != RPC_OK ||
        rpc_server_listen(srv, argv[1], &err) != RPC_OK || rpc_server_start(srv, &err) != RPC_OK) {
        fprintf(stderr, "echo-server: %s: %s\n", rpc_status_name(err.code), err.message);
        rpc_server_free(srv);
        return 1;
    }
    printf("echo-server: listening on %s\n", argv[1]);
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    rpc_server_shutdown(srv, 1000);
    rpc_server_free(srv);
    printf("echo-server: stopped after %lu calls\n", (unsigned long)atomic_load(&served));
    return 0;
}
