/* A readiness probe for any nng SP endpoint on TCP: it completes the SP
 * handshake instead of only connecting.
 *
 * Why not a bare connect: nng 1.5.2's listener takes a peer that closes
 * during the handshake as an accept error and stops handing new connections
 * to the socket for 100 ms (listener_accept_cb's cool-down). Connections that
 * finish their handshake in that window wait in the transport's `waitpipes`
 * list; if the socket is closed before the window ends, tcptran_ep_close
 * closes them but never frees them, nor the endpoint (LeakSanitizer: ~3.5 KB
 * allocated under nng_listen). A probe that completes the handshake is just
 * a short-lived pipe: no accept error, no cool-down. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "rpc/rpc.h"

#define SP_HEADER_LEN 8
#define SP_PROTO_REQ0 0x30 /* nng's req0; any SP server answers with its own header */

/* Waits until fd is readable/writable (events) or `until_ms` passes. */
static int wait_fd(int fd, short events, int64_t until_ms)
{
    int64_t left = until_ms - shop_now_ms();
    if (left <= 0)
        return -1;
    struct pollfd p = {.fd = fd, .events = events};
    return poll(&p, 1, (int)left) == 1 && (p.revents & events) ? 0 : -1;
}

static int exchange_headers(int fd, int64_t until_ms)
{
    const uint8_t mine[SP_HEADER_LEN] = {0, 'S', 'P', 0, 0, SP_PROTO_REQ0, 0, 0};
    if (send(fd, mine, sizeof mine, MSG_NOSIGNAL) != (ssize_t)sizeof mine)
        return -1;
    uint8_t theirs[SP_HEADER_LEN];
    size_t got = 0;
    while (got < sizeof theirs) {
        if (wait_fd(fd, POLLIN, until_ms) != 0)
            return -1;
        ssize_t n = recv(fd, theirs + got, sizeof theirs - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return theirs[0] == 0 && theirs[1] == 'S' && theirs[2] == 'P' && theirs[3] == 0 ? 0 : -1;
}

bool rpc_probe_tcp(const char *ipv4, int port, int timeout_ms)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ipv4 != NULL ? ipv4 : "127.0.0.1", &a.sin_addr) != 1)
        return false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return false;
    int64_t until = shop_now_ms() + (timeout_ms > 0 ? timeout_ms : 1000);
    bool ok = false;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 ||
        (errno == EINPROGRESS && wait_fd(fd, POLLOUT, until) == 0)) {
        int soerr = 0;
        socklen_t len = sizeof soerr;
        ok = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0 &&
             exchange_headers(fd, until) == 0;
    }
    close(fd);
    return ok;
}
