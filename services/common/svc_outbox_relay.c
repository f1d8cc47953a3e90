/* The outbox relay: one thread per service that publishes unpublished rows
 * in id order and marks them published after the durable ack.
 *
 * Invariant: a row is marked published only after the broker (or mq-delayd)
 * acknowledged it, and the rows of each destination are published in id
 * order: a batch stops at its first failure and the next round starts again
 * from that row. Broker rows and delayed rows are read, sent and backed off
 * separately (a delayed row is due a pay window later, so it never needs to
 * overtake or wait for a broker row, and an outage of one destination never
 * holds up the other). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mq/mq.h"
#include "mq/mq_delay.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/trace.h"
#include "services/common/svc_outbox.h"

struct svc_relay {
    svc_relay_cfg cfg;
    char name[64], conninfo[1024], delay_url[256];
    uint64_t tag; /* message-id prefix: this relay and this database */
    PGconn *conn;
    mq_producer *producer;
    mq_delay_client *delay;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, kicked;
    uint64_t published;
};

typedef struct row {
    int64_t id;
    const char *topic, *key;
    unsigned char *body;
    size_t len;
    int64_t delay_ms;  /* 0: broker; >0: mq-delayd, what remains of the delay */
    mq_property trace; /* "traceparent" and its value ("": none) */
} row;

/* Why the row after the acknowledged prefix was not sent. */
typedef struct send_failure {
    rpc_status status;
    char message[256];
} send_failure;

static uint64_t fnv64(uint64_t h, const char *s)
{
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void wait_kick(svc_relay *r, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    while (!r->stop && !r->kicked)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) != 0)
            break;
    r->kicked = 0;
    pthread_mutex_unlock(&r->mu);
}

static int stopping(svc_relay *r)
{
    pthread_mutex_lock(&r->mu);
    int s = r->stop;
    pthread_mutex_unlock(&r->mu);
    return s;
}

/* (Re)connects to the database; the tag mixes in the database's oid so a
 * recreated database never reuses the message ids of an earlier one. */
static int connect_db(svc_relay *r)
{
    if (r->conn != NULL && PQstatus(r->conn) == CONNECTION_OK)
        return 0;
    if (r->conn != NULL)
        PQfinish(r->conn);
    r->conn = PQconnectdb(r->conninfo);
    if (PQstatus(r->conn) != CONNECTION_OK)
        return -1;
    PGresult *res = PQexecParams(r->conn,
                                 "SELECT oid::text FROM pg_database"
                                 " WHERE datname = current_database()",
                                 0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        PQclear(res);
        return -1;
    }
    r->tag = fnv64(fnv64(1469598103934665603ULL, r->name), PQgetvalue(res, 0, 0));
    PQclear(res);
    /* The marks need no fsync of their own: a mark lost in a crash only
     * makes the relay send that row again under the same message id, which
     * the broker stores once (and consumers de-duplicate anyway). The relay
     * then never waits a WAL flush between two rounds. */
    res = PQexec(r->conn, "SET synchronous_commit = off");
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok ? 0 : -1;
}

/* Marks rows[0..n) published. */
static int mark(svc_relay *r, const row *rows, size_t n)
{
    if (n == 0)
        return 0;
    char *ids = malloc(n * 24 + 3);
    size_t off = 0;
    ids[off++] = '{';
    for (size_t i = 0; i < n; i++)
        off += (size_t)sprintf(ids + off, i ? ",%lld" : "%lld", (long long)rows[i].id);
    ids[off++] = '}';
    ids[off] = '\0';
    const char *params[] = {ids};
    PGresult *res = PQexecParams(r->conn,
                                 "UPDATE outbox SET published_at = clock_timestamp()"
                                 " WHERE id = ANY($1::bigint[])",
                                 1, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    free(ids);
    if (!ok)
        return -1;
    pthread_mutex_lock(&r->mu);
    r->published += n;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

/* Sends rows[0..n) (all for the broker); returns how many from the start
 * were acknowledged. */
static size_t send_broker(svc_relay *r, const row *rows, size_t n, send_failure *f)
{
    int dup = r->cfg.dup_publish ? 2 : 1;
    mq_message *m = calloc(n * (size_t)dup, sizeof *m);
    mq_send_opts *o = calloc(n * (size_t)dup, sizeof *o);
    mq_send_result *res = calloc(n * (size_t)dup, sizeof *res);
    char(*ids)[MQ_ID_LEN] = calloc(n, MQ_ID_LEN);
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], MQ_ID_LEN, "%016llx%016llx", (unsigned long long)r->tag,
                 (unsigned long long)rows[i].id);
        for (int k = 0; k < dup; k++) {
            size_t j = i * (size_t)dup + (size_t)k;
            o[j].id = k == 0 ? ids[i] : NULL; /* the copy gets a fresh id: a real duplicate */
            o[j].properties = &rows[i].trace; /* the order's trace rides along */
            o[j].n_properties = rows[i].trace.value[0] != '\0';
            m[j] = (mq_message){rows[i].topic, rows[i].key, rows[i].body, rows[i].len, &o[j]};
        }
    }
    mq_producer_send_batch(r->producer, m, n * (size_t)dup, res);
    size_t ok = 0;
    while (ok < n && res[ok * (size_t)dup].status == RPC_OK)
        ok++;
    if (ok < n) {
        f->status = res[ok * (size_t)dup].status;
        snprintf(f->message, sizeof f->message, "%s", res[ok * (size_t)dup].message);
        shop_log_warn("relay send failed relay=%s topic=%s status=%s error=\"%s\"", r->name,
                      rows[ok].topic, rpc_status_name(f->status), f->message);
    }
    free(m);
    free(o);
    free(res);
    free(ids);
    return ok;
}

static size_t send_delayed(svc_relay *r, const row *rows, size_t n, send_failure *f)
{
    shop_error err = {.code = RPC_UNAVAILABLE, .message = "no --delay-url configured"};
    if (r->delay == NULL && r->delay_url[0] != '\0' &&
        mq_delay_client_open(r->delay_url, 2000, &r->delay, &err) != RPC_OK)
        r->delay = NULL;
    if (r->delay == NULL) {
        shop_log_warn("relay delay queue unavailable relay=%s error=\"%s\"", r->name, err.message);
        f->status = RPC_UNAVAILABLE;
        return 0;
    }
    mq_delay_msg *m = calloc(n, sizeof *m);
    mq_delay_result *res = calloc(n, sizeof *res);
    for (size_t i = 0; i < n; i++)
        m[i] = (mq_delay_msg){rows[i].topic,    rows[i].key, rows[i].body,       rows[i].len,
                              rows[i].delay_ms, 0,           rows[i].trace.value};
    size_t ok = 0;
    f->status = mq_delay_send_batch(r->delay, m, n, res, &err);
    if (f->status == RPC_OK) {
        while (ok < n && res[ok].status == RPC_OK)
            ok++;
        if (ok < n) {
            f->status = (rpc_status)res[ok].status;
            shop_error_set(&err, f->status, "mq-delayd refused the message (%s): %s",
                           rpc_status_name(f->status), res[ok].error);
        }
    }
    snprintf(f->message, sizeof f->message, "%s", err.message);
    if (ok < n)
        shop_log_warn("relay delayed send failed relay=%s topic=%s status=%s error=\"%s\"", r->name,
                      rows[ok].topic, rpc_status_name(f->status), err.message);
    free(m);
    free(res);
    return ok;
}

/* One round for one destination (broker rows, or delayed rows for
 * mq-delayd): reads up to `batch` unpublished rows of that kind in id order,
 * sends them as one batch and marks the acknowledged prefix. Each kind has
 * its own query, so a delay queue that is down never holds up the broker
 * rows (nor the other way round). Returns rows published, or -1 on a
 * failure (retry that kind with backoff). */
static int round_once(svc_relay *r, int delayed)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", r->cfg.batch);
    const char *params[] = {lim, delayed ? "t" : "f"};
    /* The delay counts from when the row was written, not from now: a relay
     * that was held up by an outage does not extend the pay window. */
    PGresult *res =
        PQexecParams(r->conn,
                     "SELECT id, topic, COALESCE(msg_key, ''), body,"
                     " CASE WHEN delay_ms = 0 THEN 0 ELSE GREATEST(1, delay_ms -"
                     "   (extract(epoch FROM clock_timestamp() - created_at) * 1000)::bigint) END,"
                     " COALESCE(traceparent, '')"
                     " FROM outbox WHERE published_at IS NULL AND failed_at IS NULL"
                     " AND (delay_ms > 0) = $2::bool"
                     " ORDER BY id LIMIT $1::int",
                     2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        shop_log_warn("relay read failed relay=%s error=\"%s\"", r->name, PQerrorMessage(r->conn));
        PQclear(res);
        return -1;
    }
    size_t n = (size_t)PQntuples(res);
    row *rows = calloc(n + 1, sizeof *rows);
    for (size_t i = 0; i < n; i++) {
        rows[i].id = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
        rows[i].topic = PQgetvalue(res, (int)i, 1);
        rows[i].key = PQgetvalue(res, (int)i, 2);
        rows[i].body =
            PQunescapeBytea((const unsigned char *)PQgetvalue(res, (int)i, 3), &rows[i].len);
        rows[i].delay_ms = strtoll(PQgetvalue(res, (int)i, 4), NULL, 10);
        rows[i].trace = (mq_property){SHOP_TRACEPARENT_KEY, PQgetvalue(res, (int)i, 5)};
    }
    send_failure f = {RPC_OK, ""};
    size_t ok = n == 0 ? 0 : delayed ? send_delayed(r, rows, n, &f) : send_broker(r, rows, n, &f);
    int failed = mark(r, rows, ok) != 0 || ok < n;
    for (size_t i = 0; i < ok; i++) /* one line per event, in its order's trace */
        if (shop_trace_adopt(rows[i].trace.value)) {
            shop_log_debug("relay published relay=%s topic=%s key=%s to=%s", r->name, rows[i].topic,
                           rows[i].key, delayed ? "mq-delayd" : "mq-broker");
            shop_trace_clear();
        }
    if (!failed || f.status != RPC_INVALID_ARGUMENT || ok >= n)
        goto done;
    /* Refused for good: no retry can send it, and waiting for it would hold
     * up every row after it. Park it (kept, with the error) and go on. */
    if (svc_outbox_park(r->conn, rows[ok].id, f.message) == 0) {
        shop_log_error("relay parked a row its destination refuses relay=%s id=%lld topic=%s "
                       "error=\"%s\" hint=\"fix it, then clear outbox.failed_at to resend\"",
                       r->name, (long long)rows[ok].id, rows[ok].topic, f.message);
        svc_relay_kick(r); /* the rows after it: next round, at once */
        failed = 0;
    }
done:
    for (size_t i = 0; i < n; i++)
        PQfreemem(rows[i].body);
    free(rows);
    PQclear(res);
    return failed ? -1 : (int)ok;
}

#define TRIM_EVERY_MS 60000
#define TRIM_BATCH 1000
#define TRIM_MAX_BATCHES 20 /* per minute: 20,000 rows of each table */

/* Deletes what the retention no longer keeps, a bounded amount per call. */
static void trim(svc_relay *r)
{
    if (r->cfg.retention_ms < 0)
        return;
    int64_t total = 0, n = TRIM_BATCH;
    for (int i = 0; i < TRIM_MAX_BATCHES && n >= TRIM_BATCH; i++) {
        n = svc_outbox_trim(r->conn, r->cfg.retention_ms, r->cfg.trim_inbox, TRIM_BATCH);
        if (n < 0) {
            shop_log_warn("relay trim failed relay=%s error=\"%s\"", r->name,
                          PQerrorMessage(r->conn));
            return;
        }
        total += n;
    }
    if (total > 0)
        shop_log_info("relay trimmed relay=%s rows=%lld retention_ms=%lld", r->name,
                      (long long)total, (long long)r->cfg.retention_ms);
}

static void *relay_main(void *arg)
{
    svc_relay *r = arg;
    int backoff[2] = {0, 0};      /* per kind: broker rows, delayed rows */
    int64_t retry_at[2] = {0, 0}; /* shop_now_ms() */
    int64_t trim_at = 0;
    while (!stopping(r)) {
        int64_t now = shop_now_ms();
        int busy = 0, wait = r->cfg.idle_ms;
        if (connect_db(r) != 0) {
            wait_kick(r, 200);
            continue;
        }
        if (now >= trim_at) {
            trim(r);
            trim_at = now + TRIM_EVERY_MS;
        }
        for (int k = 0; k < 2; k++) {
            if (now < retry_at[k]) {
                int left = (int)(retry_at[k] - now);
                wait = left < wait ? left : wait;
                continue;
            }
            int n = round_once(r, k);
            if (n < 0) {
                backoff[k] = backoff[k] == 0 ? 50 : (backoff[k] * 2 > 1000 ? 1000 : backoff[k] * 2);
                retry_at[k] = now + backoff[k];
                wait = backoff[k] < wait ? backoff[k] : wait;
            } else {
                backoff[k] = 0;
                busy |= n >= r->cfg.batch;
            }
        }
        if (!busy)
            wait_kick(r, wait > 0 ? wait : 1);
    }
    return NULL;
}

rpc_status svc_relay_start(const svc_relay_cfg *cfg, svc_relay **out, shop_error *err)
{
    svc_relay *r = calloc(1, sizeof *r);
    r->cfg = *cfg;
    snprintf(r->name, sizeof r->name, "%s", cfg->name != NULL ? cfg->name : "relay");
    snprintf(r->conninfo, sizeof r->conninfo, "%s", cfg->conninfo);
    snprintf(r->delay_url, sizeof r->delay_url, "%s", cfg->delay_url != NULL ? cfg->delay_url : "");
    if (r->cfg.batch <= 0)
        r->cfg.batch = 256;
    if (r->cfg.idle_ms <= 0)
        r->cfg.idle_ms = 50;
    if (r->cfg.retention_ms == 0)
        r->cfg.retention_ms = SVC_OUTBOX_RETENTION_DEFAULT_MS;
    mq_producer_opts po = {.timeout_ms = 2000, .retries = -1};
    rpc_status st = mq_producer_open(cfg->mq_url, &po, &r->producer);
    if (st != RPC_OK) {
        rpc_status failed = shop_error_set(err, st, "relay %s: cannot open the producer (%s)",
                                           r->name, rpc_status_name(st));
        free(r);
        return failed;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
        rpc_status failed =
            shop_error_set(err, RPC_INTERNAL, "relay %s: cannot start its thread", r->name);
        mq_producer_close(r->producer);
        free(r);
        return failed;
    }
    *out = r;
    return RPC_OK;
}

void svc_relay_kick(svc_relay *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->kicked = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

uint64_t svc_relay_published(svc_relay *r)
{
    pthread_mutex_lock(&r->mu);
    uint64_t n = r->published;
    pthread_mutex_unlock(&r->mu);
    return n;
}

void svc_relay_stop(svc_relay *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    if (r->conn != NULL)
        PQfinish(r->conn);
    if (r->delay != NULL)
        mq_delay_client_close(r->delay);
    mq_producer_close(r->producer);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
