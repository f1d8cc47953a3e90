/* The steps of one order across processes, for `shopflow trace`: read from
 * the services' own records (the order's timeline, the outbox rows and their
 * publication, the members' de-duplication rows, the order consumer's inbox)
 * and, when given a folder of daemon logs, from every line that names the
 * order's trace id. */
#ifndef SHOPFLOW_TRACE_EVENTS_H
#define SHOPFLOW_TRACE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct trace_event {
    int64_t at_us;     /* wall clock, Unix microseconds */
    char process[24];  /* "shop-order", "mq-delayd", ... */
    char what[200];    /* "order.placed published to mq-broker" */
    char trace_id[33]; /* the trace the record or line names ("" if none) */
} trace_event;

typedef struct trace_events {
    trace_event *v;
    size_t n, cap;
} trace_events;

/* Appends the order's steps recorded in `service`'s database ("order",
 * "stock" or "coupon", at `conninfo`). The order database also gives the
 * order's trace id (*trace_id, 33 bytes) and status (*status, 16 bytes);
 * NOT_FOUND when it has no such order. */
rpc_status trace_from_db(trace_events *ev, const char *service, const char *conninfo,
                         int64_t order_id, char *trace_id, char *status, shop_error *err);

/* Appends every line of every *.log file in `dir` that names trace_id. */
rpc_status trace_from_logs(trace_events *ev, const char *dir, const char *trace_id,
                           shop_error *err);

/* Sorts by time. */
void trace_events_sort(trace_events *ev);

void trace_events_free(trace_events *ev);

#endif
