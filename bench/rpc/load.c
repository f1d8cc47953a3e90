/* Closed-loop load: N caller threads call back to back for a fixed time and
 * record every call's latency in a histogram per caller. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bench/rpc/bench.h"
#include "base/clock.h"

typedef struct caller {
    bench_call_fn fn;
    void *target;
    int id;
    size_t payload;
    int64_t until_us;
    shop_hist lat; /* microseconds */
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
        shop_hist_record(&c->lat, dt);
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
        shop_hist_reset(&cs[i].lat);
        pthread_create(&cs[i].t, NULL, caller_main, &cs[i]);
    }
    if (r->lat_us == NULL && (r->lat_us = malloc(sizeof *r->lat_us)) != NULL)
        shop_hist_reset(r->lat_us);
    for (int i = 0; i < callers; i++) {
        pthread_join(cs[i].t, NULL);
        if (r->lat_us != NULL)
            shop_hist_merge(r->lat_us, &cs[i].lat);
        r->calls += (uint64_t)cs[i].lat.count;
        r->errors += cs[i].errors;
    }
    r->seconds += (double)(shop_now_us() - start) / 1e6;
    free(cs);
}

int64_t bench_percentile(const bench_result *r, double q)
{
    return r->lat_us != NULL ? shop_hist_percentile(r->lat_us, q * 100.0) : 0;
}

void bench_result_free(bench_result *r)
{
    free(r->lat_us);
    memset(r, 0, sizeof *r);
}
