/* `shopflow up`'s supervisor: it owns the running stack after start. A
 * daemon that exits is reported and the others stay up; with --restart it is
 * started again after a growing pause (0.5 s doubling to 30 s). A control
 * service on a loopback port (proto/stack_control.proto) lets other
 * terminals read the status and kill, pause, resume, start or restart one
 * daemon, or put the message proxy (bench/harness/shop_proxy.h) on its link
 * with a delay or a drop rate.
 *
 * One mutex guards the stack and everything below. Every daemon is started
 * on the main thread: a control handler (on an RPC worker thread) hands its
 * action to the main thread and waits, because PR_SET_PDEATHSIG follows the
 * thread that forked (base/spawn.h sets it only from the main thread): so a
 * daemon started on command still gets SIGTERM when `up` dies. */
#ifndef SHOPFLOW_UP_SUPERVISOR_H
#define SHOPFLOW_UP_SUPERVISOR_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "bench/harness/shop_fault.h"
#include "bench/harness/shop_proxy.h"
#include "rpc/rpc.h"
#include "services/stack/shop_stack.h"
#include "stack_control.rpc.h"

typedef struct up_proc_info {
    int64_t started_ms; /* wall clock of the last start */
    unsigned starts;
    int user_stopped;      /* killed by a command: stays down until started */
    pid_t seen_pid;        /* the pid last seen running, to notice an exit */
    int64_t restart_at_ms; /* --restart: when to start it again (monotonic); 0: not due */
    int64_t backoff_ms;
    char last_exit[96];
    shop_proxy *proxy; /* on this service's link, NULL until a fault asks for it */
    int delay_ms;
    double drop;
    char link[128];
} up_proc_info;

typedef rpc_status (*up_job_fn)(void *arg);

typedef struct up_sup {
    shop_stack *st;
    int restart;
    int async;
    int64_t started_ms;
    pthread_mutex_t mu;
    up_proc_info info[SHOP_SVC_COUNT];
    rpc_server *srv;
    shop_stack_Control_server impl;
    char control_url[64];
    /* the one action a handler handed to the main thread (under mu) */
    pthread_cond_t job_cv, done_cv;
    up_job_fn job_fn;
    void *job_arg;
    rpc_status job_result;
    int job_busy, job_done, stopping;
} up_sup;

/* Takes over a started stack and serves the control service on a free
 * loopback port (s->control_url). */
rpc_status up_sup_start(up_sup *s, shop_stack *st, int restart, shop_error *err);

/* The main thread's loop body: waits up to wait_ms for an action handed over
 * by a control handler and runs it, then notices daemons that exited
 * (reports them on stderr) and restarts the ones that are due. */
void up_sup_tick(up_sup *s, int wait_ms);

/* From a control handler (s->mu not held): runs fn(arg) on the main thread
 * with s->mu held and returns its status; UNAVAILABLE when up is stopping. */
rpc_status up_sup_on_main(up_sup *s, up_job_fn fn, void *arg);

/* Stops the control service, the stack and the proxies. Returns
 * shop_stack_stop's result. */
int up_sup_stop(up_sup *s);

/* ---- for the control handlers and the links (s->mu held) ---- */

/* The service of a name and its process, or NULL. */
shop_stack_proc *up_sup_proc(up_sup *s, const char *name, int *svc);

/* Starts a stopped daemon (dialing through any proxies on its links) and
 * waits until it listens. */
rpc_status up_sup_spawn(up_sup *s, int svc, shop_error *err);

/* SIGTERM (a drain), SIGKILL after 10 s; reaps it. No-op when not running. */
void up_sup_terminate(up_sup *s, int svc);

/* "shop-order" or "mq-broker". */
void up_sup_program(const up_sup *s, int svc, char *out, size_t outlen);

/* Registers the Control service's handlers (up_control.c). */
rpc_status up_control_register(up_sup *s, shop_error *err);

/* shopflow fault: the proxy on `svc`'s link with these faults (up_links.c).
 * `note` says what was done. */
rpc_status up_links_fault(up_sup *s, int svc, int delay_ms, double drop, int clear, char *note,
                          size_t notelen, shop_error *err);

/* The proxies' upstream URLs for a spawn of `svc`: swaps them in (and back
 * with restore = 1) in the stack's table, as the stack builds argv from it. */
void up_links_swap(up_sup *s, int svc, char saved[][64], int restore);

/* Stops every proxy. */
void up_links_free(up_sup *s);

#endif
