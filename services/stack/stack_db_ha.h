/* The stack's databases in multi-host mode: each service's database a
 * pg_auto_failover formation (services/pg/pg_ha.h) of a primary and a
 * synchronous standby on hosts of their own ("<service>-db-a", "-db-b"),
 * with the monitor on "pg-monitor". The services get a libpq multi-host URL
 * (target_session_attrs=read-write) and find the primary themselves, before
 * and after a failover. */
#ifndef SHOP_STACK_DB_HA_H
#define SHOP_STACK_DB_HA_H

#include <stdint.h>

#include "base/error.h"
#include "services/stack/shop_stack.h"

/* 1 when the databases run as formations (--hosts netns, unless --db local). */
int stack_db_ha_on(const shop_stack *st);

/* The database hosts' names, appended to names[] from *n on. */
void stack_db_ha_host_names(const char **names, int *n);

/* Starts the monitor and the three formations on their hosts and points
 * each service at its formation (proc->pg_url). */
rpc_status stack_db_ha_start(shop_stack *st, shop_error *err);

/* Stops every node and removes their data. */
void stack_db_ha_stop(shop_stack *st);

#endif
