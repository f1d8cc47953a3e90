/* The Prometheus text format: HELP/TYPE lines, samples with escaped labels,
 * and base/hist.h histograms as cumulative `le` buckets. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/metrics_int.h"

const double shop_metrics_time_bounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                           0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1,
                                           2.5,     5,      10,      30,     60};
const size_t shop_metrics_ntime_bounds =
    sizeof shop_metrics_time_bounds / sizeof shop_metrics_time_bounds[0];
const double shop_metrics_count_bounds[] = {1,   2,   4,   8,    16,   32,  64,
                                            128, 256, 512, 1024, 2048, 4096};
const size_t shop_metrics_ncount_bounds =
    sizeof shop_metrics_count_bounds / sizeof shop_metrics_count_bounds[0];

static int reserve(shop_metrics_out *o, size_t more)
{
    if (o->failed)
        return -1;
    if (o->len + more + 1 <= o->cap)
        return 0;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + more + 1)
        cap *= 2;
    char *p = realloc(o->buf, cap);
    if (p == NULL) {
        o->failed = 1;
        return -1;
    }
    o->buf = p;
    o->cap = cap;
    return 0;
}

static void put(shop_metrics_out *o, const char *s, size_t n)
{
    if (reserve(o, n) != 0)
        return;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void puts_(shop_metrics_out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void printf_(shop_metrics_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void printf_(shop_metrics_out *o, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Label values escape \, " and newline; HELP text escapes \ and newline. */
static void escaped(shop_metrics_out *o, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            puts_(o, "\\\\");
        else if (*s == '\n')
            puts_(o, "\\n");
        else if (quote && *s == '"')
            puts_(o, "\\\"");
        else
            put(o, s, 1);
    }
}

static void number(shop_metrics_out *o, double v)
{
    if (isnan(v))
        puts_(o, "NaN");
    else if (isinf(v))
        puts_(o, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9e15)
        printf_(o, "%lld", (long long)v);
    else
        printf_(o, "%.15g", v);
}

static void labels_(shop_metrics_out *o, const char *const *labels, const char *le)
{
    int any = 0;
    for (size_t i = 0; labels != NULL && labels[i] != NULL && labels[i + 1] != NULL; i += 2) {
        puts_(o, any ? "," : "{");
        puts_(o, labels[i]);
        puts_(o, "=\"");
        escaped(o, labels[i + 1], 1);
        puts_(o, "\"");
        any = 1;
    }
    if (le != NULL) {
        puts_(o, any ? ",le=\"" : "{le=\"");
        puts_(o, le);
        puts_(o, "\"");
        any = 1;
    }
    if (any)
        puts_(o, "}");
}

void shop_metrics_family(shop_metrics_out *o, const char *name, shop_metric_type type,
                         const char *help)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    puts_(o, "# HELP ");
    puts_(o, name);
    puts_(o, " ");
    escaped(o, help, 0);
    printf_(o, "\n# TYPE %s %s\n", name, types[type]);
}

void shop_metrics_sample(shop_metrics_out *o, const char *name, const char *const *labels,
                         double value)
{
    puts_(o, name);
    labels_(o, labels, NULL);
    puts_(o, " ");
    number(o, value);
    puts_(o, "\n");
}

static void suffixed(shop_metrics_out *o, const char *name, const char *suffix,
                     const char *const *labels, const char *le, double value)
{
    puts_(o, name);
    puts_(o, suffix);
    labels_(o, labels, le);
    puts_(o, " ");
    number(o, value);
    puts_(o, "\n");
}

void shop_metrics_hist_in(shop_metrics_out *o, const char *name, const char *const *labels,
                          const shop_hist *h, double scale, const double *bounds, size_t nbounds)
{
    int it = 0;
    int64_t value = 0, count = 0, cum = 0;
    int more = h != NULL && shop_hist_next(h, &it, &value, &count);
    for (size_t b = 0; b < nbounds; b++) {
        while (more && (double)value * scale <= bounds[b]) {
            cum += count;
            more = shop_hist_next(h, &it, &value, &count);
        }
        char le[32];
        snprintf(le, sizeof le, "%g", bounds[b]);
        suffixed(o, name, "_bucket", labels, le, (double)cum);
    }
    int64_t total = h != NULL ? h->count : 0;
    suffixed(o, name, "_bucket", labels, "+Inf", (double)total);
    suffixed(o, name, "_sum", labels, NULL, h != NULL ? h->sum * scale : 0);
    suffixed(o, name, "_count", labels, NULL, (double)total);
}

void shop_metrics_hist(shop_metrics_out *o, const char *name, const char *const *labels,
                       const shop_hist *h, double scale)
{
    shop_metrics_hist_in(o, name, labels, h, scale, shop_metrics_time_bounds,
                         shop_metrics_ntime_bounds);
}
