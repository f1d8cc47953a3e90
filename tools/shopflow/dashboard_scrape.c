/* /api/scrape: the daemons' metrics pages gathered into one JSON answer (so
 * the page, same origin, reads every daemon without cross-origin requests),
 * plus each process's state and fault from `shopflow up`'s control service
 * when the dashboard found one. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "rpc/http_get.h"
#include "stack_control.rpc.h"
#include "tools/shopflow/dashboard.h"

static json_t *targets_json(const dashboard_targets *t)
{
    json_t *a = json_array();
    for (int i = 0; a != NULL && i < t->n; i++) {
        char url[160], *text = NULL;
        size_t n = 0;
        int status = 0;
        snprintf(url, sizeof url, "%s/metrics", t->v[i].url);
        int up =
            rpc_http_get(url, t->timeout_ms, &status, &text, &n, NULL) == RPC_OK && status == 200;
        json_array_append_new(a, json_pack("{s:s, s:s, s:b, s:s}", "name", t->v[i].name, "url",
                                           t->v[i].url, "up", up, "text", up ? text : ""));
        free(text);
    }
    return a;
}

/* Each process as `shopflow up` sees it: state, last exit, fault; null
 * when the dashboard has no control service or it does not answer. */
static json_t *processes_json(const dashboard_targets *t)
{
    if (t->control == NULL)
        return json_null();
    Shop__Stack__StatusRequest req = SHOP__STACK__STATUS_REQUEST__INIT;
    Shop__Stack__StatusReply *rep = NULL;
    rpc_call_opts co = {.timeout_ms = t->timeout_ms};
    if (shop_stack_Control_Status(t->control, &req, &rep, &co, NULL) != RPC_OK)
        return json_null();
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < rep->n_processes; i++) {
        const Shop__Stack__Process *p = rep->processes[i];
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:i, s:f, s:s, s:i}", "name", p->name,
                                           "state", p->state, "last_exit", p->last_exit,
                                           "fault_delay_ms", (int)p->fault_delay_ms, "fault_drop",
                                           p->fault_drop, "link", p->link, "restarts",
                                           (int)p->restarts));
    }
    shop__stack__status_reply__free_unpacked(rep, NULL);
    return a;
}

rpc_status dashboard_scrape(void *arg, char **body, size_t *len, rpc_error *err)
{
    const dashboard_targets *t = arg;
    json_t *o = json_pack("{s:I, s:o, s:o}", "now_ms", (json_int_t)shop_wall_ms(), "targets",
                          targets_json(t), "processes", processes_json(t));
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text == NULL)
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "scrape: out of memory");
    *body = text;
    *len = strlen(text);
    return RPC_OK;
}
