/* mq/crc32c: the standard check value, incremental updates equal one pass,
 * and the table fallback agrees with the SSE4.2 path at every length and
 * alignment. */
#include "mq/crc32c.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static const char check[] = "123456789";

Test(mq_crc32c, gives_the_standard_check_value)
{
    cr_expect_eq(mq_crc32c(check, 9), 0xE3069283u);
    cr_expect_eq(mq_crc32c_update(0, check, 9), 0xE3069283u);
    cr_expect_eq(mq_crc32c_table_update(0, check, 9), 0xE3069283u);
}

Test(mq_crc32c, of_no_bytes_is_zero_and_updating_by_nothing_changes_nothing)
{
    cr_expect_eq(mq_crc32c("", 0), 0u);
    cr_expect_eq(mq_crc32c_update(0x12345678u, check, 0), 0x12345678u);
}

Test(mq_crc32c, known_vectors_of_zeros_and_ones_match_rfc3720)
{
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    cr_expect_eq(mq_crc32c(buf, sizeof buf), 0x8A9136AAu);
    memset(buf, 0xff, sizeof buf);
    cr_expect_eq(mq_crc32c(buf, sizeof buf), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    cr_expect_eq(mq_crc32c(buf, sizeof buf), 0x46DD794Eu);
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

Test(mq_crc32c, updating_piece_by_piece_equals_one_pass_at_every_split)
{
    enum { N = 300 };
    uint8_t buf[N];
    fill(buf, N, 7);
    uint32_t whole = mq_crc32c(buf, N);
    for (size_t a = 0; a <= N; a += 7) {
        for (size_t b = a; b <= N; b += 13) {
            uint32_t c = mq_crc32c_update(0, buf, a);
            c = mq_crc32c_update(c, buf + a, b - a);
            c = mq_crc32c_update(c, buf + b, N - b);
            cr_assert_eq(c, whole, "split at %zu and %zu", a, b);
        }
    }
}

Test(mq_crc32c, table_fallback_equals_the_default_path_at_every_length_and_offset)
{
    enum { N = 1100 };
    uint8_t *buf = malloc(N + 8);
    cr_assert(buf);
    fill(buf, N + 8, 42);
    for (size_t off = 0; off < 8; off++) {
        for (size_t len = 0; len <= N; len += (len < 64 ? 1 : 37)) {
            uint32_t hw = mq_crc32c(buf + off, len);
            uint32_t sw = mq_crc32c_table_update(0, buf + off, len);
            cr_assert_eq(hw, sw, "offset %zu length %zu", off, len);
        }
    }
    uint32_t c = mq_crc32c_table_update(0, buf, 500);
    cr_expect_eq(mq_crc32c_update(c, buf + 500, N - 500), mq_crc32c(buf, N));
    free(buf);
}

Test(mq_crc32c, a_single_flipped_bit_changes_the_checksum)
{
    uint8_t buf[64];
    fill(buf, sizeof buf, 3);
    uint32_t base = mq_crc32c(buf, sizeof buf);
    for (size_t bit = 0; bit < sizeof buf * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_neq(mq_crc32c(buf, sizeof buf), base, "bit %zu", bit);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}
