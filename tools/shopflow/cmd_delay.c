/* shopflow delay: mq-delayd from the command line: send a delayed message
 * (by level or in ms, with a key), cancel by key, list what is pending
 * (topic, key, due time) and print the queue's stats. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "mq/mq_delay.h"
#include "tools/shopflow/cli_json.h"
#include "tools/shopflow/commands.h"
#include "tools/shopflow/ctl_client.h"
#include "tools/shopflow/mq_json.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: shopflow delay send TOPIC (--level N | --delay-ms MS) [--key K] BODY\n"
            "       shopflow delay cancel --key K [--topic T]\n"
            "       shopflow delay list [--topic T] [--limit N] [--json]\n"
            "       shopflow delay stats [--json]\n\n"
            "  send     hand mq-delayd a message for TOPIC, due after level N (1..18: 1s 5s\n"
            "           10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h) or MS ms;\n"
            "           answered once it is on disk; prints its id and due time\n"
            "  cancel   cancel the pending messages with key K (of topic T; all topics\n"
            "           when no --topic)\n"
            "  list     the pending messages, earliest due first: due time, topic, key,\n"
            "           id, body size; at most N (1..%d, default 100)\n"
            "  stats    pending per topic, next due, delivered, cancelled, lateness\n\n"
            "  --url URL       mq-delayd (default: $MQ_DELAY_URL, else the delayd of the\n"
            "                  running `shopflow up` (--prefix P), else " MQ_DELAY_URL_DEFAULT ")\n"
            "  --prefix P      the stack started with `up --db-prefix P`\n"
            "  --json          list and stats as JSON\n\n"
            "exit: 0 done, 1 the operation failed (unreachable, nothing to cancel, refused),\n"
            "2 usage\n",
            MQ_DELAY_LIST_MAX);
}

typedef struct delay_cli {
    const char *url, *key, *topic, *prefix;
    long level, limit;
    long long delay_ms;
    int json, has_delay;
    char stack_url[128];
} delay_cli;

/* A whole number in [min, max] or -1 with a message. */
static int number(const char *flag, const char *v, long long min, long long max, long long *out)
{
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || x < min || x > max) {
        fprintf(stderr, "shopflow delay: %s wants a whole number %lld..%lld, not '%s'\n", flag, min,
                max, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse(int argc, char **argv, delay_cli *o)
{
    static const struct option lo[] = {
        {"url", required_argument, 0, 'u'},      {"key", required_argument, 0, 'k'},
        {"topic", required_argument, 0, 't'},    {"level", required_argument, 0, 'l'},
        {"delay-ms", required_argument, 0, 'd'}, {"limit", required_argument, 0, 'n'},
        {"prefix", required_argument, 0, 'p'},   {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0},
    };
    optind = 1;
    int c;
    long long v = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'u':
            o->url = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 't':
            o->topic = optarg;
            break;
        case 'p':
            o->prefix = optarg;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'l':
            if (number("--level", optarg, 1, MQ_DELAY_LEVELS, &v) != 0)
                return 2;
            o->level = (long)v;
            break;
        case 'd':
            if (number("--delay-ms", optarg, 0, MQ_DELAY_MAX_MS_DEFAULT, &v) != 0)
                return 2;
            o->delay_ms = v;
            o->has_delay = 1;
            break;
        case 'n':
            if (number("--limit", optarg, 1, MQ_DELAY_LIST_MAX, &v) != 0)
                return 2;
            o->limit = (long)v;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

/* --url, $MQ_DELAY_URL, the running stack's delayd, the default. */
static const char *delay_url(delay_cli *o)
{
    if (o->url != NULL)
        return o->url;
    const char *env = getenv("MQ_DELAY_URL");
    if (env != NULL && env[0] != '\0')
        return env;
    ctl_target t = {.prefix = o->prefix};
    if (ctl_stack_url(&t, "delayd", o->stack_url, sizeof o->stack_url) == 0)
        return o->stack_url;
    return MQ_DELAY_URL_DEFAULT;
}

static int failed(const char *what, rpc_status st, const shop_error *err, const char *url)
{
    fprintf(stderr, "shopflow delay %s: %s: %s%s%s\n", what, rpc_status_name(st), err->message,
            st == RPC_UNAVAILABLE || st == RPC_DEADLINE_EXCEEDED ? "; is mq-delayd running at "
                                                                 : "",
            st == RPC_UNAVAILABLE || st == RPC_DEADLINE_EXCEEDED ? url : "");
    return 1;
}

/* "2026-12-03T13:20:01.123Z" */
static void format_due(int64_t due_us, char *out, size_t outlen)
{
    time_t s = (time_t)(due_us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03dZ", base, (int)(due_us / 1000 % 1000));
}

static int do_send(delay_cli *o, mq_delay_client *c, const char *url, char **rest, int nrest)
{
    if (nrest != 2 || (o->level != 0) == (o->has_delay != 0)) {
        fprintf(stderr, "shopflow delay send: wants TOPIC and BODY, and one of --level N or "
                        "--delay-ms MS\n");
        return 2;
    }
    mq_delay_result r = {0};
    shop_error err = {0};
    rpc_status st = mq_delay_send(c, rest[0], o->key, rest[1], strlen(rest[1]), o->delay_ms,
                                  (int)o->level, &r, &err);
    if (st != RPC_OK)
        return failed("send", st, &err, url);
    char due[40];
    format_due(r.due_us, due, sizeof due);
    printf("sent id=%" PRIu64 " topic=%s key=%s due=%s in_ms=%lld\n", r.id, rest[0],
           o->key ? o->key : "", due, (long long)(r.due_us / 1000 - shop_wall_ms()));
    return 0;
}

static int do_cancel(delay_cli *o, mq_delay_client *c, const char *url, int nrest)
{
    if (o->key == NULL || o->key[0] == '\0' || nrest != 0) {
        fprintf(stderr, "shopflow delay cancel: wants --key K (and optionally --topic T)\n");
        return 2;
    }
    shop_error err = {0};
    unsigned total = 0;
    mq_delay_stats s = {0};
    size_t ntopics = 1;
    if (o->topic == NULL) { /* every topic that has pending messages */
        rpc_status st = mq_delay_get_stats(c, &s, &err);
        if (st != RPC_OK)
            return failed("cancel", st, &err, url);
        ntopics = s.n_topics;
    }
    for (size_t i = 0; i < ntopics; i++) {
        unsigned n = 0;
        const char *topic = o->topic != NULL ? o->topic : s.topics[i].topic;
        rpc_status st = mq_delay_cancel(c, topic, o->key, &n, &err);
        if (st != RPC_OK && st != RPC_NOT_FOUND) {
            mq_delay_stats_free(&s);
            return failed("cancel", st, &err, url);
        }
        if (n > 0)
            printf("cancelled topic=%s key=%s count=%u\n", topic, o->key, n);
        total += n;
    }
    mq_delay_stats_free(&s);
    if (total == 0) {
        fprintf(stderr,
                "shopflow delay cancel: nothing pending with key '%s'%s%s (already delivered, "
                "cancelled, or never sent); `shopflow delay list` shows what is pending\n",
                o->key, o->topic ? " in topic " : "", o->topic ? o->topic : "");
        return 1;
    }
    return 0;
}

static int do_list(delay_cli *o, mq_delay_client *c, const char *url, int nrest)
{
    if (nrest != 0) {
        fprintf(stderr, "shopflow delay list: takes no arguments (--topic T, --limit N)\n");
        return 2;
    }
    mq_delay_pending *ps = NULL;
    size_t n = 0;
    uint64_t matched = 0;
    shop_error err = {0};
    rpc_status st = mq_delay_list(c, o->topic, (unsigned)o->limit, &ps, &n, &matched, &err);
    if (st != RPC_OK)
        return failed("list", st, &err, url);
    int64_t now_ms = shop_wall_ms();
    char due[40];
    int rc = 0;
    if (o->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            char id[24]; /* uint64 as a string, as proto3 JSON does */
            snprintf(id, sizeof id, "%" PRIu64, ps[i].id);
            format_due(ps[i].due_us, due, sizeof due);
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "topic",
                                                 ps[i].topic, "key", ps[i].key, "id", id, "due",
                                                 due, "due_us", (json_int_t)ps[i].due_us,
                                                 "body_len", (json_int_t)ps[i].body_len));
        }
        rc = cli_json_print("delay list",
                            json_pack("{s:I, s:I, s:o}", "matched", (json_int_t)matched, "listed",
                                      (json_int_t)n, "pending", arr));
    } else {
        printf("%-24s %10s  %-24s %-24s %20s %8s\n", "DUE", "IN", "TOPIC", "KEY", "ID", "LEN");
        for (size_t i = 0; i < n; i++) {
            format_due(ps[i].due_us, due, sizeof due);
            printf("%-24s %9.3fs  %-24s %-24s %20" PRIu64 " %8u\n", due,
                   (double)(ps[i].due_us / 1000 - now_ms) / 1000.0, ps[i].topic, ps[i].key,
                   ps[i].id, ps[i].body_len);
        }
        printf("listed=%zu matched=%" PRIu64 "%s\n", n, matched,
               matched > n ? " (earliest first; --limit N lists more)" : "");
    }
    free(ps);
    return rc;
}

static int do_stats_json(mq_delay_client *c, const char *url)
{
    mq_delay_stats s = {0};
    shop_error err = {0};
    rpc_status st = mq_delay_get_stats(c, &s, &err);
    if (st != RPC_OK)
        return failed("stats", st, &err, url);
    json_t *v = mq_json_delay_stats(url, &s);
    mq_delay_stats_free(&s);
    return cli_json_print("delay stats", v);
}

int cmd_delay(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        usage(stdout);
        return 0;
    }
    delay_cli o = {0};
    int rc = parse(argc - 1, argv + 1, &o);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    char **rest = argv + 1 + optind;
    int nrest = argc - 1 - optind;
    int known = strcmp(sub, "send") == 0 || strcmp(sub, "cancel") == 0 ||
                strcmp(sub, "list") == 0 || strcmp(sub, "stats") == 0;
    if (!known) {
        fprintf(stderr, "shopflow delay: unknown subcommand '%s'\n", sub);
        usage(stderr);
        return 2;
    }
    const char *url = delay_url(&o);
    if (strcmp(sub, "stats") == 0 && !o.json)
        return mq_delay_print_stats(url, stdout) == RPC_OK ? 0 : 1;
    mq_delay_client *c = NULL;
    shop_error err = {0};
    if (mq_delay_client_open(url, 5000, &c, &err) != RPC_OK)
        return failed(sub, shop_error_code(&err), &err, url);
    if (strcmp(sub, "send") == 0)
        rc = do_send(&o, c, url, rest, nrest);
    else if (strcmp(sub, "cancel") == 0)
        rc = do_cancel(&o, c, url, nrest);
    else if (strcmp(sub, "list") == 0)
        rc = do_list(&o, c, url, nrest);
    else
        rc = do_stats_json(c, url);
    mq_delay_client_close(c);
    return rc;
}
