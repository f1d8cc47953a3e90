/* mq-delayd: the durable delay queue. Parses flags (with environment
 * fallbacks), rebuilds the index from the log, starts the writer, timer and
 * server, and on SIGTERM/SIGINT drains and exits 0. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq/delayd/delayd.h"
#include "mq/mq.h"
#include "mq/mq_delay.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/version.h"
#include "rpc/metrics_http.h"

#define DELAYD_METRICS_URL "http://127.0.0.1:9250"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mq-delayd [options]\n"
            "The durable delay queue: holds delayed messages on disk and hands each to\n"
            "the sink when due (never early, at least once).\n\n"
            "  --listen URL        requests (MQ_DELAYD_LISTEN, default %s)\n"
            "  --data-dir DIR      log segments (MQ_DELAYD_DATA, default %s/delayd)\n"
            "  --broker URL        mq-broker (tcp://) or JetStream cluster (nats://h:p,h:p...)\n"
            "                      that due messages are sent to (MQ_DELAYD_BROKER, else\n"
            "                      MQ_URL, else %s)\n"
            "  --sink URL          instead of the broker, an mq_delay_receiver endpoint that\n"
            "                      takes due messages as Delivery (MQ_DELAYD_SINK)\n"
            "  --segment-mb N      size of a log segment (MQ_DELAYD_SEGMENT_MB, default 64)\n"
            "  --max-delay-ms N    longest accepted delay (MQ_DELAYD_MAX_DELAY_MS,\n"
            "                      default 40 days)\n"
            "  --sink-timeout-ms N wait for the sink's ack (MQ_DELAYD_SINK_TIMEOUT_MS, 2000)\n"
            "  --max-backoff-ms N  longest retry pause while the sink is down\n"
            "                      (MQ_DELAYD_MAX_BACKOFF_MS, 1000)\n"
            "  --metrics-url URL   GET /metrics (Prometheus text), loopback only; none: off\n"
            "                      (MQ_DELAYD_METRICS_URL, default " DELAYD_METRICS_URL ")\n"
            "  --help              this text\n"
            "  --version           print the version\n",
            MQ_DELAY_URL_DEFAULT, shop_default_var_dir(), MQ_DEFAULT_URL);
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

static int parse_args(int argc, char **argv, delayd_config *c)
{
    static char data_dir[4096];
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"data-dir", required_argument, NULL, 'd'},
        {"sink", required_argument, NULL, 's'},
        {"broker", required_argument, NULL, 'B'},
        {"segment-mb", required_argument, NULL, 'g'},
        {"max-delay-ms", required_argument, NULL, 'm'},
        {"sink-timeout-ms", required_argument, NULL, 't'},
        {"max-backoff-ms", required_argument, NULL, 'b'},
        {"metrics-url", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    snprintf(data_dir, sizeof data_dir, "%s/delayd", shop_default_var_dir());
    c->listen_url = env_or("MQ_DELAYD_LISTEN", MQ_DELAY_URL_DEFAULT);
    c->data_dir = env_or("MQ_DELAYD_DATA", data_dir);
    c->sink_url = env_or("MQ_DELAYD_SINK", NULL);
    c->broker_url = env_or("MQ_DELAYD_BROKER", env_or("MQ_URL", MQ_DEFAULT_URL));
    long long seg_mb = atoll(env_or("MQ_DELAYD_SEGMENT_MB", "64"));
    c->max_delay_ms = atoll(env_or("MQ_DELAYD_MAX_DELAY_MS", "3456000000"));
    c->sink_timeout_ms = atoi(env_or("MQ_DELAYD_SINK_TIMEOUT_MS", "2000"));
    c->max_backoff_ms = atoi(env_or("MQ_DELAYD_MAX_BACKOFF_MS", "1000"));
    c->metrics_url = env_or("MQ_DELAYD_METRICS_URL", DELAYD_METRICS_URL);
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            c->listen_url = optarg;
            break;
        case 'd':
            c->data_dir = optarg;
            break;
        case 's':
            c->sink_url = optarg;
            break;
        case 'B':
            c->broker_url = optarg;
            break;
        case 'g':
            seg_mb = atoll(optarg);
            break;
        case 'm':
            c->max_delay_ms = atoll(optarg);
            break;
        case 't':
            c->sink_timeout_ms = atoi(optarg);
            break;
        case 'b':
            c->max_backoff_ms = atoi(optarg);
            break;
        case 'M':
            c->metrics_url = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (seg_mb < 1 || seg_mb > 1024 || c->max_delay_ms < 0 || c->sink_timeout_ms <= 0 ||
        c->max_backoff_ms < 10 || optind != argc) {
        fprintf(stderr, "mq-delayd: --segment-mb must be 1..1024, --max-delay-ms >= 0, "
                        "--sink-timeout-ms > 0, --max-backoff-ms >= 10, no extra arguments\n");
        return -1;
    }
    c->segment_bytes = (size_t)seg_mb << 20;
    return 0;
}

int main(int argc, char **argv)
{
    if (shop_version_asked(argc, argv, "mq-delayd"))
        return 0;
    delayd d;
    rpc_metrics_http *metrics_http = NULL;
    shop_error err = {0};
    int code = 1;
    sigset_t sigs;
    memset(&d, 0, sizeof d);
    shop_hist_reset(&d.lateness_us);
    shop_log_init("mq-delayd");
    if (parse_args(argc, argv, &d.cfg) != 0) {
        return 2;
    }
    /* Every thread inherits the mask; main takes the signals with sigwait. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    pthread_mutex_init(&d.mu, NULL);
    pthread_cond_init(&d.timer_cv, NULL);
    pthread_mutex_init(&d.qmu, NULL);
    pthread_cond_init(&d.qcv, NULL);
    delay_index_init(&d.ix);

    int threads = 0;
    if (delay_log_open(d.cfg.data_dir, d.cfg.segment_bytes, &d.log, &err) != 0 ||
        delayd_recover(&d, &err) != 0) {
        shop_log_error("cannot open the delay log err=\"%s\"", err.message);
        goto out;
    }
    char tag[17];
    if (delay_log_instance_tag(d.log, tag) != 0) {
        shop_log_error("cannot make the instance tag in %s", d.cfg.data_dir);
        goto out;
    }
    rpc_status sink_st =
        d.cfg.sink_url
            ? delay_sink_nng_open(d.cfg.sink_url, d.cfg.sink_timeout_ms, &d.sink, &err)
            : delay_sink_broker_open(d.cfg.broker_url, tag, d.cfg.sink_timeout_ms, &d.sink, &err);
    if (sink_st != RPC_OK) {
        shop_log_error("cannot set up the sink err=\"%s\"", err.message);
        goto out;
    }
    if (delayd_writer_start(&d) != 0 || (threads = 1, delayd_timer_start(&d) != 0)) {
        shop_log_error("cannot start threads");
        goto out;
    }
    threads = 2;
    if (delayd_server_start(&d, &err) != 0) {
        shop_log_error("cannot start the server err=\"%s\"", err.message);
        goto out;
    }
    shop_log_info("listening url=%s data_dir=%s sink=%s%s pending=%llu", d.cfg.listen_url,
                  d.cfg.data_dir, d.cfg.sink_url ? "delivery:" : "broker:",
                  d.cfg.sink_url ? d.cfg.sink_url : d.cfg.broker_url,
                  (unsigned long long)d.ix.pending);
    metrics_http = rpc_metrics_http_serve(d.cfg.metrics_url, delayd_metrics, &d);
    int sig = 0;
    sigwait(&sigs, &sig);
    shop_log_info("draining signal=%d", sig);
    code = 0;
out:
    rpc_metrics_http_stop(metrics_http); /* before what its collector reads goes */
    d.stopping = 1;
    if (threads >= 2) {
        delayd_timer_stop(&d);
    }
    if (threads >= 1) {
        delayd_writer_stop(&d);
    }
    delayd_server_stop(&d);
    if (d.sink) {
        d.sink->close(d.sink);
    }
    if (code == 0) {
        shop_log_info("stopped pending=%llu delivered=%llu", (unsigned long long)d.ix.pending,
                      (unsigned long long)d.delivered);
    }
    delay_log_close(d.log);
    delay_index_free(&d.ix);
    return code;
}
