/* Closed-loop load: N caller threads call back to back for a fixed time and
 * record every call's latency. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "rpc/clock.h"

typedef struct caller {
    bench_call_fn fn;
    void *target;
    int id;
    size_t payload;
    int64_t until_us;
    int64_t *lat;
    size_t n, cap;
    uint64_t errors;
    pthread_t t;
} caller;

static void *caller_main(void *arg)
{
    caller *c = arg;
    uint8_t *buf = malloc(c->payload);
    for (size_t i = 0; i < c->payload; i++)
        buf[i] = (uint8_t)(i * 7 + (size_t)c->id);
    for (;;) {
        int64_t t0 = shop_now_us();
        if (t0 >= c->until_us)
            break;
        int rv = c->fn(c->target, c->id, buf, c->payload);
        int64_t dt = shop_now_us() - t0;
        if (rv != 0) {
            c->errors++;
            continue;
        }
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 4096;
            c->lat = realloc(c->lat, c->cap * sizeof *c->lat);
        }
        c->lat[c->n++] = dt;
    }
    free(buf);
    return NULL;
}

void bench_run(bench_call_fn fn, void *target, int callers, size_t payload, int ms, bench_result *r)
{
    caller *cs = calloc((size_t)callers, sizeof *cs);
    int64_t start = shop_now_us();
    for (int i = 0; i < callers; i++) {
        cs[i] = (caller){.fn = fn,
                         .target = target,
                         .id = i,
                         .payload = payload,
                         .until_us = start + (int64_t)ms * 1000};
        pthread_create(&cs[i].t, NULL, caller_main, &cs[i]);
    }
    for (int i = 0; i < callers; i++) {
        pthread_join(cs[i].t, NULL);
        r->lat_us = realloc(r->lat_us, (r->calls + cs[i].n) * sizeof *r->lat_us);
        memcpy(r->lat_us + r->calls, cs[i].lat, cs[i].n * sizeof *cs[i].lat);
        r->calls += cs[i].n;
        r->errors += cs[i].errors;
        free(cs[i].lat);
    }
    r->seconds += (double)(shop_now_us() - start) / 1e6;
    free(cs);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t bench_percentile(bench_result *r, double q)
{
    if (r->calls == 0)
        return 0;
    qsort(r->lat_us, r->calls, sizeof *r->lat_us, cmp_i64);
    size_t i = (size_t)(q * (double)(r->calls - 1));
    return r->lat_us[i];
}

void bench_result_free(bench_result *r)
{
    free(r->lat_us);
    memset(r, 0, sizeof *r);
}
