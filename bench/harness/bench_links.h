/* Internal to the bench: the fault executor. It owns the link proxies in
 * front of services and applies a fault plan's actions to the stack's
 * processes (SIGKILL/restart, SIGSTOP/SIGCONT), to the proxies
 * (delay/drop) and, in multi-host mode, to the hosts' links (partition,
 * heal, bandwidth), then heals everything. */
#ifndef SHOP_BENCH_LINKS_H
#define SHOP_BENCH_LINKS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "services/stack/shop_stack.h"
#include "bench/harness/shop_fault.h"
#include "bench/harness/shop_proxy.h"

typedef struct bench_links {
    shop_stack *st;
    shop_proxy *proxy[SHOP_SVC_COUNT]; /* NULL where no link fault is planned */
    char order_url[96];                /* where clients reach the order service */
    char proxy_host[20];               /* where the proxies listen: loopback, or the
                                          bridge's address in multi-host mode */
    char note[256];                    /* actions that could not apply */
    /* the schedule thread */
    const shop_fault_plan *plan;
    int64_t start_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, idle, exit, running;
    struct {
        int killed, paused, delay_ms, cut;
        double drop_p;
        const char *rate;  /* bandwidth limit in effect, NULL: none */
    } svc[SHOP_SVC_COUNT]; /* what is in effect now, guarded by mu */
} bench_links;

/* Puts a proxy in front of every service the plan delays or drops (the
 * order service is restarted to dial its members through them). Returns
 * RPC_OK, or the failure + err. */
rpc_status bench_links_setup(bench_links *l, shop_stack *st, const shop_fault_plan *plan,
                             shop_error *err);

/* Runs the schedule on a thread from now (time 0 = now). Returns RPC_OK, or
 * RPC_INTERNAL + err when the thread cannot start. */
rpc_status bench_links_start(bench_links *l, shop_error *err);

/* Stops the schedule, then resumes paused services, restarts killed ones
 * and clears every proxy fault. Returns RPC_OK when everything is up again,
 * else the last restart's failure + err. */
rpc_status bench_links_heal(bench_links *l, shop_error *err);

/* What is in effect now ("coupon down"), "" when nothing. */
void bench_links_active(bench_links *l, char *out, size_t outlen);

/* Ends the schedule thread and stops the proxies: call after the stack is
 * stopped (daemons the thread restarted live only as long as it does). */
void bench_links_free(bench_links *l);

#endif
