/* The fault-spec parser. Grammar (one spec, as given to --fault):
 *   spec   := [svc ':'] action (',' [svc ':'] action)*   (first needs svc)
 *   action := 'kill@' T | 'restart@' T | 'pause@' T '-' T
 *           | 'delay=' MS '@' T '-' T | 'drop=' P '@' T '-' T
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
static int parse_time(const char *s, const char *end, int64_t *ms, char *err, size_t errlen)
{
    char buf[32];
    size_t len = (size_t)(end - s);
    if (len == 0 || len >= sizeof buf) {
        snprintf(err, errlen, "missing or malformed time '%.*s' (use 5s, 1500ms, 2m)", (int)len, s);
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *unit;
    errno = 0;
    double v = strtod(buf, &unit);
    if (unit == buf || errno != 0 || v < 0 || buf[0] == '-' || buf[0] == '+') {
        snprintf(err, errlen, "bad time '%s' (use 5s, 1500ms, 2m)", buf);
        return -1;
    }
    double scale;
    if (strcmp(unit, "ms") == 0)
        scale = 1;
    else if (strcmp(unit, "s") == 0)
        scale = 1000;
    else if (strcmp(unit, "m") == 0)
        scale = 60000;
    else if (*unit == '\0') {
        snprintf(err, errlen, "time '%s' needs a unit (ms, s or m)", buf);
        return -1;
    } else {
        snprintf(err, errlen, "time '%s' has an unknown unit '%s' (ms, s or m)", buf, unit);
        return -1;
    }
    if (v * scale > 86400000.0) {
        snprintf(err, errlen, "time '%s' is over a day", buf);
        return -1;
    }
    *ms = (int64_t)(v * scale + 0.5);
    return 0;
}

int shop_parse_duration_ms(const char *text, int64_t *ms, char *err, size_t errlen)
{
    return parse_time(text, text + strlen(text), ms, err, errlen);
}

/* T or T1-T2 from [s, end). */
static int parse_when(const char *s, const char *end, int window, shop_fault *f, char *err,
                      size_t errlen)
{
    const char *dash = memchr(s, '-', (size_t)(end - s));
    if (!window) {
        if (dash) {
            snprintf(err, errlen, "'%.*s': this action takes one time, not a window",
                     (int)(end - s), s);
            return -1;
        }
        if (parse_time(s, end, &f->at_ms, err, errlen) != 0)
            return -1;
        f->until_ms = f->at_ms;
        return 0;
    }
    if (!dash) {
        snprintf(err, errlen, "'%.*s': this action needs a window T1-T2 (e.g. 5s-15s)",
                 (int)(end - s), s);
        return -1;
    }
    if (parse_time(s, dash, &f->at_ms, err, errlen) != 0 ||
        parse_time(dash + 1, end, &f->until_ms, err, errlen) != 0)
        return -1;
    if (f->until_ms <= f->at_ms) {
        snprintf(err, errlen, "window '%.*s' ends before it starts", (int)(end - s), s);
        return -1;
    }
    return 0;
}

/* The value after '=' in delay=MS / drop=P, from [s, end). */
static int parse_param(shop_fault *f, const char *s, const char *end, char *err, size_t errlen)
{
    char buf[32];
    size_t len = (size_t)(end - s);
    if (len == 0 || len >= sizeof buf) {
        snprintf(err, errlen, "%s needs a value (delay=MS, drop=P)",
                 f->kind == SHOP_FAULT_DELAY ? "delay" : "drop");
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *rest;
    errno = 0;
    if (f->kind == SHOP_FAULT_DELAY) {
        long ms = strtol(buf, &rest, 10);
        if (rest == buf || errno || ms <= 0 || ms > 600000 || (*rest && strcmp(rest, "ms") != 0)) {
            snprintf(err, errlen, "delay '%s' must be milliseconds from 1 to 600000", buf);
            return -1;
        }
        f->delay_ms = (int)ms;
        return 0;
    }
    double p = strtod(buf, &rest);
    if (rest == buf || errno || *rest || p <= 0 || p > 1) {
        snprintf(err, errlen, "drop '%s' must be a probability in (0, 1]", buf);
        return -1;
    }
    f->drop_p = p;
    return 0;
}

static const struct {
    const char *name;
    shop_fault_kind kind;
    int has_param;
    int window;
} actions[] = {
    {"kill", SHOP_FAULT_KILL, 0, 0},   {"restart", SHOP_FAULT_RESTART, 0, 0},
    {"pause", SHOP_FAULT_PAUSE, 0, 1}, {"delay", SHOP_FAULT_DELAY, 1, 1},
    {"drop", SHOP_FAULT_DROP, 1, 1},
};

/* One action (without its service prefix) from [s, end). */
static int parse_action(shop_fault *f, const char *s, const char *end, char *err, size_t errlen)
{
    const char *at = memchr(s, '@', (size_t)(end - s));
    if (!at) {
        snprintf(err, errlen, "action '%.*s' has no time (e.g. kill@5s)", (int)(end - s), s);
        return -1;
    }
    const char *eq = memchr(s, '=', (size_t)(at - s));
    const char *name_end = eq ? eq : at;
    size_t nlen = (size_t)(name_end - s);
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        if (strlen(actions[i].name) != nlen || strncmp(actions[i].name, s, nlen) != 0)
            continue;
        f->kind = actions[i].kind;
        if (actions[i].has_param != (eq != NULL)) {
            snprintf(err, errlen, "action '%.*s': %s", (int)(end - s), s,
                     eq ? "takes no value" : "needs a value (delay=MS, drop=P)");
            return -1;
        }
        if (eq && parse_param(f, eq + 1, at, err, errlen) != 0)
            return -1;
        return parse_when(at + 1, end, actions[i].window, f, err, errlen);
    }
    snprintf(err, errlen,
             "unknown action '%.*s' (kill@T, restart@T, pause@T1-T2, delay=MS@T1-T2, "
             "drop=P@T1-T2)",
             (int)nlen, s);
    return -1;
}

int shop_fault_parse(shop_fault_plan *plan, const char *spec, char *err, size_t errlen)
{
    shop_fault_plan work = *plan;
    int service = -1;
    const char *p = spec;
    if (!spec || !*spec) {
        snprintf(err, errlen, "empty fault spec (e.g. coupon:kill@5s,restart@15s)");
        return -1;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (colon) {
            service = shop_service_from_name(p, (size_t)(colon - p));
            if (service < 0) {
                snprintf(err, errlen,
                         "fault '%s': unknown service '%.*s' (order, stock, coupon, broker, "
                         "delayd)",
                         spec, (int)(colon - p), p);
                return -1;
            }
            p = colon + 1;
        } else if (service < 0) {
            snprintf(err, errlen, "fault '%s': starts without a service (e.g. coupon:kill@5s)",
                     spec);
            return -1;
        }
        if (work.n >= SHOP_FAULT_MAX) {
            snprintf(err, errlen, "fault '%s': more than %d actions", spec, SHOP_FAULT_MAX);
            return -1;
        }
        shop_fault *f = &work.faults[work.n];
        memset(f, 0, sizeof *f);
        f->service = (shop_service)service;
        char why[SHOP_FAULT_ERRLEN];
        if (parse_action(f, p, end, why, sizeof why) != 0) {
            snprintf(err, errlen, "fault '%s': %s", spec, why);
            return -1;
        }
        work.n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    *plan = work;
    return 0;
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

int shop_fault_validate(shop_fault_plan *plan, char *err, size_t errlen)
{
    qsort(plan->faults, plan->n, sizeof plan->faults[0], by_time);
    char a[64], b[64];
    for (int s = 0; s < SHOP_SVC_COUNT; s++) {
        int down = 0;
        for (size_t i = 0; i < plan->n; i++) {
            const shop_fault *f = &plan->faults[i];
            if ((int)f->service != s)
                continue;
            shop_fault_format(f, a, sizeof a);
            if (f->kind == SHOP_FAULT_KILL && down) {
                snprintf(err, errlen, "%s: %s is already killed (restart it first)", a,
                         shop_service_name(f->service));
                return -1;
            }
            if (f->kind == SHOP_FAULT_RESTART && !down) {
                snprintf(err, errlen, "%s: no earlier kill of %s to restart from", a,
                         shop_service_name(f->service));
                return -1;
            }
            if (f->kind == SHOP_FAULT_KILL || f->kind == SHOP_FAULT_RESTART)
                down = f->kind == SHOP_FAULT_KILL;
            for (size_t j = i + 1; j < plan->n; j++) {
                const shop_fault *g = &plan->faults[j];
                if (g->service != f->service || g->kind != f->kind || f->at_ms == f->until_ms)
                    continue;
                if (windows_overlap(f, g)) {
                    shop_fault_format(g, b, sizeof b);
                    snprintf(err, errlen, "%s overlaps %s", a, b);
                    return -1;
                }
            }
        }
    }
    return 0;
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
    }
}
