/* Shared between the synchronous and the asynchronous client calls. */
#ifndef SHOP_RPC_CHANNEL_INTERNAL_H
#define SHOP_RPC_CHANNEL_INTERNAL_H

#include "rpc/internal.h"

struct rpc_channel {
    nng_socket sock;
    rpc_channel_opts opts;
    atomic_int connected;
    atomic_uint_fast64_t next_call_id;
    pthread_mutex_t mu;
    pthread_cond_t cv;  /* close waits for async calls */
    int async_inflight; /* under mu */
    struct rpc_cslot *free_slots;
    struct rpc_acall *finished; /* async calls whose aio and context wait to be freed */
};

/* A pooled nng context and its aios. The reply's deadline is kept by the
 * caller's own timed wait and a synchronous nng_aio_cancel, not by nng's aio
 * timeout: in nng 1.5.2 the expiry thread may still be inside req0's cancel
 * routine (using the context) after the reply completed the operation, so a
 * context reused or closed at that moment was corrupted (seen under load).
 * The send keeps nng's timeout on its own callback-less aio: it completes as
 * soon as a pipe takes the frame, and a callback would cost a thread hop. */
typedef struct rpc_cslot {
    nng_ctx ctx;
    nng_aio *send_aio;
    nng_aio *aio; /* receive */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    bool done;
    struct rpc_cslot *next;
} rpc_cslot;

/* Frees the aio and context of finished async calls (not from their own
 * callbacks: freeing an aio waits for its callback and its expiry). */
void rpc__reap_async(rpc_channel *ch);

/* Absolute deadline for a call (shop_now_ms clock). */
int64_t rpc__call_deadline(rpc_channel *ch, const rpc_call_opts *opts);
/* Builds the request frame; NULL on out of memory. */
nng_msg *rpc__request_msg(rpc_channel *ch, const char *method, const uint8_t *payload, size_t len,
                          const rpc_call_opts *opts, int64_t timeout_ms);
/* Decodes a reply frame (does not free it). OK: *out is the envelope, whose
 * payload the caller decodes, then frees with shop__rpc__reply__free_unpacked. */
rpc_status rpc__decode_reply(nng_msg *m, Shop__Rpc__Reply **out, rpc_error *err);
/* Backoff before retry `attempt` (1-based), with jitter. */
int64_t rpc__backoff_ms(const rpc_retry_policy *p, int attempt);
/* Whether a failed attempt may be retried before `deadline`. */
bool rpc__may_retry(rpc_channel *ch, const rpc_call_opts *opts, rpc_status code, int attempts);

/* Checks that `method` exists and `req` is its input type. */
rpc_status rpc__check_method(const ProtobufCServiceDescriptor *svc, unsigned method,
                             const ProtobufCMessage *req, const ProtobufCMethodDescriptor **md,
                             rpc_error *err);

#endif
