/* The open-loop load generator: requests are scheduled at a fixed arrival
 * rate, and a request's latency counts from its scheduled start, not from
 * when a client got round to sending it; a stalled server therefore shows
 * up as latency instead of as fewer requests (no coordinated omission).
 * `clients` worker threads carry the calls; when all are busy the backlog
 * waits and its waiting is measured. A request that could not even start
 * before its deadline is recorded as DEADLINE_EXCEEDED without a call. */
#ifndef SHOP_LOAD_H
#define SHOP_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/hist.h"

#define SHOP_LOAD_CODES 17 /* gRPC status codes 0..16 */

/* One request: `seq` counts from 0; `deadline_ms` is what is left of the
 * request's deadline. Returns a gRPC status code (0 = OK) and, on OK, the
 * acknowledged order id in *order_id. */
typedef int (*shop_load_fn)(void *ctx, int client, uint64_t seq, int64_t deadline_ms,
                            int64_t *order_id);

/* What a client does after an accepted request's outcome is booked (the
 * bench pays a share of its orders): not part of the request's latency. */
typedef void (*shop_load_followup_fn)(void *ctx, int client, uint64_t seq, int64_t order_id);

typedef struct shop_load_progress {
    int64_t elapsed_ms, duration_ms;
    int64_t done, ok, failed;
    int64_t p99_us; /* over everything so far */
} shop_load_progress;

/* Called about twice a second from the progress thread. */
typedef void (*shop_load_progress_fn)(void *ctx, const shop_load_progress *p);

typedef struct shop_load_config {
    double rate;         /* requests per second */
    int64_t duration_ms; /* how long requests are scheduled */
    int clients;         /* worker threads */
    int64_t deadline_ms; /* per request, counted from its scheduled start */
    shop_load_fn fn;
    shop_load_followup_fn followup; /* may be NULL; gets `ctx` too */
    void *ctx;
    shop_load_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} shop_load_config;

typedef struct shop_load_second {
    int64_t offered;                  /* requests scheduled in this second */
    int64_t by_code[SHOP_LOAD_CODES]; /* their outcomes */
    int64_t p50_us, p99_us, max_us;   /* latency of this second's requests */
} shop_load_second;

typedef struct shop_load_result {
    int64_t offered, ok, failed;
    int64_t by_code[SHOP_LOAD_CODES];
    shop_hist *latency_all; /* every request, scheduled start to outcome */
    shop_hist *latency_ok;  /* accepted requests only */
    int64_t elapsed_ms;     /* until the last outcome */
    shop_load_second *seconds;
    size_t n_seconds;
    int64_t *acked; /* order ids of accepted requests */
    size_t n_acked;
} shop_load_result;

/* Runs the load; blocks until every scheduled request has an outcome.
 * Returns RPC_OK, or RPC_INVALID_ARGUMENT (bad config) or
 * RPC_RESOURCE_EXHAUSTED (out of memory) with `err`. Free the result with
 * shop_load_result_free. */
rpc_status shop_load_run(const shop_load_config *cfg, shop_load_result *out, shop_error *err);

void shop_load_result_free(shop_load_result *r);

#endif
