/* shopflow db: the embedded PostgreSQL (start|stop|status|url|reset). */
#include "tools/shopflow/commands.h"
#include "services/pg/shop_pg.h"

#include <stdio.h>
#include <string.h>

static void db_usage(FILE *out)
{
    fprintf(out, "usage: shopflow db start|stop|status|url [DBNAME]|reset\n\n"
                 "  start    create the private cluster under var/pg on first use, start it,\n"
                 "           create order_db, stock_db, coupon_db and apply their migrations\n"
                 "  stop     stop the private cluster\n"
                 "  status   say whether it runs, its pid, port and socket\n"
                 "  url      print the server URL (or DBNAME's libpq conninfo)\n"
                 "  reset    stop it and delete its data\n\n"
                 "environment:\n"
                 "  SHOPFLOW_PG        use this server (libpq URL) instead of the private one\n"
                 "  SHOPFLOW_VAR       where var/ lives (default: the source tree's var/)\n"
                 "  SHOPFLOW_PG_USER   the unprivileged user to run postgres as when root "
                 "(default postgres)\n");
}

static int db_fail(const char *what, const char *err)
{
    fprintf(stderr, "shopflow db %s: %s\n", what, err);
    return 1;
}

int cmd_db(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        db_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    shop_error err = {0};
    shop_pg_status st;
    if (strcmp(sub, "start") == 0) {
        if (shop_pg_start(&st, &err) != 0)
            return db_fail(sub, err.message);
        char url[SHOP_PG_CONNLEN];
        if (shop_pg_base_url(url, sizeof url, &err) != 0)
            return db_fail(sub, err.message);
        printf("%s\n", url);
        return 0;
    }
    if (strcmp(sub, "stop") == 0)
        return shop_pg_stop(&err) == 0 ? 0 : db_fail(sub, err.message);
    if (strcmp(sub, "reset") == 0)
        return shop_pg_reset(&err) == 0 ? 0 : db_fail(sub, err.message);
    if (strcmp(sub, "status") == 0) {
        if (shop_pg_get_status(&st, &err) != 0)
            return db_fail(sub, err.message);
        if (st.external)
            printf("external server (SHOPFLOW_PG): %s\n", st.running ? "running" : "not answering");
        else if (st.running)
            printf("running pid=%d port=%d socket=%s data=%s\n", st.pid, st.port, st.socket_dir,
                   st.data_dir);
        else
            printf("stopped data=%s\n", st.data_dir);
        return st.running ? 0 : 1;
    }
    if (strcmp(sub, "url") == 0) {
        char out[SHOP_PG_CONNLEN];
        int rc = argc > 2 ? shop_pg_conninfo(NULL, argv[2], out, sizeof out, &err)
                          : shop_pg_base_url(out, sizeof out, &err);
        if (rc != 0)
            return db_fail(sub, err.message);
        printf("%s\n", out);
        return 0;
    }
    fprintf(stderr, "shopflow db: unknown subcommand '%s'\n", sub);
    db_usage(stderr);
    return 2;
}
