/* rpc_http_get: one GET through nng_http_client_transact. */
#include "rpc/http_get.h"

#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "rpc/internal.h"

rpc_status rpc_http_get(const char *url, int timeout_ms, int *status, char **body, size_t *len,
                        rpc_error *err)
{
    nng_url *u = NULL;
    nng_http_client *c = NULL;
    nng_http_req *req = NULL;
    nng_http_res *res = NULL;
    nng_aio *aio = NULL;
    rpc_status rc = RPC_INTERNAL;
    int rv;
    if ((rv = nng_url_parse(&u, url)) != 0) {
        rc = rpc_error_set(err, RPC_INVALID_ARGUMENT, "GET %s: %s", url, nng_strerror(rv));
        goto done;
    }
    if ((rv = nng_http_client_alloc(&c, u)) != 0 || (rv = nng_http_req_alloc(&req, u)) != 0 ||
        (rv = nng_http_res_alloc(&res)) != 0 || (rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
        rc = rpc_error_set(err, rpc__status_from_nng(rv), "GET %s: %s", url, nng_strerror(rv));
        goto done;
    }
    nng_aio_set_timeout(aio, timeout_ms);
    nng_http_client_transact(c, req, res, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0) {
        rc = rpc_error_set(err, rpc__status_from_nng(rv), "GET %s: %s", url, nng_strerror(rv));
        goto done;
    }
    void *data = NULL;
    size_t n = 0;
    nng_http_res_get_data(res, &data, &n);
    if ((*body = malloc(n + 1)) == NULL) {
        rc = rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "GET %s: out of memory", url);
        goto done;
    }
    if (n > 0)
        memcpy(*body, data, n);
    (*body)[n] = '\0';
    *len = n;
    *status = nng_http_res_get_status(res);
    rc = RPC_OK;
done:
    if (aio != NULL)
        nng_aio_free(aio);
    if (res != NULL)
        nng_http_res_free(res);
    if (req != NULL)
        nng_http_req_free(req);
    if (c != NULL)
        nng_http_client_free(c);
    if (u != NULL)
        nng_url_free(u);
    return rc;
}
