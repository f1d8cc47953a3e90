/* Where mq-delayd hands a due message: a sink answers OK only once the
 * message is safely taken (the broker's durable ack); anything else makes
 * the timer retry with backoff. */
#ifndef SHOP_MQ_DELAY_SINK_H
#define SHOP_MQ_DELAY_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "mq/mq_delay.h"

#include "base/error.h"

/* A due message: topic and key NUL-terminated, body as stored. */
typedef mq_delay_delivery delay_out;

typedef struct delay_sink delay_sink;
struct delay_sink {
    /* Hands over n messages in order; status[i] gets each one's rpc_status
     * (a message after a failed one may be left UNAVAILABLE, not tried).
     * err gets the first reason when not all are OK. */
    void (*deliver)(delay_sink *s, const delay_out *m, size_t n, int *status, shop_error *err);
    void (*close)(delay_sink *s);
};

/* A sink that sends each message as a Delivery over nng REQ to `url` (an
 * mq_delay_receiver, see mq/mq_delay.h) and waits for its DeliveryAck. */
rpc_status delay_sink_nng_open(const char *url, int timeout_ms, delay_sink **out, shop_error *err);

/* A sink that sends each message to its topic on mq-broker at `url` and
 * waits for the broker's durable ack. `tag` (16 hex digits, unique per log)
 * makes the broker message ids. */
rpc_status delay_sink_broker_open(const char *url, const char *tag, int timeout_ms,
                                  delay_sink **out, shop_error *err);

#endif
