/* CPU seconds per process of a running stack, read from /proc/<pid>/stat
 * (utime + stime): the order, stock and coupon services, mq-broker and
 * mq-delayd, the private PostgreSQL (every backend serving one of the
 * stack's databases plus the cluster's own helper processes) and the load
 * generator (this process). Two snapshots around a load step give what each
 * part spent on it; divided by the orders of the step, the CPU per order. */
#ifndef SHOP_PROC_CPU_H
#define SHOP_PROC_CPU_H

#include <stdint.h>

#include "services/stack/shop_stack.h"

enum {
    SHOP_CPU_ORDER,
    SHOP_CPU_STOCK,
    SHOP_CPU_COUPON,
    SHOP_CPU_BROKER,
    SHOP_CPU_DELAYD,
    SHOP_CPU_POSTGRES,
    SHOP_CPU_LOADGEN,
    SHOP_CPU_PARTS
};

/* "order", "stock", "coupon", "broker", "delayd", "postgres", "loadgen" */
const char *shop_cpu_part_name(int part);

#define SHOP_CPU_MAX_PG 256

/* Clock ticks per process at one moment. PostgreSQL backends come and go,
 * so they are kept per pid: a backend seen in only one snapshot counts from
 * 0 (started during the step) or is lost (exited; the services keep their
 * connections, so that is rare). */
typedef struct shop_cpu_snapshot {
    int64_t ticks[SHOP_CPU_PARTS]; /* the parts other than postgres */
    int pg_pid[SHOP_CPU_MAX_PG];
    int64_t pg_ticks[SHOP_CPU_MAX_PG];
    int n_pg;
} shop_cpu_snapshot;

/* Reads every part of `st` now. `db_prefix` picks the stack's backends
 * (their command line names the database, "postgres: user bench_sync_order_db
 * ..."); `pg_pid` is the postmaster (0: no PostgreSQL part). A part whose
 * process is gone counts 0. */
void shop_cpu_snapshot_take(shop_cpu_snapshot *s, const shop_stack *st, int pg_pid,
                            const char *db_prefix);

/* CPU seconds per part spent between `before` and `after`. */
void shop_cpu_seconds(const shop_cpu_snapshot *before, const shop_cpu_snapshot *after,
                      double out[SHOP_CPU_PARTS]);

/* utime + stime of one process in clock ticks, -1 when it cannot be read. */
int64_t shop_cpu_ticks_of(int pid);

#endif
