/* mq-bench internals: options, the baselines and the broker cases. */
#ifndef SHOP_MQ_BENCH_H
#define SHOP_MQ_BENCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct mqb_opts {
    char dir[512];     /* data dir for the brokers and the fsync baseline */
    char bin_dir[512]; /* where mq-broker is */
    long fsync_n, echo_n, sync_n, backlog, async_batch;
    int clients, seconds, rate;
    size_t size;
} mqb_opts;

typedef struct mqb_baselines {
    double fsync_us;   /* p50 of pwrite 256 B + fdatasync into a preallocated file */
    double echo_us;    /* p50 of an nng REQ/REP round trip, 1 client */
    double echo32_rps; /* total req/s with `clients` concurrent clients */
} mqb_baselines;

/* A free TCP port on 127.0.0.1. */
int mqb_free_port(void);
double mqb_percentile(double *v, size_t n, double p);

void mqb_baseline_fsync(const mqb_opts *o, mqb_baselines *b);
void mqb_baseline_echo(const mqb_opts *o, mqb_baselines *b);

/* Runs the broker cases; prints one key=value line each. Returns 0. */
int mqb_cases(const mqb_opts *o, const mqb_baselines *b);

#endif
