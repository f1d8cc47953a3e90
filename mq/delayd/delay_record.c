/* Encoding of delay-log record payloads and the recovery pass that turns
 * the log back into the index. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "delayd.h"
#include "rpc/log.h"

int64_t delayd_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

size_t delay_rec_send_size(const delay_send_rec *r)
{
    return DELAY_SEND_HDR + (size_t)r->topic_len + r->key_len + r->body_len;
}

void delay_rec_send_encode(const delay_send_rec *r, uint8_t *out)
{
    out[0] = DELAY_REC_SEND;
    memcpy(out + 1, &r->due_us, 8);
    memcpy(out + 9, &r->topic_len, 2);
    memcpy(out + 11, &r->key_len, 2);
    memcpy(out + 13, &r->body_len, 4);
    uint8_t *p = out + DELAY_SEND_HDR;
    memcpy(p, r->topic, r->topic_len);
    p += r->topic_len;
    if (r->key_len) {
        memcpy(p, r->key, r->key_len);
    }
    p += r->key_len;
    if (r->body_len) {
        memcpy(p, r->body, r->body_len);
    }
}

void delay_rec_mark_encode(int type, uint64_t id, uint8_t out[9])
{
    out[0] = (uint8_t)type;
    memcpy(out + 1, &id, 8);
}

int delay_rec_decode(const uint8_t *p, uint32_t len, delay_send_rec *send, uint64_t *mark_id)
{
    if (len < 1) {
        return -1;
    }
    if (p[0] == DELAY_REC_DELIVERED || p[0] == DELAY_REC_CANCELLED || p[0] == DELAY_REC_MOVED) {
        if (len != 9) {
            return -1;
        }
        memcpy(mark_id, p + 1, 8);
        return p[0];
    }
    if (p[0] != DELAY_REC_SEND || len < DELAY_SEND_HDR) {
        return -1;
    }
    memcpy(&send->due_us, p + 1, 8);
    memcpy(&send->topic_len, p + 9, 2);
    memcpy(&send->key_len, p + 11, 2);
    memcpy(&send->body_len, p + 13, 4);
    if ((uint64_t)DELAY_SEND_HDR + send->topic_len + send->key_len + send->body_len != len) {
        return -1;
    }
    send->topic = (const char *)p + DELAY_SEND_HDR;
    send->key = send->topic + send->topic_len;
    send->body = (const uint8_t *)send->key + send->key_len;
    return DELAY_REC_SEND;
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

int delayd_recover(delayd *d, char *err, size_t errlen)
{
    recover_state rs = {d, 0, 0, 0, 0};
    int64_t t0 = delayd_wall_us();
    int rv = delay_log_recover(d->log, visit, &rs, err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (rs.failed || delay_index_load_done(&d->ix) != 0) {
        snprintf(err, errlen, "out of memory while rebuilding the index");
        return -ENOMEM;
    }
    int removed = delay_log_compact(d->log);
    shop_info("recovered pending=%llu sends=%llu marks=%llu malformed=%llu "
              "segments_deleted=%d ms=%.1f",
              (unsigned long long)d->ix.pending, (unsigned long long)rs.sends,
              (unsigned long long)rs.marks, (unsigned long long)rs.bad, removed,
              (delayd_wall_us() - t0) / 1000.0);
    return 0;
}
