/* stack_db_ha.h: the formations behind the services in multi-host mode, and
 * losing a service's primary database host (shop_stack_lose_db). */
#include "services/stack/stack_db_ha.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "services/hosts/hosts.h"
#include "services/pg/pg_ha.h"
#include "services/pg/shop_pg.h"
#include "services/stack/stack_hosts.h"

static const char *const db_hosts[] = {"pg-monitor", "order-db-a",  "order-db-b", "stock-db-a",
                                       "stock-db-b", "coupon-db-a", "coupon-db-b"};

int stack_db_ha_on(const shop_stack *st)
{
    return stack_hosts_on(st) && (st->opts.db == NULL || strcmp(st->opts.db, "ha") == 0);
}

void stack_db_ha_host_names(const char **names, int *n)
{
    for (size_t i = 0; i < sizeof db_hosts / sizeof db_hosts[0]; i++)
        names[(*n)++] = db_hosts[i];
}

rpc_status stack_db_ha_start(shop_stack *st, shop_error *err)
{
    shop_pg_ha *ha = calloc(1, sizeof *ha);
    if (ha == NULL)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    st->pg_ha = ha;
    char dir[PATH_MAX];
    shop_stack_data_dir(st, "pg-ha", dir, sizeof dir);
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", dir);
    *strrchr(parent, '/') = '\0';
    mkdir(parent, 0755); /* <var>/stack, shared with the broker's data */
    /* the nodes' sockets share /var/run/postgresql: ports unique per subnet */
    int port_base = 16000 + 10 * st->hosts->k;
    if (shop_pg_ha_start(ha, dir, shop_hosts_find(st->hosts, "pg-monitor"), port_base, err) !=
        RPC_OK)
        return shop_error_wrap(err, "database monitor");
    for (int i = 0; i < SHOP_STACK_NPROCS; i++) {
        shop_stack_proc *p = &st->procs[i];
        char a[16], b[16];
        snprintf(a, sizeof a, "%s-db-a", p->name);
        snprintf(b, sizeof b, "%s-db-b", p->name);
        if (shop_pg_ha_add(ha, p->name, p->db, shop_hosts_find(st->hosts, a),
                           shop_hosts_find(st->hosts, b), err) != RPC_OK)
            return shop_error_wrap(err, "database formation %s", p->name);
        snprintf(p->pg_url, sizeof p->pg_url, "%s", ha->formations[i].url);
    }
    return shop_pg_ha_wait_ready(ha, 120000, err);
}

void stack_db_ha_stop(shop_stack *st)
{
    if (st->pg_ha == NULL)
        return;
    shop_pg_ha_stop(st->pg_ha);
    free(st->pg_ha);
    st->pg_ha = NULL;
}

rpc_status shop_stack_lose_db(shop_stack *st, const char *service, shop_stack_db_loss *out,
                              shop_error *err)
{
    memset(out, 0, sizeof *out);
    if (st->pg_ha == NULL)
        return shop_error_set(err, RPC_FAILED_PRECONDITION,
                              "losing a database host needs the databases on hosts of their "
                              "own (--hosts netns)");
    shop_pg_ha_node *lost = NULL;
    int64_t t0 = shop_now_ms();
    if (shop_pg_ha_lose_primary(st->pg_ha, service, &lost, err) != RPC_OK)
        return shop_error_code(err);
    snprintf(out->lost_host, sizeof out->lost_host, "%s", lost->name);
    int64_t writable = 0;
    if (shop_pg_ha_wait_writable(st->pg_ha, service, 120000, &writable, err) != RPC_OK)
        return shop_error_code(err);
    out->outage_ms = writable - t0;
    shop_pg_ha_node *now = NULL;
    if (shop_pg_ha_primary(st->pg_ha, service, &now, NULL) == RPC_OK)
        snprintf(out->new_primary, sizeof out->new_primary, "%s", now->name);
    return RPC_OK;
}
