/* The daemons' command line: --help, bad flags refused with a message,
 * environment fallbacks, and a SIGTERM drain that exits 0. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/testsupport.h"

static int run_capture(const char *cmdline, char *out, size_t outlen)
{
    FILE *f = popen(cmdline, "r");
    cr_assert_not_null(f);
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(svc_daemon, every_daemon_explains_its_flags_and_their_environment_variables)
{
    const char *names[] = {"shop-order", "shop-stock", "shop-coupon"};
    for (int i = 0; i < 3; i++) {
        char bin[512], cmd[600], out[8192];
        snprintf(cmd, sizeof cmd, "%s --help", ts_bin(names[i], bin, sizeof bin));
        cr_expect_eq(run_capture(cmd, out, sizeof out), 0, "%s --help", names[i]);
        cr_expect(strstr(out, "--listen") != NULL, "%s", out);
        cr_expect(strstr(out, "--workers") != NULL, "%s", out);
        cr_expect(strstr(out, "_LISTEN") != NULL, "%s", out);
        cr_expect(strstr(out, "<PREFIX>") == NULL, "no placeholder left: %s", out);
    }
    char bin[512], cmd[600], out[8192];
    snprintf(cmd, sizeof cmd, "%s --help", ts_bin("shop-order", bin, sizeof bin));
    run_capture(cmd, out, sizeof out);
    cr_expect(strstr(out, "--pay-window-ms") != NULL, "%s", out);
    cr_expect(strstr(out, "[$SHOP_ORDER_ARCH, default sync]") != NULL, "%s", out);
}

Test(svc_daemon, bad_flags_are_refused_with_a_message)
{
    char bin[512], cmd[700], out[8192];
    ts_bin("shop-stock", bin, sizeof bin);
    snprintf(cmd, sizeof cmd, "%s --no-such-flag 2>&1", bin);
    cr_expect_eq(run_capture(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "SHOP_STOCK_WORKERS=lots %s 2>&1", bin);
    cr_expect_eq(run_capture(cmd, out, sizeof out), 1);
    cr_expect(strstr(out, "bad --workers 'lots'") != NULL, "%s", out);
    cr_expect(strstr(out, "SHOP_STOCK_WORKERS") != NULL, "%s", out);
}

Test(svc_daemon, the_listen_address_falls_back_to_the_environment_and_sigterm_drains)
{
    char conninfo[1024];
    ts_pg_fresh_db("daemon_env", "stock", conninfo, sizeof conninfo);
    int port = ts_free_port();
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    setenv("SHOP_STOCK_LISTEN", url, 1);
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    cr_assert_not_null(opts);
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "dbname") == 0 && o->val != NULL)
            setenv("SHOP_STOCK_DB", o->val, 1);
    PQconninfoFree(opts);
    ts_proc p;
    char *argv[] = {"shop-stock", "--workers", "2", NULL};
    cr_assert_eq(ts_spawn(&p, argv), 0);
    unsetenv("SHOP_STOCK_LISTEN");
    unsetenv("SHOP_STOCK_DB");
    cr_assert_eq(ts_wait_port(&p, port, 10000), 0);
    cr_expect_eq(ts_stop(&p, SIGTERM, 10000), 0, "drains and exits 0");
    ts_pg_drop_db("daemon_env", "stock");
}
