/* pg_ha.h: what the pg_auto_failover monitor says about the formations
 * (ready, who is primary), and the drill that takes a primary's host away. */
#include "services/pg/pg_ha.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/clock.h"
#include "services/pg/shop_pg.h"

/* One parameterized query on the monitor; NULL (and `err`) on failure. */
static PGresult *monitor_query(PGconn *c, const char *sql, const char *formation, shop_error *err)
{
    const char *params[1] = {formation};
    PGresult *res = PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        shop_error_set(err, RPC_UNAVAILABLE, "pg_auto_failover monitor: %s", PQerrorMessage(c));
        PQclear(res);
        return NULL;
    }
    return res;
}

/* 1 when the formation has a primary and a secondary, both settled. */
static int formation_ready(PGconn *c, const shop_pg_ha_formation *f)
{
    PGresult *res = monitor_query(
        c,
        "SELECT count(*) FILTER (WHERE reportedstate = 'primary' AND goalstate = 'primary'),"
        "       count(*) FILTER (WHERE reportedstate = 'secondary' AND goalstate = 'secondary')"
        "  FROM pgautofailover.node WHERE formationid = $1",
        f->name, NULL);
    int ready = res != NULL && PQntuples(res) == 1 && atoi(PQgetvalue(res, 0, 0)) == 1 &&
                atoi(PQgetvalue(res, 0, 1)) == 1;
    PQclear(res);
    return ready;
}

/* pg_basebackup waits for a checkpoint, which PostgreSQL spreads over
 * minutes: asking the primary for one makes the clone start at once. */
static void hurry_checkpoint(const shop_pg_ha_formation *f)
{
    char conninfo[SHOP_PG_CONNLEN];
    if (shop_pg_conninfo(f->url, f->dbname, conninfo, sizeof conninfo, NULL) != RPC_OK)
        return;
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) == CONNECTION_OK)
        PQclear(PQexec(c, "CHECKPOINT"));
    PQfinish(c);
}

static const shop_pg_ha_node *dead_keeper(shop_pg_ha *ha)
{
    for (int i = 0; i < ha->n; i++)
        for (int j = 0; j < 2; j++) {
            shop_pg_ha_node *n = &ha->formations[i].nodes[j];
            if (n->keeper > 0 && waitpid(n->keeper, NULL, WNOHANG) == n->keeper) {
                n->keeper = 0;
                return n;
            }
        }
    return NULL;
}

rpc_status shop_pg_ha_wait_ready(shop_pg_ha *ha, int timeout_ms, shop_error *err)
{
    int64_t until = shop_now_ms() + timeout_ms;
    PGconn *c = NULL;
    for (;;) {
        if (c == NULL || PQstatus(c) != CONNECTION_OK) {
            PQfinish(c);
            c = PQconnectdb(ha->monitor_url);
        }
        int ready = 0;
        for (int i = 0; i < ha->n; i++) {
            if (formation_ready(c, &ha->formations[i]))
                ready++;
            else
                hurry_checkpoint(&ha->formations[i]);
        }
        if (ready == ha->n) {
            PQfinish(c);
            return RPC_OK;
        }
        const shop_pg_ha_node *dead = dead_keeper(ha);
        if (dead != NULL || shop_now_ms() > until) {
            PQfinish(c);
            if (dead != NULL)
                return shop_error_set(err, RPC_INTERNAL,
                                      "pg_autoctl of database node %s exited; see %s", dead->name,
                                      dead->log);
            return shop_error_set(err, RPC_DEADLINE_EXCEEDED,
                                  "the database formations have no primary and secondary after "
                                  "%d ms; see the logs under %s",
                                  timeout_ms, ha->dir);
        }
        shop_sleep_ms(250);
    }
}

rpc_status shop_pg_ha_primary(shop_pg_ha *ha, const char *name, shop_pg_ha_node **out,
                              shop_error *err)
{
    shop_pg_ha_formation *f = shop_pg_ha_find(ha, name);
    if (f == NULL)
        return shop_error_set(err, RPC_NOT_FOUND, "no database formation '%s'", name);
    PGconn *c = PQconnectdb(ha->monitor_url);
    if (PQstatus(c) != CONNECTION_OK) {
        shop_error_set(err, RPC_UNAVAILABLE, "pg_auto_failover monitor: %s", PQerrorMessage(c));
        PQfinish(c);
        return RPC_UNAVAILABLE;
    }
    PGresult *res =
        monitor_query(c, "SELECT primary_port FROM pgautofailover.get_primary($1, 0)", name, err);
    PQfinish(c);
    if (res == NULL)
        return shop_error_code(err);
    int port = PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    for (int j = 0; j < 2; j++)
        if (f->nodes[j].port == port) {
            *out = &f->nodes[j];
            return RPC_OK;
        }
    return shop_error_set(err, RPC_UNAVAILABLE, "formation %s has no primary now", name);
}

rpc_status shop_pg_ha_lose_primary(shop_pg_ha *ha, const char *name, shop_pg_ha_node **lost,
                                   shop_error *err)
{
    shop_pg_ha_node *n = NULL;
    if (shop_pg_ha_primary(ha, name, &n, err) != RPC_OK)
        return shop_error_code(err);
    int killed = 0;
    if (shop_hosts_kill_all(n->host->netns, &killed, err) != RPC_OK)
        return shop_error_code(err);
    if (n->keeper > 0) {
        waitpid(n->keeper, NULL, 0);
        n->keeper = 0;
    }
    *lost = n;
    return RPC_OK;
}

rpc_status shop_pg_ha_wait_writable(shop_pg_ha *ha, const char *name, int timeout_ms,
                                    int64_t *writable_ms, shop_error *err)
{
    shop_pg_ha_formation *f = shop_pg_ha_find(ha, name);
    if (f == NULL)
        return shop_error_set(err, RPC_NOT_FOUND, "no database formation '%s'", name);
    char conninfo[SHOP_PG_CONNLEN];
    if (shop_pg_conninfo(f->url, f->dbname, conninfo, sizeof conninfo, err) != RPC_OK)
        return shop_error_code(err);
    int64_t until = shop_now_ms() + timeout_ms;
    while (shop_now_ms() < until) {
        PGconn *c = PQconnectdb(conninfo);
        int ok = 0;
        if (PQstatus(c) == CONNECTION_OK) {
            PGresult *res = PQexec(c, "SELECT txid_current()");
            ok = PQresultStatus(res) == PGRES_TUPLES_OK;
            PQclear(res);
        }
        PQfinish(c);
        if (ok) {
            *writable_ms = shop_now_ms();
            return RPC_OK;
        }
        shop_sleep_ms(50);
    }
    return shop_error_set(err, RPC_DEADLINE_EXCEEDED, "database %s not writable after %d ms",
                          f->dbname, timeout_ms);
}
