/* Loopback port helpers: a free port below the kernel's ephemeral range. */
#include "services/stack/stack_net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* Whether `port` can be bound on 127.0.0.1 now (0: any; *got says which). */
static int bindable(int port, int *got)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = loopback(port);
    socklen_t len = sizeof a;
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
             getsockname(fd, (struct sockaddr *)&a, &len) == 0;
    if (ok)
        *got = ntohs(a.sin_port);
    close(fd);
    return ok;
}

/* The low end of the kernel's ephemeral range (32768 on Linux by default). */
static int ephemeral_low(void)
{
    int low = 32768, high;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f != NULL) {
        if (fscanf(f, "%d %d", &low, &high) != 2)
            low = 32768;
        fclose(f);
    }
    return low;
}

/* A port the kernel hands out (port 0) is one it may also give, once free,
 * to an outgoing connection as its local port: a daemon that binds it a
 * moment later then fails with "address already in use" (seen with a
 * nats-server whose peers dialled their routes first). Ports from below the
 * ephemeral range are never taken that way. */
int shop_stack_free_port(void)
{
    static atomic_uint calls;
    int low = ephemeral_low(), base = 10000;
    if (low - base < 1000)
        base = low > 2024 ? low - 1000 : 1024;
    unsigned seed = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL) ^
                    atomic_fetch_add(&calls, 1) * 40503u;
    for (int i = 0; i < 200; i++) {
        seed = seed * 1103515245u + 12345u;
        int port = base + (int)((seed >> 8) % (unsigned)(low - base)), got = 0;
        if (bindable(port, &got))
            return got;
    }
    int got = -1;
    return bindable(0, &got) ? got : -1;
}
