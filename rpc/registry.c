/* The server's method table, built from protoc-c service descriptors, and
 * the services every server answers: shop.health.Health and shop.rpc.Admin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.pb-c.h"
#include "rpc/internal.h"
#include "rpc_admin.pb-c.h"

rpc_status rpc_server_add_service(rpc_server *s, const ProtobufCServiceDescriptor *svc,
                                  const rpc_handler_fn *handlers, void *impl, rpc_error *err)
{
    if (s->started)
        return rpc_error_set(err, RPC_FAILED_PRECONDITION,
                             "add services before rpc_server_start (%s)", svc->name);
    if (svc->magic != PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC)
        return rpc_error_set(err, RPC_INVALID_ARGUMENT, "not a service descriptor");
    if (svc->n_methods == 0)
        return RPC_OK;
    for (unsigned i = 0; i < svc->n_methods; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s/%s", svc->name, svc->methods[i].name);
        if (rpc__find_method(s, name) != NULL)
            return rpc_error_set(err, RPC_ALREADY_EXISTS, "method %s registered twice", name);
    }
    if (s->n_methods + svc->n_methods > s->cap_methods) {
        size_t cap = (s->cap_methods + svc->n_methods) * 2;
        rpc_method *m = realloc(s->methods, cap * sizeof *m);
        if (m == NULL)
            return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
        s->methods = m;
        s->cap_methods = cap;
    }
    for (unsigned i = 0; i < svc->n_methods; i++) {
        rpc_method *m = &s->methods[s->n_methods];
        memset(m, 0, sizeof *m);
        size_t n = strlen(svc->name) + strlen(svc->methods[i].name) + 2;
        m->name = malloc(n);
        if (m->name == NULL)
            return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
        snprintf(m->name, n, "%s/%s", svc->name, svc->methods[i].name);
        m->svc = svc;
        m->desc = &svc->methods[i];
        m->fn = handlers != NULL ? handlers[i] : NULL;
        m->impl = impl;
        if (rpc__stats_init(&m->stats) != 0) {
            free(m->name);
            return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
        }
        s->n_methods++;
    }
    return RPC_OK;
}

rpc_method *rpc__find_method(rpc_server *s, const char *name)
{
    if (s->started) {
        size_t lo = 0, hi = s->n_methods;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int c = strcmp(name, s->methods[mid].name);
            if (c == 0)
                return &s->methods[mid];
            if (c < 0)
                hi = mid;
            else
                lo = mid + 1;
        }
        return NULL;
    }
    for (size_t i = 0; i < s->n_methods; i++)
        if (strcmp(s->methods[i].name, name) == 0)
            return &s->methods[i];
    return NULL;
}

void rpc_server_set_serving(rpc_server *s, const char *service, bool serving)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_health; i++) {
        if (strcmp(s->health[i].service, service) == 0) {
            s->health[i].serving = serving;
            pthread_mutex_unlock(&s->mu);
            return;
        }
    }
    rpc_health *h = realloc(s->health, (s->n_health + 1) * sizeof *h);
    char *name = strdup(service);
    if (h != NULL)
        s->health = h;
    if (h != NULL && name != NULL) {
        s->health[s->n_health].service = name;
        s->health[s->n_health].serving = serving;
        s->n_health++;
    } else {
        free(name);
    }
    pthread_mutex_unlock(&s->mu);
}

/* Health/Check: "" is the server itself (SERVING unless draining or set
 * otherwise); a registered service name is SERVING unless set otherwise. */
static rpc_status health_check(rpc_ctx *ctx, const ProtobufCMessage *in, ProtobufCMessage *out,
                               void *impl)
{
    (void)impl;
    rpc_server *s = ctx->server;
    const Shop__Health__HealthCheckRequest *req = (const Shop__Health__HealthCheckRequest *)in;
    Shop__Health__HealthCheckResponse *rep = (Shop__Health__HealthCheckResponse *)out;
    const char *svc = req->service != NULL ? req->service : "";
    int status = -1;

    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_health; i++)
        if (strcmp(s->health[i].service, svc) == 0)
            status = s->health[i].serving;
    bool stopping = s->stopping;
    pthread_mutex_unlock(&s->mu);
    if (status < 0 && svc[0] != '\0') {
        size_t n = strlen(svc);
        for (size_t i = 0; i < s->n_methods && status < 0; i++)
            if (strncmp(s->methods[i].name, svc, n) == 0 && s->methods[i].name[n] == '/')
                status = 1;
        if (status < 0)
            return rpc_ctx_fail(ctx, RPC_NOT_FOUND, "unknown service '%.100s'", svc);
    }
    if (status < 0)
        status = 1;
    rep->status = (status && !stopping)
                      ? SHOP__HEALTH__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                      : SHOP__HEALTH__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    return RPC_OK;
}

static rpc_status admin_list(rpc_ctx *ctx, const ProtobufCMessage *in, ProtobufCMessage *out,
                             void *impl)
{
    (void)in;
    (void)impl;
    rpc_server *s = ctx->server;
    Shop__Rpc__ListMethodsReply *rep = (Shop__Rpc__ListMethodsReply *)out;
    rep->methods = rpc_ctx_alloc(ctx, s->n_methods * sizeof *rep->methods);
    for (size_t i = 0; i < s->n_methods; i++) {
        Shop__Rpc__MethodInfo *mi = rpc_ctx_alloc(ctx, sizeof *mi);
        shop__rpc__method_info__init(mi);
        mi->name = s->methods[i].name;
        mi->input_type = (char *)s->methods[i].desc->input->name;
        mi->output_type = (char *)s->methods[i].desc->output->name;
        rep->methods[rep->n_methods++] = mi;
    }
    return RPC_OK;
}

static rpc_status admin_stats(rpc_ctx *ctx, const ProtobufCMessage *in, ProtobufCMessage *out,
                              void *impl)
{
    (void)in;
    (void)impl;
    rpc_server *s = ctx->server;
    Shop__Rpc__StatsReply *rep = (Shop__Rpc__StatsReply *)out;
    rep->rejected = atomic_load(&s->rejected);
    rep->workers = (uint64_t)s->opts.workers;
    pthread_mutex_lock(&s->mu);
    rep->queued = (uint64_t)s->queued;
    pthread_mutex_unlock(&s->mu);
    rep->methods = rpc_ctx_alloc(ctx, s->n_methods * sizeof *rep->methods);
    for (size_t i = 0; i < s->n_methods; i++) {
        rpc_method *m = &s->methods[i];
        Shop__Rpc__MethodStats *ms = rpc_ctx_alloc(ctx, sizeof *ms);
        shop__rpc__method_stats__init(ms);
        ms->name = m->name;
        ms->p50_us = rpc__stats_percentile(&m->stats, 0.50);
        ms->p99_us = rpc__stats_percentile(&m->stats, 0.99);
        ms->active = (uint64_t)atomic_load(&m->stats.active);
        ms->errors = rpc_ctx_alloc(ctx, RPC_STATUS_COUNT * sizeof *ms->errors);
        pthread_mutex_lock(&m->stats.mu);
        ms->count = m->stats.count;
        for (int c = 1; c < RPC_STATUS_COUNT; c++) {
            if (m->stats.by_code[c] == 0)
                continue;
            Shop__Rpc__StatusCount *sc = rpc_ctx_alloc(ctx, sizeof *sc);
            shop__rpc__status_count__init(sc);
            sc->code = (char *)rpc_status_name(c);
            sc->count = m->stats.by_code[c];
            ms->errors[ms->n_errors++] = sc;
        }
        pthread_mutex_unlock(&m->stats.mu);
        rep->methods[rep->n_methods++] = ms;
    }
    return RPC_OK;
}

rpc_status rpc__add_builtins(rpc_server *s, rpc_error *err)
{
    static const rpc_handler_fn health[] = {health_check};
    static const rpc_handler_fn admin[] = {admin_list, admin_stats};
    rpc_status st = rpc_server_add_service(s, &shop__health__health__descriptor, health, NULL, err);
    if (st == RPC_OK)
        st = rpc_server_add_service(s, &shop__rpc__admin__descriptor, admin, NULL, err);
    /* Answered on the nng thread: a server whose workers are all busy still
     * says whether it is alive and what it is doing. */
    for (size_t i = 0; st == RPC_OK && i < s->n_methods; i++)
        s->methods[i].inline_ok = true;
    return st;
}
