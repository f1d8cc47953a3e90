/* Monotonic and wall clocks in the units the project uses. */
#ifndef SHOP_BASE_CLOCK_H
#define SHOP_BASE_CLOCK_H

#include <stdint.h>

/* Monotonic time in nanoseconds / microseconds / milliseconds. */
int64_t shop_now_ns(void);
int64_t shop_now_us(void);
int64_t shop_now_ms(void);

/* Wall-clock milliseconds since the Unix epoch. */
int64_t shop_wall_ms(void);

/* Sleeps for `ms` milliseconds, resuming after signals. */
void shop_sleep_ms(int64_t ms);

#endif
