/* The transactional outbox shared by the three services (async architecture).
 *
 * A service writes its events with svc_outbox_add inside the transaction of
 * the business change, so the change and its events commit together. The
 * relay, a thread of the daemon, publishes unpublished rows in id order:
 * rows with a delay go to mq-delayd (mq_delay_send), the others to the
 * broker (mq_producer_send), and marks them published only after the
 * durable ack. With the broker or the delay queue down it retries with
 * backoff; nothing is lost and the writers never wait for it.
 *
 * Each row is sent with a message id derived from (relay tag, row id), so
 * the broker stores a row resent after a crash once. Delivery stays at least
 * once (mq-delayd has no id), and consumers de-duplicate. */
#ifndef SHOP_SVC_OUTBOX_H
#define SHOP_SVC_OUTBOX_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* How long published outbox rows (and inbox slots) are kept: a week, far
 * longer than any redelivery or resend window. */
#define SVC_OUTBOX_RETENTION_DEFAULT_MS (7LL * 24 * 3600 * 1000)

/* Appends one event to the outbox on `conn` (inside the caller's
 * transaction). delay_ms > 0: handed to mq-delayd, due delay_ms after the
 * row was written. Returns an rpc_status with `msg` filled when not OK. */
rpc_status svc_outbox_add(PGconn *conn, const char *topic, const char *key, const void *body,
                          size_t len, int64_t delay_ms, shop_error *err);

/* Wall-clock time in Unix microseconds, the unit of every event's at_us. */
int64_t svc_outbox_now_us(void);

/* Unpublished rows (for tests and stats); -1 on error. */
int64_t svc_outbox_backlog(PGconn *conn);

/* Parks row `id`: its destination refused it for good (INVALID_ARGUMENT),
 * so the relay stops sending it and goes on with the rows after it. The row
 * stays, unpublished, with failed_at and the error, for an operator (clear
 * failed_at to send it again). 0, or -1 on a database error. */
int svc_outbox_park(PGconn *conn, int64_t id, const char *error);

/* Deletes up to `limit` published outbox rows older than retention_ms, and
 * with `inbox` up to `limit` inbox slots as old, oldest first. Returns the
 * rows deleted, or -1 on a database error. */
int64_t svc_outbox_trim(PGconn *conn, int64_t retention_ms, int inbox, int limit);

typedef struct svc_relay_cfg {
    const char *name;      /* for logs and message ids: "order", "stock", "coupon" */
    const char *conninfo;  /* the service's database */
    const char *mq_url;    /* the broker (NULL: $MQ_URL or its default) */
    const char *delay_url; /* mq-delayd (NULL: no delayed rows expected) */
    int batch;             /* rows per round; 0: 256 */
    int idle_ms;           /* poll interval when idle and not kicked; 0: 50 */
    int64_t retention_ms;  /* published rows kept this long; 0: 7 days; < 0: forever */
    int trim_inbox;        /* the inbox (order service) is trimmed with the same retention */
    int dup_publish;       /* test switch: publish every broker row twice */
} svc_relay_cfg;

typedef struct svc_relay svc_relay;

/* Starts the relay thread. Returns an rpc_status with `err` filled. */
rpc_status svc_relay_start(const svc_relay_cfg *cfg, svc_relay **out, shop_error *err);

/* Wakes the relay now (call after committing rows). Safe with NULL. */
void svc_relay_kick(svc_relay *r);

/* Rows published since start. */
uint64_t svc_relay_published(svc_relay *r);

/* Stops the thread after its current round and frees the relay. */
void svc_relay_stop(svc_relay *r);

#endif
