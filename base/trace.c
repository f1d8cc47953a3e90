/* W3C traceparent parsing and formatting, random ids, and the thread's
 * current trace (a thread-local copy). */
#include "base/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static _Thread_local shop_trace current;
static _Thread_local bool current_set;

static bool lower_hex(const char *s, size_t n)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        nonzero |= c != '0';
    }
    return nonzero;
}

rpc_status shop_trace_parse(const char *tp, shop_trace *out, shop_error *err)
{
    if (tp == NULL || strlen(tp) != SHOP_TRACEPARENT_LEN || tp[2] != '-' || tp[35] != '-' ||
        tp[52] != '-')
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "traceparent '%.80s': not 00-<32 hex>-<16 hex>-<2 hex>",
                              tp != NULL ? tp : "");
    if (strncmp(tp, "00", 2) != 0)
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "traceparent '%s': version is not 00", tp);
    if (!lower_hex(tp + 3, 32) || !lower_hex(tp + 36, 16) ||
        !(lower_hex(tp + 53, 2) || strncmp(tp + 53, "00", 2) == 0))
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "traceparent '%s': ids must be lowercase hex and not all zero", tp);
    memcpy(out->trace_id, tp + 3, 32);
    out->trace_id[32] = '\0';
    memcpy(out->span_id, tp + 36, 16);
    out->span_id[16] = '\0';
    memcpy(out->flags, tp + 53, 2);
    out->flags[2] = '\0';
    return RPC_OK;
}

/* n random bytes as 2n lowercase hex digits, never all zero. */
static void random_hex(char *out, size_t n)
{
    unsigned char b[16] = {0};
    if (getrandom(b, n, 0) != (ssize_t)n) /* no entropy yet: still unique enough per process */
        for (size_t i = 0; i < n; i++)
            b[i] = (unsigned char)(rand() & 0xff);
    b[n - 1] |= 1;
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

void shop_trace_new(shop_trace *out)
{
    random_hex(out->trace_id, 16);
    random_hex(out->span_id, 8);
    memcpy(out->flags, "01", 3);
}

void shop_trace_child(const shop_trace *parent, shop_trace *out)
{
    memcpy(out->trace_id, parent->trace_id, sizeof out->trace_id);
    memcpy(out->flags, parent->flags, sizeof out->flags);
    random_hex(out->span_id, 8);
}

void shop_trace_format(const shop_trace *t, char *out)
{
    snprintf(out, SHOP_TRACEPARENT_LEN + 1, "00-%s-%s-%s", t->trace_id, t->span_id, t->flags);
}

const shop_trace *shop_trace_current(void)
{
    return current_set ? &current : NULL;
}

void shop_trace_set(const shop_trace *t)
{
    current = *t;
    current_set = true;
}

void shop_trace_clear(void)
{
    current_set = false;
}

bool shop_trace_adopt(const char *traceparent)
{
    shop_trace t;
    if (traceparent == NULL || shop_trace_parse(traceparent, &t, NULL) != RPC_OK)
        return false;
    shop_trace_set(&t);
    return true;
}

void shop_trace_ensure(void)
{
    if (current_set)
        return;
    shop_trace_new(&current);
    current_set = true;
}

bool shop_trace_resume(const char *trace_id)
{
    current_set = false;
    if (trace_id == NULL || strlen(trace_id) != SHOP_TRACE_ID_LEN ||
        !lower_hex(trace_id, SHOP_TRACE_ID_LEN))
        return false;
    memcpy(current.trace_id, trace_id, sizeof current.trace_id);
    random_hex(current.span_id, 8);
    memcpy(current.flags, "01", 3);
    current_set = true;
    return true;
}
