/* rpc-bench: our rpc (rpc-echod, Echo/Echo through the typed stub) against
 * a raw nng REQ/REP echo, in the same run, over tcp and ipc, with 64 B and
 * 4 KiB payloads, 1 and 8 callers. Each case alternates short rounds of the
 * two systems so that noise from the shared machine hits both alike, and
 * prints one key=value line. */
#include <arpa/inet.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/rpc/bench.h"
#include "base/clock.h"
#include "base/tmpdir.h"
#include "base/spawn.h"
#include "bench/scrape/scraper.h"
#include "rpc_echo.rpc.h"
#include "base/version.h"

static int our_call(void *target, int caller, const uint8_t *payload, size_t len)
{
    (void)caller;
    Shop__Rpctest__EchoRequest req = SHOP__RPCTEST__ECHO_REQUEST__INIT;
    req.data.data = (uint8_t *)payload;
    req.data.len = len;
    Shop__Rpctest__EchoReply *rep = NULL;
    if (shop_rpctest_Echo_Echo(target, &req, &rep, NULL, NULL) != RPC_OK)
        return -1;
    int ok = rep->data.len == len && memcmp(rep->data.data, payload, len) == 0;
    shop__rpctest__echo_reply__free_unpacked(rep, NULL);
    return ok ? 0 : -1;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static pid_t spawn(char *const argv[])
{
    shop_error err = {0};
    pid_t pid = -1;
    if (shop_spawn(argv, NULL, &pid, &err) != RPC_OK)
        fprintf(stderr, "rpc-bench: %s\n", err.message);
    return pid;
}

typedef struct urls {
    char tcp[64], ipc[128];
} urls;

static void make_urls(urls *u, const char *who)
{
    snprintf(u->tcp, sizeof u->tcp, "tcp://127.0.0.1:%d", free_port());
    snprintf(u->ipc, sizeof u->ipc, "ipc://%s/shopflow-rpcbench-%d-%s.sock", shop_tmp_dir(),
             (int)getpid(), who);
}

typedef struct opts {
    int ms, rounds, workers, metrics, scrape_ms;
    char transports[32], payloads[64], callers[32];
} opts;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rpc-bench [--ms MS] [--rounds N] [--workers N] [--transport tcp,ipc]\n"
            "                 [--payload 64,4096] [--callers 1,8]\n"
            "Measures rpc (rpc-echod) against raw nng REQ/REP echo in the same run and prints\n"
            "one line per case: transport= payload= callers= p50_us= p99_us= calls_per_s=\n"
            "raw_p50_us= raw_calls_per_s= p50_ratio= tput_ratio=\n"
            "  --ms MS       measuring time per system and case (default 1500)\n"
            "  --rounds N    alternating rounds the time is split into (default 3)\n"
            "  --workers N   rpc-echod worker threads (default: one per core)\n"
            "  --transport, --payload, --callers  comma-separated lists of the cases to run\n"
            "  --metrics     rpc-echod serves GET /metrics and a scraper reads it every\n"
            "                --scrape-ms MS (default 100) during the whole run\n");
}

static int parse(int argc, char **argv, opts *o)
{
    static const struct option longopts[] = {
        {"ms", required_argument, NULL, 'm'},      {"rounds", required_argument, NULL, 'r'},
        {"workers", required_argument, NULL, 'w'}, {"transport", required_argument, NULL, 't'},
        {"payload", required_argument, NULL, 'p'}, {"callers", required_argument, NULL, 'c'},
        {"metrics", no_argument, NULL, 'M'},       {"scrape-ms", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    /* Echo never blocks, so one worker per core; a server whose handlers
     * wait on PostgreSQL wants more. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *o = (opts){.ms = 1500, .rounds = 3, .workers = cores > 0 ? (int)cores : 2, .scrape_ms = 100};
    snprintf(o->transports, sizeof o->transports, "tcp,ipc");
    snprintf(o->payloads, sizeof o->payloads, "64,4096");
    snprintf(o->callers, sizeof o->callers, "1,8");
    int c;
    while ((c = getopt_long(argc, argv, "m:r:w:t:p:c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            o->ms = atoi(optarg);
            break;
        case 'r':
            o->rounds = atoi(optarg);
            break;
        case 'w':
            o->workers = atoi(optarg);
            break;
        case 't':
            snprintf(o->transports, sizeof o->transports, "%s", optarg);
            break;
        case 'p':
            snprintf(o->payloads, sizeof o->payloads, "%s", optarg);
            break;
        case 'c':
            snprintf(o->callers, sizeof o->callers, "%s", optarg);
            break;
        case 'M':
            o->metrics = 1;
            break;
        case 'S':
            o->scrape_ms = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (o->ms <= 0 || o->rounds <= 0 || o->workers <= 0) {
        fprintf(stderr, "rpc-bench: --ms, --rounds and --workers must be positive\n");
        return -1;
    }
    return 0;
}

static void run_case(const char *transport, const urls *ours, const urls *raw, size_t payload,
                     int callers, const opts *o)
{
    const char *our_url = strcmp(transport, "ipc") == 0 ? ours->ipc : ours->tcp;
    const char *raw_url = strcmp(transport, "ipc") == 0 ? raw->ipc : raw->tcp;
    rpc_channel *ch = NULL;
    rpc_error err = {0};
    if (rpc_channel_open(&ch, our_url, NULL, &err) != RPC_OK) {
        fprintf(stderr, "rpc-bench: %s\n", err.message);
        return;
    }
    void *rc = raw_client_open(raw_url, callers);
    if (rc == NULL) {
        rpc_channel_close(ch);
        return;
    }
    bench_result a = {0}, b = {0}, warm = {0};
    bench_run(our_call, ch, callers, payload, 200, &warm);
    bench_run(raw_client_call, rc, callers, payload, 200, &warm);
    int slice = o->ms / o->rounds;
    for (int r = 0; r < o->rounds; r++) {
        if (r % 2 == 0) {
            bench_run(our_call, ch, callers, payload, slice, &a);
            bench_run(raw_client_call, rc, callers, payload, slice, &b);
        } else {
            bench_run(raw_client_call, rc, callers, payload, slice, &b);
            bench_run(our_call, ch, callers, payload, slice, &a);
        }
    }
    double tput = (double)a.calls / a.seconds, raw_tput = (double)b.calls / b.seconds;
    int64_t p50 = bench_percentile(&a, 0.50), p99 = bench_percentile(&a, 0.99);
    int64_t raw_p50 = bench_percentile(&b, 0.50);
    printf("transport=%s payload=%zu callers=%d p50_us=%lld p99_us=%lld calls_per_s=%.0f "
           "raw_p50_us=%lld raw_calls_per_s=%.0f p50_ratio=%.2f tput_ratio=%.2f\n",
           transport, payload, callers, (long long)p50, (long long)p99, tput, (long long)raw_p50,
           raw_tput, raw_p50 > 0 ? (double)p50 / (double)raw_p50 : 0.0,
           raw_tput > 0 ? tput / raw_tput : 0.0);
    if (a.errors + b.errors > 0)
        fprintf(stderr, "rpc-bench: errors ours=%llu raw=%llu\n", (unsigned long long)a.errors,
                (unsigned long long)b.errors);
    fflush(stdout);
    bench_result_free(&a);
    bench_result_free(&b);
    bench_result_free(&warm);
    raw_client_close(rc);
    rpc_channel_close(ch);
}

static int wait_ready(const char *url)
{
    rpc_channel *ch = NULL;
    if (rpc_channel_open(&ch, url, NULL, NULL) != RPC_OK)
        return -1;
    int64_t until = shop_now_ms() + 10000;
    while (rpc_channel_connected(ch) == 0 && shop_now_ms() < until)
        shop_sleep_ms(10);
    int ok = rpc_channel_connected(ch) > 0;
    rpc_channel_close(ch);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (shop_version_asked(argc, argv, "rpc-bench"))
        return 0;
    if (argc == 4 && strcmp(argv[1], "--serve-raw") == 0)
        return raw_server_main(argv[2], argv[3]);
    opts o;
    if (parse(argc, argv, &o) != 0)
        return 2;

    char self[PATH_MAX], echod[PATH_MAX + 16], workers[16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    snprintf(echod, sizeof echod, "%.*s/rpc-echod", (int)(strrchr(self, '/') - self), self);
    snprintf(workers, sizeof workers, "%d", o.workers);

    urls ours, raw;
    make_urls(&ours, "rpc");
    make_urls(&raw, "raw");
    char metrics_url[64], metrics_arg[96];
    snprintf(metrics_url, sizeof metrics_url, "http://127.0.0.1:%d", free_port());
    snprintf(metrics_arg, sizeof metrics_arg, "--metrics-url=%s", o.metrics ? metrics_url : "none");
    char *our_argv[] = {echod,       "--listen", ours.tcp,    "--listen", ours.ipc,
                        "--workers", workers,    metrics_arg, NULL};
    char *raw_argv[] = {self, "--serve-raw", raw.tcp, raw.ipc, NULL};
    setenv("SHOPFLOW_LOG_LEVEL", "warn", 1);
    pid_t our_pid = spawn(our_argv), raw_pid = spawn(raw_argv);
    int rc = 1;
    if (wait_ready(ours.tcp) != 0 || wait_ready(ours.ipc) != 0 || wait_ready(raw.tcp) != 0 ||
        wait_ready(raw.ipc) != 0) {
        fprintf(stderr, "rpc-bench: servers did not come up\n");
        goto done;
    }
    bench_scraper *scraper = o.metrics ? bench_scraper_start(metrics_url, o.scrape_ms) : NULL;
    char tr[32], pl[64], cl[32], *s1, *s2, *s3;
    snprintf(tr, sizeof tr, "%s", o.transports);
    for (char *t = strtok_r(tr, ",", &s1); t; t = strtok_r(NULL, ",", &s1)) {
        snprintf(pl, sizeof pl, "%s", o.payloads);
        for (char *p = strtok_r(pl, ",", &s2); p; p = strtok_r(NULL, ",", &s2)) {
            snprintf(cl, sizeof cl, "%s", o.callers);
            for (char *c = strtok_r(cl, ",", &s3); c; c = strtok_r(NULL, ",", &s3))
                run_case(t, &ours, &raw, (size_t)atol(p), atoi(c), &o);
        }
    }
    uint64_t scrapes = 0, failed = 0;
    bench_scraper_stop(scraper, &scrapes, &failed);
    if (o.metrics)
        printf("metrics=on scrape_ms=%d scrapes=%llu scrape_failures=%llu\n", o.scrape_ms,
               (unsigned long long)scrapes, (unsigned long long)failed);
    else
        printf("metrics=off\n");
    rc = 0;
done:
    kill(our_pid, SIGTERM);
    kill(raw_pid, SIGTERM);
    waitpid(our_pid, NULL, 0);
    waitpid(raw_pid, NULL, 0);
    return rc;
}
