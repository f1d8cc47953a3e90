/* Encoding and decoding of delay-log record payloads. The decoder trusts
 * nothing: a payload that passed its CRC is still checked field by field. */
#include <string.h>

#include "mq/delayd/delayd.h"
#include "mq/mq_delay.h"

size_t delay_rec_send_size(const delay_send_rec *r)
{
    return (r->trace_len ? DELAY_SEND_TRACED_HDR : DELAY_SEND_HDR) + (size_t)r->topic_len +
           r->key_len + r->body_len + r->trace_len;
}

void delay_rec_send_encode(const delay_send_rec *r, uint8_t *out)
{
    out[0] = r->trace_len ? DELAY_REC_SEND_TRACED : DELAY_REC_SEND;
    memcpy(out + 1, &r->due_us, 8);
    memcpy(out + 9, &r->topic_len, 2);
    memcpy(out + 11, &r->key_len, 2);
    memcpy(out + 13, &r->body_len, 4);
    if (r->trace_len)
        out[17] = r->trace_len;
    uint8_t *p = out + (r->trace_len ? DELAY_SEND_TRACED_HDR : DELAY_SEND_HDR);
    memcpy(p, r->topic, r->topic_len);
    p += r->topic_len;
    if (r->key_len) {
        memcpy(p, r->key, r->key_len);
    }
    p += r->key_len;
    if (r->body_len) {
        memcpy(p, r->body, r->body_len);
    }
    p += r->body_len;
    if (r->trace_len) {
        memcpy(p, r->trace, r->trace_len);
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
    int traced = p[0] == DELAY_REC_SEND_TRACED;
    size_t hdr = traced ? DELAY_SEND_TRACED_HDR : DELAY_SEND_HDR;
    if ((p[0] != DELAY_REC_SEND && !traced) || len < hdr) {
        return -1;
    }
    memcpy(&send->due_us, p + 1, 8);
    memcpy(&send->topic_len, p + 9, 2);
    memcpy(&send->key_len, p + 11, 2);
    memcpy(&send->body_len, p + 13, 4);
    send->trace_len = traced ? p[17] : 0;
    if ((uint64_t)hdr + send->topic_len + send->key_len + send->body_len + send->trace_len != len ||
        (traced && send->trace_len == 0)) {
        return -1;
    }
    send->topic = (const char *)p + hdr;
    send->key = send->topic + send->topic_len;
    send->body = (const uint8_t *)send->key + send->key_len;
    send->trace = (const char *)send->body + send->body_len;
    if (memchr(send->trace, '\0', send->trace_len)) {
        return -1;
    }
    /* The writer only logs what it validated: a topic of 1..200 characters and
     * a key of at most 255, neither with a NUL (both are C strings once in
     * the index, and a NUL would make a topic that never matches its name). */
    if (send->topic_len == 0 || send->topic_len > MQ_DELAY_MAX_TOPIC ||
        send->key_len > MQ_DELAY_MAX_KEY || memchr(send->topic, '\0', send->topic_len) ||
        memchr(send->key, '\0', send->key_len)) {
        return -1;
    }
    return DELAY_REC_SEND;
}
