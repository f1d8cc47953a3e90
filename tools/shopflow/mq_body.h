/* Message bodies for `shopflow mq peek` and `mq consume`: as protobuf text
 * when the topic's message type is known (the async architecture's events,
 * proto/shop_events.proto, one type per topic), else as hex. */
#ifndef SHOPFLOW_MQ_BODY_H
#define SHOPFLOW_MQ_BODY_H

#include <stddef.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

/* The message type stored on `topic`, NULL when unknown. */
const ProtobufCMessageDescriptor *mq_body_type(const char *topic);

/* Prints the body indented by `indent` spaces, one field per line; a body
 * that does not decode as the topic's type, or of an unknown topic, as hex
 * (the first 256 bytes, then the total length). */
void mq_body_print(FILE *out, const char *topic, const void *body, size_t len, int indent);

#endif
