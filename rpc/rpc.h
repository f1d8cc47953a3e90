/* rpc: gRPC semantics over nng REQ/REP and protobuf-c.
 *
 * A server registers protoc-c service descriptors with one handler per method
 * (the build generates typed wrappers, see "<name>.rpc.h" for each proto),
 * listens on tcp://, ipc:// or inproc:// URLs and runs handlers on a worker
 * pool. A channel dials one or more servers and makes calls that always carry
 * a deadline. Every function returns a gRPC status (base/status.h); failures
 * come with a message in an rpc_error the caller may pass (or NULL).
 *
 * Times are milliseconds on the monotonic clock of base/clock.h (shop_now_ms).
 */
#ifndef SHOP_RPC_RPC_H
#define SHOP_RPC_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "base/error.h"
#include "base/status.h"

#define RPC_DEFAULT_MAX_MSG (4u * 1024u * 1024u)
#define RPC_DEFAULT_TIMEOUT_MS 5000

/* A status and the message that explains it: base/error.h's shop_error under
 * the RPC library's name (attempts: on the client, how many times the call
 * was sent). */
typedef shop_error rpc_error;

/* Sets err (if not NULL) and returns code: shop_error_set. */
#define rpc_error_set shop_error_set

typedef struct rpc_metadata {
    const char *key;
    const char *value;
} rpc_metadata;

/* True when an nng SP endpoint (any protocol) listens on ipv4:port (NULL:
 * 127.0.0.1) and completes the SP handshake within timeout_ms. Use it to wait
 * for a server to come up: a bare TCP connect that closes mid-handshake makes
 * nng 1.5.2 pause accepting for 100 ms (see rpc/probe.c). */
bool rpc_probe_tcp(const char *ipv4, int port, int timeout_ms);

/* ---- server ------------------------------------------------------------ */

typedef struct rpc_server rpc_server;
typedef struct rpc_ctx rpc_ctx; /* one call, as seen by its handler */

/* A handler fills `reply` (already initialised to its message type) and
 * returns a status. Strings and buffers put into `reply` must outlive the
 * handler: use static data or rpc_ctx_alloc/rpc_ctx_strdup. */
typedef rpc_status (*rpc_handler_fn)(rpc_ctx *ctx, const ProtobufCMessage *req,
                                     ProtobufCMessage *reply, void *impl);

typedef struct rpc_server_opts {
    int workers;          /* handler threads; default 4 */
    int queue_depth;      /* calls waiting for a worker before RESOURCE_EXHAUSTED; default 64 */
    size_t max_msg_bytes; /* largest request accepted; default RPC_DEFAULT_MAX_MSG */
    const char *name;     /* for logs; default "rpc" */
} rpc_server_opts;

/* Creates a server (opts may be NULL). It answers shop.health.Health/Check and
 * shop.rpc.Admin/{ListMethods,Stats} from the start. */
rpc_status rpc_server_new(rpc_server **out, const rpc_server_opts *opts, rpc_error *err);

/* Registers every method of `svc`; handlers[i] serves svc->methods[i] (NULL:
 * UNIMPLEMENTED). `impl` is passed to each handler and must outlive the server.
 * Call before rpc_server_start. Generated <svc>_register() wraps this. */
rpc_status rpc_server_add_service(rpc_server *s, const ProtobufCServiceDescriptor *svc,
                                  const rpc_handler_fn *handlers, void *impl, rpc_error *err);

/* Listens on a URL (may be called several times, before or after start). */
rpc_status rpc_server_listen(rpc_server *s, const char *url, rpc_error *err);

/* Starts the worker pool. */
rpc_status rpc_server_start(rpc_server *s, rpc_error *err);

/* Health reported for `service` ("" = the whole server). */
void rpc_server_set_serving(rpc_server *s, const char *service, bool serving);

/* Drains: new calls get UNAVAILABLE, queued and running calls finish (for at
 * most drain_ms), then the listeners close. Safe to call once. */
void rpc_server_shutdown(rpc_server *s, int drain_ms);

/* Shuts down if needed and frees everything. */
void rpc_server_free(rpc_server *s);

/* Writes one `method=... count=... errors=... p50_us=... p99_us=...` line per method. */
void rpc_server_log_stats(rpc_server *s);

/* The call's full method name, "shop.stock.StockService/Deduct". */
const char *rpc_ctx_method(const rpc_ctx *ctx);
/* Absolute deadline (shop_now_ms clock), 0 when the caller set none. */
int64_t rpc_ctx_deadline_ms(const rpc_ctx *ctx);
/* Milliseconds left before the deadline (<= 0: passed), INT64_MAX when none. */
int64_t rpc_ctx_remaining_ms(const rpc_ctx *ctx);
/* Value of the metadata `key` sent by the caller, or NULL. */
const char *rpc_ctx_metadata(const rpc_ctx *ctx, const char *key);
/* Sets the status message and returns code: `return rpc_ctx_fail(ctx, RPC_NOT_FOUND, "...")`. */
rpc_status rpc_ctx_fail(rpc_ctx *ctx, rpc_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Memory freed after the reply is sent (zeroed). Never NULL (aborts on OOM). */
void *rpc_ctx_alloc(rpc_ctx *ctx, size_t size);
char *rpc_ctx_strdup(rpc_ctx *ctx, const char *s);

/* ---- client ------------------------------------------------------------ */

typedef struct rpc_channel rpc_channel;

typedef struct rpc_retry_policy {
    int max_attempts;       /* including the first; default 4 (1 disables retries) */
    int initial_backoff_ms; /* default 20 */
    int max_backoff_ms;     /* default 1000 */
    double multiplier;      /* default 2.0; each wait is jittered in [0.5, 1.0] x backoff */
} rpc_retry_policy;

typedef struct rpc_channel_opts {
    int64_t default_timeout_ms; /* default RPC_DEFAULT_TIMEOUT_MS */
    size_t max_msg_bytes;       /* largest request sent / reply accepted */
    rpc_retry_policy retry;
    int64_t connect_wait_ms; /* open waits this long at most for every URL to connect; 100 */
} rpc_channel_opts;

typedef struct rpc_call_opts {
    int64_t timeout_ms;    /* 0: the channel's default */
    const rpc_ctx *parent; /* a handler's ctx: never outlive its deadline */
    bool wait_for_ready;   /* wait for a server instead of failing with UNAVAILABLE */
    bool idempotent;       /* may be retried on UNAVAILABLE (stubs set it from the proto) */
    const rpc_metadata *metadata;
    size_t n_metadata;
} rpc_call_opts;

/* Dials every URL of a comma-separated list ("tcp://127.0.0.1:7001,ipc:///tmp/s");
 * calls are spread over the connected servers. Returns once every URL is
 * connected or connect_wait_ms passed; connecting goes on in the background
 * (servers may start later and may restart). */
rpc_status rpc_channel_open(rpc_channel **out, const char *urls, const rpc_channel_opts *opts,
                            rpc_error *err);
/* Waits for the channel's asynchronous calls to finish, then closes it.
 * Synchronous calls on other threads must have returned. */
void rpc_channel_close(rpc_channel *ch);

/* Number of servers connected right now. */
int rpc_channel_connected(rpc_channel *ch);

/* Calls svc->methods[method] with `req`; on OK, *reply is a new message that
 * the caller frees with protobuf_c_message_free_unpacked(*reply, NULL). */
rpc_status rpc_channel_call(rpc_channel *ch, const ProtobufCServiceDescriptor *svc, unsigned method,
                            const ProtobufCMessage *req, ProtobufCMessage **reply,
                            const rpc_call_opts *opts, rpc_error *err);

/* The same with raw payload bytes; *reply_out (malloc'd, caller frees) and
 * *reply_len are set on OK. For tools that do not know the types. */
rpc_status rpc_channel_call_bytes(rpc_channel *ch, const char *method, const uint8_t *payload,
                                  size_t len, uint8_t **reply_out, size_t *reply_len,
                                  const rpc_call_opts *opts, rpc_error *err);

/* Asynchronous call: `done` runs once with the status, the message and (on
 * OK) the reply that the callback owns; usually on an nng thread, but a call
 * that fails at once (no server) may call back before rpc_channel_call_async returns.
 * Returns OK when the call started; otherwise `done` is not called. The
 * request and metadata are copied. */
typedef void (*rpc_done_fn)(rpc_status code, const char *message, ProtobufCMessage *reply,
                            void *arg);
rpc_status rpc_channel_call_async(rpc_channel *ch, const ProtobufCServiceDescriptor *svc,
                                  unsigned method, const ProtobufCMessage *req,
                                  const rpc_call_opts *opts, rpc_done_fn done, void *arg,
                                  rpc_error *err);

#endif
