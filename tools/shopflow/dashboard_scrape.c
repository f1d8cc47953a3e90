/* /api/scrape: the daemons' metrics pages gathered into one JSON answer, so
 * the page (same origin) reads every daemon without cross-origin requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "rpc/http_get.h"
#include "tools/shopflow/dashboard.h"

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 8192;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_string(sbuf *b, const char *s)
{
    puts_(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(b, esc, 2);
        } else if (c == '\n') {
            puts_(b, "\\n");
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            puts_(b, esc);
        } else {
            put(b, (const char *)&c, 1);
        }
    }
    puts_(b, "\"");
}

rpc_status dashboard_scrape(void *arg, char **body, size_t *len, rpc_error *err)
{
    const dashboard_targets *t = arg;
    sbuf b = {0};
    char head[64];
    snprintf(head, sizeof head, "{\"now_ms\":%lld,\"targets\":[", (long long)shop_wall_ms());
    puts_(&b, head);
    for (int i = 0; i < t->n; i++) {
        char url[160], *text = NULL;
        size_t n = 0;
        int status = 0;
        snprintf(url, sizeof url, "%s/metrics", t->v[i].url);
        int up =
            rpc_http_get(url, t->timeout_ms, &status, &text, &n, NULL) == RPC_OK && status == 200;
        puts_(&b, i ? ",{\"name\":" : "{\"name\":");
        json_string(&b, t->v[i].name);
        puts_(&b, ",\"url\":");
        json_string(&b, t->v[i].url);
        puts_(&b, up ? ",\"up\":true,\"text\":" : ",\"up\":false,\"text\":");
        json_string(&b, up ? text : "");
        puts_(&b, "}");
        free(text);
    }
    puts_(&b, "]}");
    if (b.failed) {
        free(b.p);
        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, "scrape: out of memory");
    }
    *body = b.p;
    *len = b.len;
    return RPC_OK;
}
