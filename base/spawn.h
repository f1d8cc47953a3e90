/* Child processes: the one way the project starts them (daemons from
 * `shopflow up` and the benchmarks, the test support's daemons, PostgreSQL's
 * tools, gnuplot).
 *
 * A child gets stdin, stdout and stderr and nothing else: every other
 * descriptor of the parent is closed between fork and exec, whatever its
 * close-on-exec flag, so a lock file or socket held by the caller is never
 * held on by a daemon that outlives it. */
#ifndef SHOP_BASE_SPAWN_H
#define SHOP_BASE_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

typedef struct shop_spawn_opts {
    const char *exec_path; /* the file to run; NULL: argv[0] */
    /* stdout and stderr go to this file (created 0644), NULL: inherited. */
    const char *log_path;
    bool log_truncate; /* truncate the log instead of appending */
    bool stdin_null;   /* stdin from /dev/null instead of inherited */
    bool search_path;  /* argv[0] is a name looked up in PATH */
    const char *cwd;   /* the child's working directory; NULL: the parent's */
    /* Sent to the child when the thread that spawned it ends (Linux's
     * PR_SET_PDEATHSIG follows the thread, not the process), so it is set
     * only when spawning from the main thread; 0: none. */
    int death_signal;
    /* Runs in the child first (e.g. to drop privileges); non-zero makes the
     * child exit 126. Must be async-signal-safe in a threaded parent. */
    int (*in_child)(void *arg);
    void *in_child_arg;
} shop_spawn_opts;

/* Starts exec_path (or argv[0]) with argv (opts may be NULL) and puts the
 * child's pid in *pid. Fails only when fork does; an exec that fails is
 * reported on the child's stderr (the log) and the child exits 127. */
rpc_status shop_spawn(char *const argv[], const shop_spawn_opts *opts, pid_t *pid, shop_error *err);

/* Closes every descriptor from `lowest` up (close_range, or a loop where the
 * kernel has none). For a child between fork and exec. */
void shop_close_from(int lowest);

#endif
