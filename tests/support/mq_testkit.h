/* Test kit for mq tests: a broker as a child process on unique ports with
 * its own data directory, verifiable message bodies, and an in-process
 * collecting consumer. Linked into tests only. */
#ifndef SHOP_MQ_TESTKIT_H
#define SHOP_MQ_TESTKIT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "mq/mq.h"
#include "tests/support/testsupport.h"

typedef struct mqt_broker {
    ts_proc p;
    int port, pub_port;
    char url[64], pub_url[64], dir[256];
} mqt_broker;

/* Picks ports and a fresh data dir <ts_tmp_dir>/shopflow-mq-<name>-<pid>. */
void mqt_broker_init(mqt_broker *b, const char *name);

/* Starts mq-broker with test timings (ack timeout 1.5 s, consumer timeout
 * 1 s, retry scale 0.0001, 4 MiB segments) plus `extra` (NULL-terminated,
 * may be NULL). Returns 0 once it listens. */
int mqt_broker_start(mqt_broker *b, const char *const *extra);

/* Sends sig (SIGKILL, SIGTERM) and reaps; returns the exit code. */
int mqt_broker_stop(mqt_broker *b, int sig);

/* Stops it if running and deletes the data dir. */
void mqt_broker_cleanup(mqt_broker *b);

/* Runs `shopflow ARGS...` (args NULL-terminated), its stdout and stderr into
 * out; returns the exit code (as from pclose). */
int mqt_cli(const char *const *args, char *out, size_t outlen);

/* A body of `len` (>= 16) bytes that encodes index `i` and can be checked. */
void mqt_body(uint64_t i, uint8_t *out, size_t len);
/* The index encoded in a body, or -1 when the body is corrupt. */
int64_t mqt_body_check(const void *body, size_t len);

/* A consumer that records which body indices it saw (bodies checked). */
typedef struct mqt_collector {
    pthread_mutex_t mu;
    uint32_t *count; /* per index: times seen */
    size_t n;
    uint64_t total, corrupt, distinct;
    int reconsume_later;  /* answer RECONSUME_LATER to everything */
    int drop_every;       /* passed to mq_consumer_opts.drop_every */
    const char *instance; /* set: a broadcast instance of that name */
    unsigned times_seen_max;
    mq_consumer *c;
} mqt_collector;

/* Opens and starts a consumer of group on topic for indices [0, n). */
int mqt_collector_start(mqt_collector *k, const mqt_broker *b, const char *group, const char *topic,
                        size_t n);
uint64_t mqt_collector_distinct(mqt_collector *k);
/* Distinct indices seen in [from, to). */
uint64_t mqt_collector_seen_in(mqt_collector *k, uint64_t from, uint64_t to);
/* Waits until every index in [from, to) was seen; 0 on time. */
int mqt_collector_wait_range(mqt_collector *k, uint64_t from, uint64_t to, int timeout_ms);
void mqt_collector_stop(mqt_collector *k);

/* Waits until the collector has seen `distinct` indices; returns 0 on time. */
int mqt_collector_wait(mqt_collector *k, uint64_t distinct, int timeout_ms);

/* Polls done(arg) every 5 ms until it is true (0) or timeout_ms passed (-1). */
int mqt_wait_for(int (*done)(void *arg), void *arg, int timeout_ms);

/* Sends indices [from, to) on topic in batches of `batch`; 0 or -1. */
int mqt_send_range(mq_producer *p, const char *topic, uint64_t from, uint64_t to, size_t batch,
                   size_t len);

#endif
