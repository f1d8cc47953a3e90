/* The consumer: placeholder until the broker lands. */
#include "mq.h"

#include <stdio.h>

rpc_status mq_consumer_open(const char *group, const char *const *topics, size_t n_topics,
                            mq_handler handler, void *arg, const mq_consumer_opts *opts,
                            mq_consumer **out, char *err, size_t errlen)
{
    (void)group, (void)topics, (void)n_topics, (void)handler, (void)arg, (void)opts;
    *out = NULL;
    snprintf(err, errlen, "the consumer is not built yet");
    return RPC_UNIMPLEMENTED;
}

rpc_status mq_consumer_start(mq_consumer *c, char *err, size_t errlen)
{
    (void)c;
    snprintf(err, errlen, "the consumer is not built yet");
    return RPC_UNIMPLEMENTED;
}

void mq_consumer_close(mq_consumer *c)
{
    (void)c;
}

void mq_consumer_get_stats(mq_consumer *c, mq_consumer_stats *out)
{
    (void)c;
    *out = (mq_consumer_stats){0};
}
