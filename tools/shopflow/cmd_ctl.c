/* shopflow kill|pause|resume|start|restart SERVICE and shopflow fault
 * SERVICE delay=MS|drop=P|clear: act on one daemon of a running `shopflow
 * up` through its control service. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack_control.rpc.h"
#include "tools/shopflow/commands.h"
#include "tools/shopflow/ctl_client.h"

static void act_usage(FILE *out, const char *cmd)
{
    fprintf(out,
            "usage: shopflow %s SERVICE [--prefix P] [--control URL]\n\n"
            "Acts on one daemon of the stack `shopflow up` runs (from another terminal):\n"
            "  kill      SIGKILL; it stays down (even under up --restart) until `start`\n"
            "  pause     SIGSTOP: it holds its connections and answers nothing\n"
            "  resume    SIGCONT\n"
            "  start     start a killed or exited daemon again: same port, same data\n"
            "  restart   SIGTERM (it drains), then start\n\n"
            "SERVICE: order, stock, coupon; with --arch async also broker, delayd.\n"
            "  --prefix P      the stack started with `up --db-prefix P`\n"
            "  --control URL   its control service (default: from the stack's state file;\n"
            "                  env SHOPFLOW_CONTROL)\n\n"
            "exit: 0 done, 1 the action failed (no stack, not running, ...), 2 usage\n",
            cmd);
}

static void fault_usage(FILE *out)
{
    fprintf(
        out,
        "usage: shopflow fault SERVICE delay=MS|drop=P|clear ... [--prefix P] [--control URL]\n\n"
        "Puts the message proxy on SERVICE's link and sets its faults: hold every message\n"
        "MS ms (order kept), drop each with probability P (0..1), or clear both.\n"
        "  sync stack:  stock, coupon: the order service's calls to them (order restarts\n"
        "               once, the first time, to dial through the proxy)\n"
        "  async stack: order, stock, coupon: their requests to the broker (sends, fetches,\n"
        "               acks; the service restarts once to dial through the proxy)\n"
        "Examples: shopflow fault stock delay=200    shopflow fault coupon drop=0.3\n"
        "          shopflow fault stock delay=50 drop=0.1    shopflow fault stock clear\n\n"
        "exit: 0 done, 1 the fault could not be set, 2 usage\n");
}

/* Common options; returns -1 on bad usage, 1 when help was printed. */
static int parse(int argc, char **argv, ctl_target *t, void (*help)(FILE *, const char *),
                 const char *cmd)
{
    static const struct option lo[] = {{"prefix", required_argument, NULL, 'p'},
                                       {"control", required_argument, NULL, 'c'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 'p') {
            t->prefix = optarg;
        } else if (c == 'c') {
            t->control = optarg;
        } else if (c == 'h') {
            help(stdout, cmd);
            return 1;
        } else {
            help(stderr, cmd);
            return -1;
        }
    }
    return 0;
}

static void print_process(const Shop__Stack__Process *p)
{
    int show_exit = p->pid == 0 && p->last_exit[0];
    printf("%s %s pid=%d url=%s%s%s\n", p->name, p->state, (int)p->pid, p->url,
           show_exit ? " last_exit=" : "", show_exit ? p->last_exit : "");
}

/* The stack's process names; anything else is a usage error. */
static int known_service(const char *cmd, const char *name)
{
    static const char *const names[] = {"order", "stock", "coupon", "broker", "delayd"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return 1;
    fprintf(stderr,
            "shopflow %s: unknown service '%s' (order, stock, coupon; async also broker, "
            "delayd)\n",
            cmd, name);
    return 0;
}

static int run_act(int argc, char **argv, Shop__Stack__Action action)
{
    const char *cmd = argv[0];
    ctl_target t = {0};
    int rc = parse(argc, argv, &t, act_usage, cmd);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (argc - optind != 1) {
        fprintf(stderr, "shopflow %s: name one service (order, stock, coupon, broker, delayd)\n",
                cmd);
        act_usage(stderr, cmd);
        return 2;
    }
    if (!known_service(cmd, argv[optind]))
        return 2;
    rpc_channel *ch = NULL;
    if (ctl_open(cmd, &t, &ch) != 0)
        return 1;
    Shop__Stack__ActRequest req = SHOP__STACK__ACT_REQUEST__INIT;
    req.service = argv[optind];
    req.action = action;
    Shop__Stack__ActReply *rep = NULL;
    rpc_error err = {0};
    rpc_call_opts co = {.timeout_ms = 30000};
    rpc_status st = shop_stack_Control_Act(ch, &req, &rep, &co, &err);
    rpc_channel_close(ch);
    if (st != RPC_OK)
        return ctl_failed(cmd, st, &err);
    if (rep->process != NULL)
        print_process(rep->process);
    shop__stack__act_reply__free_unpacked(rep, NULL);
    return 0;
}

int cmd_kill(int argc, char **argv)
{
    return run_act(argc, argv, SHOP__STACK__ACTION__KILL);
}

int cmd_pause(int argc, char **argv)
{
    return run_act(argc, argv, SHOP__STACK__ACTION__PAUSE);
}

int cmd_resume(int argc, char **argv)
{
    return run_act(argc, argv, SHOP__STACK__ACTION__RESUME);
}

int cmd_start(int argc, char **argv)
{
    return run_act(argc, argv, SHOP__STACK__ACTION__START);
}

int cmd_restart(int argc, char **argv)
{
    return run_act(argc, argv, SHOP__STACK__ACTION__RESTART);
}

static void fault_help(FILE *out, const char *cmd)
{
    (void)cmd;
    fault_usage(out);
}

/* delay=MS, drop=P, clear into req; -1 with a message when bad. */
static int fault_arg(const char *a, Shop__Stack__FaultRequest *req)
{
    char *end = NULL;
    if (strcmp(a, "clear") == 0) {
        req->clear = 1;
        return 0;
    }
    if (strncmp(a, "delay=", 6) == 0) {
        long v = strtol(a + 6, &end, 10);
        if (end != a + 6 && (*end == '\0' || strcmp(end, "ms") == 0) && v >= 0 && v <= 60000) {
            req->delay_ms = (int32_t)v;
            return 0;
        }
    } else if (strncmp(a, "drop=", 5) == 0) {
        double v = strtod(a + 5, &end);
        if (end != a + 5 && *end == '\0' && v >= 0.0 && v <= 1.0) {
            req->drop = v;
            return 0;
        }
    }
    fprintf(stderr,
            "shopflow fault: bad '%s' (want delay=MS with 0..60000, drop=P with 0..1, or clear)\n",
            a);
    return -1;
}

int cmd_fault(int argc, char **argv)
{
    ctl_target t = {0};
    int rc = parse(argc, argv, &t, fault_help, "fault");
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (argc - optind < 2) {
        fault_usage(stderr);
        return 2;
    }
    Shop__Stack__FaultRequest req = SHOP__STACK__FAULT_REQUEST__INIT;
    req.service = argv[optind];
    if (!known_service("fault", req.service))
        return 2;
    for (int i = optind + 1; i < argc; i++)
        if (fault_arg(argv[i], &req) != 0)
            return 2;
    rpc_channel *ch = NULL;
    if (ctl_open("fault", &t, &ch) != 0)
        return 1;
    Shop__Stack__FaultReply *rep = NULL;
    rpc_error err = {0};
    rpc_call_opts co = {.timeout_ms = 30000};
    rpc_status st = shop_stack_Control_Fault(ch, &req, &rep, &co, &err);
    rpc_channel_close(ch);
    if (st != RPC_OK)
        return ctl_failed("fault", st, &err);
    if (rep->process != NULL)
        printf("%s delay=%dms drop=%g link=%s\n", rep->process->name,
               (int)rep->process->fault_delay_ms, rep->process->fault_drop,
               rep->process->link[0] ? rep->process->link : "-");
    if (rep->note[0])
        printf("%s\n", rep->note);
    shop__stack__fault_reply__free_unpacked(rep, NULL);
    return 0;
}
