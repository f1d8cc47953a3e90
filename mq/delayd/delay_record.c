/* The recovery pass that turns the delay log back into the index. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mq/delayd/delayd.h"
#include "base/log.h"

int64_t delayd_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

typedef struct recover_state {
    delayd *d;
    uint64_t sends, marks, bad;
    int failed;
} recover_state;

static void visit(void *arg, uint64_t id, const uint8_t *payload, uint32_t len)
{
    recover_state *rs = arg;
    delay_send_rec r;
    uint64_t target;
    int type = delay_rec_decode(payload, len, &r, &target);
    if (type == DELAY_REC_SEND) {
        int topic = delay_index_topic(&rs->d->ix, r.topic, r.topic_len);
        uint32_t kh = delay_key_hash(topic, r.key, r.key_len);
        if (topic < 0 || delay_index_load(&rs->d->ix, r.due_us, DELAY_ID_SEG(id), DELAY_ID_OFF(id),
                                          topic, kh) != 0) {
            rs->failed = 1;
            return;
        }
        delay_log_ref(rs->d->log, DELAY_ID_SEG(id), 1);
        rs->sends++;
    } else if (type > 0) {
        if (delay_index_load_mark(&rs->d->ix, DELAY_ID_SEG(target), DELAY_ID_OFF(target))) {
            delay_log_ref(rs->d->log, DELAY_ID_SEG(target), -1);
        }
        rs->marks++;
    } else {
        rs->bad++;
    }
}

rpc_status delayd_recover(delayd *d, shop_error *err)
{
    recover_state rs = {d, 0, 0, 0, 0};
    int64_t t0 = delayd_wall_us();
    rpc_status st = delay_log_recover(d->log, visit, &rs, err);
    if (st != RPC_OK) {
        return st;
    }
    if (rs.failed || delay_index_load_done(&d->ix) != 0) {
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED,
                              "out of memory while rebuilding the index");
    }
    int removed = delay_log_compact(d->log);
    shop_log_info("recovered pending=%llu sends=%llu marks=%llu malformed=%llu "
                  "segments_deleted=%d ms=%.1f",
                  (unsigned long long)d->ix.pending, (unsigned long long)rs.sends,
                  (unsigned long long)rs.marks, (unsigned long long)rs.bad, removed,
                  (delayd_wall_us() - t0) / 1000.0);
    return RPC_OK;
}
