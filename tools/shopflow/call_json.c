/* proto3 JSON in and out of protobuf-c messages (call_json.h). Writing into
 * a message goes through rpc/text.h's slots and scalar setters, which own
 * the rules for presence, oneofs and memory. */
#include "tools/shopflow/call_json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/text.h"

#define FIELD_PTR(m, off) ((void *)((char *)(m) + (off)))
#define MAX_DEPTH 64

/* ---- names ---- */

/* proto3's json_name: underscores dropped, the letter after each upper-cased. */
static void camel(const char *name, char *out, size_t outlen)
{
    size_t k = 0;
    int up = 0;
    for (const char *p = name; *p != '\0' && k + 1 < outlen; p++) {
        if (*p == '_') {
            up = 1;
            continue;
        }
        out[k++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        up = 0;
    }
    out[k] = '\0';
}

static const ProtobufCFieldDescriptor *field_named(const ProtobufCMessageDescriptor *d,
                                                   const char *key)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
    for (unsigned i = 0; f == NULL && i < d->n_fields; i++) {
        char c[256];
        camel(d->fields[i].name, c, sizeof c);
        if (strcmp(c, key) == 0)
            f = &d->fields[i];
    }
    return f;
}

static const ProtobufCMessageDescriptor *entry_type(const ProtobufCFieldDescriptor *f)
{
    return f->descriptor;
}

int call_json_is_map(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return 0;
    const ProtobufCMessageDescriptor *d = f->descriptor;
    size_t n = strlen(d->name);
    return d->n_fields == 2 && n > 5 && strcmp(d->name + n - 5, "Entry") == 0 &&
           strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *base64_json(const uint8_t *p, size_t n)
{
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (out == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        out[k++] = b64[v >> 18 & 63];
        out[k++] = b64[v >> 12 & 63];
        out[k++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        out[k++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[k] = '\0';
    json_t *s = json_string(out);
    free(out);
    return s;
}

static int b64_value(char c)
{
    if (c == '-')
        return 62; /* URL-safe */
    if (c == '_')
        return 63;
    const char *at = c != '\0' ? strchr(b64, c) : NULL;
    return at != NULL ? (int)(at - b64) : -1;
}

/* Decodes standard or URL-safe base64, padded or not; -1 when malformed. */
static int base64_decode(const char *s, uint8_t **out, size_t *outlen)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    uint8_t *buf = malloc(n * 3 / 4 + 1);
    if (buf == NULL)
        return -1;
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(s[i]);
        if (v < 0) {
            free(buf);
            return -1;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[k++] = (uint8_t)(acc >> bits);
        }
    }
    *out = buf;
    *outlen = k;
    return 0;
}

/* ---- JSON in ---- */

static rpc_status parse_message(ProtobufCMessage *m, json_t *obj, int depth, shop_error *err);

/* One scalar JSON value into dst. */
static rpc_status parse_scalar(const ProtobufCFieldDescriptor *f, json_t *v, void *dst,
                               shop_error *err)
{
    char text[64];
    const char *s = text;
    if (f->type == PROTOBUF_C_TYPE_BYTES) {
        uint8_t *data = NULL;
        size_t n = 0;
        if (!json_is_string(v) || base64_decode(json_string_value(v), &data, &n) != 0)
            return shop_error_set(err, RPC_INVALID_ARGUMENT, "field '%s': bytes want base64",
                                  f->name);
        ProtobufCBinaryData *b = dst;
        if (b->data != NULL && (f->default_value == NULL ||
                                b->data != ((const ProtobufCBinaryData *)f->default_value)->data))
            free(b->data);
        b->data = data;
        b->len = n;
        return RPC_OK;
    }
    if (json_is_string(v))
        s = json_string_value(v);
    else if (json_is_integer(v))
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        snprintf(text, sizeof text, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(text, sizeof text, "%s", json_is_true(v) ? "true" : "false");
    else
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "field '%s': wants a %s", f->name,
                              f->type == PROTOBUF_C_TYPE_STRING ? "string" : "scalar value");
    if (f->type == PROTOBUF_C_TYPE_STRING && !json_is_string(v))
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "field '%s': wants a string", f->name);
    if (f->type == PROTOBUF_C_TYPE_BOOL && !json_is_boolean(v))
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "field '%s': wants true or false",
                              f->name);
    return rpc_text_set_scalar(f, s, dst, err);
}

/* One value (scalar or message) of field f into a slot of m. */
static rpc_status parse_value(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *v,
                              int depth, shop_error *err)
{
    void *dst = rpc_text_slot(m, f, -1);
    if (dst == NULL)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    if (f->type != PROTOBUF_C_TYPE_MESSAGE)
        return parse_scalar(f, v, dst, err);
    ProtobufCMessage **sub = dst;
    if (*sub == NULL && (*sub = rpc_text_new(f->descriptor)) == NULL)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    return parse_message(*sub, v, depth + 1, err);
}

static rpc_status parse_map(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *obj,
                            int depth, shop_error *err)
{
    if (!json_is_object(obj))
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "field '%s' is a map: wants an object",
                              f->name);
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        ProtobufCMessage **entry = rpc_text_slot(m, f, -1);
        if (entry == NULL || (*entry = rpc_text_new(f->descriptor)) == NULL)
            return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
        const ProtobufCFieldDescriptor *kf = &entry_type(f)->fields[0];
        const ProtobufCFieldDescriptor *vf = &entry_type(f)->fields[1];
        json_t *k = json_string(key);
        rpc_status st = k != NULL ? parse_value(*entry, kf, k, depth, err)
                                  : shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
        json_decref(k);
        if (st == RPC_OK && !json_is_null(val))
            st = parse_value(*entry, vf, val, depth, err);
        if (st != RPC_OK)
            return shop_error_wrap(err, "map '%s' key '%s'", f->name, key);
    }
    return RPC_OK;
}

static rpc_status parse_message(ProtobufCMessage *m, json_t *obj, int depth, shop_error *err)
{
    if (depth > MAX_DEPTH)
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "nested deeper than %d", MAX_DEPTH);
    if (!json_is_object(obj))
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "%s wants a JSON object",
                              m->descriptor->name);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        const ProtobufCFieldDescriptor *f = field_named(m->descriptor, key);
        if (f == NULL)
            return shop_error_set(err, RPC_INVALID_ARGUMENT,
                                  "%s has no field '%s' (`shopflow call --describe %s` lists them)",
                                  m->descriptor->name, key, m->descriptor->name);
        if (json_is_null(v))
            continue;
        rpc_status st = RPC_OK;
        if (call_json_is_map(f)) {
            st = parse_map(m, f, v, depth, err);
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (!json_is_array(v))
                return shop_error_set(err, RPC_INVALID_ARGUMENT,
                                      "field '%s' is repeated: wants an array", f->name);
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                if ((st = parse_value(m, f, e, depth, err)) != RPC_OK)
                    break;
            }
        } else {
            st = parse_value(m, f, v, depth, err);
        }
        if (st != RPC_OK)
            return st;
    }
    return RPC_OK;
}

rpc_status call_json_parse(ProtobufCMessage *m, const char *text, size_t len, shop_error *err)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL)
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "%s: the JSON does not parse: %s (line %d, column %d)",
                              m->descriptor->name, je.text, je.line, je.column);
    rpc_status st = parse_message(m, doc, 0, err);
    json_decref(doc);
    return st;
}

/* ---- JSON out ---- */

/* A string as JSON; bytes that are not UTF-8 become '?'. */
static json_t *string_json(const char *s)
{
    json_t *v = json_string(s);
    if (v != NULL)
        return v;
    char *copy = strdup(s);
    if (copy == NULL)
        return NULL;
    for (char *p = copy; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

static json_t *double_json(double x)
{
    if (isnan(x))
        return json_string("NaN");
    if (isinf(x))
        return json_string(x > 0 ? "Infinity" : "-Infinity");
    return json_real(x);
}

static json_t *value_json(const ProtobufCFieldDescriptor *f, const void *v)
{
    char num[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)v);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)v);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(num, sizeof num, "%" PRId64, *(const int64_t *)v);
        return json_string(num);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(num, sizeof num, "%" PRIu64, *(const uint64_t *)v);
        return json_string(num);
    case PROTOBUF_C_TYPE_FLOAT:
        return double_json(*(const float *)v);
    case PROTOBUF_C_TYPE_DOUBLE:
        return double_json(*(const double *)v);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)v);
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int32_t *)v);
        return ev != NULL ? json_string(ev->name) : json_integer(*(const int32_t *)v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)v;
        return string_json(s != NULL ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = v;
        return base64_json(b->data, b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)v;
        return sub != NULL ? call_json_from_message(sub) : json_object();
    }
    }
    return json_null();
}

/* A map's entries as an object keyed by the entries' keys as text. */
static json_t *map_json(const ProtobufCFieldDescriptor *f, ProtobufCMessage *const *entries,
                        size_t n)
{
    json_t *o = json_object();
    const ProtobufCFieldDescriptor *kf = &entry_type(f)->fields[0];
    const ProtobufCFieldDescriptor *vf = &entry_type(f)->fields[1];
    for (size_t i = 0; o != NULL && i < n; i++) {
        json_t *k = value_json(kf, FIELD_PTR(entries[i], kf->offset));
        char key[64];
        const char *ks = key;
        if (json_is_string(k))
            ks = json_string_value(k);
        else if (json_is_integer(k))
            snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value(k));
        else
            snprintf(key, sizeof key, "%s", json_is_true(k) ? "true" : "false");
        json_object_set_new(o, ks, value_json(vf, FIELD_PTR(entries[i], vf->offset)));
        json_decref(k);
    }
    return o;
}

json_t *call_json_from_message(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    json_t *o = json_object();
    for (unsigned i = 0; o != NULL && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char name[256];
        camel(f->name, name, sizeof name);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)FIELD_PTR(m, f->quantifier_offset);
            const char *arr = *(char *const *)FIELD_PTR(m, f->offset);
            if (n == 0)
                continue;
            if (call_json_is_map(f)) {
                json_object_set_new(o, name, map_json(f, (ProtobufCMessage *const *)arr, n));
                continue;
            }
            json_t *a = json_array();
            for (size_t k = 0; a != NULL && k < n; k++)
                json_array_append_new(a, value_json(f, arr + k * rpc_text_value_size(f->type)));
            json_object_set_new(o, name, a);
            continue;
        }
        if (rpc_text_is_set(m, f))
            json_object_set_new(o, name, value_json(f, FIELD_PTR(m, f->offset)));
    }
    return o;
}
