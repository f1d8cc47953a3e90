/* The bridge from mq-delayd to the broker: due delayed messages (the
 * order.timeout of every order) are stored in the broker under a message id
 * derived from the delay queue's id, so a delivery mq-delayd repeats (its ack
 * was lost) is stored once. mq-delayd gets OK only after the broker's
 * durable ack; any failure makes it retry with backoff. */
#include <stdio.h>
#include <stdlib.h>

#include "mq/mq.h"
#include "mq/mq_delay.h"
#include "rpc/log.h"
#include "services/common/svc_outbox.h"

struct svc_delay_bridge {
    mq_producer *producer;
    mq_delay_receiver *rx;
};

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int on_due(const mq_delay_delivery *d, void *arg)
{
    svc_delay_bridge *b = arg;
    char id[MQ_ID_LEN];
    uint64_t h = hash_str(hash_str(1469598103934665603ULL, d->topic), d->key);
    snprintf(id, sizeof id, "%016llx%016llx", (unsigned long long)h, (unsigned long long)d->id);
    mq_send_opts o = {.id = id};
    mq_send_result res;
    int st = mq_producer_send(b->producer, d->topic, d->key, d->body, d->len, &o, &res);
    if (st != RPC_OK)
        shop_warn("delay bridge: broker refused topic=%s key=%s status=%s error=\"%s\"", d->topic,
                  d->key, rpc_status_name(st), res.message);
    return st;
}

int svc_delay_bridge_start(const char *listen_url, const char *mq_url, svc_delay_bridge **out,
                           char *err, size_t errlen)
{
    svc_delay_bridge *b = calloc(1, sizeof *b);
    mq_producer_opts po = {.timeout_ms = 2000, .retries = -1};
    int st = mq_producer_open(mq_url, &po, &b->producer);
    if (st != RPC_OK) {
        snprintf(err, errlen, "delay bridge: cannot open the producer (%s)", rpc_status_name(st));
        free(b);
        return st;
    }
    st = mq_delay_receiver_start(listen_url, on_due, b, &b->rx, err, errlen);
    if (st != RPC_OK) {
        mq_producer_close(b->producer);
        free(b);
        return st;
    }
    *out = b;
    return RPC_OK;
}

void svc_delay_bridge_stop(svc_delay_bridge *b)
{
    if (b == NULL)
        return;
    mq_delay_receiver_stop(b->rx);
    mq_producer_close(b->producer);
    free(b);
}
