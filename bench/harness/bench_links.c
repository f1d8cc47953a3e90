/* The fault executor. Each planned action becomes one or two timed events
 * (a pause is SIGSTOP then SIGCONT, a delay window is set then cleared);
 * one thread applies them in time order. Services are found in the stack
 * by name, so a stack that runs the broker and the delay queue (async) gets
 * their faults too; on one that does not, they are reported in the note and
 * otherwise ignored. Link proxies for members work by restarting the order
 * service towards them; broker/delayd links are not proxied. */
#include "bench/harness/bench_links.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "services/hosts/hosts.h"
#include "services/stack/stack_hosts.h"

enum ev_kind {
    EV_KILL,
    EV_RESTART,
    EV_STOP,
    EV_CONT,
    EV_LINK_ON,
    EV_LINK_OFF,
    EV_CUT,
    EV_UNCUT,
    EV_SLOW,
    EV_UNSLOW,
    EV_DB_KILL
};

static int is_host_fault(shop_fault_kind k)
{
    return k == SHOP_FAULT_PARTITION || k == SHOP_FAULT_HEAL || k == SHOP_FAULT_BANDWIDTH ||
           k == SHOP_FAULT_DB_KILL;
}

typedef struct bench_event {
    int64_t at_ms;
    enum ev_kind kind;
    const shop_fault *f;
} bench_event;

static const char *svc_name(int s)
{
    return shop_service_name((shop_service)s);
}

static shop_stack_proc *proc_of(bench_links *l, int s)
{
    return shop_stack_find(l->st, svc_name(s));
}

/* shop_stack_restart, its message put into err: a daemon that does not come
 * back is not there for its callers. */
static rpc_status stack_restart(bench_links *l, const char *name, shop_error *err)
{
    if (shop_stack_restart(l->st, name, err) != RPC_OK)
        return shop_error_code(err);
    return RPC_OK;
}

/* Restarts the order service so that it dials its members through their
 * proxies: the stack passes the members' URLs when it spawns the order
 * service, so those URLs are pointed at the proxies for that one spawn. */
static rpc_status restart_order(bench_links *l, shop_error *err)
{
    static const int members[] = {SHOP_SVC_STOCK, SHOP_SVC_COUPON};
    char saved[2][64];
    for (int i = 0; i < 2; i++) {
        shop_stack_proc *p = proc_of(l, members[i]);
        memcpy(saved[i], p->url, sizeof saved[i]);
        if (l->proxy[members[i]])
            snprintf(p->url, sizeof p->url, "tcp://%s:%d", l->proxy_host,
                     shop_proxy_port(l->proxy[members[i]]));
    }
    rpc_status st = stack_restart(l, "order", err);
    for (int i = 0; i < 2; i++)
        memcpy(proc_of(l, members[i])->url, saved[i], sizeof saved[i]);
    return st;
}

static rpc_status restart_service(bench_links *l, int s, shop_error *err)
{
    if (s == SHOP_SVC_ORDER)
        return restart_order(l, err);
    return stack_restart(l, svc_name(s), err);
}

rpc_status bench_links_setup(bench_links *l, shop_stack *st, const shop_fault_plan *plan,
                             shop_error *err)
{
    memset(l, 0, sizeof *l);
    l->st = st;
    l->plan = plan;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    /* multi-host: proxies on the bridge's address, which every host reaches */
    snprintf(l->proxy_host, sizeof l->proxy_host, "%s",
             st->hosts != NULL ? st->hosts->gateway : "127.0.0.1");
    int members_proxied = 0;
    for (size_t i = 0; i < plan->n; i++) {
        const shop_fault *f = &plan->faults[i];
        int s = (int)f->service;
        shop_stack_proc *p = proc_of(l, s);
        if (!p) {
            snprintf(l->note, sizeof l->note, "%s faults ignored: this stack has no %s",
                     svc_name(s), svc_name(s));
            continue;
        }
        if (is_host_fault(f->kind) && stack_hosts_of(st, p) == NULL) {
            char spec[64];
            shop_fault_format(f, spec, sizeof spec);
            return shop_error_set(err, RPC_FAILED_PRECONDITION,
                                  "%s acts on a host's link: it needs --hosts netns", spec);
        }
        if (f->kind == SHOP_FAULT_DB_KILL && st->pg_ha == NULL) {
            char spec[64];
            shop_fault_format(f, spec, sizeof spec);
            return shop_error_set(err, RPC_FAILED_PRECONDITION,
                                  "%s needs the databases on hosts of their own (--hosts netns "
                                  "without --db local)",
                                  spec);
        }
        if ((f->kind != SHOP_FAULT_DELAY && f->kind != SHOP_FAULT_DROP) || l->proxy[s])
            continue;
        if (s != SHOP_SVC_ORDER && s != SHOP_SVC_STOCK && s != SHOP_SVC_COUPON) {
            snprintf(l->note, sizeof l->note,
                     "%s link faults ignored: only order, stock and "
                     "coupon links are proxied",
                     svc_name(s));
            continue;
        }
        const char *upstream = stack_hosts_addr(st, p);
        rpc_status ps =
            shop_proxy_start_on(&l->proxy[s], l->proxy_host, 0,
                                upstream != NULL ? upstream : "127.0.0.1", p->port, err);
        if (ps != RPC_OK)
            return ps;
        members_proxied |= s != SHOP_SVC_ORDER;
    }
    if (members_proxied) {
        shop_stack_kill(st, "order");
        rpc_status rs = restart_order(l, err);
        if (rs != RPC_OK)
            return rs;
    }
    if (l->proxy[SHOP_SVC_ORDER])
        snprintf(l->order_url, sizeof l->order_url, "tcp://%s:%d", l->proxy_host,
                 shop_proxy_port(l->proxy[SHOP_SVC_ORDER]));
    else
        snprintf(l->order_url, sizeof l->order_url, "%s", proc_of(l, SHOP_SVC_ORDER)->url);
    return RPC_OK;
}

static int by_time(const void *a, const void *b)
{
    const bench_event *x = a, *y = b;
    return (x->at_ms > y->at_ms) - (x->at_ms < y->at_ms);
}

static size_t build_events(bench_links *l, const shop_fault_plan *plan, bench_event *ev)
{
    size_t n = 0;
    for (size_t i = 0; i < plan->n; i++) {
        const shop_fault *f = &plan->faults[i];
        if (!proc_of(l, (int)f->service))
            continue;
        if ((f->kind == SHOP_FAULT_DELAY || f->kind == SHOP_FAULT_DROP) && !l->proxy[f->service])
            continue;
        switch (f->kind) {
        case SHOP_FAULT_KILL:
            ev[n++] = (bench_event){f->at_ms, EV_KILL, f};
            break;
        case SHOP_FAULT_RESTART:
            ev[n++] = (bench_event){f->at_ms, EV_RESTART, f};
            break;
        case SHOP_FAULT_PAUSE:
            ev[n++] = (bench_event){f->at_ms, EV_STOP, f};
            ev[n++] = (bench_event){f->until_ms, EV_CONT, f};
            break;
        case SHOP_FAULT_DELAY:
        case SHOP_FAULT_DROP:
            ev[n++] = (bench_event){f->at_ms, EV_LINK_ON, f};
            ev[n++] = (bench_event){f->until_ms, EV_LINK_OFF, f};
            break;
        case SHOP_FAULT_PARTITION:
            ev[n++] = (bench_event){f->at_ms, EV_CUT, f};
            break;
        case SHOP_FAULT_HEAL:
            ev[n++] = (bench_event){f->at_ms, EV_UNCUT, f};
            break;
        case SHOP_FAULT_BANDWIDTH:
            ev[n++] = (bench_event){f->at_ms, EV_SLOW, f};
            ev[n++] = (bench_event){f->until_ms, EV_UNSLOW, f};
            break;
        case SHOP_FAULT_DB_KILL:
            ev[n++] = (bench_event){f->at_ms, EV_DB_KILL, f};
            break;
        }
    }
    qsort(ev, n, sizeof *ev, by_time);
    return n;
}

/* The host of a service's database primary lost; the failover that follows
 * is measured and told in the note. */
static rpc_status lose_db(bench_links *l, int s, const shop_fault *f, shop_error *err)
{
    shop_stack_db_loss loss;
    rpc_status st = shop_stack_lose_db(l->st, svc_name(s), &loss, err);
    if (st != RPC_OK)
        return st;
    shop_log_info("database failover service=%s lost=%s promoted=%s write_outage_ms=%lld",
                  svc_name(s), loss.lost_host, loss.new_primary, (long long)loss.outage_ms);
    pthread_mutex_lock(&l->mu);
    size_t used = strlen(l->note);
    snprintf(l->note + used, sizeof l->note - used,
             "%s%s database: host %s lost at %.1f s, %s promoted, write outage %.2f s",
             used ? "; " : "", svc_name(s), loss.lost_host, (double)f->at_ms / 1000.0,
             loss.new_primary, (double)loss.outage_ms / 1000.0);
    pthread_mutex_unlock(&l->mu);
    return RPC_OK;
}

static void apply(bench_links *l, const bench_event *e)
{
    int s = (int)e->f->service;
    shop_error err = {0};
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    switch (e->kind) {
    case EV_KILL:
        rc = shop_stack_kill(l->st, svc_name(s));
        l->svc[s].killed = rc == 0;
        break;
    case EV_RESTART:
        pthread_mutex_unlock(&l->mu); /* a restart waits for the port */
        rc = restart_service(l, s, &err) == RPC_OK ? 0 : -1;
        pthread_mutex_lock(&l->mu);
        l->svc[s].killed = rc != 0;
        break;
    case EV_STOP:
        rc = shop_stack_pause(l->st, svc_name(s));
        l->svc[s].paused = rc == 0;
        break;
    case EV_CONT:
        rc = shop_stack_resume(l->st, svc_name(s));
        l->svc[s].paused = 0;
        break;
    case EV_LINK_ON:
    case EV_LINK_OFF:
        if (e->f->kind == SHOP_FAULT_DELAY)
            l->svc[s].delay_ms = e->kind == EV_LINK_ON ? e->f->delay_ms : 0;
        else
            l->svc[s].drop_p = e->kind == EV_LINK_ON ? e->f->drop_p : 0;
        shop_proxy_set_faults(l->proxy[s], l->svc[s].delay_ms, l->svc[s].drop_p);
        break;
    case EV_CUT:
    case EV_UNCUT:
        rc = (e->kind == EV_CUT ? shop_hosts_partition : shop_hosts_heal)(l->st->hosts, svc_name(s),
                                                                          &err) == RPC_OK
                 ? 0
                 : -1;
        l->svc[s].cut = e->kind == EV_CUT && rc == 0;
        break;
    case EV_SLOW:
    case EV_UNSLOW:
        rc = shop_hosts_bandwidth(l->st->hosts, svc_name(s), e->kind == EV_SLOW ? e->f->rate : NULL,
                                  &err) == RPC_OK
                 ? 0
                 : -1;
        l->svc[s].rate = e->kind == EV_SLOW && rc == 0 ? e->f->rate : NULL;
        break;
    case EV_DB_KILL:
        pthread_mutex_unlock(&l->mu); /* waits for the failover */
        rc = lose_db(l, s, e->f, &err) == RPC_OK ? 0 : -1;
        pthread_mutex_lock(&l->mu);
        break;
    }
    pthread_mutex_unlock(&l->mu);
    char spec[64];
    shop_fault_format(e->f, spec, sizeof spec);
    if (rc != 0)
        shop_log_warn("fault action failed fault=%s event=%d err=\"%s\"", spec, (int)e->kind,
                      err.message);
}

static void *schedule_main(void *arg)
{
    bench_links *l = arg;
    bench_event ev[2 * SHOP_FAULT_MAX];
    size_t n = build_events(l, l->plan, ev);
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&l->mu);
        while (!l->stop) {
            int64_t left = l->start_ms + ev[i].at_ms - shop_now_ms();
            if (left <= 0)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = ts.tv_nsec + (left > 200 ? 200 : left) * 1000000;
            ts.tv_sec += ns / 1000000000;
            ts.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        }
        int stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (stop)
            break;
        apply(l, &ev[i]);
    }
    /* Stay alive until the stack is stopped: the stack spawns daemons with
     * PR_SET_PDEATHSIG, which fires when the spawning *thread* exits, so a
     * service this thread restarted would get SIGTERM the moment it ended. */
    pthread_mutex_lock(&l->mu);
    l->idle = 1;
    pthread_cond_broadcast(&l->cv);
    while (!l->exit)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

rpc_status bench_links_start(bench_links *l, shop_error *err)
{
    l->start_ms = shop_now_ms();
    if (pthread_create(&l->thread, NULL, schedule_main, l) != 0)
        return shop_error_set(err, RPC_INTERNAL, "cannot start the fault schedule thread");
    l->running = 1;
    return RPC_OK;
}

rpc_status bench_links_heal(bench_links *l, shop_error *err)
{
    if (l->running) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_broadcast(&l->cv);
        while (!l->idle)
            pthread_cond_wait(&l->cv, &l->mu);
        pthread_mutex_unlock(&l->mu);
    }
    rpc_status st = RPC_OK, rs;
    for (int s = 0; s < SHOP_SVC_COUNT; s++) {
        shop_stack_proc *p = proc_of(l, s);
        if (!p)
            continue;
        if (l->proxy[s])
            shop_proxy_set_faults(l->proxy[s], 0, 0);
        if (l->svc[s].cut && shop_hosts_heal(l->st->hosts, svc_name(s), err) != RPC_OK)
            st = shop_error_code(err);
        if (l->svc[s].rate != NULL)
            shop_hosts_bandwidth(l->st->hosts, svc_name(s), NULL, NULL);
        if (p->paused)
            shop_stack_resume(l->st, svc_name(s));
        shop_stack_poll(l->st);
        if (p->pid == 0 && (rs = restart_service(l, s, err)) != RPC_OK)
            st = rs;
        pthread_mutex_lock(&l->mu);
        memset(&l->svc[s], 0, sizeof l->svc[s]);
        pthread_mutex_unlock(&l->mu);
    }
    return st;
}

void bench_links_active(bench_links *l, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    pthread_mutex_lock(&l->mu);
    for (int s = 0; s < SHOP_SVC_COUNT && used < outlen; s++) {
        const char *sep = used ? ", " : "";
        int n = 0;
        if (l->svc[s].killed)
            n = snprintf(out + used, outlen - used, "%s%s down", sep, svc_name(s));
        else if (l->svc[s].paused)
            n = snprintf(out + used, outlen - used, "%s%s paused", sep, svc_name(s));
        else if (l->svc[s].cut)
            n = snprintf(out + used, outlen - used, "%s%s cut off", sep, svc_name(s));
        else if (l->svc[s].rate != NULL)
            n = snprintf(out + used, outlen - used, "%s%s link %s", sep, svc_name(s),
                         l->svc[s].rate);
        else if (l->svc[s].delay_ms || l->svc[s].drop_p > 0)
            n = snprintf(out + used, outlen - used, "%s%s link +%dms drop %.0f%%", sep, svc_name(s),
                         l->svc[s].delay_ms, l->svc[s].drop_p * 100);
        used += n > 0 ? (size_t)n : 0;
    }
    pthread_mutex_unlock(&l->mu);
}

void bench_links_free(bench_links *l)
{
    if (l->running) {
        pthread_mutex_lock(&l->mu);
        l->stop = l->exit = 1;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
        l->running = 0;
    }
    for (int s = 0; s < SHOP_SVC_COUNT; s++)
        shop_proxy_stop(l->proxy[s]);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
}
