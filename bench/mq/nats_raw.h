/* mq-bench: the same work as the JetStream cases done with libnats alone,
 * the baseline each backend figure is read against (nats_cases.c). */
#ifndef SHOP_MQ_BENCH_NATS_RAW_H
#define SHOP_MQ_BENCH_NATS_RAW_H

#include <stddef.h>

#include "base/error.h"

typedef struct nats_raw nats_raw;

/* Connects to the servers of a nats:// URL. */
rpc_status nats_raw_open(const char *url, nats_raw **out, shop_error *err);
void nats_raw_close(nats_raw *r);

/* n js_Publish calls one at a time on `subject`, each with its own
 * Nats-Msg-Id (as the backend sends); *failed counts the refused ones. */
void nats_raw_publish_sync(nats_raw *r, const char *subject, long n, size_t size, long *failed);

/* n js_PublishAsync calls with at most `pending` in flight, then
 * js_PublishAsyncComplete; each with its own Nats-Msg-Id. */
void nats_raw_publish_async(nats_raw *r, const char *subject, long n, size_t size, int pending,
                            long *failed);

/* Makes durable pull consumer `durable` on `stream` (explicit acks) and
 * fetches n messages in batches of 256, acking each with natsMsg_Ack.
 * Returns how many it got. */
long nats_raw_consume(nats_raw *r, const char *stream, const char *subject, const char *durable,
                      long n);

/* Deletes `stream` if it exists (the benchmark's own, before and after). */
void nats_raw_delete_stream(nats_raw *r, const char *stream);

#endif
