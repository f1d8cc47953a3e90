/* Broadcast consumption on the JetStream backend (one real nats-server,
 * R1): each instance is its own durable consumer "<group>@<instance>", so
 * every instance gets every message and one reopened under its name
 * resumes after what it acknowledged. Without nats-server this fails
 * (scripts/deps.sh installs it). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "services/stack/nats_cluster.h"
#include "tests/support/mq_testkit.h"

#define N 200

static nats_cluster cluster;

static mqt_broker nats; /* only .url: what the test kit's collectors dial */

static void up(void)
{
    char dir[600];
    shop_error e = {0};
    snprintf(dir, sizeof dir, "%s/nats-bcast-%d", ts_tmp_dir(), (int)getpid());
    cr_assert_eq(nats_cluster_init(&cluster, dir, 1, &e), RPC_OK, "%s", e.message);
    cluster.death_signal = SIGKILL;
    cr_assert_eq(nats_cluster_start(&cluster, &e), RPC_OK, "%s", e.message);
    snprintf(nats.url, sizeof nats.url, "%s", cluster.url);
}

static void down(void)
{
    nats_cluster_destroy(&cluster);
}

static void instance(mqt_collector *k, const char *name)
{
    k->instance = name;
    cr_assert_eq(mqt_collector_start(k, &nats, "cache", "prices", 2 * N), 0,
                 "instance %s did not start", name);
}

Test(mq_nats_broadcast, every_instance_gets_every_message_and_resumes_under_its_name, .init = up,
     .fini = down, .timeout = 120)
{
    static mqt_collector a, b, b2;
    mq_producer *p;
    cr_assert_eq(mq_producer_open(cluster.url, NULL, &p), RPC_OK);
    instance(&a, "host-a");
    instance(&b, "host-b");
    cr_assert_eq(mqt_send_range(p, "prices", 0, N, 50, 64), 0);
    cr_assert_eq(mqt_collector_wait_range(&a, 0, N, 20000), 0, "host-a got %llu of %d",
                 (unsigned long long)mqt_collector_seen_in(&a, 0, N), N);
    cr_assert_eq(mqt_collector_wait_range(&b, 0, N, 20000), 0, "host-b got %llu of %d",
                 (unsigned long long)mqt_collector_seen_in(&b, 0, N), N);
    mqt_collector_stop(&b);
    cr_assert_eq(mqt_send_range(p, "prices", N, 2 * N, 50, 64), 0);
    instance(&b2, "host-b");
    cr_assert_eq(mqt_collector_wait_range(&b2, N, 2 * N, 20000), 0,
                 "host-b got %llu of the second %d",
                 (unsigned long long)mqt_collector_seen_in(&b2, N, 2 * N), N);
    shop_sleep_ms(300);
    cr_assert_eq(mqt_collector_seen_in(&b2, 0, N), 0,
                 "host-b got %llu messages it had acknowledged before",
                 (unsigned long long)mqt_collector_seen_in(&b2, 0, N));
    mqt_collector_stop(&a);
    mqt_collector_stop(&b2);
    mq_producer_close(p);
}
