/* Running PostgreSQL's programs as the unprivileged user that owns the
 * cluster (initdb and postgres refuse root). */
#ifndef SHOP_PG_USER_H
#define SHOP_PG_USER_H

#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

/* The account used when we are root: $SHOPFLOW_PG_USER, else "postgres".
 * Fills uid/gid; returns 0, or -1 with `err` filled. When not root, returns
 * our own ids. */
rpc_status pg_user_ids(uid_t *uid, gid_t *gid, shop_error *err);

/* Makes `path` owned by the cluster user (no-op when not root). */
rpc_status pg_user_chown(const char *path, shop_error *err);

/* Runs argv (argv[0] a full path) as the cluster user with stdout and stderr
 * appended to `log_path` (NULL: inherit) and puts its exit code in
 * *exit_code; fails when it could not run or was killed by a signal. */
rpc_status pg_user_run(char *const argv[], const char *log_path, int *exit_code, shop_error *err);

/* Whether the cluster user can write into `dir` (checked in a child that has
 * dropped privileges). */
int pg_user_can_write(const char *dir);

/* Whether the cluster user can enter `dir`. */
int pg_user_can_reach(const char *dir);

/* The folder holding initdb/pg_ctl: $SHOPFLOW_PG_BINDIR, else the newest
 * /usr/lib/postgresql/N/bin, else the one on PATH. */
rpc_status pg_bin_path(const char *program, char *out, size_t outlen, shop_error *err);

#endif
