/* /proc/<pid>/stat reader for the CPU-per-order figures. Fields 14 and 15
 * (utime, stime) follow the command name in parentheses, which may itself
 * contain spaces and parentheses: parsing starts after the last ')'. */
#include "bench/harness/proc_cpu.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *shop_cpu_part_name(int part)
{
    static const char *const names[SHOP_CPU_PARTS] = {"order",  "stock",    "coupon", "broker",
                                                      "delayd", "postgres", "loadgen"};
    return part >= 0 && part < SHOP_CPU_PARTS ? names[part] : "?";
}

/* The stat line after the command name, and the parent pid. */
static int read_stat(int pid, char *buf, size_t len, const char **rest)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close = strrchr(buf, ')');
    if (close == NULL)
        return -1;
    *rest = close + 2; /* ") S ppid ..." -> "S ppid ..." */
    return 0;
}

int64_t shop_cpu_ticks_of(int pid)
{
    char buf[1024];
    const char *p;
    if (pid <= 0 || read_stat(pid, buf, sizeof buf, &p) != 0)
        return -1;
    /* state(3) ppid(4) ... utime(14) stime(15): skip 11 fields after state */
    for (int field = 3; field < 14; field++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return -1;
        p++;
    }
    char *end;
    long long utime = strtoll(p, &end, 10);
    long long stime = strtoll(end, NULL, 10);
    return (int64_t)(utime + stime);
}

static int parent_of(int pid)
{
    char buf[1024];
    const char *p;
    if (read_stat(pid, buf, sizeof buf, &p) != 0 || (p = strchr(p, ' ')) == NULL)
        return -1;
    return atoi(p + 1);
}

/* A backend of one of the stack's databases, or one of the cluster's own
 * helpers (checkpointer, walwriter, ...: their title names no database). */
static int is_ours(int pid, const char *db_prefix)
{
    char path[64], cmd[512];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    size_t n = fread(cmd, 1, sizeof cmd - 1, f);
    fclose(f);
    cmd[n] = '\0';
    if (strstr(cmd, db_prefix) != NULL)
        return 1;
    static const char *const helpers[] = {"checkpointer",
                                          "background writer",
                                          "walwriter",
                                          "autovacuum launcher",
                                          "logical replication launcher",
                                          "logger"};
    for (size_t i = 0; i < sizeof helpers / sizeof helpers[0]; i++)
        if (strstr(cmd, helpers[i]) != NULL)
            return 1;
    return 0;
}

static void take_postgres(shop_cpu_snapshot *s, int pg_pid, const char *db_prefix)
{
    s->n_pg = 0;
    if (pg_pid <= 0)
        return;
    s->pg_pid[s->n_pg] = pg_pid; /* the postmaster's own time, not its reaped children's */
    s->pg_ticks[s->n_pg++] = shop_cpu_ticks_of(pg_pid);
    DIR *d = opendir("/proc");
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && s->n_pg < SHOP_CPU_MAX_PG) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        int pid = atoi(e->d_name);
        if (parent_of(pid) != pg_pid || !is_ours(pid, db_prefix))
            continue;
        int64_t t = shop_cpu_ticks_of(pid);
        if (t < 0)
            continue;
        s->pg_pid[s->n_pg] = pid;
        s->pg_ticks[s->n_pg++] = t;
    }
    closedir(d);
}

static int64_t ticks_or_zero(int pid)
{
    int64_t t = shop_cpu_ticks_of(pid);
    return t > 0 ? t : 0;
}

void shop_cpu_snapshot_take(shop_cpu_snapshot *s, const shop_stack *st, int pg_pid,
                            const char *db_prefix)
{
    memset(s, 0, sizeof *s);
    s->ticks[SHOP_CPU_ORDER] = ticks_or_zero(st->procs[SHOP_STACK_ORDER].pid);
    s->ticks[SHOP_CPU_STOCK] = ticks_or_zero(st->procs[SHOP_STACK_STOCK].pid);
    s->ticks[SHOP_CPU_COUPON] = ticks_or_zero(st->procs[SHOP_STACK_COUPON].pid);
    s->ticks[SHOP_CPU_BROKER] = ticks_or_zero(st->mq[SHOP_STACK_BROKER].pid);
    s->ticks[SHOP_CPU_DELAYD] = ticks_or_zero(st->mq[SHOP_STACK_DELAYD].pid);
    s->ticks[SHOP_CPU_LOADGEN] = ticks_or_zero(getpid());
    take_postgres(s, pg_pid, db_prefix);
}

void shop_cpu_seconds(const shop_cpu_snapshot *before, const shop_cpu_snapshot *after,
                      double out[SHOP_CPU_PARTS])
{
    double hz = (double)sysconf(_SC_CLK_TCK);
    for (int p = 0; p < SHOP_CPU_PARTS; p++) {
        int64_t d = after->ticks[p] - before->ticks[p];
        out[p] = d > 0 ? (double)d / hz : 0; /* a restarted process starts again at 0 */
    }
    int64_t pg = 0;
    for (int i = 0; i < after->n_pg; i++) {
        int64_t was = 0;
        for (int j = 0; j < before->n_pg; j++)
            if (before->pg_pid[j] == after->pg_pid[i])
                was = before->pg_ticks[j];
        if (after->pg_ticks[i] > was)
            pg += after->pg_ticks[i] - was;
    }
    out[SHOP_CPU_POSTGRES] = (double)pg / hz;
}
