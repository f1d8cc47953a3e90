/* shopflow: the user's tool. Dispatches `shopflow COMMAND ...` to one file per
 * command (cmd_<name>.c). */
#include "tools/shopflow/commands.h"
#include "base/version.h"

#include <stdio.h>
#include <string.h>

static const struct shopflow_command commands[] = {
    {"db", "run the embedded PostgreSQL: start|stop|status|url|reset", cmd_db},
    {"call", "call an RPC method: call URL package.Service/Method 'field=value ...'", cmd_call},
    {"up", "start and supervise the whole stack: up --arch sync|async [--restart]", cmd_up},
    {"down", "remove what a crashed multi-host run left: down --hosts netns", cmd_down},
    {"status", "each process of the running stack: pid, state, health, uptime", cmd_status},
    {"kill", "SIGKILL one daemon of the running stack: kill SERVICE", cmd_kill},
    {"pause", "SIGSTOP one daemon: pause SERVICE", cmd_pause},
    {"resume", "SIGCONT one daemon: resume SERVICE", cmd_resume},
    {"start", "start a killed or exited daemon again: start SERVICE", cmd_start},
    {"restart", "drain and start one daemon again: restart SERVICE", cmd_restart},
    {"fault", "faults on a daemon's link: fault SERVICE delay=MS|drop=P|clear", cmd_fault},
    {"bench", "run the sync-vs-async benchmark under failure", cmd_bench},
    {"scenario", "run a named failure scenario and print PASS/FAIL", cmd_scenario},
    {"check", "check the cross-service invariants", cmd_check},
    {"mq", "broker tools: mq stats|topics|topic|peek|get|reset-offset|dlq|send|consume", cmd_mq},
    {"delay", "the delay queue: delay send|cancel|list|stats", cmd_delay},
    {"trace", "an order's path across processes in time order: trace ORDER_ID", cmd_trace},
    {"dashboard", "a live page of the running stack: dashboard [--port-base P]", cmd_dashboard},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: shopflow COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`shopflow COMMAND --help` describes each command; `shopflow --version` "
                 "prints the version.\n");
}

int main(int argc, char **argv)
{
    if (shop_version_asked(argc, argv, "shopflow"))
        return 0;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "shopflow: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
