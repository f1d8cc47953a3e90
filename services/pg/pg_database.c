/* Databases on the configured server: connection strings, creation, and
 * versioned migrations (services/<svc>/sql/NNN_name.sql, each applied once in
 * its own transaction, serialised by an advisory lock). */
#include "services/pg/shop_pg.h"

#include "base/paths.h"

#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SHOP_SOURCE_DIR
#define SHOP_SOURCE_DIR "."
#endif

const char *const shop_pg_services[3] = {"order", "stock", "coupon"};

void shop_pg_sql_dir(const char *service, char *out, size_t outlen)
{
    const char *root = getenv("SHOPFLOW_SQL_DIR");
    const char *share = shop_share_dir();
    if (root != NULL && root[0] != '\0')
        snprintf(out, outlen, "%s/%s", root, service);
    else if (share != NULL)
        snprintf(out, outlen, "%s/sql/%s", share, service);
    else
        snprintf(out, outlen, "%s/services/%s/sql", SHOP_SOURCE_DIR, service);
}

rpc_status shop_pg_base_url(char *out, size_t outlen, shop_error *err)
{
    const char *ext = getenv("SHOPFLOW_PG");
    if (ext != NULL && ext[0] != '\0') {
        snprintf(out, outlen, "%s", ext);
        return RPC_OK;
    }
    shop_pg_status st;
    if (shop_pg_get_status(&st, err) != 0)
        return shop_error_code(err);
    if (st.port <= 0) {
        return shop_error_set(err, RPC_INTERNAL,
                              "the private PostgreSQL was never started: run `shopflow db start`");
    }
    snprintf(out, outlen, "postgresql://shopflow@localhost:%d/postgres?host=%s", st.port,
             st.socket_dir);
    return RPC_OK;
}

/* Appends key='value' with libpq's quoting rules. */
static int conninfo_append(char *out, size_t outlen, size_t *pos, const char *key, const char *val)
{
    int n = snprintf(out + *pos, outlen - *pos, "%s%s='", *pos > 0 ? " " : "", key);
    if (n < 0 || (size_t)n >= outlen - *pos)
        return -1;
    *pos += (size_t)n;
    for (const char *c = val; *c != '\0'; c++) {
        if (*pos + 3 >= outlen)
            return -1;
        if (*c == '\'' || *c == '\\')
            out[(*pos)++] = '\\';
        out[(*pos)++] = *c;
    }
    if (*pos + 2 >= outlen)
        return -1;
    out[(*pos)++] = '\'';
    out[*pos] = '\0';
    return 0;
}

rpc_status shop_pg_conninfo(const char *base, const char *dbname, char *out, size_t outlen,
                            shop_error *err)
{
    char base_buf[SHOP_PG_CONNLEN];
    if (base == NULL) {
        if (shop_pg_base_url(base_buf, sizeof base_buf, err) != 0)
            return shop_error_code(err);
        base = base_buf;
    }
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(base, &perr);
    if (opts == NULL) {
        shop_error_set(err, RPC_INVALID_ARGUMENT, "bad PostgreSQL URL '%s': %s", base,
                       perr ? perr : "parse error");
        PQfreemem(perr);
        return RPC_INVALID_ARGUMENT;
    }
    size_t pos = 0;
    out[0] = '\0';
    int rc = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL && rc == 0; o++)
        if (o->val != NULL && o->val[0] != '\0' && strcmp(o->keyword, "dbname") != 0)
            rc = conninfo_append(out, outlen, &pos, o->keyword, o->val);
    if (rc == 0 && dbname != NULL)
        rc = conninfo_append(out, outlen, &pos, "dbname", dbname);
    PQconninfoFree(opts);
    if (rc != 0)
        shop_error_set(err, RPC_INTERNAL, "connection string too long");
    return rc;
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *connect_db(const char *base, const char *dbname, shop_error *err)
{
    char conninfo[SHOP_PG_CONNLEN];
    if (shop_pg_conninfo(base, dbname, conninfo, sizeof conninfo, err) != 0)
        return NULL;
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        shop_error_set(err, RPC_UNAVAILABLE, "connect to %s: %s", dbname, PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    /* "database ... does not exist, skipping" and the like are not news. */
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    return conn;
}

/* Runs a statement; returns 0 if it succeeded or failed with `ok_state`. */
static rpc_status exec_params(PGconn *conn, const char *sql, int nparams, const char *const *params,
                              const char *ok_state, shop_error *err)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(res);
    int rc = 0;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (ok_state == NULL || state == NULL || strcmp(state, ok_state) != 0) {
            shop_error_set(err, RPC_INTERNAL, "%s", PQerrorMessage(conn));
            rc = -1;
        }
    }
    PQclear(res);
    return rc;
}

static int valid_dbname(const char *name)
{
    if (name[0] == '\0' || strlen(name) > 63)
        return 0;
    for (const char *c = name; *c != '\0'; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return 0;
    return 1;
}

/* CREATE/DROP DATABASE take an identifier, not a parameter: the name is
 * checked against [a-z0-9_] and quoted by libpq. */
static rpc_status database_ddl(const char *base, const char *verb, const char *dbname,
                               const char *suffix, const char *ok_state, shop_error *err)
{
    if (!valid_dbname(dbname)) {
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "bad database name '%s' (use a-z, 0-9, _)",
                              dbname);
    }
    PGconn *conn = connect_db(base, "postgres", err);
    if (conn == NULL)
        return shop_error_code(err);
    char *ident = PQescapeIdentifier(conn, dbname, strlen(dbname));
    char sql[256];
    snprintf(sql, sizeof sql, "%s %s%s", verb, ident, suffix);
    PQfreemem(ident);
    int rc = exec_params(conn, sql, 0, NULL, ok_state, err);
    PQfinish(conn);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path, shop_error *err)
{
    FILE *f = fopen(path, "rbe");
    if (f == NULL) {
        shop_error_errno(err, errno, "open %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    if (buf != NULL && fread(buf, 1, (size_t)len, f) == (size_t)len) {
        buf[len] = '\0';
    } else {
        free(buf);
        buf = NULL;
        shop_error_set(err, RPC_INTERNAL, "read %s failed", path);
    }
    fclose(f);
    return buf;
}

static rpc_status apply_migration(PGconn *conn, const char *dir, const char *file, shop_error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *sql = read_file(path, err);
    if (sql == NULL)
        return shop_error_code(err);
    const char *params[] = {file};
    int rc = exec_params(conn, "BEGIN", 0, NULL, NULL, err);
    if (rc == 0)
        rc = exec_params(conn, "SELECT pg_advisory_xact_lock(5201314)", 0, NULL, NULL, err);
    PGresult *res = NULL;
    if (rc == 0) {
        res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL,
                           params, NULL, NULL, 0);
        int applied = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;
        PQclear(res);
        if (!applied) {
            /* Static SQL from our own migration file: no parameters to bind. */
            res = PQexec(conn, sql);
            if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
                shop_error_set(err, RPC_INTERNAL, "migration %s: %s", path, PQerrorMessage(conn));
                rc = -1;
            }
            PQclear(res);
            if (rc == 0)
                rc = exec_params(conn, "INSERT INTO schema_migrations(version) VALUES ($1)", 1,
                                 params, NULL, err);
        }
    }
    if (rc == 0)
        rc = exec_params(conn, "COMMIT", 0, NULL, NULL, err);
    else
        PQclear(PQexec(conn, "ROLLBACK"));
    free(sql);
    return rc;
}

static rpc_status migrate(PGconn *conn, const char *sql_dir, shop_error *err)
{
    if (exec_params(conn,
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                    0, NULL, "23505", err) != 0)
        return shop_error_code(err);
    DIR *d = opendir(sql_dir);
    if (d == NULL)
        return RPC_OK; /* a service with no migrations yet */
    char *names[512];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 512) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".sql") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], name_cmp);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = apply_migration(conn, sql_dir, names[i], err);
        free(names[i]);
    }
    return rc;
}

rpc_status shop_pg_ensure_database(const char *base, const char *dbname, const char *sql_dir,
                                   shop_error *err)
{
    /* 42P04: created meanwhile by a concurrent caller. */
    if (database_ddl(base, "CREATE DATABASE", dbname, "", "42P04", err) != 0) {
        /* CREATE DATABASE can also race on the template: retry once. */
        if (database_ddl(base, "CREATE DATABASE", dbname, "", "42P04", err) != 0)
            return shop_error_code(err);
    }
    PGconn *conn = connect_db(base, dbname, err);
    if (conn == NULL)
        return shop_error_code(err);
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    int rc = sql_dir != NULL ? migrate(conn, sql_dir, err) : 0;
    PQfinish(conn);
    return rc;
}

rpc_status shop_pg_drop_database(const char *base, const char *dbname, shop_error *err)
{
    return database_ddl(base, "DROP DATABASE IF EXISTS", dbname, " WITH (FORCE)", NULL, err);
}
