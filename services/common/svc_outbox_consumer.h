/* A transactional consumer for the async architecture: every delivered
 * message is handled inside one PostgreSQL transaction (the handler applies
 * the de-duplicated business change and writes its result events to the
 * outbox), and the message is acknowledged only after COMMIT. A crash before
 * the commit loses nothing (the message is redelivered); a crash between the
 * commit and the ack redelivers a message the de-duplication then ignores. */
#ifndef SHOP_SVC_OUTBOX_CONSUMER_H
#define SHOP_SVC_OUTBOX_CONSUMER_H

#include <libpq-fe.h>
#include <stddef.h>

#include "mq/mq.h"
#include "services/common/svc_outbox.h"

#include "base/error.h"

/* Runs inside BEGIN .. COMMIT on `conn`. Returns RPC_OK to commit (set
 * *wrote_outbox when outbox rows were added), RPC_INVALID_ARGUMENT for a
 * message that can never apply (logged, rolled back and acknowledged), and
 * anything else to roll back and have the message redelivered later. */
typedef rpc_status (*svc_tx_handler)(PGconn *conn, const mq_msg *msg, void *arg, int *wrote_outbox,
                                     shop_error *err);

typedef rpc_status (*svc_conn_setup)(PGconn *conn, shop_error *err);

typedef struct svc_consumer_cfg {
    const char *name;  /* for logs: "stock" */
    const char *group; /* the consumer group */
    const char *const *topics;
    size_t n_topics;
    const char *conninfo;
    const char *mq_url, *pub_url; /* NULL: environment or defaults */
    svc_conn_setup setup;         /* prepares statements on a new connection */
    svc_tx_handler handler;
    void *arg;
    svc_relay *relay; /* kicked after a commit that wrote outbox rows (may be NULL) */
    int instances;    /* consumers of the group in this process, each with its
                         own connection (concurrent commits share fsyncs); 0: 4 */
    /* test switches */
    int dup_deliver;         /* handle every delivery twice, in two transactions */
    int crash_after_commits; /* _exit(99) right after the N-th commit, before the ack */
} svc_consumer_cfg;

typedef struct svc_consumer svc_consumer;

rpc_status svc_consumer_start(const svc_consumer_cfg *cfg, svc_consumer **out, shop_error *err);

/* Messages committed since start (duplicates included). */
unsigned long svc_consumer_committed(svc_consumer *c);

/* Stops after the message in progress and sends the pending acks. */
void svc_consumer_stop(svc_consumer *c);

/* A member service's async side (stock, coupon): its outbox relay plus
 * its consumer, configured by `config` (e.g. stock_consumer_config). */
typedef struct svc_member svc_member;

typedef struct svc_member_cfg {
    void (*config)(svc_consumer_cfg *cfg);
    const char *conninfo;
    const char *mq_url, *pub_url;
    int dup_publish, dup_deliver, crash_after_commits; /* test switches */
} svc_member_cfg;

rpc_status svc_member_start(const svc_member_cfg *cfg, svc_member **out, shop_error *err);
void svc_member_stop(svc_member *m);

#endif
