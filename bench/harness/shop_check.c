/* The invariant rules over the rows check_data.c reads. Each rule adds its
 * violations with the order id first, so a user can look the order up with
 * `shopflow call ... GetOrder`. Live = CONFIRMED or PAID; dead = CANCELLED or
 * CLOSED; PENDING orders are in flight and only the stale rule applies. */
#include "bench/harness/shop_check.h"
#include "bench/harness/check_data.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { ST_PENDING, ST_CONFIRMED, ST_PAID, ST_CANCELLED, ST_CLOSED };

const char *const shop_order_status_names[5] = {"PENDING", "CONFIRMED", "PAID", "CANCELLED",
                                                "CLOSED"};

static const struct {
    const char *name, *text;
} rules[SHOP_INV_COUNT] = {
    {"stock-nonnegative", "stock is never negative"},
    {"stock-balance", "per goods, initial = current + deducted - restored"},
    {"coupon-one-order", "a coupon is used by at most one live order"},
    {"live-has-members", "every CONFIRMED/PAID order holds its stock and coupon"},
    {"dead-restored", "every CANCELLED/CLOSED order had its deductions restored"},
    {"no-orphan-change", "no unrestored deduct or coupon use for an unknown order"},
    {"acked-exists", "every acknowledged order exists"},
    {"no-stale-pending", "nothing stays PENDING past its pay window"},
};

const char *shop_invariant_name(shop_invariant inv)
{
    return (unsigned)inv < SHOP_INV_COUNT ? rules[inv].name : "?";
}

const char *shop_invariant_text(shop_invariant inv)
{
    return (unsigned)inv < SHOP_INV_COUNT ? rules[inv].text : "?";
}

static void add(shop_check_report *r, shop_invariant inv, int64_t order_id, int64_t subject,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add(shop_check_report *r, shop_invariant inv, int64_t order_id, int64_t subject,
                const char *fmt, ...)
{
    r->counts[inv]++;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        shop_violation *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return; /* counted, not listed */
        r->v = v;
        r->cap = cap;
    }
    shop_violation *v = &r->v[r->n++];
    v->inv = inv;
    v->order_id = order_id;
    v->subject = subject;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->detail, sizeof v->detail, fmt, ap);
    va_end(ap);
}

static int by_id(const void *key, const void *elem)
{
    int64_t k = *(const int64_t *)key, id = ((const check_order *)elem)->id;
    return (k > id) - (k < id);
}

static check_order *find_order(const check_data *d, int64_t id)
{
    return bsearch(&id, d->orders, d->n_orders, sizeof d->orders[0], by_id);
}

static int is_live(const check_order *o)
{
    return o->status == ST_CONFIRMED || o->status == ST_PAID;
}

/* Marks each order with what the member logs say happened to it; log rows of
 * unknown orders that still hold stock or a coupon are orphans. */
static void mark_members(check_data *d, shop_check_report *r)
{
    for (int pass = 0; pass < 2; pass++) {
        const check_log *log = pass ? d->coupon_log : d->stock_log;
        size_t n = pass ? d->n_coupon_log : d->n_stock_log;
        for (size_t i = 0; i < n; i++) {
            check_order *o = find_order(d, log[i].order_id);
            if (o && pass == 0)
                *(log[i].restore ? &o->stock_restored : &o->deducted) = 1;
            else if (o)
                *(log[i].restore ? &o->coupon_restored : &o->coupon_used) = 1;
            if (o || log[i].restore)
                continue;
            int restored = 0;
            for (size_t j = 0; j < n; j++)
                restored |= log[j].order_id == log[i].order_id && log[j].restore;
            if (!restored)
                add(r, SHOP_INV_NO_ORPHAN_CHANGE, log[i].order_id, log[i].ref,
                    "%s for order %lld that order_db does not have, never restored",
                    pass ? "coupon used" : "stock deducted", (long long)log[i].order_id);
        }
    }
    for (size_t i = 0; i < d->n_coupons; i++) {
        const check_coupon *c = &d->coupons[i];
        check_order *o = find_order(d, c->order_id);
        if (o && o->coupon_id == c->id)
            o->holds_coupon = 1;
        if (!o)
            add(r, SHOP_INV_NO_ORPHAN_CHANGE, c->order_id, c->id,
                "coupon %lld is USED by order %lld, which order_db does not have", (long long)c->id,
                (long long)c->order_id);
    }
}

static void check_goods_rows(const check_data *d, shop_check_report *r)
{
    for (size_t i = 0; i < d->n_goods; i++) {
        const check_goods *g = &d->goods[i];
        if (g->stock < 0)
            add(r, SHOP_INV_STOCK_NONNEGATIVE, 0, g->id, "goods %lld has stock %lld",
                (long long)g->id, (long long)g->stock);
        if (g->initial != g->stock + g->deducted - g->restored)
            add(r, SHOP_INV_STOCK_BALANCE, 0, g->id,
                "goods %lld: initial %lld != current %lld + deducted %lld - restored %lld",
                (long long)g->id, (long long)g->initial, (long long)g->stock,
                (long long)g->deducted, (long long)g->restored);
    }
}

static int by_coupon_then_id(const void *a, const void *b)
{
    const check_order *x = *(const check_order *const *)a, *y = *(const check_order *const *)b;
    if (x->coupon_id != y->coupon_id)
        return x->coupon_id < y->coupon_id ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Two live orders naming one coupon: every one after the first is listed. */
static void check_coupon_sharing(const check_data *d, shop_check_report *r)
{
    const check_order **live = malloc((d->n_orders ? d->n_orders : 1) * sizeof *live);
    size_t n = 0;
    if (!live)
        return;
    for (size_t i = 0; i < d->n_orders; i++)
        if (d->orders[i].coupon_id && is_live(&d->orders[i]))
            live[n++] = &d->orders[i];
    qsort(live, n, sizeof *live, by_coupon_then_id);
    for (size_t i = 1; i < n; i++)
        if (live[i]->coupon_id == live[i - 1]->coupon_id)
            add(r, SHOP_INV_COUPON_ONE_ORDER, live[i]->id, live[i]->coupon_id,
                "coupon %lld is also used by live order %lld", (long long)live[i]->coupon_id,
                (long long)live[i - 1]->id);
    free(live);
}

static void check_order_rows(const check_data *d, shop_check_report *r, int check_stale)
{
    for (size_t i = 0; i < d->n_orders; i++) {
        const check_order *o = &d->orders[i];
        const char *st = shop_order_status_names[o->status];
        long long id = (long long)o->id;
        r->by_status[o->status]++;
        if (is_live(o)) {
            if (!o->deducted || o->stock_restored)
                add(r, SHOP_INV_LIVE_HAS_MEMBERS, o->id, o->goods_id, "%s order %lld: stock %s", st,
                    id, o->deducted ? "was restored" : "never deducted");
            if (o->coupon_id && (!o->coupon_used || o->coupon_restored || !o->holds_coupon))
                add(r, SHOP_INV_LIVE_HAS_MEMBERS, o->id, o->coupon_id,
                    "%s order %lld: coupon %lld %s", st, id, (long long)o->coupon_id,
                    !o->coupon_used      ? "never used"
                    : o->coupon_restored ? "was restored"
                                         : "is not held by it");
        }
        if (o->status == ST_CANCELLED || o->status == ST_CLOSED) {
            if (o->deducted && !o->stock_restored)
                add(r, SHOP_INV_DEAD_RESTORED, o->id, o->goods_id,
                    "%s order %lld: %d of goods %lld deducted, never restored", st, id, o->count,
                    (long long)o->goods_id);
            if ((o->coupon_used && !o->coupon_restored) || o->holds_coupon)
                add(r, SHOP_INV_DEAD_RESTORED, o->id, o->coupon_id,
                    "%s order %lld: coupon %lld still used", st, id, (long long)o->coupon_id);
        }
        if (check_stale && o->stale)
            add(r, SHOP_INV_NO_STALE_PENDING, o->id, 0, "order %lld is PENDING past its pay_by",
                id);
    }
}

rpc_status shop_check_run(const shop_check_input *in, shop_check_report *out, shop_error *err)
{
    memset(out, 0, sizeof *out);
    check_data d;
    rpc_status st =
        check_data_load(&d, in->order_db, in->stock_db, in->coupon_db, in->pending_grace_ms, err);
    if (st != RPC_OK)
        return st;
    out->orders = d.n_orders;
    out->goods = d.n_goods;
    out->coupons_used = d.n_coupons;
    check_goods_rows(&d, out);
    mark_members(&d, out);
    check_coupon_sharing(&d, out);
    check_order_rows(&d, out, in->pending_grace_ms >= 0);
    for (size_t i = 0; i < in->n_acked; i++)
        if (!find_order(&d, in->acked[i]))
            add(out, SHOP_INV_ACKED_EXISTS, in->acked[i], 0,
                "order %lld was acknowledged to a client but order_db does not have it",
                (long long)in->acked[i]);
    check_data_free(&d);
    return RPC_OK;
}

size_t shop_check_total(const shop_check_report *r)
{
    size_t n = 0;
    for (int i = 0; i < SHOP_INV_COUNT; i++)
        n += r->counts[i];
    return n;
}

void shop_check_report_free(shop_check_report *r)
{
    free(r->v);
    memset(r, 0, sizeof *r);
}

void shop_check_print(const shop_check_report *r, FILE *out, size_t max_each)
{
    fprintf(out, "checked %zu orders (", r->orders);
    for (int s = 0; s < 5; s++)
        fprintf(out, "%s%s %zu", s ? ", " : "", shop_order_status_names[s], r->by_status[s]);
    fprintf(out, "), %zu goods, %zu used coupons\n", r->goods, r->coupons_used);
    for (int inv = 0; inv < SHOP_INV_COUNT; inv++) {
        if (r->counts[inv] == 0) {
            fprintf(out, "  ok    %-18s %s\n", rules[inv].name, rules[inv].text);
            continue;
        }
        fprintf(out, "  FAIL  %-18s %s: %zu violation%s\n", rules[inv].name, rules[inv].text,
                r->counts[inv], r->counts[inv] == 1 ? "" : "s");
        size_t shown = 0;
        for (size_t i = 0; i < r->n && shown < max_each; i++) {
            if ((int)r->v[i].inv != inv)
                continue;
            if (r->v[i].order_id)
                fprintf(out, "        order %lld: %s\n", (long long)r->v[i].order_id,
                        r->v[i].detail);
            else
                fprintf(out, "        %s\n", r->v[i].detail);
            shown++;
        }
        if (r->counts[inv] > shown)
            fprintf(out, "        ... and %zu more\n", r->counts[inv] - shown);
    }
}
