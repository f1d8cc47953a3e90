/* The observability HTTP endpoint: nng's HTTP server takes the requests, a
 * thread of ours renders the dynamic pages (collectors may block on a
 * database, the dashboard on the daemons) and finishes the requests' aios;
 * static pages are nng's own handlers. */
#include "rpc/metrics_http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "base/log.h"
#include "rpc/internal.h"

#define QUEUE_MAX 16 /* requests waiting for the thread; more get 503 */
#define PAGES_MAX 8

/* A path whose body is made on the endpoint's thread. */
typedef struct page {
    rpc_metrics_http *h;
    rpc_http_render_fn fn;
    void *arg;
    char type[64];
} page;

typedef struct pending {
    nng_aio *aio;
    page *pg;
} pending;

struct rpc_metrics_http {
    shop_metrics *m;
    shop_metrics *owned; /* rpc_metrics_http_serve's registry */
    nng_http_server *srv;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pending queue[QUEUE_MAX];
    int head, n;
    int stopping;
    page pages[PAGES_MAX];
    int npages;
};

bool rpc_metrics_url_off(const char *url)
{
    return url == NULL || url[0] == '\0' || strcmp(url, "0") == 0 || strcmp(url, "none") == 0;
}

/* Loopback, or the private bridge of the multi-host mode (10.231.0.0/16,
 * services/hosts), which only hosts the project made can reach. */
static bool loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0 || strncmp(host, "10.231.", 7) == 0;
}

static void reply(nng_aio *aio, uint16_t code, const char *type, const char *body, size_t len)
{
    nng_http_res *res = NULL;
    int rv = nng_http_res_alloc(&res);
    if (rv == 0)
        rv = nng_http_res_set_status(res, code);
    if (rv == 0)
        rv = nng_http_res_set_header(res, "Content-Type", type);
    if (rv == 0)
        rv = nng_http_res_set_header(res, "Cache-Control", "no-store");
    if (rv == 0)
        rv = nng_http_res_copy_data(res, body, len);
    if (rv != 0) {
        if (res != NULL)
            nng_http_res_free(res);
        nng_aio_finish(aio, rv);
        return;
    }
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

static void render(const pending *p)
{
    char *text = NULL;
    size_t len = 0;
    rpc_error err = {0};
    if (p->pg->fn(p->pg->arg, &text, &len, &err) != RPC_OK) {
        reply(p->aio, 500, "text/plain", err.message, strlen(err.message));
        return;
    }
    reply(p->aio, 200, p->pg->type, text, len);
    free(text);
}

static void *thread_main(void *arg)
{
    rpc_metrics_http *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (h->n == 0 && !h->stopping)
            pthread_cond_wait(&h->cv, &h->mu);
        if (h->n == 0)
            break;
        pending p = h->queue[h->head];
        h->head = (h->head + 1) % QUEUE_MAX;
        h->n--;
        pthread_mutex_unlock(&h->mu);
        render(&p);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* nng's callback: queue the request for the thread. */
static void on_page(nng_aio *aio)
{
    nng_http_handler *hh = nng_aio_get_input(aio, 1);
    page *pg = nng_http_handler_get_data(hh);
    rpc_metrics_http *h = pg->h;
    pthread_mutex_lock(&h->mu);
    int queued = !h->stopping && h->n < QUEUE_MAX;
    if (queued) {
        h->queue[(h->head + h->n) % QUEUE_MAX] = (pending){aio, pg};
        h->n++;
        pthread_cond_signal(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    if (!queued) {
        static const char busy[] = "too many requests at once\n";
        reply(aio, 503, "text/plain", busy, sizeof busy - 1);
    }
}

static rpc_status render_metrics(void *arg, char **body, size_t *len, rpc_error *err)
{
    rpc_metrics_http *h = arg;
    return shop_metrics_render(h->m, body, len, err);
}

static rpc_status render_index(void *arg, char **body, size_t *len, rpc_error *err)
{
    (void)arg;
    static const char index[] = "<html><body><a href=\"/metrics\">/metrics</a></body></html>\n";
    if ((*body = strdup(index)) == NULL)
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    *len = sizeof index - 1;
    return RPC_OK;
}

static rpc_status add_handler(rpc_metrics_http *h, nng_http_handler *hh, rpc_error *err)
{
    int rv = nng_http_handler_set_method(hh, "GET");
    if (rv == 0)
        rv = nng_http_server_add_handler(h->srv, hh);
    if (rv == 0)
        return RPC_OK;
    nng_http_handler_free(hh);
    return rpc_error_set(err, rpc__status_from_nng(rv), "HTTP handler: %s", nng_strerror(rv));
}

rpc_status rpc_metrics_http_add_page(rpc_metrics_http *h, const char *path, const char *type,
                                     rpc_http_render_fn fn, void *arg, rpc_error *err)
{
    if (h->npages == PAGES_MAX)
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "more than %d pages", PAGES_MAX);
    page *pg = &h->pages[h->npages];
    *pg = (page){.h = h, .fn = fn, .arg = arg};
    snprintf(pg->type, sizeof pg->type, "%s", type);
    nng_http_handler *hh = NULL;
    int rv = nng_http_handler_alloc(&hh, path, on_page);
    if (rv == 0 && (rv = nng_http_handler_set_data(hh, pg, NULL)) != 0)
        nng_http_handler_free(hh);
    if (rv != 0)
        return rpc_error_set(err, rpc__status_from_nng(rv), "HTTP handler: %s", nng_strerror(rv));
    rpc_status st = add_handler(h, hh, err);
    if (st == RPC_OK)
        h->npages++;
    return st;
}

rpc_status rpc_metrics_http_add_static(rpc_metrics_http *h, const char *path, const char *type,
                                       const void *data, size_t len, rpc_error *err)
{
    nng_http_handler *hh = NULL;
    int rv = nng_http_handler_alloc_static(&hh, path, data, len, type);
    if (rv != 0)
        return rpc_error_set(err, rpc__status_from_nng(rv), "HTTP handler: %s", nng_strerror(rv));
    return add_handler(h, hh, err);
}

static rpc_status parse_url(const char *url, nng_url **u, rpc_error *err)
{
    int rv = nng_url_parse(u, url);
    if (rv != 0)
        return rpc_error_set(err, RPC_INVALID_ARGUMENT, "metrics URL %s: %s", url,
                             nng_strerror(rv));
    if (strcmp((*u)->u_scheme, "http") != 0 || !loopback((*u)->u_hostname)) {
        nng_url_free(*u);
        return rpc_error_set(err, RPC_INVALID_ARGUMENT,
                             "metrics URL %s: must be http:// on a loopback address "
                             "(http://127.0.0.1:PORT) or the multi-host bridge (10.231.x.x)",
                             url);
    }
    return RPC_OK;
}

rpc_status rpc_metrics_http_start(const char *url, shop_metrics *m, rpc_metrics_http **out,
                                  rpc_error *err)
{
    *out = NULL;
    if (rpc_metrics_url_off(url))
        return RPC_OK;
    nng_url *u = NULL;
    if (parse_url(url, &u, err) != RPC_OK)
        return shop_error_code(err);
    rpc_metrics_http *h = calloc(1, sizeof *h);
    if (h == NULL) {
        nng_url_free(u);
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "HTTP endpoint: out of memory");
    }
    h->m = m;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    int rv = nng_http_server_hold(&h->srv, u);
    nng_url_free(u);
    rpc_status st = RPC_OK;
    if (rv != 0)
        st = rpc_error_set(err, rpc__status_from_nng(rv), "HTTP endpoint %s: %s", url,
                           nng_strerror(rv));
    if (st == RPC_OK && m != NULL &&
        ((st = rpc_metrics_http_add_page(h, "/metrics", "text/plain; version=0.0.4; charset=utf-8",
                                         render_metrics, h, err)) != RPC_OK ||
         (st = rpc_metrics_http_add_page(h, "/", "text/html", render_index, h, err)) != RPC_OK))
        st = shop_error_code(err);
    if (st == RPC_OK && (rv = nng_http_server_start(h->srv)) != 0)
        st = rpc_error_set(err, rpc__status_from_nng(rv), "HTTP endpoint %s: %s", url,
                           nng_strerror(rv));
    if (st == RPC_OK && pthread_create(&h->thread, NULL, thread_main, h) != 0) {
        nng_http_server_stop(h->srv);
        st = rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "HTTP endpoint: no thread");
    }
    if (st == RPC_OK) {
        *out = h;
        return RPC_OK;
    }
    if (h->srv != NULL)
        nng_http_server_release(h->srv);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
    return st;
}

void rpc_metrics_http_stop(rpc_metrics_http *h)
{
    if (h == NULL)
        return;
    /* The thread answers what is queued while the server closes its
     * connections, then ends. */
    nng_http_server_stop(h->srv);
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    nng_http_server_release(h->srv);
    shop_metrics_free(h->owned);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

rpc_metrics_http *rpc_metrics_http_serve(const char *url, shop_metrics_collect_fn fn, void *arg)
{
    shop_error err = {0};
    shop_metrics *m = NULL;
    rpc_metrics_http *h = NULL;
    if (rpc_metrics_url_off(url))
        return NULL;
    if (shop_metrics_new(&m, &err) != RPC_OK || shop_metrics_add_collector(m, fn, arg, &err) ||
        rpc_metrics_http_start(url, m, &h, &err) != RPC_OK) {
        shop_log_error("metrics endpoint unavailable url=%s error=\"%s\"", url, err.message);
        shop_metrics_free(m);
        return NULL;
    }
    h->owned = m;
    shop_log_info("metrics url=%s/metrics", url);
    return h;
}
