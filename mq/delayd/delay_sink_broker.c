/* The broker sink: a due message goes to its target topic on mq-broker
 * through mq_producer_send, which answers after the broker's durable ack.
 * The broker message id is derived from this log's instance tag and the
 * record id, so a redelivery after a crash (ack received, delivered mark
 * lost) carries the same id and the broker can recognise the duplicate. On a
 * nats:// URL the producer publishes to JetStream and the id becomes the
 * Nats-Msg-Id, deduplicated within the stream's window (mq/nats/). */
#include <stdio.h>
#include <stdlib.h>

#include "mq/delayd/delay_sink.h"
#include "mq/mq.h"
#include "base/trace.h"
#include "base/status.h"

typedef struct broker_sink {
    delay_sink base;
    mq_producer *p;
    char tag[17];
} broker_sink;

#define BROKER_BATCH 256

/* One batch request, one broker fsync, for all messages due together. */
static void broker_deliver(delay_sink *s, const delay_out *m, size_t n, int *status,
                           shop_error *err)
{
    broker_sink *bs = (broker_sink *)s;
    mq_message msgs[BROKER_BATCH];
    mq_send_opts opts[BROKER_BATCH];
    mq_property trace[BROKER_BATCH];
    mq_send_result res[BROKER_BATCH];
    char ids[BROKER_BATCH][MQ_ID_LEN];
    for (size_t done = 0; done < n;) {
        size_t k = n - done < BROKER_BATCH ? n - done : BROKER_BATCH;
        for (size_t i = 0; i < k; i++) {
            const delay_out *o = &m[done + i];
            snprintf(ids[i], sizeof ids[i], "%.16s%016llx", bs->tag, (unsigned long long)o->id);
            opts[i] = (mq_send_opts){0};
            opts[i].id = ids[i];
            if (o->traceparent != NULL && o->traceparent[0] != '\0') {
                /* the trace the message was sent with goes on to its consumers */
                trace[i] = (mq_property){SHOP_TRACEPARENT_KEY, o->traceparent};
                opts[i].properties = &trace[i];
                opts[i].n_properties = 1;
            }
            msgs[i] = (mq_message){o->topic, o->key[0] ? o->key : NULL, o->body, o->len, &opts[i]};
        }
        mq_producer_send_batch(bs->p, msgs, k, res);
        for (size_t i = 0; i < k; i++) {
            status[done + i] = res[i].status;
            if (res[i].status != RPC_OK && err->code == RPC_OK) {
                shop_error_set(err, res[i].status, "broker: %s %s", rpc_status_name(res[i].status),
                               res[i].message);
            }
        }
        done += k;
    }
}

static void broker_close(delay_sink *s)
{
    broker_sink *bs = (broker_sink *)s;
    mq_producer_close(bs->p);
    free(bs);
}

rpc_status delay_sink_broker_open(const char *url, const char *tag, int timeout_ms,
                                  delay_sink **out, shop_error *err)
{
    broker_sink *bs = calloc(1, sizeof *bs);
    /* No hidden retries: the timer backs off. */
    mq_producer_opts po = {.timeout_ms = timeout_ms, .retries = -1};
    if (!bs) {
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    bs->base.deliver = broker_deliver;
    bs->base.close = broker_close;
    snprintf(bs->tag, sizeof bs->tag, "%s", tag);
    rpc_status st = mq_producer_open(url, &po, &bs->p);
    if (st != RPC_OK) {
        rpc_status code = shop_error_set(err, RPC_UNAVAILABLE, "cannot open a producer for %s: %s",
                                         url, rpc_status_name(st));
        free(bs);
        return code;
    }
    *out = &bs->base;
    return RPC_OK;
}
