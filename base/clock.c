/* Clock helpers over clock_gettime/nanosleep. */
#include "base/clock.h"

#include <errno.h>
#include <time.h>

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t shop_now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int64_t shop_now_us(void)
{
    return clock_ns(CLOCK_MONOTONIC) / 1000;
}

int64_t shop_now_ms(void)
{
    return clock_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t shop_wall_ms(void)
{
    return clock_ns(CLOCK_REALTIME) / 1000000;
}

void shop_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
