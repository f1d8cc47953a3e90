/* The invariant checker's report as JSON (check_json.h). */
#include "bench/harness/check_json.h"

json_t *shop_check_json(const shop_check_report *r, size_t max_each)
{
    json_t *rules = json_object(), *violations = json_array(), *by_status = json_object();
    size_t listed[SHOP_INV_COUNT] = {0};
    for (int i = 0; i < SHOP_INV_COUNT; i++)
        json_object_set_new(rules, shop_invariant_name(i), json_integer((json_int_t)r->counts[i]));
    for (int i = 0; i < 5; i++)
        json_object_set_new(by_status, shop_order_status_names[i],
                            json_integer((json_int_t)r->by_status[i]));
    for (size_t i = 0; i < r->n; i++) {
        const shop_violation *v = &r->v[i];
        if (listed[v->inv]++ >= max_each)
            continue;
        json_array_append_new(violations,
                              json_pack("{s:s, s:I, s:I, s:s}", "rule", shop_invariant_name(v->inv),
                                        "order_id", (json_int_t)v->order_id, "subject",
                                        (json_int_t)v->subject, "detail", v->detail));
    }
    size_t total = shop_check_total(r);
    return json_pack("{s:b, s:I, s:o, s:I, s:I, s:o, s:I, s:o}", "ok", total == 0, "orders",
                     (json_int_t)r->orders, "by_status", by_status, "goods", (json_int_t)r->goods,
                     "coupons_used", (json_int_t)r->coupons_used, "rules", rules,
                     "violations_total", (json_int_t)total, "violations", violations);
}
