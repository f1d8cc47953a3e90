/* mq-bench: prints one key=value line per case: the baselines first
 * (fdatasync, nng echo with 1 and N clients), then the broker cases read
 * as ratios against them. */
#include "bench/mq/bench.h"
#include "base/paths.h"
#include "base/version.h"

#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: mq-bench [options]\n\n"
                 "  --dir DIR        data dir on the disk to measure [var/mq-bench]\n"
                 "  --backlog N      messages for the async batch and backlog cases [1000000]\n"
                 "  --sync-n N       sends of the flush=sync 1-producer case [3000]\n"
                 "  --fsync-n N      iterations of the fdatasync baseline [2000]\n"
                 "  --echo-n N       round trips of the 1-client echo baseline [5000]\n"
                 "  --clients N      concurrent producers / echo clients [32]\n"
                 "  --seconds N      duration of the timed cases, split over 3 rounds [6]\n"
                 "  --rate N         msgs/s of the latency case [5000]\n"
                 "  --batch N        messages per batch send [256]\n"
                 "  --async-n N      messages of the async and one-way send cases [300000]\n"
                 "  --tags-n N       messages (tags T0..T9) of the tag filter case [500000]\n"
                 "  --only send|tags only the async/one-way send cases (with the fsync and\n"
                 "                   sync_1 baselines), or only the tag filter case\n"
                 "  --quick          small counts (a smoke run)\n"
                 "  --url nats://H:P[,H:P...]\n"
                 "                   JetStream instead: the backend against raw libnats on\n"
                 "                   that cluster (--sync-n sends one at a time, --backlog\n"
                 "                   sends with 4096 in flight, then consumed; defaults 1000\n"
                 "                   and 30000 there)\n"
                 "  --nats N         the same on a loopback cluster of N nats-server nodes\n"
                 "                   (R3 from 3 nodes, else R1; MQ_NATS_REPLICAS overrides)\n"
                 "  --metrics        each mq-broker serves GET /metrics and a scraper reads it\n"
                 "                   every --scrape-ms MS [100] while the cases run\n");
}

int main(int argc, char **argv)
{
    if (shop_version_asked(argc, argv, "mq-bench"))
        return 0;
    mqb_opts o = {.fsync_n = 2000,
                  .echo_n = 5000,
                  .sync_n = 3000,
                  .backlog = 1000000,
                  .async_batch = 256,
                  .async_n = 300000,
                  .tags_n = 500000,
                  .clients = 32,
                  .seconds = 6,
                  .rate = 5000,
                  .rounds = 3,
                  .size = 256,
                  .scrape_ms = 100};
    snprintf(o.dir, sizeof o.dir, "%s/mq-bench", shop_default_var_dir());
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    snprintf(o.bin_dir, sizeof o.bin_dir, "%s", dirname(self));
    static const struct option lo[] = {
        {"dir", required_argument, 0, 'd'},
        {"backlog", required_argument, 0, 'b'},
        {"sync-n", required_argument, 0, 's'},
        {"fsync-n", required_argument, 0, 'f'},
        {"echo-n", required_argument, 0, 'e'},
        {"clients", required_argument, 0, 'c'},
        {"seconds", required_argument, 0, 'S'},
        {"rate", required_argument, 0, 'r'},
        {"batch", required_argument, 0, 'B'},
        {"async-n", required_argument, 0, 'A'},
        {"tags-n", required_argument, 0, 'F'},
        {"only", required_argument, 0, 'o'},
        {"quick", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {"url", required_argument, 0, 'u'},
        {"nats", required_argument, 0, 'N'},
        {"metrics", no_argument, 0, 'M'},
        {"scrape-ms", required_argument, 0, 'P'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'd':
            snprintf(o.dir, sizeof o.dir, "%s", optarg);
            break;
        case 'b':
            o.backlog = atol(optarg);
            break;
        case 's':
            o.sync_n = atol(optarg);
            break;
        case 'f':
            o.fsync_n = atol(optarg);
            break;
        case 'e':
            o.echo_n = atol(optarg);
            break;
        case 'c':
            o.clients = atoi(optarg);
            break;
        case 'S':
            o.seconds = atoi(optarg);
            break;
        case 'r':
            o.rate = atoi(optarg);
            break;
        case 'B':
            o.async_batch = atol(optarg);
            break;
        case 'A':
            o.async_n = atol(optarg);
            break;
        case 'F':
            o.tags_n = atol(optarg);
            break;
        case 'o':
            if (strcmp(optarg, "send") != 0 && strcmp(optarg, "tags") != 0) {
                fprintf(stderr, "mq-bench: --only takes send or tags\n");
                return 2;
            }
            snprintf(o.only, sizeof o.only, "%s", optarg);
            break;
        case 'q':
            o.async_n = 60000;
            o.tags_n = 100000;
            o.backlog = 100000, o.sync_n = 1000, o.fsync_n = 500, o.echo_n = 2000;
            o.seconds = 3;
            break;
        case 'N':
            o.nats_nodes = atoi(optarg);
            break;
        case 'M':
            o.metrics = 1;
            break;
        case 'P':
            o.scrape_ms = atoi(optarg);
            break;
        case 'u':
            snprintf(o.url, sizeof o.url, "%s", optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    int nats = o.url[0] != '\0' || o.nats_nodes > 0;
    if (o.url[0] != '\0' && strncmp(o.url, "nats://", 7) != 0) {
        fprintf(stderr, "mq-bench: --url takes a nats:// cluster\n");
        return 2;
    }
    if (nats) { /* JetStream moves ~20k msgs/s, not ~1M: smaller defaults */
        o.backlog = o.backlog == 1000000 ? 30000 : o.backlog;
        o.sync_n = o.sync_n == 3000 ? 1000 : o.sync_n;
    }
    if (o.backlog < 2 || o.sync_n < 1 || o.fsync_n < 1 || o.echo_n < 1 || o.clients < 1 ||
        o.seconds < 1 || o.rate < 1 || o.async_batch < 1 || o.async_n < 1 || o.tags_n < 10) {
        fprintf(stderr, "mq-bench: counts must be positive\n");
        return 2;
    }
    char parent[600];
    snprintf(parent, sizeof parent, "%s", o.dir);
    mkdir(dirname(parent), 0755);
    mkdir(o.dir, 0755);
    printf("mq-bench dir=%s size=%zu backlog=%ld clients=%d\n", o.dir, o.size, o.backlog,
           o.clients);
    fflush(stdout);
    if (nats)
        return mqb_run_nats(&o);
    return mqb_run(&o);
}
