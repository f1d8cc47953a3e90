/* services/hosts on the real kernel (root only; skipped, saying why, when
 * this process cannot make network namespaces): a server in one host
 * answers across the bridge, a partition cuts it off and a heal brings it
 * back, a bandwidth limit is set and cleared, and nothing the module made
 * is left behind. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/spawn.h"
#include "rpc/rpc.h"
#include "services/hosts/hosts.h"
#include "tests/support/testsupport.h"

/* Whether anything named after this run's subnet is still there. */
static int leftovers(const shop_hosts *h)
{
    char ns_prefix[24], link_prefix[16];
    snprintf(ns_prefix, sizeof ns_prefix, "shopflow%d-", h->k);
    snprintf(link_prefix, sizeof link_prefix, "sf%dv", h->k);
    int n = 0;
    DIR *d = opendir("/run/netns");
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        n += strncmp(e->d_name, ns_prefix, strlen(ns_prefix)) == 0;
    if (d != NULL)
        closedir(d);
    d = opendir("/sys/class/net");
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        n += strncmp(e->d_name, link_prefix, strlen(link_prefix)) == 0 ||
             strcmp(e->d_name, h->bridge) == 0;
    if (d != NULL)
        closedir(d);
    return n;
}

static int answers(const char *addr, int port, int within_ms)
{
    for (int64_t until = shop_now_ms() + within_ms; shop_now_ms() < until; shop_sleep_ms(50))
        if (rpc_probe_tcp(addr, port, 300))
            return 1;
    return 0;
}

Test(hosts_netns, a_partition_cuts_a_host_off_and_a_heal_brings_it_back, .timeout = 120)
{
    shop_error err = {0};
    if (shop_hosts_capable(&err) != RPC_OK)
        cr_skip_test("%s", err.message);
    shop_hosts h;
    const char *names[] = {"a", "b"};
    cr_assert_eq(shop_hosts_create(&h, names, 2, &err), RPC_OK, "%s", err.message);
    const char *a = shop_hosts_addr(&h, "a");
    cr_assert_not_null(a);
    cr_assert_str_neq(a, shop_hosts_addr(&h, "b"));

    char bin[512], url[64];
    ts_bin("rpc-echod", bin, sizeof bin);
    snprintf(url, sizeof url, "--listen=tcp://%s:7400", a);
    char *argv[] = {"rpc-echod", url, NULL};
    shop_spawn_opts so = {.exec_path = bin,
                          .death_signal = SIGKILL,
                          .in_child = shop_hosts_enter_child,
                          .in_child_arg = shop_hosts_find(&h, "a")};
    pid_t pid = 0;
    cr_assert_eq(shop_spawn(argv, &so, &pid, &err), RPC_OK, "%s", err.message);

    cr_expect(answers(a, 7400, 10000), "the server in host a answers across the bridge");
    cr_expect(!rpc_probe_tcp("127.0.0.1", 7400, 300), "it is not on this host's loopback");
    cr_assert_eq(shop_hosts_partition(&h, "a", &err), RPC_OK, "%s", err.message);
    cr_expect(!answers(a, 7400, 1000), "a partitioned host does not answer");
    cr_assert_eq(shop_hosts_heal(&h, "a", &err), RPC_OK, "%s", err.message);
    cr_expect(answers(a, 7400, 10000), "a healed host answers again");
    cr_expect_eq(shop_hosts_bandwidth(&h, "a", "1mbit", &err), RPC_OK, "%s", err.message);
    cr_expect(answers(a, 7400, 10000), "a slow link still answers");
    cr_expect_eq(shop_hosts_bandwidth(&h, "a", NULL, &err), RPC_OK, "%s", err.message);
    cr_expect_eq(shop_hosts_partition(&h, "nope", &err), RPC_NOT_FOUND);

    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    shop_hosts made = h; /* destroy clears the names */
    shop_hosts_destroy(&h);
    cr_expect_eq(leftovers(&made), 0, "namespaces, links or the bridge left behind");
}

Test(hosts_netns, cleanup_removes_what_a_crashed_run_left, .timeout = 60)
{
    shop_error err = {0};
    if (shop_hosts_capable(&err) != RPC_OK)
        cr_skip_test("%s", err.message);
    shop_hosts h;
    const char *names[] = {"crashed"};
    cr_assert_eq(shop_hosts_create(&h, names, 1, &err), RPC_OK, "%s", err.message);
    cr_assert_gt(leftovers(&h), 0);
    int removed = 0;
    cr_assert_eq(shop_hosts_cleanup(&removed, &err), RPC_OK, "%s", err.message);
    cr_expect_geq(removed, 2, "the namespace and the bridge at least");
    cr_expect_eq(leftovers(&h), 0, "cleanup left namespaces, links or the bridge");
}

Test(hosts_netns, a_lost_host_takes_every_process_on_it_down, .timeout = 60)
{
    shop_error err = {0};
    if (shop_hosts_capable(&err) != RPC_OK)
        cr_skip_test("%s", err.message);
    shop_hosts h;
    const char *names[] = {"doomed", "spared"};
    cr_assert_eq(shop_hosts_create(&h, names, 2, &err), RPC_OK, "%s", err.message);
    /* a parent with a child of its own on the doomed host, one process on the other */
    char *tree[] = {"/bin/sh", "-c", "sleep 60 & sleep 60", NULL};
    char *single[] = {"/bin/sleep", "60", NULL};
    shop_spawn_opts on_doomed = {.in_child = shop_hosts_enter_child,
                                 .in_child_arg = shop_hosts_find(&h, "doomed")};
    shop_spawn_opts on_spared = {.in_child = shop_hosts_enter_child,
                                 .in_child_arg = shop_hosts_find(&h, "spared")};
    pid_t doomed = 0, spared = 0;
    cr_assert_eq(shop_spawn(tree, &on_doomed, &doomed, &err), RPC_OK, "%s", err.message);
    cr_assert_eq(shop_spawn(single, &on_spared, &spared, &err), RPC_OK, "%s", err.message);
    shop_sleep_ms(300); /* the shell forks its background sleep */

    int killed = 0;
    cr_assert_eq(shop_hosts_lose(&h, "doomed", &killed, &err), RPC_OK, "%s", err.message);
    cr_expect_geq(killed, 2, "the shell and its background child");
    int status = 0;
    cr_assert_eq(waitpid(doomed, &status, 0), doomed);
    cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "killed with -9");
    cr_expect_eq(waitpid(spared, &status, WNOHANG), 0, "the other host's process runs on");
    cr_expect_eq(shop_hosts_lose(&h, "nope", &killed, &err), RPC_NOT_FOUND);

    kill(spared, SIGKILL);
    waitpid(spared, NULL, 0);
    shop_hosts made = h;
    shop_hosts_destroy(&h);
    cr_expect_eq(leftovers(&made), 0, "namespaces, links or the bridge left behind");
}
