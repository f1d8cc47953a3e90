/* The producer's own checks: delayed sends refused, no broker -> UNAVAILABLE. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "mq.h"
#include "testsupport.h"

Test(mq_producer, refuses_delayed_sends_until_mq_delayd_routes_them)
{
    mq_producer *p;
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", ts_free_port());
    cr_assert_eq(mq_producer_open(url, NULL, &p), RPC_OK);
    mq_send_opts o = {.delay_level = 3};
    mq_send_result r;
    cr_assert_eq(mq_producer_send(p, "t", "k", "x", 1, &o, &r), RPC_FAILED_PRECONDITION);
    cr_assert(strstr(r.message, "mq-delayd"));
    cr_assert_eq(strlen(r.id), 32);
    mq_producer_close(p);
}

Test(mq_producer, answers_unavailable_with_the_same_id_when_no_broker_listens)
{
    mq_producer *p;
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", ts_free_port());
    mq_producer_opts po = {.timeout_ms = 100, .retries = 2, .retry_backoff_ms = 5};
    cr_assert_eq(mq_producer_open(url, &po, &p), RPC_OK);
    mq_send_opts o = {.id = "0123456789abcdef0123456789abcdef"};
    mq_send_result r;
    cr_assert_eq(mq_producer_send(p, "t", "k", "x", 1, &o, &r), RPC_UNAVAILABLE);
    cr_assert_str_eq(r.id, "0123456789abcdef0123456789abcdef");
    mq_producer_close(p);
}
