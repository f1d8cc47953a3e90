/* mq/nats: what the operator tool asks of a JetStream backend: stats of
 * the streams and consumer groups, the dead letters of a group and their
 * re-drive, and which server leads a stream (for tests and fault
 * injection). Each call connects to `url` (nats://...) and disconnects. */
#ifndef SHOP_MQ_NATS_ADMIN_H
#define SHOP_MQ_NATS_ADMIN_H

#include <stddef.h>
#include <stdio.h>

#include "base/error.h"

/* Per topic stream: messages, first and last sequence, replicas, leader;
 * per group and topic: last sequence, ack floor (committed), lag (not yet
 * delivered), ack pending, redelivered, waiting pulls, the group's DLQ size. */
rpc_status mq_nats_print_stats(const char *url, FILE *out, shop_error *err);

/* Lists up to `max` dead letters of `group`; with `redrive`, publishes every
 * one to the group's re-drive stream (same id, acked) and then purges them
 * from the DLQ. */
rpc_status mq_nats_dlq(const char *url, const char *group, int redrive, long max, FILE *out,
                       shop_error *err);

/* The server name of the leader of `topic`'s stream (NOT_FOUND when there is
 * no such stream, UNAVAILABLE while it has no leader). */
rpc_status mq_nats_stream_leader(const char *url, const char *topic, char *leader, size_t len,
                                 shop_error *err);

#endif
