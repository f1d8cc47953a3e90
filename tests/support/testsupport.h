/* Test support for integration tests: fresh databases on the private
 * PostgreSQL, daemons as child processes with their stderr captured. */
#ifndef SHOP_TESTSUPPORT_H
#define SHOP_TESTSUPPORT_H

#include <stddef.h>
#include <sys/types.h>

/* This test binary's scratch directory, created on first use:
 * $SHOP_TEST_TMPDIR/<binary> when scripts/test.sh runs the suite (removed
 * after the binary passed, kept with its daemons' logs when it failed), else
 * $TMPDIR or /tmp. Every file a test makes goes under it. */
const char *ts_tmp_dir(void);

/* Starts the private PostgreSQL if it is not running (CTest's fixture
 * normally has); aborts the test with a message if it cannot. */
void ts_pg_up(void);

/* Creates a fresh, migrated database `t_<test>_<service>_db` (dropped first if a
 * previous run left it) and writes its conninfo to `out`. */
void ts_pg_fresh_db(const char *test, const char *service, char *out, size_t outlen);

/* Drops the database made by ts_pg_fresh_db. */
void ts_pg_drop_db(const char *test, const char *service);

typedef struct ts_proc {
    pid_t pid;
    char name[64];
    char log_path[256]; /* the child's stderr and stdout */
    int exit_status;    /* as from waitpid, once reaped */
} ts_proc;

/* The path of a built binary: $SHOP_BIN_DIR/name. */
const char *ts_bin(const char *name, char *out, size_t outlen);

/* Spawns argv (argv[0] a binary name looked up with ts_bin) with its output
 * in a log file. Returns 0 or -1. */
int ts_spawn(ts_proc *p, char *const argv[]);

/* Waits until a TCP port on 127.0.0.1 accepts, or the child dies, or the
 * timeout passes. Returns 0 when ready. */
int ts_wait_port(ts_proc *p, int port, int timeout_ms);

/* Waits until `ready(arg)` returns nonzero (polled every 20 ms). */
int ts_wait_until(ts_proc *p, int (*ready)(void *arg), void *arg, int timeout_ms);

/* Sends a signal (SIGKILL, SIGSTOP, SIGCONT, SIGTERM, ...). */
int ts_signal(ts_proc *p, int sig);

/* Sends `sig` (if nonzero) and reaps the child, waiting at most timeout_ms
 * before SIGKILL. Returns the exit code, 128+signal if killed by one. */
int ts_stop(ts_proc *p, int sig, int timeout_ms);

/* Prints the child's captured output to stderr (for failing tests). */
void ts_dump_log(const ts_proc *p);

/* The whole file (up to 1 MiB) as a string in a static buffer, overwritten
 * by the next call; NULL when it cannot be opened. */
char *ts_slurp(const char *path);

/* A TCP port on 127.0.0.1 that is free right now. */
int ts_free_port(void);

/* Runs `shopflow ARGS` (printf-style, shell-quoted) and waits for it; returns
 * its exit code (-1 if it did not exit) with stdout and stderr in out. */
int ts_shopflow(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* In a child's captured output: the value of "url=" on the last line that
 * starts with `name` and a space ("" when none). */
void ts_printed_url(const ts_proc *p, const char *name, char *url, size_t len);

/* 1 when the child's captured output contains `text`. */
int ts_log_has(const ts_proc *p, const char *text);

#endif
