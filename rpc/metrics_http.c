/* The /metrics endpoint: nng's HTTP server takes the requests, a thread of
 * ours renders the pages (collectors may block on a database) and finishes
 * the requests' aios. */
#include "rpc/metrics_http.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "base/log.h"
#include "rpc/internal.h"

#define QUEUE_MAX 16 /* scrapes waiting for the thread; more get 503 */

struct rpc_metrics_http {
    shop_metrics *m;
    shop_metrics *owned; /* rpc_metrics_http_serve's registry */
    nng_http_server *srv;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    nng_aio *queue[QUEUE_MAX];
    int head, n;
    int stopping;
};

bool rpc_metrics_url_off(const char *url)
{
    return url == NULL || url[0] == '\0' || strcmp(url, "0") == 0 || strcmp(url, "none") == 0;
}

static bool loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
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

static void render(rpc_metrics_http *h, nng_aio *aio)
{
    char *text = NULL;
    size_t len = 0;
    shop_error err = {0};
    if (shop_metrics_render(h->m, &text, &len, &err) != RPC_OK) {
        reply(aio, 500, "text/plain", err.message, strlen(err.message));
        return;
    }
    reply(aio, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
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
        nng_aio *aio = h->queue[h->head];
        h->head = (h->head + 1) % QUEUE_MAX;
        h->n--;
        pthread_mutex_unlock(&h->mu);
        render(h, aio);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static void on_metrics(nng_aio *aio)
{
    nng_http_handler *hh = nng_aio_get_input(aio, 1);
    rpc_metrics_http *h = nng_http_handler_get_data(hh);
    pthread_mutex_lock(&h->mu);
    int queued = !h->stopping && h->n < QUEUE_MAX;
    if (queued) {
        h->queue[(h->head + h->n) % QUEUE_MAX] = aio;
        h->n++;
        pthread_cond_signal(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    if (!queued) {
        static const char busy[] = "metrics: too many scrapes at once\n";
        reply(aio, 503, "text/plain", busy, sizeof busy - 1);
    }
}

static void on_index(nng_aio *aio)
{
    static const char page[] = "<html><body><a href=\"/metrics\">/metrics</a></body></html>\n";
    reply(aio, 200, "text/html", page, sizeof page - 1);
}

static int add_handler(rpc_metrics_http *h, const char *path, void (*cb)(nng_aio *))
{
    nng_http_handler *hh = NULL;
    int rv = nng_http_handler_alloc(&hh, path, cb);
    if (rv == 0 && (rv = nng_http_handler_set_method(hh, "GET")) == 0 &&
        (rv = nng_http_handler_set_data(hh, h, NULL)) == 0 &&
        (rv = nng_http_server_add_handler(h->srv, hh)) == 0)
        return 0;
    if (hh != NULL)
        nng_http_handler_free(hh);
    return rv;
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
                             "(http://127.0.0.1:PORT)",
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
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "metrics endpoint: out of memory");
    }
    h->m = m;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    int rv = nng_http_server_hold(&h->srv, u);
    nng_url_free(u);
    if (rv == 0 && (rv = add_handler(h, "/metrics", on_metrics)) == 0 &&
        (rv = add_handler(h, "/", on_index)) == 0 && (rv = nng_http_server_start(h->srv)) == 0) {
        if (pthread_create(&h->thread, NULL, thread_main, h) == 0) {
            *out = h;
            return RPC_OK;
        }
        nng_http_server_stop(h->srv);
        rv = NNG_ENOMEM;
    }
    if (h->srv != NULL)
        nng_http_server_release(h->srv);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
    return rpc_error_set(err, rpc__status_from_nng(rv), "metrics endpoint %s: %s", url,
                         nng_strerror(rv));
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
