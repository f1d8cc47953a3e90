/* shopflow check: the cross-service invariants over order_db, stock_db and
 * coupon_db (bench/harness/shop_check.h), as a table or --json. Exit 0 when
 * every rule holds, 1 on violations, 2 on usage errors, 4 when a database
 * cannot be read. */
#include "tools/shopflow/commands.h"
#include "bench/harness/check_json.h"
#include "bench/harness/shop_check.h"
#include "tools/shopflow/cli_json.h"
#include "services/pg/shop_pg.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_usage(FILE *out)
{
    fprintf(
        out,
        "usage: shopflow check [--prefix P] [--order-db DB] [--stock-db DB] [--coupon-db DB]\n"
        "                      [--acked FILE] [--grace MS] [--max N] [--json]\n\n"
        "Checks every cross-service invariant and lists violations by order id.\n\n"
        "  --prefix P        check P_order_db, P_stock_db, P_coupon_db (a bench run's)\n"
        "  --order-db DB     a database name or a full libpq conninfo/URL (default order_db)\n"
        "  --stock-db DB     likewise (default stock_db)\n"
        "  --coupon-db DB    likewise (default coupon_db)\n"
        "  --acked FILE      order ids acknowledged to clients, one per line: each must exist\n"
        "  --grace MS        PENDING orders past pay_by + MS are violations (default 0;\n"
        "                    -1 skips the rule, e.g. while the stack is still healing)\n"
        "  --max N           list at most N violations per rule (default 20)\n"
        "  --json            the result as one JSON object (\"ok\", \"rules\", \"violations\")\n\n"
        "environment: SHOPFLOW_PG points at an existing server instead of var/pg.\n"
        "exit: 0 all rules hold, 1 violations, 2 usage, 4 a database cannot be read\n");
}

/* A name becomes the conninfo of that database on the configured server. */
static rpc_status resolve_db(const char *prefix, const char *given, const char *service, char *out,
                             size_t outlen, shop_error *err)
{
    char name[256];
    if (given && (strchr(given, '=') || strstr(given, "://"))) {
        snprintf(out, outlen, "%s", given);
        return RPC_OK;
    }
    if (given)
        snprintf(name, sizeof name, "%s", given);
    else if (prefix)
        snprintf(name, sizeof name, "%s_%s_db", prefix, service);
    else
        snprintf(name, sizeof name, "%s_db", service);
    return shop_pg_conninfo(NULL, name, out, outlen, err);
}

/* Reads order ids, one per line; returns the count or -1. */
static long read_acked(const char *path, int64_t **out)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = 0, cap = 0;
    int64_t *ids = NULL;
    long long id;
    while (fscanf(f, "%lld", &id) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            int64_t *grown = realloc(ids, cap * sizeof *ids);
            if (!grown)
                break;
            ids = grown;
        }
        ids[n++] = id;
    }
    fclose(f);
    *out = ids;
    return (long)n;
}

int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"prefix", required_argument, NULL, 'p'},   {"order-db", required_argument, NULL, 'o'},
        {"stock-db", required_argument, NULL, 's'}, {"coupon-db", required_argument, NULL, 'c'},
        {"acked", required_argument, NULL, 'a'},    {"grace", required_argument, NULL, 'g'},
        {"max", required_argument, NULL, 'm'},      {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    int json = 0;
    const char *prefix = NULL, *dbs[3] = {NULL, NULL, NULL}, *acked_path = NULL;
    long grace = 0, max_each = 20;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'p':
            prefix = optarg;
            break;
        case 'o':
            dbs[0] = optarg;
            break;
        case 's':
            dbs[1] = optarg;
            break;
        case 'c':
            dbs[2] = optarg;
            break;
        case 'a':
            acked_path = optarg;
            break;
        case 'g':
        case 'm':
            *(c == 'g' ? &grace : &max_each) = strtol(optarg, &end, 10);
            if (*end || end == optarg) {
                fprintf(stderr, "shopflow check: --%s wants a number, not '%s'\n",
                        c == 'g' ? "grace" : "max", optarg);
                return 2;
            }
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            check_usage(stdout);
            return 0;
        default:
            check_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shopflow check: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    char conn[3][SHOP_PG_CONNLEN];
    shop_error err = {0};
    static const char *const services[3] = {"order", "stock", "coupon"};
    for (int i = 0; i < 3; i++)
        if (resolve_db(prefix, dbs[i], services[i], conn[i], sizeof conn[i], &err) != RPC_OK) {
            fprintf(stderr, "shopflow check: %s database: %s\n", services[i], err.message);
            return 4;
        }
    int64_t *acked = NULL;
    long n_acked = 0;
    if (acked_path && (n_acked = read_acked(acked_path, &acked)) < 0) {
        fprintf(stderr, "shopflow check: cannot read --acked %s\n", acked_path);
        return 2;
    }
    shop_check_input in = {conn[0], conn[1], conn[2], acked, (size_t)n_acked, grace};
    shop_check_report rep;
    rpc_status st = shop_check_run(&in, &rep, &err);
    free(acked);
    if (st != RPC_OK) {
        fprintf(stderr, "shopflow check: %s\n", err.message);
        return 4;
    }
    size_t bad = shop_check_total(&rep), max = (size_t)(max_each < 0 ? 0 : max_each);
    int rc = 0;
    if (json) {
        rc = cli_json_print("check", shop_check_json(&rep, max));
    } else {
        shop_check_print(&rep, stdout, max);
        printf("%s\n", bad ? "INVARIANTS VIOLATED" : "all invariants hold");
    }
    shop_check_report_free(&rep);
    return rc != 0 ? 4 : bad ? 1 : 0;
}
