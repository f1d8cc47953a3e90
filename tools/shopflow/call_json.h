/* Protobuf messages in the proto3 JSON mapping, for `shopflow call -d` and
 * `--json`, driven by protoc-c descriptors and written with jansson.
 *
 * Names: lowerCamelCase out; in, the camelCase or the proto name. 64-bit
 * integers are strings out and strings or numbers in; bytes are base64
 * (standard out, standard or URL-safe in); enums are names out and names or
 * numbers in; NaN and the infinities are "NaN", "Infinity", "-Infinity";
 * maps are objects; fields at their default value are left out; a null
 * value leaves the field at its default; an unknown field is an error.
 * jansson reads integers into int64, so a uint64 above 2^63-1 must come as a
 * string (as proto3 JSON writes it anyway). */
#ifndef SHOPFLOW_CALL_JSON_H
#define SHOPFLOW_CALL_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "base/error.h"

/* Fills m (a fresh message) from the JSON text. INVALID_ARGUMENT with the
 * line and column, or the field, when it does not fit. */
rpc_status call_json_parse(ProtobufCMessage *m, const char *text, size_t len, shop_error *err);

/* Whether f is a map field: a repeated message `...Entry` of a key (1) and a
 * value (2), which is how protoc-c presents `map<K, V>`. */
int call_json_is_map(const ProtobufCFieldDescriptor *f);

/* m as a JSON object (a new reference; NULL when out of memory). */
json_t *call_json_from_message(const ProtobufCMessage *m);

#endif
