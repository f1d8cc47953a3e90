/* The metrics registry: families of atomic counters and gauges and
 * mutex-guarded histograms, and the collectors run at scrape time. Children
 * are only added (at start-up, under the registry lock) and freed with the
 * registry, so recording needs no lock beyond the child's own. */
#include "base/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/metrics_int.h"

#define MAX_LABELS 8 /* key, value pairs per child */

struct shop_metric {
    struct shop_metric *next; /* in its family, in creation order */
    char *labels[2 * MAX_LABELS + 1];
    _Atomic int64_t value;
    pthread_mutex_t mu; /* histograms: guards hist */
    shop_hist *hist;
    double scale;
};

typedef struct family {
    struct family *next;
    char *name, *help;
    shop_metric_type type;
    shop_metric *head, *tail;
} family;

typedef struct collector {
    struct collector *next;
    shop_metrics_collect_fn fn;
    void *arg;
} collector;

struct shop_metrics {
    pthread_mutex_t mu; /* guards the lists (adding, rendering) */
    family *families, *last_family;
    collector *collectors, *last_collector;
};

rpc_status shop_metrics_new(shop_metrics **out, shop_error *err)
{
    shop_metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "metrics registry: out of memory");
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return RPC_OK;
}

static void metric_free(shop_metric *c)
{
    for (size_t i = 0; c->labels[i] != NULL; i++)
        free(c->labels[i]);
    if (c->hist != NULL) {
        pthread_mutex_destroy(&c->mu);
        free(c->hist);
    }
    free(c);
}

void shop_metrics_free(shop_metrics *m)
{
    if (m == NULL)
        return;
    for (family *f = m->families, *nf; f != NULL; f = nf) {
        nf = f->next;
        for (shop_metric *c = f->head, *nc; c != NULL; c = nc) {
            nc = c->next;
            metric_free(c);
        }
        free(f->name);
        free(f->help);
        free(f);
    }
    for (collector *c = m->collectors, *nc; c != NULL; c = nc) {
        nc = c->next;
        free(c);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* The family called `name`, created when new; NULL when out of memory. */
static family *family_get(shop_metrics *m, const char *name, const char *help,
                          shop_metric_type type)
{
    for (family *f = m->families; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    family *f = calloc(1, sizeof *f);
    if (f == NULL || (f->name = strdup(name)) == NULL || (f->help = strdup(help)) == NULL) {
        if (f != NULL)
            free(f->name);
        free(f);
        return NULL;
    }
    f->type = type;
    if (m->last_family != NULL)
        m->last_family->next = f;
    else
        m->families = f;
    m->last_family = f;
    return f;
}

static shop_metric *child_new(shop_metrics *m, const char *name, const char *help,
                              shop_metric_type type, const char *const *labels, double scale)
{
    if (m == NULL)
        return NULL;
    shop_metric *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    for (size_t i = 0; labels != NULL && labels[i] != NULL && i < 2 * MAX_LABELS; i++)
        if ((c->labels[i] = strdup(labels[i])) == NULL) {
            metric_free(c);
            return NULL;
        }
    if (type == SHOP_METRIC_HISTOGRAM) {
        if ((c->hist = malloc(sizeof *c->hist)) == NULL) {
            metric_free(c);
            return NULL;
        }
        shop_hist_reset(c->hist);
        pthread_mutex_init(&c->mu, NULL);
        c->scale = scale;
    }
    pthread_mutex_lock(&m->mu);
    family *f = family_get(m, name, help, type);
    if (f != NULL) {
        if (f->tail != NULL)
            f->tail->next = c;
        else
            f->head = c;
        f->tail = c;
    }
    pthread_mutex_unlock(&m->mu);
    if (f == NULL) {
        metric_free(c);
        return NULL;
    }
    return c;
}

shop_metric *shop_metrics_counter(shop_metrics *m, const char *name, const char *help,
                                  const char *const *labels)
{
    return child_new(m, name, help, SHOP_METRIC_COUNTER, labels, 1);
}

shop_metric *shop_metrics_gauge(shop_metrics *m, const char *name, const char *help,
                                const char *const *labels)
{
    return child_new(m, name, help, SHOP_METRIC_GAUGE, labels, 1);
}

shop_metric *shop_metrics_histogram(shop_metrics *m, const char *name, const char *help,
                                    const char *const *labels, double scale)
{
    return child_new(m, name, help, SHOP_METRIC_HISTOGRAM, labels, scale);
}

void shop_metric_add(shop_metric *c, int64_t n)
{
    if (c != NULL)
        atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

void shop_metric_set(shop_metric *g, int64_t v)
{
    if (g != NULL)
        atomic_store_explicit(&g->value, v, memory_order_relaxed);
}

void shop_metric_observe(shop_metric *h, int64_t v)
{
    if (h == NULL || h->hist == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    shop_hist_record(h->hist, v);
    pthread_mutex_unlock(&h->mu);
}

rpc_status shop_metrics_add_collector(shop_metrics *m, shop_metrics_collect_fn fn, void *arg,
                                      shop_error *err)
{
    collector *c = calloc(1, sizeof *c);
    if (c == NULL)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "metrics collector: out of memory");
    c->fn = fn;
    c->arg = arg;
    pthread_mutex_lock(&m->mu);
    if (m->last_collector != NULL)
        m->last_collector->next = c;
    else
        m->collectors = c;
    m->last_collector = c;
    pthread_mutex_unlock(&m->mu);
    return RPC_OK;
}

static void render_family(shop_metrics_out *o, family *f, shop_hist *scratch)
{
    shop_metrics_family(o, f->name, f->type, f->help);
    for (shop_metric *c = f->head; c != NULL; c = c->next) {
        const char *const *labels = (const char *const *)c->labels;
        if (c->hist == NULL) {
            shop_metrics_sample(o, f->name, labels,
                                (double)atomic_load_explicit(&c->value, memory_order_relaxed));
            continue;
        }
        pthread_mutex_lock(&c->mu); /* a copy: the page is written outside the lock */
        memcpy(scratch, c->hist, sizeof *scratch);
        pthread_mutex_unlock(&c->mu);
        shop_metrics_hist(o, f->name, labels, scratch, c->scale);
    }
}

rpc_status shop_metrics_render(shop_metrics *m, char **text, size_t *len, shop_error *err)
{
    shop_metrics_out o = {0};
    shop_hist *scratch = malloc(sizeof *scratch);
    if (scratch == NULL)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "metrics page: out of memory");
    pthread_mutex_lock(&m->mu);
    for (family *f = m->families; f != NULL; f = f->next)
        render_family(&o, f, scratch);
    for (collector *c = m->collectors; c != NULL; c = c->next)
        c->fn(&o, c->arg);
    pthread_mutex_unlock(&m->mu);
    free(scratch);
    if (o.failed || o.buf == NULL) {
        free(o.buf);
        if (o.failed)
            return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "metrics page: out of memory");
        o.buf = strdup("");
        if (o.buf == NULL)
            return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "metrics page: out of memory");
    }
    *text = o.buf;
    *len = o.len;
    return RPC_OK;
}
