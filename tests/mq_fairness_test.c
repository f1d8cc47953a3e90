/* One group on two topics: a backlog on one topic does not starve the
 * other; the broker rotates which topic it serves first. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>

#include "tests/support/mq_testkit.h"
#include "base/clock.h"

static mqt_broker broker;
static atomic_long bulk_seen, urgent_seen, bulk_when_urgent_done;

static void down(void)
{
    mqt_broker_cleanup(&broker);
}

static mq_consume_result on_msg(const mq_msg *m, void *arg)
{
    (void)arg;
    if (strcmp(m->topic, "bulk") == 0) {
        atomic_fetch_add(&bulk_seen, 1);
        shop_sleep_ms(m->offset % 64 == 0 ? 1 : 0); /* a consumer slower than the backlog */
    } else if (atomic_fetch_add(&urgent_seen, 1) + 1 == 10) {
        atomic_store(&bulk_when_urgent_done, atomic_load(&bulk_seen));
    }
    return MQ_CONSUME_SUCCESS;
}

Test(mq_fairness, a_backlog_on_one_topic_does_not_starve_the_groups_other_topic, .fini = down)
{
    mqt_broker_init(&broker, "fairness");
    cr_assert_eq(mqt_broker_start(&broker, NULL), 0);
    mq_producer *p;
    cr_assert_eq(mq_producer_open(broker.url, NULL, &p), RPC_OK);
    cr_assert_eq(mqt_send_range(p, "bulk", 0, 20000, 500, 64), 0);
    cr_assert_eq(mqt_send_range(p, "urgent", 0, 10, 10, 64), 0);

    const char *topics[] = {"bulk", "urgent"};
    mq_consumer_opts o = {.url = broker.url, .pub_url = broker.pub_url, .max_inflight = 256};
    mq_consumer *c;
    shop_error err = {0};
    cr_assert_eq(mq_consumer_open("both", topics, 2, on_msg, NULL, &o, &c, &err), RPC_OK);
    cr_assert_eq(mq_consumer_start(c, &err), RPC_OK, "%s", err.message);
    int64_t until = shop_now_ms() + 30000;
    while ((atomic_load(&bulk_seen) < 20000 || atomic_load(&urgent_seen) < 10) &&
           shop_now_ms() < until)
        shop_sleep_ms(10);
    mq_consumer_close(c);
    mq_producer_close(p);
    cr_assert_geq(atomic_load(&urgent_seen), 10);
    cr_assert_geq(atomic_load(&bulk_seen), 20000);
    cr_assert_lt(atomic_load(&bulk_when_urgent_done), 10000,
                 "the urgent topic waited for %ld bulk messages",
                 atomic_load(&bulk_when_urgent_done));
}
