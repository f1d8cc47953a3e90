/* Each service's database as a pg_auto_failover formation (Debian's
 * pg-auto-failover-cli and postgresql-15-auto-failover): a monitor, and per
 * service a primary with a synchronous standby, every node on a host of its
 * own (services/hosts). The monitor decides failovers; this module only
 * starts the nodes, tells the services where they are, and takes a host away
 * for a drill.
 *
 *   shop_pg_ha ha;
 *   shop_pg_ha_start(&ha, dir, monitor_host, port_base, &err);
 *   shop_pg_ha_add(&ha, "stock", "stock_db", stock_a, stock_b, &err);
 *   shop_pg_ha_wait_ready(&ha, 120000, &err);          // primary + secondary
 *   ha.formations[i].url   -> "postgresql://postgres@10.231.k.13:p1,10.231.k.14:p2/
 *                              ?target_session_attrs=read-write&connect_timeout=2"
 *   shop_pg_ha_lose_primary(&ha, "stock", &host, &err); // kill -9 its whole host
 *   shop_pg_ha_stop(&ha);                               // keepers stopped, data removed
 *
 * Needs root (the hosts are network namespaces); the nodes run as the
 * PostgreSQL user (pg_user.h). Authentication is `trust` for addresses of the
 * private bridge only: these are drill deployments on one machine. */
#ifndef SHOP_PG_HA_H
#define SHOP_PG_HA_H

#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "services/hosts/hosts.h"

#define SHOP_PG_HA_MAX 3 /* formations: order, stock, coupon */

typedef struct shop_pg_ha_node {
    char name[24];         /* pg_auto_failover's node name, e.g. "stock-db-a" */
    const shop_host *host; /* where it runs */
    int port;              /* its PostgreSQL's port (unique: the sockets share a folder) */
    char dir[512];         /* data, config and state of this node */
    char log[600];         /* pg_autoctl's output */
    pid_t keeper;          /* `pg_autoctl run`, 0 when not running */
} shop_pg_ha_node;

typedef struct shop_pg_ha_formation {
    char name[16];   /* "stock" */
    char dbname[64]; /* "stock_db" */
    shop_pg_ha_node nodes[2];
    char url[512]; /* libpq multi-host URL, read-write sessions only */
} shop_pg_ha_formation;

typedef struct shop_pg_ha {
    char dir[512];
    shop_pg_ha_node monitor;
    char monitor_url[256];
    int n;
    shop_pg_ha_formation formations[SHOP_PG_HA_MAX];
} shop_pg_ha;

/* Whether pg_auto_failover is installed (FAILED_PRECONDITION saying which
 * package to install when not). */
rpc_status shop_pg_ha_capable(shop_error *err);

/* Creates and runs the monitor on `host` under `dir` (made, owned by the
 * PostgreSQL user), tuned to notice a lost primary within seconds; node
 * ports are port_base+1 on. */
rpc_status shop_pg_ha_start(shop_pg_ha *ha, const char *dir, const shop_host *host, int port_base,
                            shop_error *err);

/* Adds formation `name` with database `dbname`: its first node on `a`
 * (created and running when this returns) and its standby on `b` (being
 * cloned in the background; see shop_pg_ha_wait_ready). */
rpc_status shop_pg_ha_add(shop_pg_ha *ha, const char *name, const char *dbname, const shop_host *a,
                          const shop_host *b, shop_error *err);

/* Waits until every formation has a primary and a streaming secondary. */
rpc_status shop_pg_ha_wait_ready(shop_pg_ha *ha, int timeout_ms, shop_error *err);

/* The formation named `name`, NULL if none. */
shop_pg_ha_formation *shop_pg_ha_find(shop_pg_ha *ha, const char *name);

/* The node the monitor has as the formation's primary now. */
rpc_status shop_pg_ha_primary(shop_pg_ha *ha, const char *name, shop_pg_ha_node **out,
                              shop_error *err);

/* Takes the primary's host away: SIGKILL to every process on it (its
 * PostgreSQL and its keeper), as when a database machine dies. *lost names
 * the node that was primary. The monitor promotes the standby. */
rpc_status shop_pg_ha_lose_primary(shop_pg_ha *ha, const char *name, shop_pg_ha_node **lost,
                                   shop_error *err);

/* Polls the formation with a write (txid_current in a read-write session)
 * every 50 ms until one succeeds; *writable_ms is when (shop_now_ms). */
rpc_status shop_pg_ha_wait_writable(shop_pg_ha *ha, const char *name, int timeout_ms,
                                    int64_t *writable_ms, shop_error *err);

/* Stops the keepers (their PostgreSQL with them), kills what is left on the
 * nodes' hosts and removes `dir`. */
void shop_pg_ha_stop(shop_pg_ha *ha);

#endif
