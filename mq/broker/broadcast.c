/* Broadcast consumption (RocketMQ's BROADCASTING model): every instance of
 * a broadcast group gets every message. Each instance keeps its own
 * position as the internal group "<group>@<instance>": its queues, retry
 * topic, DLQ and persisted offsets are those of an ordinary group, so an
 * instance restarted with the same name resumes where it acknowledged, and
 * a new name starts at the earliest retained offset. Two consumers that
 * share an instance name share that position (and split its messages). */
#include "mq/broker/broker.h"

#include <stdio.h>
#include <string.h>

const char *bk_broadcast_group(const char *group, const char *instance, char *out, size_t outlen)
{
    size_t n = instance ? strlen(instance) : 0;
    if (n == 0 || n > 60 || strchr(instance, '@'))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)instance[i] < 0x20 || instance[i] == 0x7f)
            return NULL;
    if ((size_t)snprintf(out, outlen, "%s@%s", group, instance) >= outlen)
        return NULL;
    return out;
}
