/* The fault-spec parser. Grammar (one spec, as given to --fault):
 *   spec   := [svc ':'] action (',' [svc ':'] action)*   (first needs svc)
 *   action := 'kill@' T | 'restart@' T | 'pause@' T '-' T
 *           | 'delay=' MS '@' T '-' T | 'drop=' P '@' T '-' T
 *           | 'partition@' T | 'heal@' T | 'bandwidth=' RATE '@' T '-' T
 *   T      := number ('ms' | 's' | 'm')
 * Errors quote the offending part so a user can fix the command line. */
#include "bench/harness/shop_fault.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const service_names[SHOP_SVC_COUNT] = {"order", "stock", "coupon", "broker",
                                                          "delayd"};

const char *shop_service_name(shop_service s)
{
    return (unsigned)s < SHOP_SVC_COUNT ? service_names[s] : "?";
}

int shop_service_from_name(const char *name, size_t len)
{
    for (int i = 0; i < SHOP_SVC_COUNT; i++)
        if (strlen(service_names[i]) == len && strncmp(service_names[i], name, len) == 0)
            return i;
    return -1;
}

/* Parses a time like 5s, 1500ms, 1.5s, 2m from [s, end) into ms. */
static rpc_status parse_time(const char *s, const char *end, int64_t *ms, shop_error *err)
{
    char buf[32];
    size_t len = (size_t)(end - s);
    if (len == 0 || len >= sizeof buf)
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "missing or malformed time '%.*s' (use 5s, 1500ms, 2m)", (int)len, s);
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *unit;
    errno = 0;
    double v = strtod(buf, &unit);
    if (unit == buf || errno != 0 || v < 0 || buf[0] == '-' || buf[0] == '+')
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "bad time '%s' (use 5s, 1500ms, 2m)", buf);
    double scale;
    if (strcmp(unit, "ms") == 0)
        scale = 1;
    else if (strcmp(unit, "s") == 0)
        scale = 1000;
    else if (strcmp(unit, "m") == 0)
        scale = 60000;
    else if (*unit == '\0')
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "time '%s' needs a unit (ms, s or m)",
                              buf);
    else
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "time '%s' has an unknown unit '%s' (ms, s or m)", buf, unit);
    if (v * scale > 86400000.0)
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "time '%s' is over a day", buf);
    *ms = (int64_t)(v * scale + 0.5);
    return RPC_OK;
}

rpc_status shop_parse_duration_ms(const char *text, int64_t *ms, shop_error *err)
{
    return parse_time(text, text + strlen(text), ms, err);
}

/* T or T1-T2 from [s, end). */
static rpc_status parse_when(const char *s, const char *end, int window, shop_fault *f,
                             shop_error *err)
{
    const char *dash = memchr(s, '-', (size_t)(end - s));
    if (!window) {
        if (dash)
            return shop_error_set(err, RPC_INVALID_ARGUMENT,
                                  "'%.*s': this action takes one time, not a window",
                                  (int)(end - s), s);
        rpc_status st = parse_time(s, end, &f->at_ms, err);
        if (st != RPC_OK)
            return st;
        f->until_ms = f->at_ms;
        return RPC_OK;
    }
    if (!dash)
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "'%.*s': this action needs a window T1-T2 (e.g. 5s-15s)",
                              (int)(end - s), s);
    rpc_status st = parse_time(s, dash, &f->at_ms, err);
    if (st == RPC_OK)
        st = parse_time(dash + 1, end, &f->until_ms, err);
    if (st != RPC_OK)
        return st;
    if (f->until_ms <= f->at_ms)
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "window '%.*s' ends before it starts",
                              (int)(end - s), s);
    return RPC_OK;
}

/* bandwidth=RATE: digits, then tc's unit (bit, kbit, mbit, gbit). */
static rpc_status parse_rate(shop_fault *f, const char *buf, shop_error *err)
{
    char *rest;
    errno = 0;
    double v = strtod(buf, &rest);
    static const char *const units[] = {"bit", "kbit", "mbit", "gbit"};
    int unit_ok = 0;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        unit_ok |= strcmp(rest, units[i]) == 0;
    if (rest == buf || errno || v <= 0 || !unit_ok || strlen(buf) >= sizeof f->rate)
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "bandwidth '%s' must be a rate like 500kbit or 2mbit", buf);
    snprintf(f->rate, sizeof f->rate, "%s", buf);
    return RPC_OK;
}

/* The value after '=' in delay=MS / drop=P / bandwidth=RATE, from [s, end). */
static rpc_status parse_param(shop_fault *f, const char *s, const char *end, shop_error *err)
{
    char buf[32];
    size_t len = (size_t)(end - s);
    if (len == 0 || len >= sizeof buf)
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "%s needs a value (delay=MS, drop=P, bandwidth=RATE)",
                              f->kind == SHOP_FAULT_DELAY  ? "delay"
                              : f->kind == SHOP_FAULT_DROP ? "drop"
                                                           : "bandwidth");
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (f->kind == SHOP_FAULT_BANDWIDTH)
        return parse_rate(f, buf, err);
    char *rest;
    errno = 0;
    if (f->kind == SHOP_FAULT_DELAY) {
        long ms = strtol(buf, &rest, 10);
        if (rest == buf || errno || ms <= 0 || ms > 600000 || (*rest && strcmp(rest, "ms") != 0))
            return shop_error_set(err, RPC_INVALID_ARGUMENT,
                                  "delay '%s' must be milliseconds from 1 to 600000", buf);
        f->delay_ms = (int)ms;
        return RPC_OK;
    }
    double p = strtod(buf, &rest);
    if (rest == buf || errno || *rest || p <= 0 || p > 1)
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "drop '%s' must be a probability in (0, 1]", buf);
    f->drop_p = p;
    return RPC_OK;
}

static const struct {
    const char *name;
    shop_fault_kind kind;
    int has_param;
    int window;
} actions[] = {
    {"kill", SHOP_FAULT_KILL, 0, 0},       {"restart", SHOP_FAULT_RESTART, 0, 0},
    {"pause", SHOP_FAULT_PAUSE, 0, 1},     {"delay", SHOP_FAULT_DELAY, 1, 1},
    {"drop", SHOP_FAULT_DROP, 1, 1},       {"partition", SHOP_FAULT_PARTITION, 0, 0},
    {"heal", SHOP_FAULT_HEAL, 0, 0},       {"bandwidth", SHOP_FAULT_BANDWIDTH, 1, 1},
    {"db-kill", SHOP_FAULT_DB_KILL, 0, 0},
};

/* One action (without its service prefix) from [s, end). */
static rpc_status parse_action(shop_fault *f, const char *s, const char *end, shop_error *err)
{
    const char *at = memchr(s, '@', (size_t)(end - s));
    if (!at)
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "action '%.*s' has no time (e.g. kill@5s)",
                              (int)(end - s), s);
    const char *eq = memchr(s, '=', (size_t)(at - s));
    const char *name_end = eq ? eq : at;
    size_t nlen = (size_t)(name_end - s);
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        if (strlen(actions[i].name) != nlen || strncmp(actions[i].name, s, nlen) != 0)
            continue;
        f->kind = actions[i].kind;
        if (actions[i].has_param != (eq != NULL))
            return shop_error_set(err, RPC_INVALID_ARGUMENT, "action '%.*s': %s", (int)(end - s), s,
                                  eq ? "takes no value"
                                     : "needs a value (delay=MS, drop=P, bandwidth=RATE)");
        if (eq) {
            rpc_status st = parse_param(f, eq + 1, at, err);
            if (st != RPC_OK)
                return st;
        }
        return parse_when(at + 1, end, actions[i].window, f, err);
    }
    return shop_error_set(err, RPC_INVALID_ARGUMENT,
                          "unknown action '%.*s' (kill@T, restart@T, pause@T1-T2, delay=MS@T1-T2, "
                          "drop=P@T1-T2, partition@T, heal@T, bandwidth=RATE@T1-T2, db-kill@T)",
                          (int)nlen, s);
}

rpc_status shop_fault_parse(shop_fault_plan *plan, const char *spec, shop_error *err)
{
    shop_fault_plan work = *plan;
    int service = -1;
    const char *p = spec;
    if (!spec || !*spec)
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "empty fault spec (e.g. coupon:kill@5s,restart@15s)");
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (colon) {
            service = shop_service_from_name(p, (size_t)(colon - p));
            if (service < 0)
                return shop_error_set(
                    err, RPC_INVALID_ARGUMENT,
                    "fault '%s': unknown service '%.*s' (order, stock, coupon, broker, "
                    "delayd)",
                    spec, (int)(colon - p), p);
            p = colon + 1;
        } else if (service < 0)
            return shop_error_set(err, RPC_INVALID_ARGUMENT,
                                  "fault '%s': starts without a service (e.g. coupon:kill@5s)",
                                  spec);
        if (work.n >= SHOP_FAULT_MAX)
            return shop_error_set(err, RPC_INVALID_ARGUMENT, "fault '%s': more than %d actions",
                                  spec, SHOP_FAULT_MAX);
        shop_fault *f = &work.faults[work.n];
        memset(f, 0, sizeof *f);
        f->service = (shop_service)service;
        shop_error why = {0};
        rpc_status st = parse_action(f, p, end, &why);
        if (st != RPC_OK)
            return shop_error_set(err, st, "fault '%s': %s", spec, why.message);
        work.n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    *plan = work;
    return RPC_OK;
}

static int by_time(const void *a, const void *b)
{
    const shop_fault *x = a, *y = b;
    if (x->at_ms != y->at_ms)
        return x->at_ms < y->at_ms ? -1 : 1;
    return (x->kind > y->kind) - (x->kind < y->kind);
}

static int windows_overlap(const shop_fault *a, const shop_fault *b)
{
    return a->at_ms < b->until_ms && b->at_ms < a->until_ms;
}

rpc_status shop_fault_validate(shop_fault_plan *plan, shop_error *err)
{
    qsort(plan->faults, plan->n, sizeof plan->faults[0], by_time);
    char a[64], b[64];
    for (int s = 0; s < SHOP_SVC_COUNT; s++) {
        int down = 0, cut = 0;
        for (size_t i = 0; i < plan->n; i++) {
            const shop_fault *f = &plan->faults[i];
            if ((int)f->service != s)
                continue;
            shop_fault_format(f, a, sizeof a);
            if (f->kind == SHOP_FAULT_DB_KILL && s != SHOP_SVC_ORDER && s != SHOP_SVC_STOCK &&
                s != SHOP_SVC_COUPON)
                return shop_error_set(err, RPC_INVALID_ARGUMENT,
                                      "%s: only order, stock and coupon have a database", a);
            if (f->kind == SHOP_FAULT_KILL && down)
                return shop_error_set(err, RPC_INVALID_ARGUMENT,
                                      "%s: %s is already killed (restart it first)", a,
                                      shop_service_name(f->service));
            if (f->kind == SHOP_FAULT_RESTART && !down)
                return shop_error_set(err, RPC_INVALID_ARGUMENT,
                                      "%s: no earlier kill of %s to restart from", a,
                                      shop_service_name(f->service));
            if (f->kind == SHOP_FAULT_KILL || f->kind == SHOP_FAULT_RESTART)
                down = f->kind == SHOP_FAULT_KILL;
            if (f->kind == SHOP_FAULT_PARTITION && cut)
                return shop_error_set(err, RPC_INVALID_ARGUMENT,
                                      "%s: %s is already partitioned (heal it first)", a,
                                      shop_service_name(f->service));
            if (f->kind == SHOP_FAULT_HEAL && !cut)
                return shop_error_set(err, RPC_INVALID_ARGUMENT,
                                      "%s: no earlier partition of %s to heal", a,
                                      shop_service_name(f->service));
            if (f->kind == SHOP_FAULT_PARTITION || f->kind == SHOP_FAULT_HEAL)
                cut = f->kind == SHOP_FAULT_PARTITION;
            for (size_t j = i + 1; j < plan->n; j++) {
                const shop_fault *g = &plan->faults[j];
                if (g->service != f->service || g->kind != f->kind || f->at_ms == f->until_ms)
                    continue;
                if (windows_overlap(f, g)) {
                    shop_fault_format(g, b, sizeof b);
                    return shop_error_set(err, RPC_INVALID_ARGUMENT, "%s overlaps %s", a, b);
                }
            }
        }
    }
    return RPC_OK;
}

void shop_fault_format(const shop_fault *f, char *out, size_t outlen)
{
    const char *svc = shop_service_name(f->service);
    long long t1 = (long long)f->at_ms, t2 = (long long)f->until_ms;
    switch (f->kind) {
    case SHOP_FAULT_KILL:
        snprintf(out, outlen, "%s:kill@%lldms", svc, t1);
        break;
    case SHOP_FAULT_RESTART:
        snprintf(out, outlen, "%s:restart@%lldms", svc, t1);
        break;
    case SHOP_FAULT_PAUSE:
        snprintf(out, outlen, "%s:pause@%lldms-%lldms", svc, t1, t2);
        break;
    case SHOP_FAULT_DELAY:
        snprintf(out, outlen, "%s:delay=%d@%lldms-%lldms", svc, f->delay_ms, t1, t2);
        break;
    case SHOP_FAULT_DROP:
        snprintf(out, outlen, "%s:drop=%g@%lldms-%lldms", svc, f->drop_p, t1, t2);
        break;
    case SHOP_FAULT_PARTITION:
        snprintf(out, outlen, "%s:partition@%lldms", svc, t1);
        break;
    case SHOP_FAULT_HEAL:
        snprintf(out, outlen, "%s:heal@%lldms", svc, t1);
        break;
    case SHOP_FAULT_BANDWIDTH:
        snprintf(out, outlen, "%s:bandwidth=%s@%lldms-%lldms", svc, f->rate, t1, t2);
        break;
    case SHOP_FAULT_DB_KILL:
        snprintf(out, outlen, "%s:db-kill@%lldms", svc, t1);
        break;
    }
}
