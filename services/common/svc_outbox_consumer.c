/* The transactional consumer: BEGIN, handler, COMMIT, then ack. Several
 * instances of the group (each an mq_consumer with its own thread and its
 * own connection) share the load, so their commits share fsyncs. */
#include "services/common/svc_outbox_consumer.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/trace.h"
#include "base/status.h"

#define SVC_CONSUMER_MAX_INSTANCES 16

typedef struct instance {
    struct svc_consumer *c;
    PGconn *conn; /* used by this instance's delivery thread only */
    mq_consumer *mq;
} instance;

struct svc_consumer {
    svc_consumer_cfg cfg;
    char name[64], conninfo[1024];
    instance in[SVC_CONSUMER_MAX_INSTANCES];
    int n;
    atomic_ulong committed;
    atomic_int stopping; /* set by svc_consumer_stop: no more retries */
};

static int exec_cmd(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok ? 0 : -1;
}

static int ensure_conn(instance *in)
{
    shop_error err = {0};
    svc_consumer *c = in->c;
    if (in->conn != NULL && PQstatus(in->conn) == CONNECTION_OK)
        return 0;
    if (in->conn != NULL)
        PQfinish(in->conn);
    in->conn = PQconnectdb(c->conninfo);
    if (PQstatus(in->conn) != CONNECTION_OK) {
        shop_log_warn("consumer cannot reach its database consumer=%s error=\"%s\"", c->name,
                      PQerrorMessage(in->conn));
        return -1;
    }
    if (c->cfg.setup != NULL && c->cfg.setup(in->conn, &err) != 0) {
        shop_log_warn("consumer setup failed consumer=%s error=\"%s\"", c->name, err.message);
        PQfinish(in->conn);
        in->conn = NULL;
        return -1;
    }
    return 0;
}

/* One transaction for one delivery: RPC_OK (committed, or a message that can
 * never apply), RPC_ABORTED (deadlock or serialization failure: try again
 * now) or another status (let the broker redeliver it later). */
static int apply_once(instance *in, const mq_msg *m)
{
    shop_error err = {0};
    int wrote = 0;
    svc_consumer *c = in->c;
    if (ensure_conn(in) != 0 || exec_cmd(in->conn, "BEGIN") != 0)
        return RPC_UNAVAILABLE;
    rpc_status st = c->cfg.handler(in->conn, m, c->cfg.arg, &wrote, &err);
    if (st != RPC_OK) {
        exec_cmd(in->conn, "ROLLBACK");
        if (st == RPC_INVALID_ARGUMENT) {
            shop_log_warn(
                "consumer dropped a message it can never apply consumer=%s topic=%s key=%s "
                "error=\"%s\"",
                c->name, m->topic, m->key ? m->key : "", err.message);
            return RPC_OK;
        }
        shop_log_warn("consumer will retry consumer=%s topic=%s key=%s status=%s error=\"%s\"",
                      c->name, m->topic, m->key ? m->key : "", rpc_status_name(st), err.message);
        return st;
    }
    if (exec_cmd(in->conn, "COMMIT") != 0) {
        shop_log_warn("consumer commit failed consumer=%s topic=%s error=\"%s\"", c->name, m->topic,
                      PQerrorMessage(in->conn));
        return RPC_UNAVAILABLE;
    }
    unsigned long n = atomic_fetch_add(&c->committed, 1) + 1;
    if (wrote)
        svc_relay_kick(c->cfg.relay);
    if (c->cfg.crash_after_commits > 0 && n == (unsigned long)c->cfg.crash_after_commits) {
        shop_log_warn("consumer crashing after commit (test switch) consumer=%s topic=%s key=%s",
                      c->name, m->topic, m->key ? m->key : "");
        _exit(99); /* committed, never acknowledged */
    }
    return RPC_OK;
}

/* A lost database (a failover, a restart) is reconnected and the
 * transaction retried for this long before the message goes back to the
 * broker's backoff (1 s, 5 s, 10 s, ...), which would add its steps to the
 * outage. pg_auto_failover here promotes a standby within seconds. */
#define DB_RETRY_MS 15000

/* A deadlock (a deduct and a restore of one order on two instances) is
 * retried at once a few times rather than after the broker's backoff; a
 * lost connection every 200 ms until DB_RETRY_MS. The transaction is the
 * de-duplicated one, so a retry after a commit whose answer was lost does
 * nothing twice. */
static int apply(instance *in, const mq_msg *m)
{
    int64_t until = shop_now_ms() + DB_RETRY_MS;
    int deadlocks = 0;
    for (;;) {
        rpc_status st = apply_once(in, m);
        if (st == RPC_ABORTED && deadlocks < 3) {
            shop_sleep_ms(1 + 5 * deadlocks++);
        } else if (st == RPC_UNAVAILABLE && shop_now_ms() < until &&
                   !atomic_load(&in->c->stopping)) {
            PQfinish(in->conn); /* dial again: the primary may be elsewhere now */
            in->conn = NULL;
            shop_sleep_ms(200);
        } else {
            return st;
        }
    }
}

/* The message's traceparent property, NULL when it has none. */
static const char *traceparent_of(const mq_msg *m)
{
    for (size_t i = 0; i < m->n_properties; i++)
        if (strcmp(m->properties[i].key, SHOP_TRACEPARENT_KEY) == 0)
            return m->properties[i].value;
    return NULL;
}

static mq_consume_result on_message(const mq_msg *m, void *arg)
{
    instance *in = arg;
    /* The order's trace is this thread's while it handles the message: its
     * log lines, its log rows and the events it writes carry it on. */
    shop_trace_adopt(traceparent_of(m));
    rpc_status st = apply(in, m);
    if (st == RPC_OK && in->c->cfg.dup_deliver)
        st = apply(in, m);
    shop_log_debug("consumed consumer=%s topic=%s key=%s offset=%llu status=%s", in->c->name,
                   m->topic, m->key != NULL ? m->key : "", (unsigned long long)m->offset,
                   rpc_status_name(st));
    shop_trace_clear();
    return st == RPC_OK ? MQ_CONSUME_SUCCESS : MQ_RECONSUME_LATER;
}

rpc_status svc_consumer_start(const svc_consumer_cfg *cfg, svc_consumer **out, shop_error *err)
{
    svc_consumer *c = calloc(1, sizeof *c);
    c->cfg = *cfg;
    snprintf(c->name, sizeof c->name, "%s", cfg->name != NULL ? cfg->name : cfg->group);
    snprintf(c->conninfo, sizeof c->conninfo, "%s", cfg->conninfo);
    atomic_init(&c->committed, 0);
    int n = cfg->instances > 0 ? cfg->instances : 4;
    n = n > SVC_CONSUMER_MAX_INSTANCES ? SVC_CONSUMER_MAX_INSTANCES : n;
    mq_consumer_opts o = {.url = cfg->mq_url, .pub_url = cfg->pub_url};
    rpc_status st = RPC_OK;
    for (c->n = 0; c->n < n && st == RPC_OK; c->n++) {
        instance *in = &c->in[c->n];
        in->c = c;
        st = mq_consumer_open(cfg->group, cfg->topics, cfg->n_topics, on_message, in, &o, &in->mq,
                              err);
        if (st == RPC_OK)
            st = mq_consumer_start(in->mq, err);
    }
    if (st != RPC_OK) {
        svc_consumer_stop(c);
        return st;
    }
    *out = c;
    return RPC_OK;
}

unsigned long svc_consumer_committed(svc_consumer *c)
{
    return atomic_load(&c->committed);
}

void svc_consumer_stop(svc_consumer *c)
{
    if (c == NULL)
        return;
    atomic_store(&c->stopping, 1);
    for (int i = 0; i < c->n; i++) {
        if (c->in[i].mq != NULL)
            mq_consumer_close(c->in[i].mq);
        if (c->in[i].conn != NULL)
            PQfinish(c->in[i].conn);
    }
    free(c);
}

struct svc_member {
    svc_relay *relay;
    svc_consumer *consumer;
};

rpc_status svc_member_start(const svc_member_cfg *cfg, svc_member **out, shop_error *err)
{
    svc_member *m = calloc(1, sizeof *m);
    svc_consumer_cfg cc = {0};
    cfg->config(&cc);
    svc_relay_cfg rc = {.name = cc.name,
                        .conninfo = cfg->conninfo,
                        .mq_url = cfg->mq_url,
                        .dup_publish = cfg->dup_publish};
    rpc_status st = svc_relay_start(&rc, &m->relay, err);
    if (st != RPC_OK)
        goto fail;
    cc.conninfo = cfg->conninfo;
    cc.mq_url = cfg->mq_url;
    cc.pub_url = cfg->pub_url;
    cc.relay = m->relay;
    cc.dup_deliver = cfg->dup_deliver;
    cc.crash_after_commits = cfg->crash_after_commits;
    st = svc_consumer_start(&cc, &m->consumer, err);
    if (st != RPC_OK)
        goto fail;
    *out = m;
    return RPC_OK;
fail:
    svc_member_stop(m);
    return st;
}

void svc_member_stop(svc_member *m)
{
    if (m == NULL)
        return;
    svc_consumer_stop(m->consumer);
    svc_relay_stop(m->relay);
    free(m);
}
