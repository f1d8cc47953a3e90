/* shopflow status: each process of the running `shopflow up` with its pid,
 * address, state, health and uptime. Health is asked of each process
 * directly: the RPC health check (shop.health.Health/Check) for the
 * services, a stats request for mq-broker and mq-delayd; a process that
 * does not answer within 500 ms (paused, wedged) is NOT_RESPONDING. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "health.rpc.h"
#include "mq/mq_delay.h"
#include "mq/wire.h"
#include "stack_control.rpc.h"
#include "tools/shopflow/cli_json.h"
#include "tools/shopflow/commands.h"
#include "tools/shopflow/ctl_client.h"

#define HEALTH_TIMEOUT_MS 500

static void usage(FILE *out)
{
    fprintf(out,
            "usage: shopflow status [--json] [--prefix P] [--control URL]\n\n"
            "Lists each process of the stack `shopflow up` runs: name, pid, state (running,\n"
            "paused, stopped by a command, exited on its own, restarting), health (SERVING,\n"
            "NOT_SERVING, NOT_RESPONDING, or - when not running), uptime, restarts, address,\n"
            "and the fault on its link.\n"
            "  --json          one JSON object instead of the table\n"
            "  --prefix P      the stack started with `up --db-prefix P`\n"
            "  --control URL   its control service (default: from the stack's state file;\n"
            "                  env SHOPFLOW_CONTROL)\n\n"
            "exit: 0 the status was read, 1 no stack is running or it does not answer, 2 usage\n");
}

static const char *rpc_health(const char *url)
{
    rpc_channel *ch = NULL;
    rpc_channel_opts o = {.retry = {.max_attempts = 1}, .connect_wait_ms = HEALTH_TIMEOUT_MS};
    if (rpc_channel_open(&ch, url, &o, NULL) != RPC_OK)
        return "NOT_RESPONDING";
    Shop__Health__HealthCheckRequest req = SHOP__HEALTH__HEALTH_CHECK_REQUEST__INIT;
    Shop__Health__HealthCheckResponse *rep = NULL;
    rpc_call_opts co = {.timeout_ms = HEALTH_TIMEOUT_MS};
    const char *h = "NOT_RESPONDING";
    if (shop_health_Health_Check(ch, &req, &rep, &co, NULL) == RPC_OK) {
        h = rep->status == SHOP__HEALTH__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                ? "SERVING"
                : "NOT_SERVING";
        shop__health__health_check_response__free_unpacked(rep, NULL);
    }
    rpc_channel_close(ch);
    return h;
}

static const char *broker_health(const char *url)
{
    mq_link l;
    if (mq_link_open(&l, url, NULL) != RPC_OK)
        return "NOT_RESPONDING";
    Shop__Mq__Stats s = SHOP__MQ__STATS__INIT;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_STATS;
    req.stats = &s;
    Shop__Mq__Reply *rep = NULL;
    rpc_status st = mq_link_call(&l, &req, HEALTH_TIMEOUT_MS, &rep, NULL);
    mq_link_close(&l);
    if (rep != NULL)
        shop__mq__reply__free_unpacked(rep, NULL);
    return st == RPC_OK ? "SERVING" : "NOT_RESPONDING";
}

static const char *delayd_health(const char *url)
{
    mq_delay_client *c = NULL;
    if (mq_delay_client_open(url, HEALTH_TIMEOUT_MS, &c, NULL) != RPC_OK)
        return "NOT_RESPONDING";
    mq_delay_stats s = {0};
    rpc_status st = mq_delay_get_stats(c, &s, NULL);
    mq_delay_stats_free(&s);
    mq_delay_client_close(c);
    return st == RPC_OK ? "SERVING" : "NOT_RESPONDING";
}

static const char *health_of(const Shop__Stack__Process *p)
{
    if (p->pid == 0 && strncmp(p->url, "nats://", 7) != 0)
        return "-";
    if (strcmp(p->name, "broker") == 0 && strncmp(p->url, "nats://", 7) == 0)
        return "JETSTREAM"; /* `nats server check jetstream` asks the cluster itself */
    if (strcmp(p->name, "broker") == 0)
        return broker_health(p->url);
    if (strcmp(p->name, "delayd") == 0)
        return delayd_health(p->url);
    return rpc_health(p->url);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void print_table(const Shop__Stack__StatusReply *r, const char **health)
{
    char up[32];
    ctl_format_uptime(now_ms() - r->up_started_ms, up, sizeof up);
    printf("stack arch=%s up_pid=%d uptime=%s restart=%s\n\n", r->arch, (int)r->up_pid, up,
           r->restart ? "on" : "off");
    printf("%-7s %-12s %7s %-10s %-14s %8s %8s  %-22s %s\n", "NAME", "PROGRAM", "PID", "STATE",
           "HEALTH", "UPTIME", "RESTARTS", "URL", "FAULT");
    for (size_t i = 0; i < r->n_processes; i++) {
        const Shop__Stack__Process *p = r->processes[i];
        char uptime[32] = "-", fault[160] = "-";
        if (p->pid != 0)
            ctl_format_uptime(now_ms() - p->started_ms, uptime, sizeof uptime);
        if (p->link[0])
            snprintf(fault, sizeof fault, "delay=%dms drop=%g (%s)", (int)p->fault_delay_ms,
                     p->fault_drop, p->link);
        printf("%-7s %-12s %7d %-10s %-14s %8s %8u  %-22s %s\n", p->name, p->program, (int)p->pid,
               p->state, health[i], uptime, p->restarts, p->url, fault);
        if (p->pid == 0 && p->last_exit[0])
            printf("        last exit: %s\n", p->last_exit);
    }
}

static json_t *to_json(const Shop__Stack__StatusReply *r, const char **health)
{
    json_t *procs = json_array();
    for (size_t i = 0; i < r->n_processes; i++) {
        const Shop__Stack__Process *p = r->processes[i];
        json_t *o =
            json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:I, s:I, s:s}", "name", p->name, "program",
                      p->program, "pid", (int)p->pid, "url", p->url, "state", p->state, "health",
                      health[i], "started_ms", (json_int_t)p->started_ms, "restarts",
                      (json_int_t)p->restarts, "last_exit", p->last_exit);
        json_object_set_new(o, "uptime_ms",
                            p->pid != 0 ? json_integer(now_ms() - p->started_ms) : json_null());
        if (p->link[0])
            json_object_set_new(o, "fault",
                                json_pack("{s:s, s:i, s:f}", "link", p->link, "delay_ms",
                                          (int)p->fault_delay_ms, "drop", p->fault_drop));
        else
            json_object_set_new(o, "fault", json_null());
        if (p->log_path[0])
            json_object_set_new(o, "log", json_string(p->log_path));
        json_array_append_new(procs, o);
    }
    return json_pack("{s:s, s:i, s:I, s:b, s:o}", "arch", r->arch, "up_pid", (int)r->up_pid,
                     "up_started_ms", (json_int_t)r->up_started_ms, "restart", r->restart,
                     "processes", procs);
}

int cmd_status(int argc, char **argv)
{
    static const struct option lo[] = {{"prefix", required_argument, NULL, 'p'},
                                       {"control", required_argument, NULL, 'c'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    ctl_target t = {0};
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 'p') {
            t.prefix = optarg;
        } else if (c == 'c') {
            t.control = optarg;
        } else if (c == 'j') {
            json = 1;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shopflow status: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    rpc_channel *ch = NULL;
    if (ctl_open("status", &t, &ch) != 0)
        return 1;
    Shop__Stack__StatusRequest req = SHOP__STACK__STATUS_REQUEST__INIT;
    Shop__Stack__StatusReply *rep = NULL;
    rpc_error err = {0};
    rpc_call_opts co = {.timeout_ms = 20000};
    rpc_status st = shop_stack_Control_Status(ch, &req, &rep, &co, &err);
    rpc_channel_close(ch);
    if (st != RPC_OK)
        return ctl_failed("status", st, &err);
    const char *health[8];
    for (size_t i = 0; i < rep->n_processes && i < 8; i++)
        health[i] = health_of(rep->processes[i]);
    if (rep->n_processes > 8)
        rep->n_processes = 8;
    int rc = 0;
    if (json)
        rc = cli_json_print("status", to_json(rep, health));
    else
        print_table(rep, health);
    shop__stack__status_reply__free_unpacked(rep, NULL);
    return rc;
}
