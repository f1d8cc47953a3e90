/* The JetStream backend's names and URLs, without a server: topic and group
 * names map to valid, distinct stream and subject names and back; a nats://
 * URL lists its servers; replicas follow the server count unless
 * MQ_NATS_REPLICAS says otherwise; a missing nats-server is an error that
 * says how to get one. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "mq/nats/nats_names.h"
#include "services/stack/nats_cluster.h"

Test(mq_nats_names, a_topic_maps_to_a_stream_and_subject_that_decode_back)
{
    mq_nats_names nm;
    cr_assert_eq(mq_nats_names_of(MQ_NATS_TOPIC, "order.placed", &nm, NULL), RPC_OK);
    cr_assert_str_eq(nm.stream, "MQT_order_2Eplaced");
    cr_assert_str_eq(nm.subject, "mq.t.order_2Eplaced");
    mq_nats_kind kind;
    char back[300];
    cr_assert_eq(mq_nats_stream_kind(nm.stream, &kind, back, sizeof back, NULL), RPC_OK);
    cr_assert_eq(kind, MQ_NATS_TOPIC);
    cr_assert_str_eq(back, "order.placed");
    cr_assert_eq(mq_nats_names_of(MQ_NATS_DLQ, "billing", &nm, NULL), RPC_OK);
    cr_assert_str_eq(nm.stream, "MQD_billing");
    cr_assert_eq(mq_nats_stream_kind("KV_other", &kind, back, sizeof back, NULL),
                 RPC_INVALID_ARGUMENT, "a stream that is not ours");
}

Test(mq_nats_names, names_that_differ_stay_different_and_carry_no_reserved_character)
{
    const char *names[] = {"a.b", "a_b", "a_2Eb", "a b", "a*b", "a>b", "a/b", "ä"};
    char enc[8][MQ_NATS_NAME_MAX + 1];
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(mq_nats_encode(names[i], enc[i], sizeof enc[i], NULL), RPC_OK);
        cr_assert_eq(strpbrk(enc[i], ". *>/\\\t"), NULL, "%s -> %s", names[i], enc[i]);
        char back[64];
        cr_assert_eq(mq_nats_decode(enc[i], back, sizeof back, NULL), RPC_OK);
        cr_assert_str_eq(back, names[i]);
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(enc[i], enc[j], "%s and %s collide", names[i], names[j]);
    }
    char big[300];
    memset(big, '.', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    shop_error e = {0};
    cr_assert_eq(mq_nats_encode(big, enc[0], sizeof enc[0], &e), RPC_INVALID_ARGUMENT);
    cr_assert(strstr(e.message, "too long") != NULL, "%s", e.message);
}

Test(mq_nats_names, a_url_lists_its_servers_and_sets_the_replicas)
{
    mq_nats_servers sv;
    cr_assert(mq_nats_is_url("nats://127.0.0.1:4222"));
    cr_assert(!mq_nats_is_url("tcp://127.0.0.1:7701"));
    cr_assert_eq(
        mq_nats_servers_parse("nats://127.0.0.1:1,127.0.0.1:2,nats://127.0.0.1:3", &sv, NULL),
        RPC_OK);
    cr_assert_eq(sv.n, 3);
    cr_assert_str_eq(sv.urls[1], "nats://127.0.0.1:2");
    cr_assert_str_eq(sv.urls[2], "nats://127.0.0.1:3");
    mq_nats_servers_free(&sv);
    cr_assert_eq(mq_nats_servers_parse("nats://", &sv, NULL), RPC_INVALID_ARGUMENT);
    cr_assert_eq(mq_nats_servers_parse("nats://hostonly", &sv, NULL), RPC_INVALID_ARGUMENT);
    unsetenv("MQ_NATS_REPLICAS");
    cr_assert_eq(mq_nats_replicas(3), 3);
    cr_assert_eq(mq_nats_replicas(2), 1);
    cr_assert_eq(mq_nats_replicas(1), 1);
    setenv("MQ_NATS_REPLICAS", "1", 1);
    cr_assert_eq(mq_nats_replicas(3), 1);
    unsetenv("MQ_NATS_REPLICAS");
}

Test(mq_nats_names, a_cluster_without_nats_server_fails_and_says_how_to_get_it)
{
    nats_cluster c;
    shop_error e = {0};
    setenv("NATS_SERVER", "/nonexistent/nats-server", 1);
    cr_assert_eq(nats_cluster_init(&c, "/nonexistent-dir", 3, &e), RPC_FAILED_PRECONDITION);
    cr_assert(strstr(e.message, "scripts/deps.sh") != NULL, "%s", e.message);
    unsetenv("NATS_SERVER");
}
