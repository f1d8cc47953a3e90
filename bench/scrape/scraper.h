/* A scraper for the benchmarks' metrics-on runs: a thread that GETs a
 * daemon's /metrics every interval_ms (far more often than Prometheus'
 * default 15 s, so any cost of being observed shows up in the figures). */
#ifndef SHOP_BENCH_SCRAPER_H
#define SHOP_BENCH_SCRAPER_H

#include <stdint.h>

typedef struct bench_scraper bench_scraper;

/* NULL when the thread cannot start. */
bench_scraper *bench_scraper_start(const char *url, int interval_ms);

/* Stops and frees; *ok and *failed (may be NULL) get the scrape counts. */
void bench_scraper_stop(bench_scraper *s, uint64_t *ok, uint64_t *failed);

#endif
