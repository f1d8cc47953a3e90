/* shopflow mq topics | topic T | peek T: the broker's topics from its stats,
 * and stored records read by offset (the Peek request), with bodies as
 * protobuf text where the topic's type is known (mq_body.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/shopflow/call_json.h"
#include "tools/shopflow/cli_json.h"
#include "tools/shopflow/mq_body.h"
#include "tools/shopflow/mq_cli.h"

static int topic_groups_json(const Shop__Mq__StatsReply *r, const char *topic, json_t *out)
{
    int n = 0;
    for (size_t i = 0; i < r->n_groups; i++) {
        const Shop__Mq__GroupStats *g = r->groups[i];
        if (strcmp(g->topic, topic) != 0)
            continue;
        n++;
        json_array_append_new(
            out, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:i}", "group", g->group, "committed",
                           (json_int_t)g->committed, "lag", (json_int_t)g->lag, "inflight",
                           (json_int_t)g->inflight, "retrying", (json_int_t)g->retrying, "dlq_size",
                           (json_int_t)g->dlq_size, "consumers", (int)g->consumers));
    }
    return n;
}

static json_t *topic_json(const Shop__Mq__StatsReply *r, const Shop__Mq__TopicStats *t)
{
    const ProtobufCMessageDescriptor *type = mq_body_type(t->topic);
    json_t *groups = json_array();
    topic_groups_json(r, t->topic, groups);
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:s?, s:o}", "topic", t->topic, "start_offset",
                     (json_int_t)t->start_offset, "end_offset", (json_int_t)t->end_offset,
                     "messages", (json_int_t)(t->end_offset - t->start_offset), "bytes",
                     (json_int_t)t->bytes, "type", type ? type->name : NULL, "groups", groups);
}

static void print_topic(const Shop__Mq__StatsReply *r, const Shop__Mq__TopicStats *t)
{
    const ProtobufCMessageDescriptor *type = mq_body_type(t->topic);
    printf("topic=%s start=%" PRIu64 " end=%" PRIu64 " messages=%" PRIu64 " bytes=%" PRIu64
           " type=%s\n\n",
           t->topic, t->start_offset, t->end_offset, t->end_offset - t->start_offset, t->bytes,
           type ? type->name : "-");
    printf("%-20s %10s %8s %8s %8s %6s %4s\n", "GROUP", "COMMITTED", "LAG", "INFLIGHT", "RETRYING",
           "DLQ", "CONS");
    for (size_t i = 0; i < r->n_groups; i++) {
        const Shop__Mq__GroupStats *g = r->groups[i];
        if (strcmp(g->topic, t->topic) == 0)
            printf("%-20s %10" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %6" PRIu64 " %4u\n",
                   g->group, g->committed, g->lag, g->inflight, g->retrying, g->dlq_size,
                   g->consumers);
        if (strcmp(g->topic, t->topic) == 0 && g->tags && *g->tags)
            printf("%-20s tags=\"%s\" filtered=%" PRIu64 "\n", "", g->tags, g->filtered);
    }
}

static void print_topics(const Shop__Mq__StatsReply *r)
{
    printf("%-32s %10s %10s %10s %12s  %s\n", "TOPIC", "START", "END", "MESSAGES", "BYTES",
           "GROUPS");
    for (size_t i = 0; i < r->n_topics; i++) {
        const Shop__Mq__TopicStats *t = r->topics[i];
        printf("%-32s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %12" PRIu64 "  ", t->topic,
               t->start_offset, t->end_offset, t->end_offset - t->start_offset, t->bytes);
        int n = 0;
        for (size_t k = 0; k < r->n_groups; k++)
            if (strcmp(r->groups[k]->topic, t->topic) == 0)
                printf("%s%s", n++ ? "," : "", r->groups[k]->group);
        printf("%s\n", n ? "" : "-");
    }
}

int mq_admin_topics(const mq_cli *o, const char *topic)
{
    Shop__Mq__Reply *rep = NULL;
    if (mq_cli_stats(o, &rep) != 0)
        return 1;
    const Shop__Mq__StatsReply *r = rep->stats;
    const Shop__Mq__TopicStats *t = NULL;
    for (size_t i = 0; topic != NULL && i < r->n_topics; i++)
        if (strcmp(r->topics[i]->topic, topic) == 0)
            t = r->topics[i];
    int rc = 0;
    if (topic != NULL && t == NULL) {
        fprintf(stderr,
                "shopflow mq topic: the broker has no topic '%s' (`shopflow mq topics` "
                "lists them)\n",
                topic);
        rc = 1;
    } else if (o->json && topic != NULL) {
        rc = cli_json_print("mq topic", topic_json(r, t));
    } else if (o->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < r->n_topics; i++)
            json_array_append_new(arr, topic_json(r, r->topics[i]));
        rc = cli_json_print("mq topics", json_pack("{s:o}", "topics", arr));
    } else if (topic != NULL) {
        print_topic(r, t);
    } else {
        print_topics(r);
    }
    shop__mq__reply__free_unpacked(rep, NULL);
    return rc;
}

/* The topic whose type the body has: the original one for retries and DLQ. */
static const char *body_topic(const Shop__Mq__Record *rec)
{
    const char *origin = mq_cli_prop(rec, "%ORIGIN_TOPIC");
    return origin != NULL ? origin : rec->topic;
}

static json_t *record_json(const Shop__Mq__Delivery *d, const Shop__Mq__Record *rec)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:I, s:I}", "offset", (json_int_t)d->offset, "id",
                          rec->id, "key", rec->key, "timestamp_ms", (json_int_t)rec->timestamp_ms,
                          "len", (json_int_t)rec->body.len);
    const ProtobufCMessageDescriptor *t = mq_body_type(body_topic(rec));
    ProtobufCMessage *m =
        t != NULL ? protobuf_c_message_unpack(t, NULL, rec->body.len, rec->body.data) : NULL;
    if (m != NULL) {
        json_object_set_new(o, "type", json_string(t->name));
        json_object_set_new(o, "body", call_json_from_message(m));
        protobuf_c_message_free_unpacked(m, NULL);
    } else {
        char *hex = malloc(rec->body.len * 2 + 1);
        for (size_t i = 0; hex != NULL && i < rec->body.len; i++)
            snprintf(hex + 2 * i, 3, "%02x", rec->body.data[i]);
        if (hex != NULL) {
            hex[rec->body.len * 2] = '\0';
            json_object_set_new(o, "body_hex", json_string(hex));
        }
        free(hex);
    }
    return o;
}

/* A peek or get reply's records, as text or JSON; frees rep. */
static int print_records(const mq_cli *o, const char *cmd, const char *topic, Shop__Mq__Reply *rep)
{
    const Shop__Mq__PeekReply *r = rep->peek;
    json_t *records = o->json ? json_array() : NULL;
    if (!o->json && topic != NULL)
        printf("topic=%s start=%" PRIu64 " end=%" PRIu64 " listed=%zu\n", topic, r->start_offset,
               r->end_offset, r->n_records);
    for (size_t i = 0; i < r->n_records; i++) {
        const Shop__Mq__Delivery *d = r->records[i];
        Shop__Mq__Record *rec = shop__mq__record__unpack(NULL, d->record.len, d->record.data);
        if (rec == NULL)
            continue;
        if (records != NULL) {
            json_t *one = record_json(d, rec);
            json_object_set_new(one, "topic", json_string(d->topic));
            json_array_append_new(records, one);
        } else {
            printf("%s%s%soffset=%" PRIu64 " id=%s key=%s timestamp_ms=%" PRId64 " len=%zu\n",
                   topic ? "" : "topic=", topic ? "" : d->topic, topic ? "" : " ", d->offset,
                   rec->id, rec->key, rec->timestamp_ms, rec->body.len);
            mq_body_print(stdout, body_topic(rec), rec->body.data, rec->body.len, 2);
        }
        shop__mq__record__free_unpacked(rec, NULL);
    }
    int rc = 0;
    if (records != NULL && topic != NULL)
        rc = cli_json_print(cmd, json_pack("{s:s, s:I, s:I, s:o}", "topic", topic, "start_offset",
                                           (json_int_t)r->start_offset, "end_offset",
                                           (json_int_t)r->end_offset, "records", records));
    else if (records != NULL)
        rc = cli_json_print(cmd, json_pack("{s:o}", "records", records));
    shop__mq__reply__free_unpacked(rep, NULL);
    return rc;
}

int mq_admin_peek(const mq_cli *o, const char *topic)
{
    Shop__Mq__Peek pk = SHOP__MQ__PEEK__INIT;
    pk.topic = (char *)topic;
    pk.offset = o->has_offset ? o->offset : 0;
    pk.count = o->count > 0 ? (uint32_t)o->count : 0;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_PEEK;
    req.peek = &pk;
    Shop__Mq__Reply *rep = NULL;
    if (mq_cli_call(o, &req, &rep) != 0)
        return 1;
    return print_records(o, "mq peek", topic, rep);
}

int mq_admin_get(const mq_cli *o, const char *id, const char *topic)
{
    if ((id == NULL) == (o->key == NULL)) {
        fprintf(stderr, "shopflow mq get: wants --id ID or --key KEY (one of them)\n");
        return 2;
    }
    Shop__Mq__Get g = SHOP__MQ__GET__INIT;
    g.id = (char *)(id ? id : "");
    g.key = (char *)(o->key ? o->key : "");
    g.topic = (char *)(topic ? topic : "");
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_GET;
    req.get = &g;
    Shop__Mq__Reply *rep = NULL;
    if (mq_cli_call(o, &req, &rep) != 0)
        return 1;
    if (rep->peek->n_records == 0 && !o->json) {
        fprintf(stderr,
                "shopflow mq get: no stored message with %s '%s'%s%s (the broker remembers recent "
                "ids and keys only; `shopflow mq peek TOPIC --offset N` reads by offset)\n",
                id ? "id" : "key", id ? id : o->key, topic ? " in topic " : "", topic ? topic : "");
        shop__mq__reply__free_unpacked(rep, NULL);
        return 1;
    }
    return print_records(o, "mq get", NULL, rep);
}

/* TIME as unix ms: digits, or 2026-12-03T13:00:00[.123]Z (UTC). -1 if bad. */
static int64_t parse_time_ms(const char *v)
{
    char *end = NULL;
    long long ms = strtoll(v, &end, 10);
    if (end != v && *end == '\0' && ms >= 0)
        return ms;
    struct tm tm = {0};
    int frac = 0, n = 0;
    if (sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    const char *rest = v + n;
    if (*rest == '.') {
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*rest - '0');
        for (; digits < 3; digits++)
            frac *= 10;
    }
    if (strcmp(rest, "Z") != 0)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t s = timegm(&tm);
    return s < 0 ? -1 : (int64_t)s * 1000 + frac;
}

int mq_admin_reset(const mq_cli *o, const char *group, const char *topic)
{
    Shop__Mq__ResetOffset r = SHOP__MQ__RESET_OFFSET__INIT;
    r.group = (char *)group;
    r.topic = (char *)topic;
    char *end = NULL;
    if ((o->to_offset == NULL) == (o->to_time == NULL)) {
        fprintf(stderr, "shopflow mq reset-offset: wants --to-offset N or --to-time TIME\n");
        return 2;
    }
    if (o->to_offset != NULL) {
        r.offset = strtoull(o->to_offset, &end, 10);
        if (end == o->to_offset || *end != '\0' || o->to_offset[0] == '-') {
            fprintf(stderr, "shopflow mq reset-offset: --to-offset wants an offset, not '%s'\n",
                    o->to_offset);
            return 2;
        }
    } else {
        r.by_time = 1;
        r.timestamp_ms = parse_time_ms(o->to_time);
        if (r.timestamp_ms < 0) {
            fprintf(stderr,
                    "shopflow mq reset-offset: --to-time wants unix ms or "
                    "2026-12-03T13:00:00Z, not '%s'\n",
                    o->to_time);
            return 2;
        }
    }
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_RESET_OFFSET;
    req.reset_offset = &r;
    Shop__Mq__Reply *rep = NULL;
    if (mq_cli_call(o, &req, &rep) != 0)
        return 1;
    const Shop__Mq__ResetOffsetReply *rr = rep->reset_offset;
    int rc = 0;
    if (o->json)
        rc = cli_json_print("mq reset-offset",
                            json_pack("{s:s, s:s, s:I, s:I, s:I}", "group", group, "topic", topic,
                                      "old_offset", (json_int_t)rr->old_offset, "new_offset",
                                      (json_int_t)rr->new_offset, "forgotten_inflight",
                                      (json_int_t)rr->forgotten_inflight));
    else
        printf("reset group=%s topic=%s from=%" PRIu64 " to=%" PRIu64 " forgotten_inflight=%" PRIu64
               "\n",
               group, topic, rr->old_offset, rr->new_offset, rr->forgotten_inflight);
    shop__mq__reply__free_unpacked(rep, NULL);
    return rc;
}
