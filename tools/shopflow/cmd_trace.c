/* shopflow trace ORDER_ID: the order's path across processes in time order,
 * from the services' records (order timeline, outboxes, member logs, inbox)
 * and, with --logs, from the daemons' log lines that name its trace id.
 * Exit 0 when found, 1 when the order does not exist, 2 on usage errors,
 * 4 when a database cannot be read. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/pg/shop_pg.h"
#include "tools/shopflow/commands.h"
#include "tools/shopflow/trace_events.h"

static void trace_usage(FILE *out)
{
    fprintf(out,
            "usage: shopflow trace ORDER_ID [--db-prefix P] [--logs DIR]\n\n"
            "Prints the order's trace id and every step of it across the processes, in time\n"
            "order: the order service's timeline, each service's outbox rows (written,\n"
            "published to the broker or mq-delayd), the stock and coupon changes, the order\n"
            "consumer's inbox, each with the trace id its record carries.\n\n"
            "  --db-prefix P   databases P order_db, P stock_db, P coupon_db (as `shopflow up\n"
            "                  --db-prefix`) [none]\n"
            "  --logs DIR      also the lines of DIR/*.log that name the trace id (`shopflow up\n"
            "                  --log-dir DIR`; SHOPFLOW_LOG_LEVEL=debug logs every step)\n\n"
            "environment: SHOPFLOW_PG points at an existing server instead of var/pg.\n");
}

static void print_event(const trace_event *e, int64_t t0, const char *trace_id)
{
    time_t sec = (time_t)(e->at_us / 1000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%H:%M:%S", &tm);
    const char *mark = e->trace_id[0] == '\0'               ? "-"
                       : strcmp(e->trace_id, trace_id) == 0 ? "same"
                                                            : e->trace_id;
    printf("  %s.%06lldZ %+10.3f ms  %-11s %-60s trace=%s\n", when, (long long)(e->at_us % 1000000),
           (double)(e->at_us - t0) / 1000.0, e->process, e->what, mark);
}

int cmd_trace(int argc, char **argv)
{
    static const struct option opts[] = {{"db-prefix", required_argument, NULL, 'p'},
                                         {"logs", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *prefix = "", *logs = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'p')
            prefix = optarg;
        else if (c == 'l')
            logs = optarg;
        else {
            trace_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    char *end = NULL;
    long long id = optind + 1 == argc ? strtoll(argv[optind], &end, 10) : 0;
    if (id <= 0 || end == NULL || *end != '\0') {
        trace_usage(stderr);
        return 2;
    }
    trace_events ev = {0};
    char trace_id[33] = "", status[16] = "", conninfo[1024], db[300];
    shop_error err = {0};
    static const char *const services[] = {"order", "stock", "coupon"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(db, sizeof db, "%s%s_db", prefix, services[i]);
        rpc_status st = shop_pg_conninfo(NULL, db, conninfo, sizeof conninfo, &err);
        if (st == RPC_OK)
            st = trace_from_db(&ev, services[i], conninfo, id, trace_id, status, &err);
        if (st != RPC_OK) {
            fprintf(stderr, "shopflow trace: %s\n", err.message);
            trace_events_free(&ev);
            return st == RPC_NOT_FOUND ? 1 : 4;
        }
    }
    if (logs != NULL && trace_id[0] != '\0' && trace_from_logs(&ev, logs, trace_id, &err) != RPC_OK)
        fprintf(stderr, "shopflow trace: %s (logs skipped)\n", err.message);
    trace_events_sort(&ev);
    printf("order %lld status=%s trace_id=%s\n", id, status, trace_id[0] ? trace_id : "(none)");
    for (size_t i = 0; i < ev.n; i++)
        print_event(&ev.v[i], ev.v[0].at_us, trace_id);
    trace_events_free(&ev);
    return 0;
}
