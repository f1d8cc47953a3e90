/* shopflow up: the whole shop in the foreground until Ctrl-C. sync: the three
 * daemons; async: mq-broker and mq-delayd first, then the daemons with
 * --arch async. Databases are fresh with fixtures unless --keep-data. */
#include "commands.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/stack/shop_stack.h"

static void up_usage(FILE *out)
{
    fprintf(out, "usage: shopflow up [--arch sync|async] [options]\n\n"
                 "  --arch A            sync (RPC between services) or async (broker + delay\n"
                 "                      queue) [default sync]\n"
                 "  --goods N           goods 1..N [100]     --stock N   units each [1000]\n"
                 "  --users N           one coupon per user 1..N [1000]\n"
                 "  --pay-window-ms N   unpaid orders close after this [30 min]\n"
                 "  --port-base P       order, stock, coupon on P, P+1, P+2; async: broker P+3,\n"
                 "                      delay queue P+4, broker deliveries P+5 [free ports]\n"
                 "  --keep-data         reuse the databases (and the broker's data)\n"
                 "  --log-dir DIR       one log file per process [stderr]\n"
                 "  --help\n");
}

static int parse(int argc, char **argv, shop_stack_opts *o)
{
    static const struct option opts[] = {{"arch", required_argument, NULL, 'a'},
                                         {"goods", required_argument, NULL, 'g'},
                                         {"stock", required_argument, NULL, 's'},
                                         {"users", required_argument, NULL, 'u'},
                                         {"pay-window-ms", required_argument, NULL, 'w'},
                                         {"port-base", required_argument, NULL, 'p'},
                                         {"keep-data", no_argument, NULL, 'k'},
                                         {"log-dir", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'a':
            o->arch = optarg;
            break;
        case 'g':
            o->goods = atoll(optarg);
            break;
        case 's':
            o->stock = atoll(optarg);
            break;
        case 'u':
            o->users = atoll(optarg);
            break;
        case 'w':
            o->pay_window_ms = atoll(optarg);
            break;
        case 'p':
            o->port_base = atoi(optarg);
            break;
        case 'k':
            o->keep_data = 1;
            break;
        case 'l':
            o->log_dir = optarg;
            break;
        case 'h':
            up_usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    if (optind != argc || o->goods <= 0 || o->stock < 0 || o->users < 0 || o->pay_window_ms < 0 ||
        (strcmp(o->arch, "sync") != 0 && strcmp(o->arch, "async") != 0))
        return -1;
    return 0;
}

int cmd_up(int argc, char **argv)
{
    shop_stack_opts o = shop_stack_defaults();
    if (parse(argc, argv, &o) != 0) {
        up_usage(stderr);
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL); /* collected below; children unblock */
    static shop_stack st;
    char err[1024];
    if (shop_stack_start(&st, &o, err, sizeof err) != 0) {
        fprintf(stderr, "shopflow up: %s\n", err);
        return 1;
    }
    printf("shopflow up: %s architecture\n", o.arch);
    for (int i = 0; i < SHOP_STACK_NPROCS; i++)
        printf("  %-7s %s  pid %d  db %s\n", st.procs[i].name, st.procs[i].url,
               (int)st.procs[i].pid, st.procs[i].db);
    if (strcmp(o.arch, "async") == 0) {
        printf("  %-7s %s  pid %d  deliveries %s\n", "broker", st.mq[SHOP_STACK_BROKER].url,
               (int)st.mq[SHOP_STACK_BROKER].pid, st.mq_pub_url);
        printf("  %-7s %s  pid %d\n", "delayd", st.mq[SHOP_STACK_DELAYD].url,
               (int)st.mq[SHOP_STACK_DELAYD].pid);
    }
    printf("Ctrl-C stops everything.\n");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    printf("shopflow up: stopping (signal %d)\n", sig);
    return shop_stack_stop(&st) == 0 ? 0 : 1;
}
