/* The link proxy: one thread, one poll loop over a listening socket and the
 * pairs of relayed connections. Each direction of a pair parses nng's framing
 * into whole messages and queues them with a release time, so an added delay
 * keeps message order and a drop removes exactly one message (the peer sees a
 * lost request, never a corrupt stream). The 8-byte SP header is always
 * passed on. Invariant: a direction's queue is FIFO with non-decreasing
 * release times. */
#include "bench/harness/shop_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

#define SP_HEADER_LEN 8
#define MAX_FRAME (64u << 20) /* larger frames close the connection */
#define MAX_QUEUED (8u << 20) /* stop reading a direction above this */
#define MAX_CONNS 256

typedef struct frame {
    struct frame *next;
    int64_t release_ns;
    size_t len, off;
    uint8_t data[];
} frame;

typedef struct direction {
    uint8_t *in;
    size_t in_len, in_cap;
    int header_done;
    frame *head, *tail;
    size_t queued;
} direction;

/* fd[0] is the client side, fd[1] the upstream; dir[i] carries what is read
 * from fd[i] to fd[1 - i]. */
typedef struct conn {
    int fd[2];
    direction dir[2];
} conn;

struct shop_proxy {
    int listen_fd;
    int port;
    int wake[2];
    char host[64];
    int upstream_port;
    pthread_t thread;
    pthread_mutex_t mu; /* guards the settings, stats and stop */
    int delay_ms;
    double drop_p;
    int stop;
    shop_proxy_stats stats;
    uint64_t rng;
    conn *conns[MAX_CONNS];
    int nconns;
};

static double next_uniform(shop_proxy *p)
{
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return (double)(p->rng >> 11) / (double)(UINT64_C(1) << 53);
}

static void count(shop_proxy *p, uint64_t *field)
{
    pthread_mutex_lock(&p->mu);
    (*field)++;
    pthread_mutex_unlock(&p->mu);
}

static void set_nonblocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void direction_free(direction *d)
{
    free(d->in);
    for (frame *f = d->head, *next; f; f = next) {
        next = f->next;
        free(f);
    }
    memset(d, 0, sizeof *d);
}

static void conn_close(shop_proxy *p, int idx)
{
    conn *c = p->conns[idx];
    close(c->fd[0]);
    close(c->fd[1]);
    direction_free(&c->dir[0]);
    direction_free(&c->dir[1]);
    free(c);
    p->conns[idx] = p->conns[--p->nconns];
}

static int dial_upstream(shop_proxy *p)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->upstream_port)};
    if (inet_pton(AF_INET, p->host, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Accepts one client and dials the upstream for it; a refused upstream
 * closes the client at once, as a dead service would. */
static void accept_one(shop_proxy *p)
{
    int cfd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    int ufd = p->nconns < MAX_CONNS ? dial_upstream(p) : -1;
    conn *c = ufd >= 0 ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        if (ufd >= 0)
            close(ufd);
        close(cfd);
        return;
    }
    set_nonblocking(cfd);
    set_nonblocking(ufd);
    c->fd[0] = cfd;
    c->fd[1] = ufd;
    p->conns[p->nconns++] = c;
    count(p, &p->stats.connections);
}

static int enqueue(direction *d, const uint8_t *bytes, size_t len, int64_t release_ns)
{
    frame *f = malloc(sizeof *f + len);
    if (!f)
        return -1;
    memcpy(f->data, bytes, len);
    f->len = len;
    f->off = 0;
    f->next = NULL;
    /* FIFO: a shorter delay set later must not overtake earlier messages. */
    if (d->tail && d->tail->release_ns > release_ns)
        release_ns = d->tail->release_ns;
    f->release_ns = release_ns;
    if (d->tail)
        d->tail->next = f;
    else
        d->head = f;
    d->tail = f;
    d->queued += len;
    return 0;
}

static uint64_t be64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

/* Cuts every complete message out of d->in and queues or drops it. */
static int parse_frames(shop_proxy *p, direction *d)
{
    pthread_mutex_lock(&p->mu);
    int delay_ms = p->delay_ms;
    double drop_p = p->drop_p;
    pthread_mutex_unlock(&p->mu);
    int64_t now = shop_now_ns();
    size_t pos = 0;
    for (;;) {
        size_t avail = d->in_len - pos;
        size_t need;
        if (!d->header_done)
            need = SP_HEADER_LEN;
        else {
            if (avail < 8)
                break;
            uint64_t body = be64(d->in + pos);
            if (body > MAX_FRAME) {
                shop_log_warn("proxy frame too large len=%llu", (unsigned long long)body);
                return -1;
            }
            need = 8 + (size_t)body;
        }
        if (avail < need)
            break;
        if (!d->header_done) {
            d->header_done = 1;
            if (enqueue(d, d->in + pos, need, now) != 0)
                return -1;
        } else if (drop_p > 0 && next_uniform(p) < drop_p) {
            count(p, &p->stats.dropped);
        } else {
            if (enqueue(d, d->in + pos, need, now + (int64_t)delay_ms * 1000000) != 0)
                return -1;
            count(p, &p->stats.forwarded);
            if (delay_ms > 0)
                count(p, &p->stats.delayed);
        }
        pos += need;
    }
    memmove(d->in, d->in + pos, d->in_len - pos);
    d->in_len -= pos;
    return 0;
}

/* Reads what is there; -1 when the connection is finished. */
static int read_side(shop_proxy *p, direction *d, int fd)
{
    if (d->in_cap - d->in_len < 65536) {
        size_t cap = d->in_cap ? d->in_cap * 2 : 131072;
        uint8_t *in = realloc(d->in, cap);
        if (!in)
            return -1;
        d->in = in;
        d->in_cap = cap;
    }
    ssize_t n = read(fd, d->in + d->in_len, d->in_cap - d->in_len);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return -1;
    if (n > 0)
        d->in_len += (size_t)n;
    return parse_frames(p, d);
}

/* Writes the released messages at the queue's head. Returns -1 on a dead
 * peer, else 1 if released bytes remain unwritten (wants POLLOUT). */
static int write_side(direction *d, int fd, int64_t now)
{
    while (d->head && d->head->release_ns <= now) {
        frame *f = d->head;
        ssize_t n = write(fd, f->data + f->off, f->len - f->off);
        if (n < 0)
            return (errno == EAGAIN || errno == EINTR) ? 1 : -1;
        f->off += (size_t)n;
        if (f->off < f->len)
            return 1;
        d->head = f->next;
        if (!d->head)
            d->tail = NULL;
        d->queued -= f->len;
        free(f);
    }
    return 0;
}

static void *proxy_main(void *arg)
{
    shop_proxy *p = arg;
    struct pollfd pfd[2 + 2 * MAX_CONNS];
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        int64_t now = shop_now_ns();
        int64_t next_release = -1;
        pfd[0] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
        for (int i = 0; i < p->nconns; i++) {
            conn *c = p->conns[i];
            for (int s = 0; s < 2; s++) {
                direction *out = &c->dir[1 - s]; /* what is written to fd[s] */
                short ev = c->dir[s].queued < MAX_QUEUED ? POLLIN : 0;
                if (out->head && out->head->release_ns <= now)
                    ev |= POLLOUT;
                else if (out->head && (next_release < 0 || out->head->release_ns < next_release))
                    next_release = out->head->release_ns;
                pfd[2 + 2 * i + s] = (struct pollfd){.fd = c->fd[s], .events = ev};
            }
        }
        int timeout = -1;
        if (next_release >= 0)
            timeout = (int)((next_release - now + 999999) / 1000000);
        int nfds = 2 + 2 * p->nconns;
        if (poll(pfd, (nfds_t)nfds, timeout) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents & POLLIN) {
            char buf[64];
            while (read(p->wake[0], buf, sizeof buf) > 0) {
            }
        }
        now = shop_now_ns();
        /* Connections first (indices stay valid), newcomers after. */
        for (int i = p->nconns - 1; i >= 0; i--) {
            conn *c = p->conns[i];
            int dead = 0;
            for (int s = 0; s < 2 && !dead; s++) {
                short re = pfd[2 + 2 * i + s].revents;
                if (re & (POLLIN | POLLHUP | POLLERR))
                    dead = read_side(p, &c->dir[s], c->fd[s]) != 0;
            }
            for (int s = 0; s < 2 && !dead; s++)
                dead = write_side(&c->dir[s], c->fd[1 - s], now) < 0;
            if (dead)
                conn_close(p, i);
        }
        if (pfd[1].revents & POLLIN)
            accept_one(p);
    }
    while (p->nconns > 0)
        conn_close(p, p->nconns - 1);
    return NULL;
}

rpc_status shop_proxy_start(shop_proxy **out, int listen_port, const char *upstream_host,
                            int upstream_port, shop_error *err)
{
    return shop_proxy_start_on(out, "127.0.0.1", listen_port, upstream_host, upstream_port, err);
}

rpc_status shop_proxy_start_on(shop_proxy **out, const char *listen_ipv4, int listen_port,
                               const char *upstream_host, int upstream_port, shop_error *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)listen_port)};
    if (inet_pton(AF_INET, listen_ipv4, &sa.sin_addr) != 1)
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "proxy: '%s' is not an IPv4 address",
                              listen_ipv4);
    shop_proxy *p = calloc(1, sizeof *p);
    if (!p)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    rpc_status st;
    p->listen_fd = -1;
    p->wake[0] = p->wake[1] = -1;
    snprintf(p->host, sizeof p->host, "%s", upstream_host ? upstream_host : "127.0.0.1");
    p->upstream_port = upstream_port;
    p->rng = (uint64_t)shop_now_ns() | 1;
    pthread_mutex_init(&p->mu, NULL);
    socklen_t salen = sizeof sa;
    int one = 1;
    p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (p->listen_fd < 0 ||
        setsockopt(p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(p->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(p->listen_fd, 128) != 0 ||
        getsockname(p->listen_fd, (struct sockaddr *)&sa, &salen) != 0) {
        st = shop_error_errno(err, errno, "proxy listen on %s:%d", listen_ipv4, listen_port);
        goto fail;
    }
    p->port = ntohs(sa.sin_port);
    if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        st = shop_error_errno(err, errno, "proxy pipe");
        goto fail;
    }
    if (pthread_create(&p->thread, NULL, proxy_main, p) != 0) {
        st = shop_error_set(err, RPC_INTERNAL, "proxy thread: cannot start");
        goto fail;
    }
    *out = p;
    return RPC_OK;
fail:
    if (p->listen_fd >= 0)
        close(p->listen_fd);
    if (p->wake[0] >= 0) {
        close(p->wake[0]);
        close(p->wake[1]);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
    return st;
}

int shop_proxy_port(const shop_proxy *p)
{
    return p->port;
}

static void wake(shop_proxy *p)
{
    char c = 1;
    ssize_t n = write(p->wake[1], &c, 1);
    (void)n; /* a full pipe already wakes the loop */
}

void shop_proxy_set_faults(shop_proxy *p, int delay_ms, double drop_p)
{
    pthread_mutex_lock(&p->mu);
    p->delay_ms = delay_ms < 0 ? 0 : delay_ms;
    p->drop_p = drop_p < 0 ? 0 : drop_p;
    pthread_mutex_unlock(&p->mu);
    wake(p);
}

void shop_proxy_get_stats(shop_proxy *p, shop_proxy_stats *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->stats;
    pthread_mutex_unlock(&p->mu);
}

void shop_proxy_stop(shop_proxy *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_mutex_unlock(&p->mu);
    wake(p);
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
