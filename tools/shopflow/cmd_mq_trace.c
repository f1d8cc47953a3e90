/* `shopflow mq trace ID`: the broker's trace of one message, as a timeline
 * (stored, delivered to which group and consumer with which attempt, acked,
 * retried, dead-lettered, re-driven; for a transactional message its half,
 * the check-backs and the decision), or as JSON with --json. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/status.h"
#include "mq/mq.h"
#include "mq/nats/nats_names.h"
#include "mq/wire.h"
#include "tools/shopflow/cli_json.h"
#include "tools/shopflow/mq_cli.h"

/* "2026-12-03 15:40:01.123" in UTC. */
static void format_time(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03d", (int)(ms % 1000));
}

static json_t *trace_json(const char *id, const Shop__Mq__TraceReply *tr)
{
    json_t *evs = json_array();
    for (size_t i = 0; evs && i < tr->n_events; i++) {
        const Shop__Mq__TraceEvent *e = tr->events[i];
        json_array_append_new(evs, json_pack("{s:I, s:s, s:s, s:I, s:s, s:s, s:i}", "timestamp_ms",
                                             (json_int_t)e->timestamp_ms, "kind", e->kind, "topic",
                                             e->topic, "offset", (json_int_t)e->offset, "group",
                                             e->group, "consumer", e->consumer, "attempt",
                                             (int)e->attempt));
    }
    return json_pack("{s:s, s:o, s:b}", "id", id, "events", evs, "truncated", tr->truncated);
}

static void print_event(const Shop__Mq__TraceEvent *e, int64_t first_ms)
{
    char when[32];
    format_time(e->timestamp_ms, when);
    printf("%s  +%6lld ms  %-15s %s@%llu", when, (long long)(e->timestamp_ms - first_ms), e->kind,
           e->topic, (unsigned long long)e->offset);
    if (*e->group)
        printf("  group=%s", e->group);
    if (*e->consumer)
        printf("  %s=%s",
               strcmp(e->kind, "CHECK") == 0 || strcmp(e->kind, "COMMIT") == 0 ||
                       strcmp(e->kind, "ROLLBACK") == 0
                   ? "by"
                   : "consumer",
               e->consumer);
    if (e->attempt > 0 && strcmp(e->kind, "STORED") != 0)
        printf("  %s=%u", strcmp(e->kind, "CHECK") == 0 ? "check" : "attempt", e->attempt);
    printf("\n");
}

int mq_trace(const mq_cli *o, const char *id)
{
    const char *url = mq_url_or_env(o->url, "MQ_URL", MQ_DEFAULT_URL);
    if (mq_nats_is_url(url)) {
        fprintf(stderr, "shopflow mq trace: UNIMPLEMENTED: the NATS JetStream backend keeps no "
                        "message trace (mq-broker only)\n");
        return 1;
    }
    Shop__Mq__TraceQuery q = SHOP__MQ__TRACE_QUERY__INIT;
    q.id = (char *)id;
    q.max = o->max > 0 ? (uint32_t)o->max : 0;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_TRACE;
    req.trace = &q;
    Shop__Mq__Reply *rep = NULL;
    if (mq_cli_call(o, &req, &rep) != 0)
        return 1;
    int rc = 0;
    if (rep->status != RPC_OK || rep->body_case != SHOP__MQ__REPLY__BODY_TRACE) {
        fprintf(stderr, "shopflow mq trace: %s: %s\n", rpc_status_name(rep->status), rep->message);
        rc = 1;
    } else if (o->json) {
        rc = cli_json_print("mq trace", trace_json(id, rep->trace));
    } else if (rep->trace->n_events == 0) {
        fprintf(stderr,
                "shopflow mq trace: no trace of message %s (unknown id, or its events "
                "left the bounded trace)\n",
                id);
        rc = 1;
    } else {
        printf("message %s: %zu events\n", id, rep->trace->n_events);
        for (size_t i = 0; i < rep->trace->n_events; i++)
            print_event(rep->trace->events[i], rep->trace->events[0]->timestamp_ms);
        if (rep->trace->truncated)
            printf("(more events: --max N)\n");
    }
    shop__mq__reply__free_unpacked(rep, NULL);
    return rc;
}
