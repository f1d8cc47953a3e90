/* A link proxy for fault injection: listens on a loopback TCP port and relays
 * every connection to an upstream service, parsing nng's SP-over-TCP framing
 * (8-byte header, then 64-bit big-endian length + body per message) so it can
 * add latency to, or drop, whole messages. Runs on its own thread; the fault
 * settings can be changed at any moment from another thread. */
#ifndef SHOP_PROXY_H
#define SHOP_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct shop_proxy shop_proxy;

typedef struct shop_proxy_stats {
    uint64_t connections; /* accepted so far */
    uint64_t forwarded;   /* messages relayed, both directions */
    uint64_t dropped;     /* messages dropped on purpose */
    uint64_t delayed;     /* messages held back by an added delay */
} shop_proxy_stats;

/* Listens on 127.0.0.1:listen_port (0 = any free port) and relays to
 * upstream_host:upstream_port. Returns RPC_OK with *out set, or the failure
 * + err. */
rpc_status shop_proxy_start(shop_proxy **out, int listen_port, const char *upstream_host,
                            int upstream_port, shop_error *err);

/* The same on another IPv4 address of this host (multi-host mode: the
 * bridge's, which every host reaches). */
rpc_status shop_proxy_start_on(shop_proxy **out, const char *listen_ipv4, int listen_port,
                               const char *upstream_host, int upstream_port, shop_error *err);

/* The port it listens on. */
int shop_proxy_port(const shop_proxy *p);

/* From now on: hold every message `delay_ms` before passing it on (order is
 * kept), and drop each message with probability `drop_p` (0 = none). */
void shop_proxy_set_faults(shop_proxy *p, int delay_ms, double drop_p);

void shop_proxy_get_stats(shop_proxy *p, shop_proxy_stats *out);

/* Closes every connection, stops the thread and frees the proxy. */
void shop_proxy_stop(shop_proxy *p);

#endif
