/* Protobuf messages as text, driven by protoc-c descriptors: build a message
 * from `field=value` assignments and print one in protobuf text form. Used by
 * `shopflow call`; works for any message type linked into the program. */
#ifndef SHOP_RPC_TEXT_H
#define SHOP_RPC_TEXT_H

#include <stddef.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

#include "base/error.h"

/* A new, initialised message of type `d` (free with protobuf_c_message_free_unpacked). */
ProtobufCMessage *rpc_text_new(const ProtobufCMessageDescriptor *d);

/* Applies one assignment: `name=value`, `outer.inner.name=value`,
 * `list[2].name=value`; a repeated scalar given again appends. Enums take a
 * name or a number, bools true/false/1/0, bytes the raw text. Fails with
 * INVALID_ARGUMENT and a message naming the field. */
rpc_status rpc_text_assign(ProtobufCMessage *m, const char *assignment, shop_error *err);

/* Splits a line of assignments on blanks (double quotes group, backslash
 * escapes) and applies each. */
rpc_status rpc_text_assign_all(ProtobufCMessage *m, const char *line, shop_error *err);

/* Prints the fields that are set, one per line, nested messages in braces. */
void rpc_text_print(FILE *out, const ProtobufCMessage *m, int indent);

/* ---- building blocks, for other encodings (shopflow's JSON) ---- */

/* The size of one value of a field's type as protobuf-c stores it. */
size_t rpc_text_value_size(ProtobufCType type);

/* Where to write field f of m: the field itself (marked present; a oneof's
 * previous member is freed), or for a repeated field element `index` (-1
 * appends a zeroed one). NULL when the index skips elements or memory runs
 * out. */
void *rpc_text_slot(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, long index);

/* Parses `value` as a scalar of f's type into dst (a slot): numbers in any
 * base strtol takes, enums by name or number, bools true/false/1/0, strings
 * and bytes as the text. INVALID_ARGUMENT names the field. */
rpc_status rpc_text_set_scalar(const ProtobufCFieldDescriptor *f, const char *value, void *dst,
                               shop_error *err);

/* Whether a singular field is set (has_ flag, oneof case, or not zero). */
int rpc_text_is_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

#endif
