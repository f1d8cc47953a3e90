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

typedef struct seen {
    pthread_mutex_t mu;
    unsigned count[2 * N];
    unsigned distinct;
} seen;

static void up(void)
{
    char dir[600];
    shop_error e = {0};
    snprintf(dir, sizeof dir, "%s/nats-bcast-%d", ts_tmp_dir(), (int)getpid());
    cr_assert_eq(nats_cluster_init(&cluster, dir, 1, &e), RPC_OK, "%s", e.message);
    cluster.death_signal = SIGKILL;
    cr_assert_eq(nats_cluster_start(&cluster, &e), RPC_OK, "%s", e.message);
}

static void down(void)
{
    nats_cluster_destroy(&cluster);
}

static mq_consume_result on_msg(const mq_msg *m, void *arg)
{
    seen *s = arg;
    int64_t i = mqt_body_check(m->body, m->len);
    pthread_mutex_lock(&s->mu);
    if (i >= 0 && i < 2 * N && s->count[i]++ == 0)
        s->distinct++;
    pthread_mutex_unlock(&s->mu);
    return MQ_CONSUME_SUCCESS;
}

static mq_consumer *instance(const char *name, seen *s)
{
    const char *topics[] = {"prices"};
    mq_consumer_opts o = {.url = cluster.url, .broadcast = 1, .instance = name};
    mq_consumer *c = NULL;
    shop_error err = {0};
    cr_assert_eq(mq_consumer_open("cache", topics, 1, on_msg, s, &o, &c, &err), RPC_OK, "%s",
                 err.message);
    cr_assert_eq(mq_consumer_start(c, &err), RPC_OK, "%s", err.message);
    return c;
}

static int all_of(void *arg)
{
    seen *s = arg;
    pthread_mutex_lock(&s->mu);
    int n = (int)s->distinct;
    pthread_mutex_unlock(&s->mu);
    return n >= N;
}

Test(mq_nats_broadcast, every_instance_gets_every_message_and_resumes_under_its_name, .init = up,
     .fini = down, .timeout = 120)
{
    static seen a, b, b2;
    pthread_mutex_init(&a.mu, NULL);
    pthread_mutex_init(&b.mu, NULL);
    pthread_mutex_init(&b2.mu, NULL);
    mq_producer *p;
    cr_assert_eq(mq_producer_open(cluster.url, NULL, &p), RPC_OK);
    mq_consumer *ca = instance("host-a", &a), *cb = instance("host-b", &b);
    cr_assert_eq(mqt_send_range(p, "prices", 0, N, 50, 64), 0);
    cr_assert_eq(mqt_wait_for(all_of, &a, 20000), 0, "host-a got %u of %d", a.distinct, N);
    cr_assert_eq(mqt_wait_for(all_of, &b, 20000), 0, "host-b got %u of %d", b.distinct, N);
    mq_consumer_close(cb);
    cr_assert_eq(mqt_send_range(p, "prices", N, 2 * N, 50, 64), 0);
    cb = instance("host-b", &b2);
    cr_assert_eq(mqt_wait_for(all_of, &b2, 20000), 0, "host-b got %u of the second %d", b2.distinct,
                 N);
    shop_sleep_ms(300);
    unsigned old = 0;
    for (int i = 0; i < N; i++)
        old += b2.count[i] > 0;
    cr_assert_eq(old, 0, "host-b got %u messages it had acknowledged before", old);
    mq_consumer_close(ca);
    mq_consumer_close(cb);
    mq_producer_close(p);
}
