/* Trace context in the W3C traceparent format
 * (`00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>`), and the
 * trace a thread is working for right now.
 *
 * An order gets its trace at PlaceOrder (or keeps the caller's traceparent);
 * the RPC server makes a call's traceparent metadata the handler thread's
 * current trace, the RPC channel sends the current trace on every call, the
 * outbox stores it with each event and the relay sends it as the message
 * property "traceparent", and the consumers make a message's property the
 * current trace while they handle it. Every log line written while a trace
 * is current ends in `trace_id=<32 hex>` (base/log.c). */
#ifndef SHOP_BASE_TRACE_H
#define SHOP_BASE_TRACE_H

#include <stdbool.h>

#include "base/error.h"

#define SHOP_TRACEPARENT_KEY "traceparent" /* RPC metadata and message property */
#define SHOP_TRACE_ID_LEN 32
#define SHOP_TRACEPARENT_LEN 55

typedef struct shop_trace {
    char trace_id[SHOP_TRACE_ID_LEN + 1]; /* 32 lowercase hex digits, not all zero */
    char span_id[17];                     /* 16 lowercase hex digits, not all zero */
    char flags[3];                        /* "01": sampled */
} shop_trace;

/* Parses a traceparent header; INVALID_ARGUMENT (saying why) when it is not
 * version 00 with a non-zero trace and span id in lowercase hex. */
rpc_status shop_trace_parse(const char *traceparent, shop_trace *out, shop_error *err);

/* A new trace: random trace and span ids, flags 01. */
void shop_trace_new(shop_trace *out);

/* The same trace with a new span id (the next hop's parent). */
void shop_trace_child(const shop_trace *parent, shop_trace *out);

/* out[SHOP_TRACEPARENT_LEN + 1] = "00-<trace>-<span>-<flags>". */
void shop_trace_format(const shop_trace *t, char *out);

/* The calling thread's current trace (NULL: none). set copies it; clear
 * forgets it. Handlers set it when a unit of work starts and clear it when
 * it ends, so a pooled thread never carries a trace into unrelated work. */
const shop_trace *shop_trace_current(void);
void shop_trace_set(const shop_trace *t);
void shop_trace_clear(void);

/* Starts a new trace on this thread unless one is current (PlaceOrder: the
 * caller's traceparent, if it sent one, is current already). */
void shop_trace_ensure(void);

/* Makes the trace with this id (32 hex digits, as stored with an order)
 * current with a new span id; false (and nothing current) when it is not
 * one. Background work about an order resumes the order's trace. */
bool shop_trace_resume(const char *trace_id);

/* Makes `traceparent` current when it parses (a bad one is ignored: the
 * work goes on untraced); returns true when a trace is now current. */
bool shop_trace_adopt(const char *traceparent);

#endif
