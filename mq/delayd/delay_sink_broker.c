/* The broker sink: a due message goes to its target topic on mq-broker
 * through mq_producer_send, which answers after the broker's durable ack.
 * The broker message id is derived from this log's instance tag and the
 * record id, so a redelivery after a crash (ack received, delivered mark
 * lost) carries the same id and the broker can recognise the duplicate. */
#include <stdio.h>
#include <stdlib.h>

#include "delay_sink.h"
#include "mq.h"
#include "rpc/status.h"

typedef struct broker_sink {
    delay_sink base;
    mq_producer *p;
    char tag[17];
} broker_sink;

static int broker_deliver(delay_sink *s, const delay_out *m, char *err, size_t errlen)
{
    broker_sink *bs = (broker_sink *)s;
    mq_send_opts opts = {0};
    mq_send_result res;
    char id[MQ_ID_LEN];
    snprintf(id, sizeof id, "%.16s%016llx", bs->tag, (unsigned long long)m->id);
    opts.id = id;
    rpc_status st =
        mq_producer_send(bs->p, m->topic, m->key[0] ? m->key : NULL, m->body, m->len, &opts, &res);
    if (st != RPC_OK) {
        snprintf(err, errlen, "broker: %s %s", rpc_status_name(st), res.message);
    }
    return st;
}

static void broker_close(delay_sink *s)
{
    broker_sink *bs = (broker_sink *)s;
    mq_producer_close(bs->p);
    free(bs);
}

delay_sink *delay_sink_broker_open(const char *url, const char *tag, int timeout_ms, char *err,
                                   size_t errlen)
{
    broker_sink *bs = calloc(1, sizeof *bs);
    mq_producer_opts po = {timeout_ms, -1, 0}; /* no hidden retries: the timer backs off */
    if (!bs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    bs->base.deliver = broker_deliver;
    bs->base.close = broker_close;
    snprintf(bs->tag, sizeof bs->tag, "%s", tag);
    rpc_status st = mq_producer_open(url, &po, &bs->p);
    if (st != RPC_OK) {
        snprintf(err, errlen, "cannot open a producer for %s: %s", url, rpc_status_name(st));
        free(bs);
        return NULL;
    }
    return &bs->base;
}
