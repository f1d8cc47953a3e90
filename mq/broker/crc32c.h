/* CRC32C (Castagnoli), the checksum of every stored record. */
#ifndef SHOP_MQ_CRC32C_H
#define SHOP_MQ_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues `crc` (0 to start) over `len` bytes. */
uint32_t mq_crc32c(uint32_t crc, const void *data, size_t len);

#endif
