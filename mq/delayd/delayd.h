/* mq-delayd's shared state and the pieces that own it: the writer thread
 * (log appends, group commit, index inserts), the timer thread (due
 * messages to the sink) and the nng server (requests in, replies out). */
#ifndef SHOP_MQ_DELAYD_H
#define SHOP_MQ_DELAYD_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdint.h>

#include "base/hist.h"
#include "mq/delayd/delay_index.h"
#include "mq/delayd/delay_log.h"
#include "mq/delayd/delay_sink.h"

#include "base/error.h"

#define DELAYD_SERVER_CTXS 64

typedef struct delayd_config {
    const char *listen_url;
    const char *data_dir;
    const char *sink_url;   /* a Delivery receiver, or NULL */
    const char *broker_url; /* used when sink_url is NULL */
    size_t segment_bytes;
    int64_t max_delay_ms;
    int sink_timeout_ms;
    int max_backoff_ms;
    const char *metrics_url; /* GET /metrics there; NULL or "none": off */
} delayd_config;

typedef struct delayd_job delayd_job;
typedef struct delayd_srv_ctx delayd_srv_ctx;

typedef struct delayd {
    delayd_config cfg;
    delay_log *log;
    delay_sink *sink;

    pthread_mutex_t mu; /* guards ix and the counters below */
    pthread_cond_t timer_cv;
    delay_index ix;
    uint64_t delivered, cancelled, sink_failures;
    shop_hist lateness_us; /* dispatch time - due time, since start */
    int timer_stop;
    pthread_t timer_thread;

    pthread_mutex_t qmu; /* guards the writer queue */
    pthread_cond_t qcv;
    delayd_job *q_head, *q_tail;
    int writer_stop, writer_gone;
    pthread_t writer_thread;

    int stopping;
    nng_socket sock;
    delayd_srv_ctx *ctxs;
} delayd;

/* Record payloads in the log (host byte order). */
enum {
    DELAY_REC_SEND = 1,
    DELAY_REC_DELIVERED = 2,
    DELAY_REC_CANCELLED = 3,
    DELAY_REC_MOVED = 4,       /* copied forward by compaction; the copy is a new SEND */
    DELAY_REC_SEND_TRACED = 5, /* a SEND with a traceparent after its body; decodes as SEND */
};
#define DELAY_SEND_HDR 17        /* type, due_us, topic_len u16, key_len u16, body_len u32 */
#define DELAY_SEND_TRACED_HDR 18 /* ... and trace_len u8 */

typedef struct delay_send_rec {
    int64_t due_us;
    const char *topic, *key;
    uint16_t topic_len, key_len;
    const uint8_t *body;
    uint32_t body_len;
    const char *trace; /* W3C traceparent the message carries (trace_len 0: none) */
    uint8_t trace_len;
} delay_send_rec;

size_t delay_rec_send_size(const delay_send_rec *r);
void delay_rec_send_encode(const delay_send_rec *r, uint8_t *out);
/* Returns the record type, or -1 if the payload is malformed. */
int delay_rec_decode(const uint8_t *p, uint32_t len, delay_send_rec *send, uint64_t *mark_id);
void delay_rec_mark_encode(int type, uint64_t id, uint8_t out[9]);

/* Rebuilds the index from the log (at startup, before any thread). */
rpc_status delayd_recover(delayd *d, shop_error *err);

/* Writer thread only: copies the few pending records of the oldest segment
 * forward so that it can be deleted; returns how many moved. */
int delayd_relocate_head(delayd *d);

/* Writer thread. */
int delayd_writer_start(delayd *d);
void delayd_writer_stop(delayd *d);
/* Queues a request from ctx (send or cancel); the writer replies. */
int delayd_submit(delayd *d, delayd_srv_ctx *sc, void *req);
/* Queues a delivered mark (timer thread). */
void delayd_submit_mark(delayd *d, uint64_t id);

/* Timer thread. */
int delayd_timer_start(delayd *d);
void delayd_timer_stop(delayd *d);

/* nng server. */
rpc_status delayd_server_start(delayd *d, shop_error *err);
void delayd_server_stop(delayd *d);
/* Packs and sends a reply on ctx (any thread); takes nothing over. */
void delayd_server_reply(delayd_srv_ctx *sc, const void *reply);
/* Answers a List request (a Shop__Mq__Delay__ListRequest) on ctx. */
void delayd_reply_list(delayd_srv_ctx *sc, delayd *d, const void *list_request);

int64_t delayd_wall_us(void);

/* delay_metrics.c: a collector (arg: the delayd) for GET /metrics. */
struct shop_metrics_out;
void delayd_metrics(struct shop_metrics_out *o, void *arg);

#endif
