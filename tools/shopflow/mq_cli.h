/* `shopflow mq`'s options and its one call to the broker, shared by the
 * subcommand files (cmd_mq.c, cmd_mq_admin.c). */
#ifndef SHOPFLOW_MQ_CLI_H
#define SHOPFLOW_MQ_CLI_H

#include <stdint.h>

#include "mq.pb-c.h"

typedef struct mq_cli {
    const char *url, *pub_url, *delay_url, *group, *key, *prefix, *id, *topic, *to_offset, *to_time;
    const char *tag, *tags; /* mq send --tag, mq consume --tags */
    const char *decide; /* send-half: commit, rollback or none */
    long count, size, batch, sleep_ms, max, max_inflight;
    uint64_t offset;
    int redrive, later, json, has_offset;
    char stack_url[128], stack_delay_url[128], stack_pub_url[128];
} mq_cli;

/* One request to the broker (5 s); on failure prints why and returns 1, on
 * success 0 with *rep to free. */
int mq_cli_call(const mq_cli *o, Shop__Mq__Request *req, Shop__Mq__Reply **rep);

/* The broker's stats, as mq_cli_call. */
int mq_cli_stats(const mq_cli *o, Shop__Mq__Reply **rep);

/* A record's property, NULL when it has none of that key. */
const char *mq_cli_prop(const Shop__Mq__Record *r, const char *key);

/* mq topics (topic NULL) and mq topic T. */
int mq_admin_topics(const mq_cli *o, const char *topic);

/* mq peek T [--offset N] [--count K]. */
int mq_admin_peek(const mq_cli *o, const char *topic);

/* mq reset-offset GROUP TOPIC (--to-offset N | --to-time TIME). */
int mq_admin_reset(const mq_cli *o, const char *group, const char *topic);

/* mq get --id ID | --key KEY [--topic T] (id NULL: by o->key). */
int mq_admin_get(const mq_cli *o, const char *id, const char *topic);

/* mq trace ID [--json] [--max N] (cmd_mq_trace.c). */
int mq_trace(const mq_cli *o, const char *id);

/* mq send-half TOPIC BODY --group G [--decide ...] (cmd_mq_txn.c). */
int mq_send_half(const mq_cli *o, const char *topic, const char *body);

#endif
