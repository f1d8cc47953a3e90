/* The order daemon's background worker (the pre-MQ way):
 * - every close interval, closes unpaid orders past their pay window (the
 *   close persists the restores they owe);
 * - delivers due compensations (Stock.Restore, Coupon.Restore), a batch of
 *   calls in flight at once, marking each done when the member acknowledges
 *   and rescheduling it with exponential backoff when it cannot be reached.
 *   Nothing is ever dropped: the rows stay in order_db until delivered,
 *   across restarts. */
#include <pthread.h>
#include <stdio.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/trace.h"
#include "services/order/order_svc.h"
#include "shop_coupon.rpc.h"
#include "shop_stock.rpc.h"

#define BATCH 64
#define RESTORE_TIMEOUT_MS 1000
#define IDLE_WAIT_MS 100

static int64_t backoff_ms(int attempts)
{
    int64_t b = 50;
    for (int i = 0; i < attempts && b < 5000; i++)
        b *= 2;
    return b > 5000 ? 5000 : b;
}

/* One batch's Restore calls in flight: each row's outcome, and how many
 * calls have not answered yet. */
typedef struct batch_calls {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int waiting;
    rpc_status st[BATCH];
    char error[BATCH][160];
} batch_calls;

typedef struct call_slot {
    batch_calls *b;
    int i;
} call_slot;

/* A call's outcome (the reply, not needed, is freed). */
static void answered(call_slot *s, rpc_status code, const char *message, ProtobufCMessage *reply)
{
    batch_calls *b = s->b;
    if (reply != NULL)
        protobuf_c_message_free_unpacked(reply, NULL);
    pthread_mutex_lock(&b->mu);
    b->st[s->i] = code;
    snprintf(b->error[s->i], sizeof b->error[s->i], "%s",
             code == RPC_OK || !message ? "" : message);
    if (--b->waiting == 0)
        pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void stock_restored(rpc_status code, const char *message, Shop__Stock__RestoreReply *reply,
                           void *arg)
{
    answered(arg, code, message, reply != NULL ? &reply->base : NULL);
}

static void coupon_restored(rpc_status code, const char *message, Shop__Coupon__RestoreReply *reply,
                            void *arg)
{
    answered(arg, code, message, reply != NULL ? &reply->base : NULL);
}

/* Starts row i's Restore call (carrying the order's trace); a call that
 * cannot start answers at once. */
static void deliver_start(order_svc *svc, const order_comp *c, call_slot *slot)
{
    rpc_call_opts opts = {.timeout_ms = RESTORE_TIMEOUT_MS};
    rpc_error err = {0};
    rpc_status st;
    shop_trace_resume(c->trace_id);
    if (c->target == ORDER_COMP_STOCK) {
        Shop__Stock__RestoreRequest rq = SHOP__STOCK__RESTORE_REQUEST__INIT;
        rq.order_id = c->order_id;
        rq.goods_id = c->goods_id;
        rq.count = c->count;
        st = shop_stock_StockService_Restore_async(svc->stock_bg, &rq, &opts, stock_restored, slot,
                                                   &err);
    } else {
        Shop__Coupon__RestoreRequest rq = SHOP__COUPON__RESTORE_REQUEST__INIT;
        rq.order_id = c->order_id;
        rq.coupon_id = c->coupon_id;
        st = shop_coupon_CouponService_Restore_async(svc->coupon_bg, &rq, &opts, coupon_restored,
                                                     slot, &err);
    }
    shop_trace_clear();
    if (st != RPC_OK)
        answered(slot, st, err.message, NULL);
}

/* Delivers one batch; returns how many rows were due. The batch's calls
 * are in flight together (after an outage the backlog drains at the
 * members' pace, not one round trip and one commit per row), and the rows
 * delivered are marked done with one statement. */
static int deliver_due(order_svc *svc, PGconn *conn)
{
    order_comp rows[BATCH];
    int n = 0;
    shop_error msg = {0};
    if (order_comp_due(conn, rows, BATCH, &n, &msg) != RPC_OK) {
        shop_log_warn("compensations unreadable error=\"%s\"", msg.message);
        return 0;
    }
    if (n == 0)
        return 0;
    batch_calls b = {.waiting = n};
    call_slot slots[BATCH];
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    for (int i = 0; i < n; i++) {
        slots[i] = (call_slot){&b, i};
        deliver_start(svc, &rows[i], &slots[i]);
    }
    pthread_mutex_lock(&b.mu);
    while (b.waiting > 0)
        pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);
    pthread_mutex_destroy(&b.mu);
    pthread_cond_destroy(&b.cv);

    int64_t done[BATCH];
    int ndone = 0;
    for (int i = 0; i < n; i++)
        if (b.st[i] == RPC_OK)
            done[ndone++] = rows[i].id;
    rpc_status marked = ndone > 0 ? order_comp_done(conn, done, ndone, &msg) : RPC_OK;
    if (marked != RPC_OK)
        shop_log_warn("compensations not marked done count=%d error=\"%s\"", ndone, msg.message);
    for (int i = 0; i < n; i++) {
        const order_comp *c = &rows[i];
        const char *who = c->target == ORDER_COMP_STOCK ? "stock" : "coupon";
        shop_trace_resume(c->trace_id); /* these lines carry the order's trace */
        if (b.st[i] == RPC_OK) {
            if (marked == RPC_OK)
                shop_log_info("compensated order=%lld member=%s attempts=%d",
                              (long long)c->order_id, who, c->attempts + 1);
            continue;
        }
        if (order_comp_retry(conn, c->id, backoff_ms(c->attempts), b.error[i], &msg) != RPC_OK)
            shop_log_warn("compensation not rescheduled id=%lld error=\"%s\"", (long long)c->id,
                          msg.message);
        else
            shop_log_info("compensation deferred order=%lld member=%s status=%s attempts=%d "
                          "error=\"%s\"",
                          (long long)c->order_id, who, rpc_status_name(b.st[i]), c->attempts + 1,
                          b.error[i]);
    }
    shop_trace_clear();
    return n;
}

static void close_expired(order_svc *svc, PGconn *conn)
{
    shop_error msg = {0};
    int closed = 0;
    do {
        if (order_close_expired(conn, 500, &closed, &msg) != RPC_OK) {
            shop_log_warn("close scan failed error=\"%s\"", msg.message);
            return;
        }
        if (closed > 0)
            shop_log_info("closed unpaid orders count=%d", closed);
    } while (closed == 500 && !svc->stop);
}

static void *background_main(void *arg)
{
    order_svc *svc = arg;
    int64_t next_close = 0;
    pthread_mutex_lock(&svc->mu);
    while (!svc->stop) {
        svc->kick = 0;
        pthread_mutex_unlock(&svc->mu);
        int due = 0;
        PGconn *conn = NULL;
        if (shop_pool_acquire(svc->d->pool, 1000, &conn, NULL) == RPC_OK) {
            if (shop_now_ms() >= next_close) {
                close_expired(svc, conn);
                next_close = shop_now_ms() + svc->close_interval_ms;
            }
            due = deliver_due(svc, conn);
            shop_pool_release(svc->d->pool, conn);
        }
        pthread_mutex_lock(&svc->mu);
        if (due < BATCH && !svc->kick && !svc->stop) {
            int64_t wait = next_close - shop_now_ms();
            wait = wait > IDLE_WAIT_MS ? IDLE_WAIT_MS : wait < 1 ? 1 : wait;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)wait * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&svc->cv, &svc->mu, &ts);
        }
    }
    pthread_mutex_unlock(&svc->mu);
    return NULL;
}

int order_background_start(order_svc *svc)
{
    pthread_mutex_init(&svc->mu, NULL);
    pthread_cond_init(&svc->cv, NULL);
    if (pthread_create(&svc->bg, NULL, background_main, svc) != 0)
        return -1;
    svc->bg_started = 1;
    return 0;
}

void order_background_kick(order_svc *svc)
{
    pthread_mutex_lock(&svc->mu);
    svc->kick = 1;
    pthread_cond_signal(&svc->cv);
    pthread_mutex_unlock(&svc->mu);
}

void order_background_stop(order_svc *svc)
{
    if (!svc->bg_started)
        return;
    pthread_mutex_lock(&svc->mu);
    svc->stop = 1;
    pthread_cond_signal(&svc->cv);
    pthread_mutex_unlock(&svc->mu);
    pthread_join(svc->bg, NULL);
    svc->bg_started = 0;
}
