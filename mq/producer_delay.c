/* Delayed sends from the producer: handed to mq-delayd in one batch, which
 * acknowledges only once they are durable and hands each to the broker when
 * due. Properties do not travel on this path (mq-delayd stores topic, key and
 * body). */
#include "mq/producer_delay.h"

#include <stdio.h>
#include <stdlib.h>

void mq_delay_route_init(mq_delay_route *route, const char *url, int timeout_ms)
{
    pthread_mutex_init(&route->mu, NULL);
    route->client = NULL;
    snprintf(route->url, sizeof route->url, "%s", url != NULL ? url : mq_delay_default_url());
    route->timeout_ms = timeout_ms;
}

void mq_delay_route_close(mq_delay_route *route)
{
    if (route->client != NULL)
        mq_delay_client_close(route->client);
    route->client = NULL;
    pthread_mutex_destroy(&route->mu);
}

int mq_send_is_delayed(const mq_send_opts *opts)
{
    return opts != NULL && (opts->delay_ms > 0 || opts->delay_level > 0);
}

static void fail_all(const size_t *idx, size_t n, mq_send_result *results, rpc_status st,
                     const char *why)
{
    for (size_t i = 0; i < n; i++) {
        results[idx[i]].status = st;
        snprintf(results[idx[i]].message, sizeof results[idx[i]].message, "mq-delayd: %s", why);
    }
}

void mq_delay_route_send(mq_delay_route *route, const mq_message *msgs, const size_t *idx, size_t n,
                         mq_send_result *results)
{
    mq_delay_msg *dm = calloc(n, sizeof *dm);
    mq_delay_result *dr = calloc(n, sizeof *dr);
    if (dm == NULL || dr == NULL) {
        fail_all(idx, n, results, RPC_RESOURCE_EXHAUSTED, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const mq_message *m = &msgs[idx[i]];
        dm[i] = (mq_delay_msg){.topic = m->topic,
                               .key = m->key,
                               .body = m->body,
                               .len = m->len,
                               .delay_ms = m->opts->delay_ms,
                               .delay_level = m->opts->delay_level};
    }
    shop_error err = {0};
    pthread_mutex_lock(&route->mu);
    rpc_status st = RPC_OK;
    if (route->client == NULL)
        st = mq_delay_client_open(route->url, route->timeout_ms, &route->client, &err);
    if (st == RPC_OK)
        st = mq_delay_send_batch(route->client, dm, n, dr, &err);
    if (st == RPC_UNAVAILABLE && route->client != NULL) {
        /* Dial afresh next time: mq-delayd may come back on a new process. */
        mq_delay_client_close(route->client);
        route->client = NULL;
    }
    pthread_mutex_unlock(&route->mu);
    if (st != RPC_OK) {
        fail_all(idx, n, results, st, err.message[0] != '\0' ? err.message : rpc_status_name(st));
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        mq_send_result *r = &results[idx[i]];
        r->status = (rpc_status)dr[i].status;
        r->offset = 0;
        snprintf(r->id, sizeof r->id, "delay-%llu", (unsigned long long)dr[i].id);
        if (r->status != RPC_OK) /* mq-delayd's own words ("disk full: ..."), unchanged */
            snprintf(r->message, sizeof r->message, "%s",
                     dr[i].error[0] ? dr[i].error : rpc_status_name(r->status));
    }
done:
    free(dm);
    free(dr);
}
