/* The broker's key index: bounded, the newest entries of a key first, and
 * old keys forgotten as new ones come in. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "mq/broker/keyindex.h"

Test(mq_keyindex, a_key_gives_its_newest_records_first_and_at_most_the_ways)
{
    mq_keyindex *k = mq_keyindex_new();
    cr_assert_not_null(k);
    for (uint64_t off = 0; off < 10; off++)
        mq_keyindex_put(k, "t", "order-7", off);
    mq_keyindex_put(k, "t", "", 99); /* no key: not indexed */
    mq_keyhit hits[KEYIDX_WAYS];
    size_t n = mq_keyindex_find(k, "order-7", hits, KEYIDX_WAYS);
    cr_assert_eq(n, KEYIDX_WAYS);
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(hits[i].offset, 9 - i, "newest first");
        cr_expect_eq(hits[i].topic_hash, mq_keyindex_hash("t"));
    }
    cr_expect_eq(mq_keyindex_find(k, "", hits, KEYIDX_WAYS), 0);
    cr_expect_eq(mq_keyindex_find(k, "other", hits, KEYIDX_WAYS), 0);
    mq_keyindex_free(k);
}

Test(mq_keyindex, it_stays_bounded_and_forgets_the_oldest_keys)
{
    mq_keyindex *k = mq_keyindex_new();
    cr_assert_not_null(k);
    char key[32];
    mq_keyindex_put(k, "t", "first", 0);
    uint64_t total = (uint64_t)KEYIDX_SETS * KEYIDX_WAYS * 4;
    for (uint64_t i = 1; i <= total; i++) {
        snprintf(key, sizeof key, "k%llu", (unsigned long long)i);
        mq_keyindex_put(k, "t", key, i);
    }
    mq_keyhit hit;
    cr_expect_eq(mq_keyindex_find(k, "first", &hit, 1), 0, "evicted by four times its size");
    snprintf(key, sizeof key, "k%llu", (unsigned long long)total);
    cr_expect_eq(mq_keyindex_find(k, key, &hit, 1), 1, "the newest is there");
    cr_expect_eq(hit.offset, total);
    mq_keyindex_free(k);
}
