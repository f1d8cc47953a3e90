/* mq-broker: the durable topic log with consumer groups. Flags with
 * environment fallbacks; SIGTERM/SIGINT drain and exit 0. */
#include "mq/broker/server.h"

#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/mq.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/version.h"

#define MQ_DEFAULT_METRICS_URL "http://127.0.0.1:9701"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mq-broker [options]\n\n"
            "  --url URL               requests (send, ack, stats) [MQ_URL, " MQ_DEFAULT_URL "]\n"
            "  --pub-url URL           deliveries over PUB/SUB [MQ_PUB_URL, " MQ_DEFAULT_PUB_URL
            "]\n"
            "  --data-dir DIR          segments and offsets [MQ_DATA_DIR, var/mq]\n"
            "  --flush sync|async      sync: a send is answered after fdatasync (default);\n"
            "                          async: answered at once, synced every interval, so a\n"
            "                          machine crash may lose that interval [MQ_FLUSH]\n"
            "  --flush-interval-ms N   async sync interval [MQ_FLUSH_INTERVAL_MS, 100]\n"
            "  --segment-bytes N       segment file size [MQ_SEGMENT_BYTES, 64 MiB]\n"
            "  --retention-bytes N     delete oldest segments past this total [MQ_RETENTION_BYTES, "
            "0: none]\n"
            "  --retention-hours N     delete segments older than this [MQ_RETENTION_HOURS, 72]\n"
            "  --ack-timeout-ms N      redeliver unacked messages after [MQ_ACK_TIMEOUT_MS, "
            "30000]\n"
            "  --consumer-timeout-ms N drop a silent consumer after [MQ_CONSUMER_TIMEOUT_MS, "
            "6000]\n"
            "  --retry-scale X         scale the retry backoff levels (tests: 0.0001) "
            "[MQ_RETRY_SCALE, 1]\n"
            "  --max-inflight N        per consumer unless it asks [MQ_MAX_INFLIGHT, 4096]\n"
            "  --metrics-url URL       GET /metrics (Prometheus text), loopback only; none:\n"
            "                          off [MQ_METRICS_URL, " MQ_DEFAULT_METRICS_URL "]\n"
            "  --txn-check-ms N        check back a half message undecided this long, and\n"
            "                          again as long [MQ_TXN_CHECK_MS, 6000]\n"
            "  --txn-check-max N       check-backs before an undecided half is discarded\n"
            "                          [MQ_TXN_CHECK_MAX, 15]\n"
            "  --trace-events N        message trace: events kept (memory and disk); 0: off\n"
            "                          [MQ_TRACE_EVENTS, 262144]\n"
            "  --help\n"
            "  --version\n");
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static int parse_flush(const char *v, int *sync)
{
    if (strcmp(v, "sync") == 0)
        *sync = 1;
    else if (strcmp(v, "async") == 0)
        *sync = 0;
    else
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (shop_version_asked(argc, argv, "mq-broker"))
        return 0;
    shop_log_init("mq-broker");
    /* Deliveries leave as nng messages of up to 256 KiB, allocated on the
     * loop thread and freed on nng's: glibc would give that memory back to
     * the kernel (mmap for the largest, trimming for the rest) and fault it
     * in again, a page fault per 4 KiB, for the next batch. It is kept. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    static char default_dir[600];
    snprintf(default_dir, sizeof default_dir, "%s/mq",
             env_or("SHOPFLOW_VAR", shop_default_var_dir()));
    mq_broker_opts o = {
        .url = env_or("MQ_URL", MQ_DEFAULT_URL),
        .pub_url = env_or("MQ_PUB_URL", MQ_DEFAULT_PUB_URL),
        .data_dir = env_or("MQ_DATA_DIR", default_dir),
        .flush_sync = 1,
        .flush_interval_ms = atoi(env_or("MQ_FLUSH_INTERVAL_MS", "100")),
        .segment_bytes = strtoull(env_or("MQ_SEGMENT_BYTES", "67108864"), NULL, 10),
        .retention_bytes = strtoull(env_or("MQ_RETENTION_BYTES", "0"), NULL, 10),
        .retention_ms = (int64_t)(atof(env_or("MQ_RETENTION_HOURS", "72")) * 3600e3),
        .ack_timeout_ms = atoi(env_or("MQ_ACK_TIMEOUT_MS", "30000")),
        .consumer_timeout_ms = atoi(env_or("MQ_CONSUMER_TIMEOUT_MS", "6000")),
        .retry_scale = atof(env_or("MQ_RETRY_SCALE", "1")),
        .max_inflight = (unsigned)atoi(env_or("MQ_MAX_INFLIGHT", "4096")),
        .contexts = 128,
        .metrics_url = env_or("MQ_METRICS_URL", MQ_DEFAULT_METRICS_URL),
        .txn_check_ms = atoi(env_or("MQ_TXN_CHECK_MS", "6000")),
        .txn_check_max = atoi(env_or("MQ_TXN_CHECK_MAX", "15")),
        .trace_events = strtoull(env_or("MQ_TRACE_EVENTS", "262144"), NULL, 10),
    };
    if (parse_flush(env_or("MQ_FLUSH", "sync"), &o.flush_sync) != 0) {
        fprintf(stderr, "mq-broker: MQ_FLUSH must be sync or async\n");
        return 2;
    }
    static const struct option longopts[] = {
        {"url", required_argument, 0, 'u'},
        {"pub-url", required_argument, 0, 'p'},
        {"data-dir", required_argument, 0, 'd'},
        {"flush", required_argument, 0, 'f'},
        {"flush-interval-ms", required_argument, 0, 'i'},
        {"segment-bytes", required_argument, 0, 's'},
        {"retention-bytes", required_argument, 0, 'R'},
        {"retention-hours", required_argument, 0, 'H'},
        {"ack-timeout-ms", required_argument, 0, 'a'},
        {"consumer-timeout-ms", required_argument, 0, 'c'},
        {"retry-scale", required_argument, 0, 'r'},
        {"max-inflight", required_argument, 0, 'm'},
        {"metrics-url", required_argument, 0, 'M'},
        {"txn-check-ms", required_argument, 0, 'T'},
        {"txn-check-max", required_argument, 0, 'X'},
        {"trace-events", required_argument, 0, 'E'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            o.url = optarg;
            break;
        case 'p':
            o.pub_url = optarg;
            break;
        case 'd':
            o.data_dir = optarg;
            break;
        case 'f':
            if (parse_flush(optarg, &o.flush_sync) != 0) {
                fprintf(stderr, "mq-broker: --flush must be sync or async\n");
                return 2;
            }
            break;
        case 'i':
            o.flush_interval_ms = atoi(optarg);
            break;
        case 's':
            o.segment_bytes = strtoull(optarg, NULL, 10);
            break;
        case 'R':
            o.retention_bytes = strtoull(optarg, NULL, 10);
            break;
        case 'H':
            o.retention_ms = (int64_t)(atof(optarg) * 3600e3);
            break;
        case 'a':
            o.ack_timeout_ms = atoi(optarg);
            break;
        case 'c':
            o.consumer_timeout_ms = atoi(optarg);
            break;
        case 'r':
            o.retry_scale = atof(optarg);
            break;
        case 'm':
            o.max_inflight = (unsigned)atoi(optarg);
            break;
        case 'M':
            o.metrics_url = optarg;
            break;
        case 'T':
            o.txn_check_ms = atoi(optarg);
            break;
        case 'X':
            o.txn_check_max = atoi(optarg);
            break;
        case 'E':
            o.trace_events = strtoull(optarg, NULL, 10);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || o.ack_timeout_ms <= 0 || o.consumer_timeout_ms <= 0 ||
        o.flush_interval_ms <= 0 || o.max_inflight == 0 || o.retry_scale <= 0 ||
        o.txn_check_ms <= 0 || o.txn_check_max <= 0) {
        fprintf(stderr, "mq-broker: timeouts, intervals, --max-inflight, --retry-scale and the "
                        "--txn-check options must be positive\n");
        usage(stderr);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return bk_serve(&o, &stop_flag);
}
