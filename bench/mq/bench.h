/* mq-bench internals: options, the baselines and the broker cases. */
#ifndef SHOP_MQ_BENCH_H
#define SHOP_MQ_BENCH_H

#include "base/hist.h"
#include <stddef.h>
#include <stdint.h>

typedef struct mqb_opts {
    char dir[512];     /* data dir for the brokers and the fsync baseline */
    char bin_dir[512]; /* where mq-broker is */
    long fsync_n, echo_n, sync_n, backlog, async_batch;
    long async_n;  /* messages of the async and one-way send cases (send_modes.c) */
    long tags_n;   /* messages of the tag filter case (tags_case.c) */
    char only[16]; /* "send" or "tags": only those cases (and their baselines) */
    int clients, seconds, rate, rounds;
    size_t size;
    char url[512];  /* nats://...: the JetStream cases (nats_cases.c) against that cluster */
    int nats_nodes; /* > 0: the JetStream cases on a loopback cluster of this many nodes */
    int metrics;    /* 1: each broker serves GET /metrics, scraped every scrape_ms */
    int scrape_ms;
} mqb_opts;

/* Samples of one measured thing, accumulated over the interleaved rounds. */
typedef struct mqb_acc {
    shop_hist *lat_ns; /* the project's histogram; allocated by the first add */
    long count;        /* operations */
    double secs;       /* time spent in them */
} mqb_acc;

void mqb_acc_add(mqb_acc *a, double us);
double mqb_acc_rate(const mqb_acc *a);
/* Latency samples recorded. */
long mqb_acc_samples(const mqb_acc *a);
double mqb_acc_mean_us(const mqb_acc *a);
/* Microseconds at percentile p in [0, 100] (100: the exact maximum). */
double mqb_percentile(const mqb_acc *a, double p);
void mqb_acc_free(mqb_acc *a);

/* A free TCP port on 127.0.0.1. */
int mqb_free_port(void);

/* pwrite of o->size bytes + fdatasync, n times, into a preallocated, synced file. */
void mqb_fsync_round(const mqb_opts *o, long n, mqb_acc *a);

/* An asynchronous (context-based) nng REP echo server. */
typedef struct mqb_echo mqb_echo;
mqb_echo *mqb_echo_start(char *url, size_t urllen);
void mqb_echo_stop(mqb_echo *e);

/* `clients` REQ clients against url: n calls (1 client) or for `seconds`. */
void mqb_echo_round(const mqb_opts *o, const char *url, int clients, long n, int seconds,
                    mqb_acc *a);

/* The broker's fdatasync count and the time they took, from its stats. */
void mqb_broker_syncs(const char *url, uint64_t *n, uint64_t *us);
/* The same, and the end offset of `topic` (NULL: not asked). */
void mqb_broker_stats(const char *url, const char *topic, uint64_t *n, uint64_t *us,
                      uint64_t *topic_end);

/* send_modes.c: one producer thread with asynchronous sends (callbacks) and
 * with one-way sends, against a flush=sync broker; measured in rounds
 * interleaved with the baselines by the caller, printed after them. */
typedef struct mqb_send_modes {
    long async_n, async_acked, async_failed;
    double async_secs;
    uint64_t async_fsyncs;
    long oneway_n, oneway_stored;
    double oneway_secs;
    size_t size;
} mqb_send_modes;
void mqb_send_modes_round(const mqb_opts *o, const char *url, int rounds, mqb_send_modes *m);
void mqb_send_modes_print(const mqb_send_modes *m, double fsync_ops_per_s, double sync1_msgs_per_s);

/* tags_case.c: a group on 1 tag of 10 against an unfiltered group, both
 * consuming the same backlog of o->tags_n messages; prints case=tags_filter. */
void mqb_tags_case(const mqb_opts *o, const char *url, const char *pub_url, int broker_pid);

/* Runs everything and prints one key=value line per case. Returns 0. */
int mqb_run(const mqb_opts *o);

/* The JetStream cases against raw libnats (o->url or a cluster of
 * o->nats_nodes); counts from sync_n and backlog. */
int mqb_run_nats(const mqb_opts *o);

#endif
