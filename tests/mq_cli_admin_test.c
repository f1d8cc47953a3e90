/* `shopflow mq topics | topic T | peek T` against a real mq-broker, its
 * Peek request fed hostile values, and `mq consume` printing bodies. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "mq/wire.h"
#include "shop_events.pb-c.h"
#include "tests/support/mq_testkit.h"

static mqt_broker b;

static void up(void)
{
    mqt_broker_init(&b, "cliadmin");
    cr_assert_eq(mqt_broker_start(&b, NULL), 0);
}

static void down(void)
{
    mqt_broker_cleanup(&b);
}

TestSuite(mq_cli_admin, .init = up, .fini = down, .timeout = 60);

/* Sends one order.placed event for order `id` through the client library. */
static void send_placed(int64_t id)
{
    Shop__Events__OrderPlaced ev = SHOP__EVENTS__ORDER_PLACED__INIT;
    ev.order_id = id;
    ev.request_id = "req";
    ev.goods_id = 3;
    ev.count = 2;
    uint8_t buf[128];
    size_t len = shop__events__order_placed__pack(&ev, buf);
    mq_producer *p = NULL;
    cr_assert_eq(mq_producer_open(b.url, NULL, &p), RPC_OK);
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)id);
    mq_message m = {.topic = "order.placed", .key = key, .body = buf, .len = len};
    mq_send_result r;
    cr_assert_eq(mq_producer_send_batch(p, &m, 1, &r), RPC_OK, "%s", r.message);
    mq_producer_close(p);
}

Test(mq_cli_admin, topics_and_topic_show_offsets_messages_and_group_lag)
{
    char out[16384];
    for (int i = 1; i <= 3; i++)
        send_placed(i);
    cr_assert_eq(ts_shopflow(out, sizeof out,
                             "mq consume order.placed --group g1 --count 2 --url "
                             "%s --pub-url %s",
                             b.url, b.pub_url),
                 0, "%s", out);
    cr_expect(strstr(out, "# shop.events.OrderPlaced") && strstr(out, "  order_id: 1"),
              "consume prints bodies as text: %s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq topics --url %s", b.url), 0, "%s", out);
    cr_expect(strstr(out, "order.placed") && strstr(out, "g1"), "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq topic order.placed --url %s", b.url), 0, "%s",
                 out);
    cr_expect(strstr(out, "topic=order.placed start=0 end=3 messages=3 "
                          "type=shop.events.OrderPlaced") != NULL,
              "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq topic order.placed --json --url %s", b.url), 0,
                 "%s", out);
    cr_expect(strstr(out, "\"group\": \"g1\"") && strstr(out, "\"messages\": 3"), "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "mq topic nope --url %s", b.url), 1, "%s", out);
    cr_expect(strstr(out, "mq topics") != NULL, "names what to do: %s", out);
}

Test(mq_cli_admin, peek_prints_records_by_offset_as_protobuf_text_or_hex)
{
    char out[16384];
    for (int i = 1; i <= 3; i++)
        send_placed(i);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq send raw hi --url %s", b.url), 0, "%s", out);
    cr_assert_eq(
        ts_shopflow(out, sizeof out, "mq peek order.placed --offset 1 --count 1 --url %s", b.url),
        0, "%s", out);
    cr_expect(strstr(out, "offset=1 ") && strstr(out, "order_id: 2") && !strstr(out, "order_id: 3"),
              "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq peek raw --url %s", b.url), 0, "%s", out);
    cr_expect(strstr(out, "hex: 6869") != NULL, "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq peek order.placed --json --url %s", b.url), 0,
                 "%s", out);
    cr_expect(strstr(out, "\"orderId\": \"3\"") && strstr(out, "\"goodsId\": \"3\""), "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "mq peek nope --url %s", b.url), 1, "%s", out);
}

/* One raw Peek; returns the reply (free it). */
static Shop__Mq__Reply *peek(mq_link *l, const char *topic, uint64_t offset, uint32_t count)
{
    Shop__Mq__Peek pk = SHOP__MQ__PEEK__INIT;
    pk.topic = (char *)topic;
    pk.offset = offset;
    pk.count = count;
    Shop__Mq__Request req = SHOP__MQ__REQUEST__INIT;
    req.body_case = SHOP__MQ__REQUEST__BODY_PEEK;
    req.peek = &pk;
    Shop__Mq__Reply *rep = NULL;
    mq_link_call(l, &req, 5000, &rep, NULL);
    cr_assert_not_null(rep);
    return rep;
}

Test(mq_cli_admin, a_peek_is_bounded_whatever_it_asks_for)
{
    mq_producer *p = NULL;
    cr_assert_eq(mq_producer_open(b.url, NULL, &p), RPC_OK);
    enum { N = 1100 };
    static mq_message ms[N];
    static mq_send_result rs[N];
    for (int i = 0; i < N; i++)
        ms[i] = (mq_message){.topic = "bulk", .body = "x", .len = 1};
    cr_assert_eq(mq_producer_send_batch(p, ms, N, rs), RPC_OK);
    mq_producer_close(p);
    mq_link l;
    cr_assert_eq(mq_link_open(&l, b.url, NULL), RPC_OK);
    Shop__Mq__Reply *r = peek(&l, "bulk", 0, UINT32_MAX);
    cr_expect_eq(r->status, RPC_OK);
    cr_expect_eq(r->peek->n_records, 1000, "clamped");
    shop__mq__reply__free_unpacked(r, NULL);
    r = peek(&l, "bulk", UINT64_MAX, 5);
    cr_expect_eq(r->status, RPC_OK);
    cr_expect_eq(r->peek->n_records, 0, "past the end: nothing");
    cr_expect_eq(r->peek->end_offset, N);
    shop__mq__reply__free_unpacked(r, NULL);
    r = peek(&l, "", 0, 1);
    cr_expect_eq(r->status, RPC_NOT_FOUND);
    shop__mq__reply__free_unpacked(r, NULL);
    mq_link_close(&l);
}

/* The id `mq send` printed. */
static void sent_id(const char *out, char *id, size_t len)
{
    const char *p = strstr(out, "id=");
    cr_assert_not_null(p, "%s", out);
    snprintf(id, len, "%s", p + 3);
    id[strcspn(id, " \n")] = '\0';
}

Test(mq_cli_admin, get_finds_by_id_and_the_newest_by_key_also_after_a_crash)
{
    char out[16384], id[64];
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq send ga first --key k1 --url %s", b.url), 0, "%s",
                 out);
    sent_id(out, id, sizeof id);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(ts_shopflow(out, sizeof out, "mq send gb body%d --key k2 --url %s", i, b.url),
                     0, "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq get --id %s --url %s", id, b.url), 0, "%s", out);
    cr_expect(strstr(out, "topic=ga offset=0") && strstr(out, "key=k1"), "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq get --key k2 --json --url %s", b.url), 0, "%s",
                 out);
    cr_expect(strstr(out, "\"offset\": 5") && strstr(out, "\"offset\": 2") &&
                  !strstr(out, "\"offset\": 1,"),
              "the 4 newest with the key: %s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "mq get --key k2 --topic ga --url %s", b.url), 1,
                 "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "mq get --key nope --url %s", b.url), 1, "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "mq get --url %s", b.url), 2, "%s", out);

    /* recovery rebuilds both indexes from the segments */
    mqt_broker_stop(&b, SIGKILL);
    cr_assert_eq(mqt_broker_start(&b, NULL), 0);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq get --key k1 --url %s", b.url), 0, "%s", out);
    cr_expect(strstr(out, "  hex: 6669727374") != NULL, "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq get --id %s --url %s", id, b.url), 0, "%s", out);
}

Test(mq_cli_admin, reset_offset_moves_a_group_back_and_its_consumers_get_the_messages_again)
{
    char out[16384];
    cr_assert_eq(ts_shopflow(out, sizeof out, "mq send rt m --count 5 --url %s", b.url), 0, "%s",
                 out);
    cr_assert_eq(ts_shopflow(out, sizeof out,
                             "mq consume rt --group rg --count 5 --url %s --pub-url %s", b.url,
                             b.pub_url),
                 0, "%s", out);
    int committed = 0;
    for (int i = 0; i < 100 && !committed; i++) {
        cr_assert_eq(ts_shopflow(out, sizeof out, "mq topic rt --url %s", b.url), 0, "%s", out);
        committed = strstr(out, "rg                            5        0") != NULL;
        if (!committed)
            shop_sleep_ms(50);
    }
    cr_assert(committed, "the first consumer committed: %s", out);
    cr_assert_eq(
        ts_shopflow(out, sizeof out, "mq reset-offset rg rt --to-offset 2 --url %s", b.url), 0,
        "%s", out);
    cr_expect(strstr(out, "from=5 to=2") != NULL, "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out,
                             "mq consume rt --group rg --count 3 --url %s --pub-url %s", b.url,
                             b.pub_url),
                 0, "%s", out);
    cr_expect(strstr(out, "offset=2 ") && strstr(out, "offset=4 ") && !strstr(out, "offset=1 "),
              "redelivered from 2: %s", out);
    cr_assert_eq(
        ts_shopflow(out, sizeof out, "mq reset-offset rg rt --to-time 0 --json --url %s", b.url), 0,
        "%s", out);
    cr_expect(strstr(out, "\"new_offset\": 0") != NULL, "%s", out);
    cr_assert_eq(ts_shopflow(out, sizeof out,
                             "mq reset-offset rg rt --to-time 2999-01-01T00:00:00Z --url %s",
                             b.url),
                 0, "%s", out);
    cr_expect(strstr(out, "to=5") != NULL, "a time after every record: the end: %s", out);
    cr_expect_eq(
        ts_shopflow(out, sizeof out, "mq reset-offset nog rt --to-offset 0 --url %s", b.url), 1,
        "%s", out);
    cr_expect_eq(ts_shopflow(out, sizeof out, "mq reset-offset rg rt --url %s", b.url), 2, "%s",
                 out);
    cr_expect_eq(
        ts_shopflow(out, sizeof out, "mq reset-offset rg rt --to-time soon --url %s", b.url), 2,
        "%s", out);
}
