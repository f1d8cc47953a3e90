/* CRC32C (Castagnoli), the checksum of every delay-log record. */
#ifndef SHOP_MQ_DELAY_CRC32C_H
#define SHOP_MQ_DELAY_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t delay_crc32c(const void *data, size_t len);

#endif
