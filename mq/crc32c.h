/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78): the one checksum of
 * every stored record, in the broker's topic log and in the delay log. */
#ifndef SHOP_MQ_CRC32C_H
#define SHOP_MQ_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC32C of `len` bytes (0 for none): mq_crc32c("123456789", 9) = 0xE3069283. */
uint32_t mq_crc32c(const void *data, size_t len);

/* Continues `crc`, a finished CRC32C of earlier bytes (0 to start), over `len`
 * more: update(update(0, a), b) = mq_crc32c(a then b). */
uint32_t mq_crc32c_update(uint32_t crc, const void *data, size_t len);

/* mq_crc32c_update on the table path only, whatever the CPU: the fallback,
 * for tests that compare it with the instruction. */
uint32_t mq_crc32c_table_update(uint32_t crc, const void *data, size_t len);

#endif
