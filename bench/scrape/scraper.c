/* The scraper thread: GET, count, sleep, until stopped. */
#include "bench/scrape/scraper.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/clock.h"
#include "rpc/http_get.h"

struct bench_scraper {
    char url[256];
    int interval_ms;
    atomic_int stop;
    uint64_t ok, failed;
    pthread_t thread;
};

static void *scrape_main(void *arg)
{
    bench_scraper *s = arg;
    while (!atomic_load(&s->stop)) {
        int status = 0;
        char *body = NULL;
        size_t len = 0;
        if (rpc_http_get(s->url, 2000, &status, &body, &len, NULL) == RPC_OK && status == 200)
            s->ok++;
        else
            s->failed++;
        free(body);
        shop_sleep_ms(s->interval_ms);
    }
    return NULL;
}

bench_scraper *bench_scraper_start(const char *url, int interval_ms)
{
    bench_scraper *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    snprintf(s->url, sizeof s->url, "%s/metrics", url);
    s->interval_ms = interval_ms > 0 ? interval_ms : 100;
    if (pthread_create(&s->thread, NULL, scrape_main, s) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void bench_scraper_stop(bench_scraper *s, uint64_t *ok, uint64_t *failed)
{
    if (s == NULL)
        return;
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    if (ok != NULL)
        *ok = s->ok;
    if (failed != NULL)
        *failed = s->failed;
    free(s);
}
