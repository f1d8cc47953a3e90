/* Message bodies as text (mq_body.h). */
#include "tools/shopflow/mq_body.h"

#include <string.h>

#include "rpc/text.h"
#include "shop_events.pb-c.h"

#define HEX_MAX 256

static const struct {
    const char *topic;
    const ProtobufCMessageDescriptor *type;
} topic_types[] = {
    {"order.placed", &shop__events__order_placed__descriptor},
    {"order.cancelled", &shop__events__order_cancelled__descriptor},
    {"order.closed", &shop__events__order_closed__descriptor},
    {"order.timeout", &shop__events__order_timeout__descriptor},
    {"stock.deducted", &shop__events__stock_deducted__descriptor},
    {"stock.rejected", &shop__events__stock_rejected__descriptor},
    {"coupon.used", &shop__events__coupon_used__descriptor},
    {"coupon.rejected", &shop__events__coupon_rejected__descriptor},
};

const ProtobufCMessageDescriptor *mq_body_type(const char *topic)
{
    for (size_t i = 0; topic != NULL && i < sizeof topic_types / sizeof topic_types[0]; i++)
        if (strcmp(topic, topic_types[i].topic) == 0)
            return topic_types[i].type;
    return NULL;
}

void mq_body_print(FILE *out, const char *topic, const void *body, size_t len, int indent)
{
    const ProtobufCMessageDescriptor *t = mq_body_type(topic);
    ProtobufCMessage *m = t != NULL ? protobuf_c_message_unpack(t, NULL, len, body) : NULL;
    if (m != NULL) {
        fprintf(out, "%*s# %s\n", indent, "", t->name);
        rpc_text_print(out, m, indent);
        protobuf_c_message_free_unpacked(m, NULL);
        return;
    }
    const unsigned char *p = body;
    fprintf(out, "%*shex: ", indent, "");
    for (size_t i = 0; i < len && i < HEX_MAX; i++)
        fprintf(out, "%02x", p[i]);
    fprintf(out, "%s\n", len > HEX_MAX ? " ..." : "");
}
