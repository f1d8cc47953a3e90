/* `shopflow fault`: the message proxy (bench/harness/shop_proxy.h) put on a
 * service's link on demand.
 *
 * Which link: in the sync stack, the order service's calls to stock or to
 * coupon (the proxy dials the member; order is restarted once to dial the
 * proxy); in the async stack, the service's requests to the broker (sends,
 * fetches, acks: the proxy dials the broker; the service is restarted once
 * to dial the proxy). The broker's PUB/SUB deliveries are not proxied (lost
 * deliveries are repaired by fetches anyway). A proxy stays in place once
 * inserted; `clear` sets it to pass everything through, so later faults
 * apply at once, without another restart. */
#include <stdio.h>
#include <string.h>

#include "tools/shopflow/up_supervisor.h"

/* The service whose process dials through svc's proxy, -1 if none can. */
static int dialer_of(const up_sup *s, int svc)
{
    if (s->async)
        return svc == SHOP_SVC_ORDER || svc == SHOP_SVC_STOCK || svc == SHOP_SVC_COUPON ? svc : -1;
    return svc == SHOP_SVC_STOCK || svc == SHOP_SVC_COUPON ? SHOP_SVC_ORDER : -1;
}

/* The process the proxy forwards to. */
static shop_stack_proc *upstream_of(up_sup *s, int svc)
{
    if (s->async)
        return &s->st->mq[SHOP_STACK_BROKER];
    return shop_stack_find(s->st, shop_service_name((shop_service)svc));
}

void up_links_swap(up_sup *s, int svc, char saved[][64], int restore)
{
    for (int k = 0; k < SHOP_SVC_COUNT; k++) {
        if (s->info[k].proxy == NULL || dialer_of(s, k) != svc)
            continue;
        shop_stack_proc *up = upstream_of(s, k);
        if (restore) {
            memcpy(up->url, saved[k], sizeof up->url);
        } else {
            memcpy(saved[k], up->url, sizeof up->url);
            snprintf(up->url, sizeof up->url, "tcp://127.0.0.1:%d",
                     shop_proxy_port(s->info[k].proxy));
        }
    }
}

static rpc_status insert_proxy(up_sup *s, int svc, int dialer, char *note, size_t notelen,
                               shop_error *err)
{
    up_proc_info *in = &s->info[svc];
    shop_stack_proc *up = upstream_of(s, svc);
    if (shop_proxy_start(&in->proxy, 0, "127.0.0.1", up->port, err) != RPC_OK)
        return shop_error_wrap(err, "starting the proxy");
    const char *from = shop_service_name((shop_service)dialer);
    snprintf(in->link, sizeof in->link, "%s -> %s via tcp://127.0.0.1:%d", from, up->name,
             shop_proxy_port(in->proxy));
    char prog[32];
    up_sup_program(s, dialer, prog, sizeof prog);
    shop_stack_proc *d = shop_stack_find(s->st, from);
    if (d->pid == 0) {
        snprintf(note, notelen, "proxy on %s; %s dials through it when started", in->link, prog);
        return RPC_OK;
    }
    /* the dialer learns the proxy's address from its command line */
    up_sup_terminate(s, dialer);
    if (up_sup_spawn(s, dialer, err) != RPC_OK)
        return shop_error_wrap(err, "restarting %s to dial through the proxy", prog);
    snprintf(note, notelen, "proxy on %s; %s restarted (pid %d) to dial through it", in->link, prog,
             (int)d->pid);
    fprintf(stderr, "shopflow up: %s\n", note);
    return RPC_OK;
}

rpc_status up_links_fault(up_sup *s, int svc, int delay_ms, double drop, int clear, char *note,
                          size_t notelen, shop_error *err)
{
    up_proc_info *in = &s->info[svc];
    int dialer = dialer_of(s, svc);
    if (dialer < 0)
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              s->async ? "the async stack proxies the links of order, stock and "
                                         "coupon to the broker; for %s use kill or pause"
                                       : "the sync stack proxies order's links to stock and "
                                         "coupon; for %s use kill or pause",
                              shop_service_name((shop_service)svc));
    if (clear) {
        delay_ms = 0;
        drop = 0;
    }
    if (in->proxy == NULL) {
        if (clear) {
            snprintf(note, notelen, "no fault on %s", shop_service_name((shop_service)svc));
            return RPC_OK;
        }
        in->delay_ms = delay_ms;
        in->drop = drop;
        rpc_status st = insert_proxy(s, svc, dialer, note, notelen, err);
        if (st != RPC_OK && in->proxy != NULL) {
            shop_proxy_stop(in->proxy);
            in->proxy = NULL;
            in->link[0] = '\0';
            in->delay_ms = 0;
            in->drop = 0;
            return st;
        }
        if (st != RPC_OK)
            return st;
    } else {
        snprintf(note, notelen, "proxy on %s", in->link);
    }
    in->delay_ms = delay_ms;
    in->drop = drop;
    shop_proxy_set_faults(in->proxy, delay_ms, drop);
    fprintf(stderr, "shopflow up: fault on %s: delay=%dms drop=%g\n", in->link, delay_ms, drop);
    return RPC_OK;
}

void up_links_free(up_sup *s)
{
    for (int k = 0; k < SHOP_SVC_COUNT; k++)
        if (s->info[k].proxy != NULL) {
            shop_proxy_stop(s->info[k].proxy);
            s->info[k].proxy = NULL;
        }
}
