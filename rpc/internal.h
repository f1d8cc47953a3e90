/* rpc/ internals shared by the server, the channel and the built-in services. */
#ifndef SHOP_RPC_INTERNAL_H
#define SHOP_RPC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <nng/nng.h>

#include "base/hist.h"
#include "rpc.pb-c.h"
#include "rpc/rpc.h"

typedef struct rpc_method_stats {
    pthread_mutex_t mu;
    uint64_t count;
    uint64_t by_code[RPC_STATUS_COUNT];
    shop_hist *latency_us; /* the project's histogram: within 0.4% (base/hist.h) */
    atomic_int active;     /* handlers running now */
} rpc_method_stats;

/* Returns -1 when the histogram cannot be allocated. */
int rpc__stats_init(rpc_method_stats *st);
void rpc__stats_destroy(rpc_method_stats *st);
void rpc__stats_record(rpc_method_stats *st, rpc_status code, int64_t us);
/* Percentile q (0..1) in microseconds. */
uint64_t rpc__stats_percentile(rpc_method_stats *st, double q);

/* One registered method. */
typedef struct rpc_method {
    char *name; /* "package.Service/Method" */
    const ProtobufCServiceDescriptor *svc;
    const ProtobufCMethodDescriptor *desc;
    rpc_handler_fn fn;
    void *impl;
    bool inline_ok; /* cheap and non-blocking: run on the nng thread (Health, Admin) */
    rpc_method_stats stats;
} rpc_method;

typedef struct rpc_arena_block {
    struct rpc_arena_block *next;
    max_align_t data[];
} rpc_arena_block;

struct rpc_ctx {
    rpc_server *server;
    const Shop__Rpc__Request *req;
    const char *method;
    int64_t deadline_ms;
    char message[256];
    rpc_arena_block *arena;
};

/* Health of one named service. */
typedef struct rpc_health {
    char *service;
    bool serving;
} rpc_health;

/* A receive slot: an nng context with its own aio that holds one request
 * from arrival until the reply is handed back to nng. */
typedef struct rpc_slot {
    rpc_server *server;
    nng_ctx ctx;
    nng_aio *aio;
    Shop__Rpc__Request *req; /* admitted, waiting for a worker */
    rpc_method *method;
    int64_t arrived_ms;
    bool replying; /* aio is sending an immediate rejection */
    struct rpc_slot *next;
} rpc_slot;

struct rpc_server {
    rpc_server_opts opts;
    nng_socket sock;
    bool sock_open;
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* workers wait for queued slots */
    pthread_cond_t idle_cv; /* shutdown waits for the queue to empty */
    rpc_slot *slots;
    int n_slots;
    rpc_slot *head, *tail; /* queued, not yet started */
    int queued;
    int busy;
    bool started, stopping, closing;
    bool shut;      /* rpc_server_shutdown ran (owner thread only) */
    bool abandoned; /* its nng_close hung: left allocated (never freed) */
    pthread_t *threads;
    int n_threads;
    rpc_method *methods; /* sorted by name once started */
    size_t n_methods, cap_methods;
    rpc_health *health;
    size_t n_health;
    atomic_uint_fast64_t rejected;
};

/* Decodes a request frame (not freed) and finds its method; NULL with
 * *reject set to the status reply when it cannot be served. */
rpc_method *rpc__admit(rpc_server *s, nng_msg *in, Shop__Rpc__Request **req, nng_msg **reject);
/* Runs an admitted call (frees req) and returns the reply frame (NULL: out of memory). */
nng_msg *rpc__run(rpc_server *s, rpc_method *m, Shop__Rpc__Request *req, int64_t arrived_ms);
/* A reply envelope carrying only a status (call_id echoed when known). */
nng_msg *rpc__reply_status(uint64_t call_id, rpc_status code, const char *message);
/* Finds a method by full name (after start: binary search). */
rpc_method *rpc__find_method(rpc_server *s, const char *name);
/* Registers the built-in Health and Admin services. */
rpc_status rpc__add_builtins(rpc_server *s, rpc_error *err);

/* Maps an nng error to a status. */
rpc_status rpc__status_from_nng(int rv);
void rpc__arena_free(rpc_ctx *ctx);

/* nng_close on its own thread, waited for at most `wait_ms`: nng 1.5.2 can
 * hang in nng_close once its reaper thread is stuck after a connection
 * dropped mid-frame (rpc/README.md). Returns 0 once closed, -1 if the close
 * is still running (then the socket's callbacks may still run: keep what
 * they use allocated). */
int rpc__close_socket_bounded(nng_socket sock, int wait_ms);

#endif
