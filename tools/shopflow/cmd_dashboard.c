/* shopflow dashboard: one self-refreshing page of a running stack, served on
 * loopback over nng's HTTP server. It reads the daemons' own GET /metrics
 * endpoints (those `shopflow up` prints), so it works against any stack. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/metrics_http.h"
#include "tools/shopflow/commands.h"
#include "tools/shopflow/ctl_client.h"
#include "tools/shopflow/dashboard.h"

#define DASHBOARD_DEFAULT_URL "http://127.0.0.1:7300"

static void dashboard_usage(FILE *out)
{
    fprintf(out,
            "usage: shopflow dashboard [--listen URL] [--port-base P] [--target NAME=URL]...\n\n"
            "Serves one page that shows the running stack live (services up/down, orders per\n"
            "second, accept latency, lag per consumer group, outbox backlog, DLQ, delayed\n"
            "messages), from the daemons' GET /metrics endpoints. Ctrl-C stops it.\n\n"
            "  --listen URL      where the page is served, loopback only\n"
            "                    [$SHOPFLOW_DASHBOARD_URL, default " DASHBOARD_DEFAULT_URL "]\n"
            "  --port-base P     the stack of `shopflow up --port-base P` [7301]: order,\n"
            "                    stock, coupon, broker, delayd metrics on P+6 .. P+10\n"
            "  --target NAME=URL a daemon's metrics endpoint instead (repeatable; names\n"
            "                    order, stock, coupon, broker, delayd drive the panels)\n"
            "  --timeout-ms MS   per daemon and refresh [800]\n"
            "  --prefix P        the stack of `shopflow up --db-prefix P`, for the processes'\n"
            "                    state and faults (its control service; without one the page\n"
            "                    shows the metrics only)\n");
}

static int add_target(dashboard_targets *t, const char *name, const char *url)
{
    if (t->n == DASHBOARD_TARGETS_MAX)
        return -1;
    snprintf(t->v[t->n].name, sizeof t->v[t->n].name, "%s", name);
    snprintf(t->v[t->n].url, sizeof t->v[t->n].url, "%s", url);
    t->n++;
    return 0;
}

static int parse(int argc, char **argv, dashboard_targets *t, const char **listen, ctl_target *ctl)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"port-base", required_argument, NULL, 'p'},
                                         {"target", required_argument, NULL, 't'},
                                         {"timeout-ms", required_argument, NULL, 'T'},
                                         {"prefix", required_argument, NULL, 'P'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int base = 7301, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *eq = c == 't' ? strchr(optarg, '=') : NULL;
        if (c == 'l') {
            *listen = optarg;
        } else if (c == 'p') {
            base = atoi(optarg);
        } else if (c == 'T') {
            t->timeout_ms = atoi(optarg);
        } else if (c == 'P') {
            ctl->prefix = optarg;
        } else if (c == 't' && eq != NULL) {
            *eq = '\0';
            if (add_target(t, optarg, eq + 1) != 0)
                return -1;
        } else {
            dashboard_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 1 : -1;
        }
    }
    if (optind < argc || base <= 0 || base > 65525 || t->timeout_ms <= 0) {
        dashboard_usage(stderr);
        return -1;
    }
    static const char *const names[] = {"order", "stock", "coupon", "broker", "delayd"};
    for (int i = 0, given = t->n; given == 0 && i < 5; i++) {
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d", base + 6 + i);
        add_target(t, names[i], url);
    }
    return 0;
}

int cmd_dashboard(int argc, char **argv)
{
    static dashboard_targets t = {.timeout_ms = 800};
    const char *listen = getenv("SHOPFLOW_DASHBOARD_URL");
    if (listen == NULL || listen[0] == '\0')
        listen = DASHBOARD_DEFAULT_URL;
    ctl_target ctl = {0};
    int rc = parse(argc, argv, &t, &listen, &ctl);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (ctl_open("dashboard", &ctl, &t.control) != 0) { /* it said why on stderr */
        fprintf(stderr, "shopflow dashboard: going on without the processes' state and faults\n");
        t.control = NULL;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    rpc_metrics_http *h = NULL;
    rpc_error err = {0};
    if (rpc_metrics_url_off(listen) || rpc_metrics_http_start(listen, NULL, &h, &err) != RPC_OK ||
        rpc_metrics_http_add_static(h, "/", "text/html; charset=utf-8", shopflow_dashboard_html,
                                    shopflow_dashboard_html_len, &err) != RPC_OK ||
        rpc_metrics_http_add_page(h, "/api/scrape", "application/json", dashboard_scrape, &t,
                                  &err) != RPC_OK) {
        fprintf(stderr, "shopflow dashboard: %s\n",
                err.message[0] ? err.message : "--listen needs an http:// URL");
        rpc_metrics_http_stop(h);
        if (t.control != NULL)
            rpc_channel_close(t.control);
        return 1;
    }
    printf("dashboard %s/\n", listen);
    for (int i = 0; i < t.n; i++)
        printf("  %-8s %s/metrics\n", t.v[i].name, t.v[i].url);
    printf("Ctrl-C stops it.\n");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    rpc_metrics_http_stop(h);
    if (t.control != NULL)
        rpc_channel_close(t.control);
    return 0;
}
