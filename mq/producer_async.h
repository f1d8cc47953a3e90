/* Internal to the producer: the asynchronous sender's state, shared by the
 * sender thread (producer_async.c) and the queue its callers fill
 * (producer_queue.c).
 *
 * Ownership: the queue, the pending count and each slot's outcome are
 * shared under `mu`; the batches in flight (`ring`) belong to the sender
 * thread alone. */
#ifndef SHOP_MQ_PRODUCER_ASYNC_H
#define SHOP_MQ_PRODUCER_ASYNC_H

#include <time.h>

#include "mq/producer_int.h"

/* One queued send, with its own copies of everything it points at. */
typedef struct as_entry {
    struct as_entry *next;
    mq_send_callback cb;
    void *arg;
    int oneway;
    size_t bytes; /* counted against batch_max_bytes */
    Shop__Mq__Message m;
    Shop__Mq__Property *props;
    Shop__Mq__Property **pp;
    mq_send_result res;
} as_entry;

/* One batch request and the context it travels on. */
typedef struct as_batch {
    mq_async_sender *s;
    nng_ctx ctx;
    nng_aio *aio;
    int has_ctx;
    int receiving;   /* the send went out; waiting for the reply */
    int in_flight;   /* sent and not yet answered (done) */
    int done;        /* under mu: the aio finished (rv, reply) */
    int rv;          /* nng result of the attempt */
    nng_msg *reply;  /* under mu until taken */
    as_entry *first; /* the batch's entries, in queue order */
    size_t n;
    int oneway;
    uint8_t *packed; /* the SendRequest, kept for retries */
    size_t packed_len;
    int attempt;           /* attempts made */
    int64_t resend_ms;     /* waiting for a resend (backoff) until then; 0: not waiting */
    int64_t connect_until; /* waiting for a connection until then; 0: not waiting */
    int backoff_ms;
} as_batch;

struct mq_async_sender {
    mq_producer *p;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work;  /* to the sender: entries queued, a reply, closing */
    pthread_cond_t space; /* to callers: pending went down */
    as_entry *head, *tail;
    size_t queued;  /* entries in the queue */
    size_t pending; /* queued + in batches, until their callback returned */
    int closing;
    as_batch *slots; /* max_requests of them */
    as_batch **ring; /* batches in queue order: ring[(rhead + i) % nslots] */
    size_t nslots, rhead, rlen;
};

/* Starts the sender thread of p (NULL: no memory or thread). */
mq_async_sender *mq_async_start(mq_producer *p);

/* Whether the caller is s's sender thread (a callback). */
int mq_async_on_sender_thread(const mq_async_sender *s);

/* The CLOCK_REALTIME time ms from now, for pthread_cond_timedwait. */
struct timespec mq_deadline_in(int64_t ms);

#endif
