/* rpc-echod: the shop.rpctest.Echo service on an rpc server, as a separate
 * process for the rpc tests and rpc-bench. SIGTERM/SIGINT drain and exit 0. */
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "rpc/metrics_http.h"
#include "rpc/rpc.h"
#include "rpc_echo.rpc.h"
#include "base/version.h"

static atomic_uint_fast64_t sleep_served;

static rpc_status do_echo(rpc_ctx *ctx, const Shop__Rpctest__EchoRequest *req,
                          Shop__Rpctest__EchoReply *reply, void *user)
{
    (void)ctx;
    (void)user;
    reply->data = req->data; /* the request outlives the reply's encoding */
    return RPC_OK;
}

static rpc_status do_round_trip(rpc_ctx *ctx, const Shop__Rpctest__AllTypes *req,
                                Shop__Rpctest__AllTypes *reply, void *user)
{
    (void)ctx;
    (void)user;
    *reply = *req;
    return RPC_OK;
}

static rpc_status do_sleep(rpc_ctx *ctx, const Shop__Rpctest__SleepRequest *req,
                           Shop__Rpctest__SleepReply *reply, void *user)
{
    (void)user;
    int64_t left = rpc_ctx_remaining_ms(ctx);
    reply->remaining_ms = left == INT64_MAX ? -1 : left;
    const char *trace = rpc_ctx_metadata(ctx, "trace");
    reply->trace = (char *)(trace != NULL ? trace : "");
    reply->served = atomic_fetch_add(&sleep_served, 1) + 1;
    shop_sleep_ms(req->ms);
    return RPC_OK;
}

static rpc_status do_fail(rpc_ctx *ctx, const Shop__Rpctest__FailRequest *req,
                          Shop__Rpctest__FailReply *reply, void *user)
{
    (void)reply;
    (void)user;
    return rpc_ctx_fail(ctx, (rpc_status)req->code, "%s", req->message);
}

/* Calls Sleep on another server with this call's deadline and metadata
 * passed on, and returns what the downstream handler saw. */
static rpc_status do_forward(rpc_ctx *ctx, const Shop__Rpctest__ForwardRequest *req,
                             Shop__Rpctest__SleepReply *reply, void *user)
{
    (void)user;
    rpc_channel *ch = NULL;
    rpc_error err = {0};
    if (rpc_channel_open(&ch, req->url, NULL, &err) != RPC_OK)
        return rpc_ctx_fail(ctx, err.code, "%s", err.message);
    const char *trace = rpc_ctx_metadata(ctx, "trace");
    rpc_metadata md[] = {{"trace", trace != NULL ? trace : ""}};
    rpc_call_opts opts = {.parent = ctx, .metadata = md, .n_metadata = 1};
    Shop__Rpctest__SleepRequest down = SHOP__RPCTEST__SLEEP_REQUEST__INIT;
    down.ms = req->ms;
    Shop__Rpctest__SleepReply *rep = NULL;
    rpc_status st = shop_rpctest_Echo_Sleep(ch, &down, &rep, &opts, &err);
    rpc_channel_close(ch);
    if (st != RPC_OK)
        return rpc_ctx_fail(ctx, st, "downstream: %s", err.message);
    reply->remaining_ms = rep->remaining_ms;
    reply->trace = rpc_ctx_strdup(ctx, rep->trace);
    reply->served = rep->served;
    shop__rpctest__sleep_reply__free_unpacked(rep, NULL);
    return RPC_OK;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: rpc-echod [--listen URL]... [--workers N] [--queue N] [--max-msg BYTES]\n"
                 "                 [--drain-ms MS]\n"
                 "Serves shop.rpctest.Echo (plus Health and Admin).\n"
                 "  --listen URL     tcp://, ipc:// or inproc:// (env RPC_ECHOD_LISTEN,\n"
                 "                   default tcp://127.0.0.1:7700); repeatable\n"
                 "  --workers N      handler threads (env RPC_ECHOD_WORKERS, default 4)\n"
                 "  --queue N        calls waiting for a worker (env RPC_ECHOD_QUEUE, default 64)\n"
                 "  --max-msg BYTES  request size limit (env RPC_ECHOD_MAX_MSG, default 4 MiB)\n"
                 "  --drain-ms MS    how long SIGTERM waits for running calls (default 5000)\n"
                 "  --metrics-url URL  GET /metrics there (loopback; default none)\n");
}

static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    return v != NULL && *v ? strtol(v, NULL, 10) : def;
}

int main(int argc, char **argv)
{
    if (shop_version_asked(argc, argv, "rpc-echod"))
        return 0;
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},   {"workers", required_argument, NULL, 'w'},
        {"queue", required_argument, NULL, 'q'},    {"max-msg", required_argument, NULL, 'm'},
        {"drain-ms", required_argument, NULL, 'd'}, {"metrics-url", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    const char *urls[16];
    int n_urls = 0;
    rpc_server_opts so = {
        .workers = (int)env_long("RPC_ECHOD_WORKERS", 4),
        .queue_depth = (int)env_long("RPC_ECHOD_QUEUE", 64),
        .max_msg_bytes = (size_t)env_long("RPC_ECHOD_MAX_MSG", RPC_DEFAULT_MAX_MSG),
        .name = "rpc-echod",
    };
    int drain_ms = 5000, c;
    const char *metrics_url = NULL;
    while ((c = getopt_long(argc, argv, "l:w:q:m:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (n_urls < 16)
                urls[n_urls++] = optarg;
            break;
        case 'w':
            so.workers = atoi(optarg);
            break;
        case 'q':
            so.queue_depth = atoi(optarg);
            break;
        case 'm':
            so.max_msg_bytes = (size_t)strtoull(optarg, NULL, 10);
            break;
        case 'd':
            drain_ms = atoi(optarg);
            break;
        case 'M':
            metrics_url = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (n_urls == 0) {
        const char *env = getenv("RPC_ECHOD_LISTEN");
        urls[n_urls++] = env != NULL && *env ? env : "tcp://127.0.0.1:7700";
    }
    shop_log_init("rpc-echod");

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    static const shop_rpctest_Echo_server impl = {.Echo = do_echo,
                                                  .RoundTrip = do_round_trip,
                                                  .Sleep = do_sleep,
                                                  .Fail = do_fail,
                                                  .Forward = do_forward};
    rpc_server *srv = NULL;
    rpc_error err = {0};
    if (rpc_server_new(&srv, &so, &err) != RPC_OK ||
        shop_rpctest_Echo_register(srv, &impl, &err) != RPC_OK)
        goto fail;
    for (int i = 0; i < n_urls; i++)
        if (rpc_server_listen(srv, urls[i], &err) != RPC_OK)
            goto fail;
    if (rpc_server_start(srv, &err) != RPC_OK)
        goto fail;
    rpc_metrics_http *metrics = rpc_metrics_http_serve(metrics_url, rpc_server_metrics, srv);

    int sig = 0;
    sigwait(&sigs, &sig);
    shop_log_info("draining signal=%d", sig);
    rpc_metrics_http_stop(metrics);
    rpc_server_shutdown(srv, drain_ms);
    rpc_server_log_stats(srv);
    rpc_server_free(srv);
    return 0;
fail:
    shop_log_error("cannot start status=%s msg=\"%s\"", rpc_status_name(err.code), err.message);
    rpc_server_free(srv);
    return 1;
}
