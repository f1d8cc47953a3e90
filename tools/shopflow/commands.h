/* The shopflow subcommands: each takes argv from the command name on and
 * returns the process exit code. */
#ifndef SHOPFLOW_COMMANDS_H
#define SHOPFLOW_COMMANDS_H

struct shopflow_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
};

int cmd_db(int argc, char **argv);
int cmd_call(int argc, char **argv);
int cmd_up(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* `shopflow bench --sweep` (cmd_bench hands over when it sees --sweep). */
int cmd_bench_sweep(int argc, char **argv);
int cmd_scenario(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_mq(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_restart(int argc, char **argv);
int cmd_fault(int argc, char **argv);
int cmd_delay(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_dashboard(int argc, char **argv);

#endif
