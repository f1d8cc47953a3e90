/* Metrics in the Prometheus text exposition format (version 0.0.4): a small
 * registry of counters, gauges and histograms, plus collectors that write
 * figures a daemon already keeps (RPC stats, broker state) at scrape time.
 *
 *   shop_metrics *m;  shop_metrics_new(&m, err);
 *   shop_metric *sent = shop_metrics_counter(m, "mq_sent_total", "Messages sent.", NULL);
 *   shop_metric_add(sent, 1);                   -> one relaxed atomic add
 *   shop_metrics_add_collector(m, write_mine, state, err);
 *   shop_metrics_render(m, &text, &len, err);   -> the page for GET /metrics
 *
 * Names carry their unit (`_seconds`, `_bytes`, `_total` for counters);
 * every family has HELP and TYPE lines; label values are escaped. A NULL
 * shop_metric is a valid no-op handle, so code records unconditionally and a
 * daemon with metrics off pays one branch. Histograms are base/hist.h's
 * log-linear histogram, exposed as the fixed `le` buckets below (cumulative,
 * within the histogram's 0.4% relative error). */
#ifndef SHOP_BASE_METRICS_H
#define SHOP_BASE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/hist.h"

typedef struct shop_metrics shop_metrics;
typedef struct shop_metric shop_metric;
/* The page being written during one scrape. */
typedef struct shop_metrics_out shop_metrics_out;

typedef enum shop_metric_type {
    SHOP_METRIC_COUNTER,
    SHOP_METRIC_GAUGE,
    SHOP_METRIC_HISTOGRAM,
} shop_metric_type;

/* Labels are a NULL-terminated list of key, value, key, value, ... (NULL: none). */
typedef const char *const shop_metric_labels[];

rpc_status shop_metrics_new(shop_metrics **out, shop_error *err);
void shop_metrics_free(shop_metrics *m);

/* A counter, gauge or histogram owned by the registry (m may be NULL: then
 * NULL). Several children of one family share the name and help and differ
 * in labels. Histogram values are recorded in micro-units and exposed times
 * `scale` (1e-6: microseconds recorded, seconds exposed). NULL when out of
 * memory (recording into NULL does nothing). */
shop_metric *shop_metrics_counter(shop_metrics *m, const char *name, const char *help,
                                  const char *const *labels);
shop_metric *shop_metrics_gauge(shop_metrics *m, const char *name, const char *help,
                                const char *const *labels);
shop_metric *shop_metrics_histogram(shop_metrics *m, const char *name, const char *help,
                                    const char *const *labels, double scale);

void shop_metric_add(shop_metric *c, int64_t n); /* counter or gauge */
void shop_metric_set(shop_metric *g, int64_t v); /* gauge */
void shop_metric_observe(shop_metric *h, int64_t v);

/* A function that writes its families at scrape time (on the metrics
 * server's thread; it may block briefly, e.g. on a database query). */
typedef void (*shop_metrics_collect_fn)(shop_metrics_out *o, void *arg);
rpc_status shop_metrics_add_collector(shop_metrics *m, shop_metrics_collect_fn fn, void *arg,
                                      shop_error *err);

/* The whole page: registered families, then each collector's. *text is
 * malloc'd, the caller frees it. */
rpc_status shop_metrics_render(shop_metrics *m, char **text, size_t *len, shop_error *err);

/* ---- for collectors ------------------------------------------------------ */

/* The HELP and TYPE lines of a family; its samples follow. */
void shop_metrics_family(shop_metrics_out *o, const char *name, shop_metric_type type,
                         const char *help);
/* One sample `name{labels} value`. */
void shop_metrics_sample(shop_metrics_out *o, const char *name, const char *const *labels,
                         double value);
/* `name_bucket{labels,le=...}`, `name_sum`, `name_count` from h (NULL: empty). */
void shop_metrics_hist(shop_metrics_out *o, const char *name, const char *const *labels,
                       const shop_hist *h, double scale);

/* The same with other `le` bounds (ascending; +Inf is added). */
void shop_metrics_hist_in(shop_metrics_out *o, const char *name, const char *const *labels,
                          const shop_hist *h, double scale, const double *bounds, size_t nbounds);

/* The `le` bounds shop_metrics_hist uses (seconds when scale is 1e-6):
 * 50 us .. 60 s in 1-2.5-5 steps; and powers of two 1 .. 4096 for counts. */
extern const double shop_metrics_time_bounds[];
extern const size_t shop_metrics_ntime_bounds;
extern const double shop_metrics_count_bounds[];
extern const size_t shop_metrics_ncount_bounds;

#endif
