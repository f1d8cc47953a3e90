/* Fuzz target: one mq-delayd log record payload through its decoder
 * (mq/delayd/delay_codec.c delay_rec_decode: SEND with due time, topic, key
 * and body, and SEND_TRACED, a SEND with a traceparent after its body;
 * DELIVERED, CANCELLED and MOVED marks), the function recovery and cancel
 * use on every record they read back. Invariants: a SEND points only inside
 * the payload, with lengths (header, topic, key, body, trace) that add up to
 * it, and encodes back to the same bytes; a mark is exactly 9 bytes. */
#include <stdlib.h>
#include <string.h>

#include "mq/delayd/delayd.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len > UINT32_MAX)
        return 0;
    delay_send_rec r;
    uint64_t mark = 0;
    int type = delay_rec_decode(data, (uint32_t)len, &r, &mark);
    if (type == DELAY_REC_SEND) {
        size_t hdr = r.trace_len ? DELAY_SEND_TRACED_HDR : DELAY_SEND_HDR;
        FUZZ_CHECK(hdr + r.topic_len + r.key_len + r.body_len + r.trace_len == len);
        FUZZ_CHECK((const uint8_t *)r.topic >= data && r.body + r.body_len <= data + len);
        FUZZ_CHECK(r.trace_len == 0 || (const uint8_t *)r.trace + r.trace_len == data + len);
        FUZZ_CHECK(delay_rec_send_size(&r) == len);
        uint8_t *again = malloc(len);
        FUZZ_CHECK(again != NULL);
        delay_rec_send_encode(&r, again);
        FUZZ_CHECK(memcmp(again, data, len) == 0);
        free(again);
    } else if (type > 0) {
        FUZZ_CHECK(type == DELAY_REC_DELIVERED || type == DELAY_REC_CANCELLED ||
                   type == DELAY_REC_MOVED);
        FUZZ_CHECK(len == 9);
        uint8_t again[9];
        delay_rec_mark_encode(type, mark, again);
        FUZZ_CHECK(memcmp(again, data, 9) == 0);
    } else {
        FUZZ_CHECK(type == -1);
    }
    return 0;
}
