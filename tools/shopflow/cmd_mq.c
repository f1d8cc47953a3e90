/* shopflow mq: the broker from the command line: stats, dlq (list and
 * re-drive dead letters), send and consume (for scripts and tests). On a
 * nats:// URL stats and dlq ask JetStream (mq/nats/nats_admin.h); send and
 * consume go through mq.h, which picks the backend by URL. */
#include "tools/shopflow/commands.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/mq.h"
#include "mq/mq_delay.h"
#include "mq/nats/nats_admin.h"
#include "mq/nats/nats_names.h"
#include "base/clock.h"
#include "mq/wire.h"
#include "tools/shopflow/cli_json.h"
#include "tools/shopflow/ctl_client.h"
#include "tools/shopflow/mq_body.h"
#include "tools/shopflow/mq_cli.h"
#include "tools/shopflow/mq_json.h"

static void mq_usage(FILE *out)
{
    fprintf(
        out,
        "usage: shopflow mq stats|dlq|send|consume [options]\n\n"
        "  stats                       per topic and group: end, committed, lag, in flight,\n"
        "                              retrying, DLQ size; then mq-delayd's pending delayed\n"
        "                              messages per topic, next due, lateness percentiles\n"
        "  dlq GROUP [--redrive] [--max N]\n"
        "                              list the group's dead letters; --redrive sends them\n"
        "                              back to the group (through its retry topic)\n"
        "  topics                      every topic: retained offsets, messages, groups\n"
        "  topic T                     one topic: offsets, messages, each group's committed\n"
        "                              offset, lag, in flight, retrying, DLQ, consumers\n"
        "  peek T [--offset N] [--count K]\n"
        "                              stored records from offset N (default: the first\n"
        "                              retained), K of them (default 10, at most 1000), with\n"
        "                              bodies as protobuf text where the topic's type is known\n"
        "  trace ID [--json] [--max N]  the broker's trace of message ID: stored, delivered\n"
        "                              (group, consumer, attempt), acked, retried, DLQ,\n"
        "                              re-driven; for a transactional one its half, the\n"
        "                              check-backs and the decision\n"
        "  send-half TOPIC BODY --group G [--decide commit|rollback|none] [--id ID] [--key K]\n"
        "                              a transactional (half) message as a member of producer\n"
        "                              group G; none (default): print its id and answer\n"
        "                              check-backs UNKNOWN until stopped (a drill)\n"
        "  send TOPIC [BODY] [--key K] [--tag TAG] [--count N] [--size B] [--batch N]\n"
        "  consume TOPIC... --group G [--tags 'A || B'] [--count N] [--reconsume-later]\n"
        "                              [--sleep-ms N] [--max-inflight N]; one line per\n"
        "                              message on stdout (tag=T when it has one),\n"
        "                              its body below it as in peek\n\n"
        "options: --url URL [MQ_URL, else the broker of the running `shopflow up`\n"
        "         (--prefix P), else " MQ_DEFAULT_URL
        "; nats://host:port[,host:port...] for JetStream],\n"
        "         --pub-url URL [MQ_PUB_URL, else the stack's, else " MQ_DEFAULT_PUB_URL "],\n"
        "         --delay-url URL [MQ_DELAY_URL, else the stack's, else " MQ_DELAY_URL_DEFAULT "]\n"
        "         --json: stats, dlq, topics, topic, peek and trace as JSON (mq-broker)\n\n"
        "exit: 0 done, 1 the broker (or mq-delayd) failed or cannot be reached, 2 usage\n");
}

static int parse(int argc, char **argv, mq_cli *o)
{
    static const struct option lo[] = {
        {"url", required_argument, 0, 'u'},
        {"pub-url", required_argument, 0, 'p'},
        {"group", required_argument, 0, 'g'},
        {"key", required_argument, 0, 'k'},
        {"tag", required_argument, 0, 'G'},
        {"tags", required_argument, 0, 'E'},
        {"count", required_argument, 0, 'n'},
        {"size", required_argument, 0, 's'},
        {"batch", required_argument, 0, 'b'},
        {"sleep-ms", required_argument, 0, 'S'},
        {"max", required_argument, 0, 'm'},
        {"max-inflight", required_argument, 0, 'I'},
        {"offset", required_argument, 0, 'O'},
        {"id", required_argument, 0, 'i'},
        {"topic", required_argument, 0, 't'},
        {"to-offset", required_argument, 0, 'T'},
        {"to-time", required_argument, 0, 'W'},
        {"redrive", no_argument, 0, 'r'},
        {"reconsume-later", no_argument, 0, 'L'},
        {"delay-url", required_argument, 0, 'D'},
        {"prefix", required_argument, 0, 'P'},
        {"json", no_argument, 0, 'j'},
        {"decide", required_argument, 0, 'x'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    *o = (mq_cli){.count = -1, .size = 0, .batch = 1, .max = 100};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'u':
            o->url = optarg;
            break;
        case 'p':
            o->pub_url = optarg;
            break;
        case 'D':
            o->delay_url = optarg;
            break;
        case 'P':
            o->prefix = optarg;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'x':
            o->decide = optarg;
            break;
        case 'g':
            o->group = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 'G':
            o->tag = optarg;
            break;
        case 'E':
            o->tags = optarg;
            break;
        case 'n':
            o->count = atol(optarg);
            break;
        case 's':
            o->size = atol(optarg);
            break;
        case 'b':
            o->batch = atol(optarg);
            break;
        case 'S':
            o->sleep_ms = atol(optarg);
            break;
        case 'm':
            o->max = atol(optarg);
            break;
        case 'I':
            o->max_inflight = atol(optarg);
            break;
        case 'i':
            o->id = optarg;
            break;
        case 't':
            o->topic = optarg;
            break;
        case 'T':
            o->to_offset = optarg;
            break;
        case 'W':
            o->to_time = optarg;
            break;
        case 'O':
            o->offset = strtoull(optarg, NULL, 10);
            o->has_offset = 1;
            break;
        case 'r':
            o->redrive = 1;
            break;
        case 'L':
            o->later = 1;
            break;
        case 'h':
            mq_usage(stdout);
            return 1;
        default:
            mq_usage(stderr);
            return 2;
        }
    }
    return 0;
}

int mq_cli_call(const mq_cli *o, Shop__Mq__Request *req, Shop__Mq__Reply **rep)
{
    mq_link l;
    shop_error err = {0};
    const char *url = mq_url_or_env(o->url, "MQ_URL", MQ_DEFAULT_URL);
    if (mq_link_open(&l, url, &err) != 0) {
        fprintf(stderr, "shopflow mq: %s\n", err.message);
        return 1;
    }
    rpc_status st = mq_link_call(&l, req, 5000, rep, &err);
    mq_link_close(&l);
    if (st != RPC_OK) {
        fprintf(stderr, "shopflow mq: %s: %s\n", rpc_status_name(st), err.message);
        if (*rep)
            shop__mq__reply__free_unpacked(*rep, NULL);
        return 1;
    }
    return 0;
}

/* The last part of `mq stats`, whatever the backend. */
static void print_delay_stats(const mq_cli *o)
{
    printf("\ndelay queue (mq-delayd):\n");
    fflush(stdout);
    if (mq_delay_print_stats(o->delay_url, stdout) != RPC_OK)
        fprintf(stderr, "shopflow mq stats: mq-delayd not reachable at %s\n",
                o->delay_url != NULL ? o->delay_url : mq_delay_default_url());
}

/* stats and dlq against JetStream. */
static int nats_admin(const mq_cli *o, const char *url, const char *group)
{
    shop_error e = {0};
    rpc_status st = group != NULL ? mq_nats_dlq(url, group, o->redrive, o->max, stdout, &e)
                                  : mq_nats_print_stats(url, stdout, &e);
    if (st != RPC_OK) {
        fprintf(stderr, "shopflow mq: %s: %s\n", rpc_status_name(st), e.message);
        return 1;
    }
    if (group == NULL)
        print_delay_stats(o);
    return 0;
}

/* The broker's stats and mq-delayd's (null when it cannot be reached). */
static int stats_json(const mq_cli *o, Shop__Mq__Reply *rep)
{
    json_t *v = mq_json_stats(rep->stats);
    shop__mq__reply__free_unpacked(rep, NULL);
    const char *durl = o->delay_url != NULL ? o->delay_url : mq_delay_default_url();
    mq_delay_client *c = NULL;
    mq_delay_stats ds = {0};
    json_t *delay = json_null();
    if (mq_delay_client_open(durl, 3000, &c, NULL) == RPC_OK &&
        mq_delay_get_stats(c, &ds, NULL) == RPC_OK)
        delay = mq_json_delay_stats(durl, &ds);
    else
        fprintf(stderr, "shopflow mq stats: mq-delayd not reachable at %s\n", durl);
    mq_delay_stats_free(&ds);
    mq_delay_client_close(c);
    if (v != NULL)
        json_object_set_new(v, "delay", delay);
    else
        json_decref(delay);
    return cli_json_print("mq stats", v);
}

/* --json is mq-broker's; JetStream answers its own (`nats stream info --json`). */
static int nats_json_refused(const mq_cli *o)
{
    if (!o->json)
        return 0;
    fprintf(stderr, "shopflow mq: --json reads mq-broker; for a nats:// URL use the nats CLI's "
                    "`nats stream info --json` and `nats consumer info --json`\n");
    return 1;
}

static int mq_stats(const mq_cli *o)
{
    const char *url = mq_url_or_env(o->url, "MQ_URL", MQ_DEFAULT_URL);
    if (mq_nats_is_url(url))
        return nats_json_refused(o) ? 2 : nats_admin(o, url, NULL);
    Shop__Mq__Reply *rep = NULL;
    if (mq_cli_stats(o, &rep) != 0)
        return 1;
    if (o->json)
        return stats_json(o, rep);
    Shop__Mq__StatsReply *r = rep->stats;
    printf("segments=%llu store_bytes=%llu syncs=%llu sync_mean_us=%.0f\n\n%-32s %12s %12s\n",
           (unsigned long long)r->segments, (unsigned long long)r->store_bytes,
           (unsigned long long)r->syncs,
           r->syncs ? (double)r->sync_us_total / (double)r->syncs : 0.0, "TOPIC", "START", "END");
    for (size_t i = 0; i < r->n_topics; i++)
        printf("%-32s %12llu %12llu\n", r->topics[i]->topic,
               (unsigned long long)r->topics[i]->start_offset,
               (unsigned long long)r->topics[i]->end_offset);
    printf("\n%-20s %-24s %10s %10s %8s %8s %8s %6s %4s\n", "GROUP", "TOPIC", "END", "COMMITTED",
           "LAG", "INFLIGHT", "RETRYING", "DLQ", "CONS");
    for (size_t i = 0; i < r->n_groups; i++) {
        Shop__Mq__GroupStats *g = r->groups[i];
        printf("%-20s %-24s %10llu %10llu %8llu %8llu %8llu %6llu %4u\n", g->group, g->topic,
               (unsigned long long)g->end_offset, (unsigned long long)g->committed,
               (unsigned long long)g->lag, (unsigned long long)g->inflight,
               (unsigned long long)g->retrying, (unsigned long long)g->dlq_size, g->consumers);
    }
    shop__mq__reply__free_unpacked(rep, NULL);
    print_delay_stats(o);
    return 0;
}

const char *mq_cli_prop(const Shop__Mq__Record *r, const char *key)
{
    for (size_t i = 0; i < r->n_properties; i++)
        if (strcmp(r->properties[i]->key, key) == 0)
            return r->properties[i]->value;
    return NULL;
}

int mq_cli_stats(const mq_cli *o, Shop__Mq__Reply **rep)
{
    Shop__Mq__Stats s = SHOP__MQ__STATS__INIT;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_STATS;
    req.stats = &s;
    return mq_cli_call(o, &req, rep);
}

static const char *prop_or_empty(const Shop__Mq__Record *r, const char *key)
{
    const char *v = mq_cli_prop(r, key);
    return v != NULL ? v : "";
}

static int mq_dlq(const mq_cli *o, const char *group)
{
    const char *url = mq_url_or_env(o->url, "MQ_URL", MQ_DEFAULT_URL);
    if (mq_nats_is_url(url))
        return nats_json_refused(o) ? 2 : nats_admin(o, url, group);
    Shop__Mq__Dlq d = SHOP__MQ__DLQ__INIT;
    d.group = (char *)group;
    d.redrive = o->redrive;
    d.max = (uint32_t)o->max;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_DLQ;
    req.dlq = &d;
    Shop__Mq__Reply *rep = NULL;
    if (mq_cli_call(o, &req, &rep) != 0)
        return 1;
    Shop__Mq__DlqReply *r = rep->dlq;
    if (o->json) {
        int rc = cli_json_print("mq dlq", mq_json_dlq(group, r, o->redrive));
        shop__mq__reply__free_unpacked(rep, NULL);
        return rc;
    }
    printf("dlq group=%s total=%llu listed=%zu\n", group, (unsigned long long)r->total,
           r->n_records);
    for (size_t i = 0; i < r->n_records; i++) {
        Shop__Mq__Delivery *dl = r->records[i];
        Shop__Mq__Record *rec = shop__mq__record__unpack(NULL, dl->record.len, dl->record.data);
        if (!rec)
            continue;
        printf("offset=%llu id=%s topic=%s key=%s times=%s len=%zu\n",
               (unsigned long long)dl->offset, rec->id, prop_or_empty(rec, "%ORIGIN_TOPIC"),
               rec->key, prop_or_empty(rec, "%RECONSUME_TIMES"), rec->body.len);
        shop__mq__record__free_unpacked(rec, NULL);
    }
    if (o->redrive)
        printf("redriven=%llu\n", (unsigned long long)r->redriven);
    shop__mq__reply__free_unpacked(rep, NULL);
    return 0;
}

static int mq_send(const mq_cli *o, const char *topic, const char *body)
{
    mq_producer *p;
    if (mq_producer_open(o->url, NULL, &p) != RPC_OK) {
        fprintf(stderr, "shopflow mq send: bad url\n");
        return 1;
    }
    size_t len = body ? strlen(body) : (size_t)o->size;
    char *buf = calloc(1, len + 1);
    if (!buf)
        return 1;
    if (body)
        memcpy(buf, body, len);
    long batch = o->batch > 0 ? o->batch : 1, sent = 0, count = o->count < 0 ? 1 : o->count;
    mq_message *ms = calloc((size_t)batch, sizeof *ms);
    mq_send_opts so = {.tag = o->tag};
    mq_send_result *rs = calloc((size_t)batch, sizeof *rs);
    int rc = 0;
    while (ms && rs && sent < count && rc == 0) {
        long n = count - sent < batch ? count - sent : batch;
        for (long i = 0; i < n; i++)
            ms[i] =
                (mq_message){.topic = topic, .key = o->key, .body = buf, .len = len, .opts = &so};
        if (mq_producer_send_batch(p, ms, (size_t)n, rs) != RPC_OK) {
            for (long i = 0; i < n; i++)
                if (rs[i].status != RPC_OK) {
                    fprintf(stderr, "shopflow mq send: %s: %s\n", rpc_status_name(rs[i].status),
                            rs[i].message);
                    break;
                }
            rc = 1;
        }
        for (long i = 0; i < n && rc == 0; i++)
            printf("sent topic=%s offset=%llu id=%s%s\n", topic, (unsigned long long)rs[i].offset,
                   rs[i].id, rs[i].duplicate ? " duplicate" : "");
        sent += n;
    }
    free(ms);
    free(rs);
    free(buf);
    mq_producer_close(p);
    return rc;
}

static volatile sig_atomic_t consume_stop;
static void consume_signal(int sig)
{
    (void)sig;
    consume_stop = 1;
}

typedef struct consume_state {
    const mq_cli *o;
    long seen;
} consume_state;

static mq_consume_result consume_print(const mq_msg *m, void *arg)
{
    consume_state *s = arg;
    printf("msg topic=%s offset=%llu id=%s key=%s%s%s times=%u len=%zu\n", m->topic,
           (unsigned long long)m->offset, m->id, m->key, *m->tag ? " tag=" : "", m->tag,
           m->reconsume_times, m->len);
    mq_body_print(stdout, m->topic, m->body, m->len, 2);
    fflush(stdout);
    if (s->o->sleep_ms > 0)
        shop_sleep_ms(s->o->sleep_ms);
    s->seen++;
    return s->o->later ? MQ_RECONSUME_LATER : MQ_CONSUME_SUCCESS;
}

static int mq_consume(const mq_cli *o, char **topics, int ntopics)
{
    if (!o->group || ntopics == 0) {
        fprintf(stderr, "shopflow mq consume: needs --group and at least one topic\n");
        return 2;
    }
    consume_state st = {.o = o};
    mq_consumer_opts co = {.url = o->url,
                           .pub_url = o->pub_url,
                           .max_inflight = (unsigned)o->max_inflight,
                           .tags = o->tags};
    mq_consumer *c;
    shop_error err = {0};
    if (mq_consumer_open(o->group, (const char *const *)topics, (size_t)ntopics, consume_print, &st,
                         &co, &c, &err) != RPC_OK ||
        mq_consumer_start(c, &err) != RPC_OK) {
        fprintf(stderr, "shopflow mq consume: %s\n", err.message);
        return 1;
    }
    struct sigaction sa = {.sa_handler = consume_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    fprintf(stderr, "consuming group=%s\n", o->group);
    while (!consume_stop && (o->count <= 0 || st.seen < o->count))
        shop_sleep_ms(10);
    mq_consumer_close(c);
    return 0;
}

int cmd_mq(int argc, char **argv)
{
    if (argc < 2) {
        mq_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        mq_usage(stdout);
        return 0;
    }
    mq_cli o;
    int rc = parse(argc - 1, argv + 1, &o);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    char **rest = argv + 1 + optind;
    int nrest = argc - 1 - optind;
    /* no broker given: the running stack's broker, its deliveries and its
     * delay queue (all three from one place, never mixed with a --url) */
    ctl_target t = {.prefix = o.prefix};
    if (o.url == NULL && getenv("MQ_URL") == NULL &&
        ctl_stack_url(&t, "broker", o.stack_url, sizeof o.stack_url) == 0) {
        o.url = o.stack_url;
        if (o.pub_url == NULL &&
            ctl_stack_url(&t, "deliveries", o.stack_pub_url, sizeof o.stack_pub_url) == 0)
            o.pub_url = o.stack_pub_url;
        if (o.delay_url == NULL &&
            ctl_stack_url(&t, "delayd", o.stack_delay_url, sizeof o.stack_delay_url) == 0)
            o.delay_url = o.stack_delay_url;
    }
    if (strcmp(sub, "stats") == 0)
        return mq_stats(&o);
    if (strcmp(sub, "topics") == 0 && nrest == 0)
        return mq_admin_topics(&o, NULL);
    if (strcmp(sub, "topic") == 0 && nrest == 1)
        return mq_admin_topics(&o, rest[0]);
    if (strcmp(sub, "peek") == 0 && nrest == 1)
        return mq_admin_peek(&o, rest[0]);
    if (strcmp(sub, "get") == 0 && nrest == 0)
        return mq_admin_get(&o, o.id, o.topic);
    if (strcmp(sub, "reset-offset") == 0 && nrest == 2)
        return mq_admin_reset(&o, rest[0], rest[1]);
    if (strcmp(sub, "dlq") == 0 && nrest == 1)
        return mq_dlq(&o, rest[0]);
    if (strcmp(sub, "trace") == 0 && nrest == 1)
        return mq_trace(&o, rest[0]);
    if (strcmp(sub, "send-half") == 0 && nrest == 2)
        return mq_send_half(&o, rest[0], rest[1]);
    if (strcmp(sub, "send") == 0 && (nrest == 1 || nrest == 2))
        return mq_send(&o, rest[0], nrest == 2 ? rest[1] : NULL);
    if (strcmp(sub, "consume") == 0) {
        return mq_consume(&o, rest, nrest);
    }
    mq_usage(stderr);
    return 2;
}
