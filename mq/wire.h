/* Internal: one REQ/REP round trip to the broker with a deadline, shared by
 * the producer, the consumer and the CLI. Not part of the public API. */
#ifndef SHOP_MQ_WIRE_H
#define SHOP_MQ_WIRE_H

#include <nng/nng.h>
#include <stdatomic.h>

#include "mq.pb-c.h"
#include "base/status.h"

#include <pthread.h>

#include "base/error.h"

#define MQ_LINK_POOL 64

/* A context with its aio, reused across calls (opening both per call costs
 * allocations and socket-lock traffic on the hot path). */
typedef struct mq_link_slot {
    nng_ctx ctx;
    nng_aio *aio;
} mq_link_slot;

typedef struct mq_link {
    nng_socket sock;
    atomic_int pipes; /* connected pipes, kept by nng pipe events */
    char url[256];
    pthread_mutex_t mu;
    mq_link_slot *idle[MQ_LINK_POOL];
    int nidle;
} mq_link;

/* Opens a REQ socket that dials `url` in the background (no silent resends). */
rpc_status mq_link_open(mq_link *l, const char *url, shop_error *err);
void mq_link_close(mq_link *l);

/* Sends `req` and waits up to timeout_ms for the reply (*out, to free with
 * shop__mq__reply__free_unpacked). UNAVAILABLE when no broker is connected,
 * DEADLINE_EXCEEDED when the reply does not come in time. */
rpc_status mq_link_call(mq_link *l, const Shop__Mq__Request *req, int timeout_ms,
                        Shop__Mq__Reply **out, shop_error *err);

/* The URL to use: `given`, else $env, else `fallback`. */
const char *mq_url_or_env(const char *given, const char *env, const char *fallback);

#endif
