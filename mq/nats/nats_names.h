/* mq/nats: how shopflow's names map onto JetStream's, and the URL of a
 * JetStream backend.
 *
 * A URL "nats://host:port[,host:port...]" selects the JetStream backend; the
 * servers it lists are the seeds of one cluster. Names (mq/README.md,
 * "JetStream backend"):
 *
 *   topic T             stream MQT_<enc(T)>, subject mq.t.<enc(T)>
 *   group G, topic T    durable pull consumer <enc(G)> on stream MQT_<enc(T)>
 *   G's re-driven DLQ   stream MQR_<enc(G)>, subject mq.r.<enc(G)>, consumer <enc(G)>
 *   G's dead letters    stream MQD_<enc(G)>, subject mq.d.<enc(G)>
 *
 * enc() keeps [A-Za-z0-9-] and writes every other byte as _HH (two
 * upper-case hex digits), so it is injective and the result is a valid
 * stream name, subject token and consumer name ("order.placed" becomes
 * "order_2Eplaced"). */
#ifndef SHOP_MQ_NATS_NAMES_H
#define SHOP_MQ_NATS_NAMES_H

#include <stddef.h>

#include "base/error.h"

#define MQ_NATS_NAME_MAX 240 /* an encoded name; longer ones are refused */

/* Message headers the backend writes besides Nats-Msg-Id. */
#define MQ_NATS_HDR_ID "Nats-Msg-Id"
#define MQ_NATS_HDR_KEY "Shop-Key"
#define MQ_NATS_HDR_TOPIC "Shop-Topic" /* the original topic, on DLQ and re-driven copies */
#define MQ_NATS_HDR_TIMES "Shop-Times" /* reconsume times, on DLQ copies */
#define MQ_NATS_HDR_PROP "Shop-P-"     /* prefix of a property's header */

/* Whether `url` selects the JetStream backend (starts with "nats://"). */
int mq_nats_is_url(const char *url);

/* The servers of a nats:// URL, each as "nats://host:port". */
typedef struct mq_nats_servers {
    char **urls;
    int n;
} mq_nats_servers;

rpc_status mq_nats_servers_parse(const char *url, mq_nats_servers *out, shop_error *err);
void mq_nats_servers_free(mq_nats_servers *s);

/* Replicas of the streams made on first use: $MQ_NATS_REPLICAS when set (1..5),
 * else 3 when the URL lists three or more servers, else 1. */
int mq_nats_replicas(int nservers);

typedef enum mq_nats_kind {
    MQ_NATS_TOPIC, /* a topic's stream */
    MQ_NATS_RETRY, /* a group's stream of re-driven dead letters */
    MQ_NATS_DLQ,   /* a group's dead letters */
} mq_nats_kind;

/* enc(in) into out (see above); INVALID_ARGUMENT when empty or too long. */
rpc_status mq_nats_encode(const char *in, char *out, size_t outlen, shop_error *err);

/* The inverse of mq_nats_encode; INVALID_ARGUMENT when `in` is not an encoding. */
rpc_status mq_nats_decode(const char *in, char *out, size_t outlen, shop_error *err);

/* The stream and subject of a topic (or group, for RETRY and DLQ). */
typedef struct mq_nats_names {
    char stream[MQ_NATS_NAME_MAX + 8];
    char subject[MQ_NATS_NAME_MAX + 8];
} mq_nats_names;

rpc_status mq_nats_names_of(mq_nats_kind kind, const char *name, mq_nats_names *out,
                            shop_error *err);

/* Which kind a stream name is, and the topic or group it stands for (decoded
 * into name); INVALID_ARGUMENT for a stream that is not shopflow's. */
rpc_status mq_nats_stream_kind(const char *stream, mq_nats_kind *kind, char *name, size_t namelen,
                               shop_error *err);

#endif
