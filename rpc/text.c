/* Descriptor-driven text for protobuf-c messages: parse `path=value`
 * assignments into a message, print a message in protobuf text form. All
 * memory comes from malloc so protobuf_c_message_free_unpacked(m, NULL)
 * releases what was assigned. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/text.h"

#define FIELD_PTR(m, off) ((void *)((char *)(m) + (off)))

ProtobufCMessage *rpc_text_new(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = calloc(1, d->sizeof_message);
    if (m != NULL)
        protobuf_c_message_init(d, m);
    return m;
}

size_t rpc_text_value_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    default:
        return 4;
    }
}

/* Marks a singular field present (has_ flag or oneof case). */
static void mark_present(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)FIELD_PTR(m, f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
             f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)FIELD_PTR(m, f->quantifier_offset) = 1;
}

/* The members of a oneof share one storage: before another member is set,
 * what the member set so far owns is freed and the storage cleared, or it
 * would leak, or be taken for the new member's type (a number read as a
 * string pointer and freed). */
static void oneof_switch(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    uint32_t *which = FIELD_PTR(m, f->quantifier_offset);
    if (*which == 0 || *which == f->id)
        return;
    const ProtobufCFieldDescriptor *old =
        protobuf_c_message_descriptor_get_field(m->descriptor, *which);
    void *v = FIELD_PTR(m, f->offset);
    size_t sz = rpc_text_value_size(f->type);
    if (old != NULL) {
        if (old->type == PROTOBUF_C_TYPE_STRING) {
            char *str = *(char **)v;
            if (str != NULL && str != (char *)old->default_value && str != protobuf_c_empty_string)
                free(str);
        } else if (old->type == PROTOBUF_C_TYPE_BYTES) {
            ProtobufCBinaryData *b = v;
            if (b->data != NULL &&
                (old->default_value == NULL ||
                 b->data != ((const ProtobufCBinaryData *)old->default_value)->data))
                free(b->data);
        } else if (old->type == PROTOBUF_C_TYPE_MESSAGE && *(ProtobufCMessage **)v != NULL) {
            protobuf_c_message_free_unpacked(*(ProtobufCMessage **)v, NULL);
        }
        if (rpc_text_value_size(old->type) > sz)
            sz = rpc_text_value_size(old->type);
    }
    memset(v, 0, sz);
    *which = 0;
}

/* Address of the value to write: the field itself, or a new element (index
 * -1 appends) of a repeated field. */
void *rpc_text_slot(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, long index)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED) {
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            oneof_switch(m, f);
        mark_present(m, f);
        return FIELD_PTR(m, f->offset);
    }
    size_t *n = FIELD_PTR(m, f->quantifier_offset);
    void **arr = FIELD_PTR(m, f->offset);
    size_t sz = rpc_text_value_size(f->type);
    if (index >= 0 && (size_t)index < *n)
        return (char *)*arr + (size_t)index * sz;
    if (index >= 0 && (size_t)index != *n)
        return NULL;
    void *grown = realloc(*arr, (*n + 1) * sz);
    if (grown == NULL)
        return NULL;
    *arr = grown;
    void *slot = (char *)grown + *n * sz;
    memset(slot, 0, sz);
    (*n)++;
    return slot;
}

rpc_status rpc_text_set_scalar(const ProtobufCFieldDescriptor *f, const char *v, void *dst,
                               shop_error *err)
{
    char *end = NULL;
    errno = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: {
        long long x = strtoll(v, &end, 0);
        if (*v == '\0' || *end != '\0' || errno != 0 || x < INT32_MIN || x > INT32_MAX)
            goto bad;
        *(int32_t *)dst = (int32_t)x;
        return RPC_OK;
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        long long x = strtoll(v, &end, 0);
        if (*v == '\0' || *end != '\0' || errno != 0)
            goto bad;
        *(int64_t *)dst = x;
        return RPC_OK;
    }
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: {
        unsigned long long x = strtoull(v, &end, 0);
        if (*v == '\0' || *v == '-' || *end != '\0' || errno != 0 || x > UINT32_MAX)
            goto bad;
        *(uint32_t *)dst = (uint32_t)x;
        return RPC_OK;
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        unsigned long long x = strtoull(v, &end, 0);
        if (*v == '\0' || *v == '-' || *end != '\0' || errno != 0)
            goto bad;
        *(uint64_t *)dst = x;
        return RPC_OK;
    }
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double x = strtod(v, &end);
        if (*v == '\0' || *end != '\0')
            goto bad;
        if (f->type == PROTOBUF_C_TYPE_FLOAT)
            *(float *)dst = (float)x;
        else
            *(double *)dst = x;
        return RPC_OK;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
            *(protobuf_c_boolean *)dst = 1;
        else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
            *(protobuf_c_boolean *)dst = 0;
        else
            goto bad;
        return RPC_OK;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, v);
        if (ev == NULL) {
            long x = strtol(v, &end, 0);
            if (*v == '\0' || *end != '\0' ||
                (ev = protobuf_c_enum_descriptor_get_value(ed, (int)x)) == NULL) {
                return shop_error_set(err, RPC_INVALID_ARGUMENT,
                                      "field '%s': '%s' is not a value of enum %s", f->name, v,
                                      ed->name);
            }
        }
        *(int32_t *)dst = ev->value;
        return RPC_OK;
    }
    case PROTOBUF_C_TYPE_STRING: {
        char **s = dst;
        char *copy = strdup(v);
        if (copy == NULL)
            goto bad;
        if (*s != NULL && *s != (char *)f->default_value && *s != protobuf_c_empty_string)
            free(*s);
        *s = copy;
        return RPC_OK;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = dst;
        size_t n = strlen(v);
        uint8_t *copy = malloc(n > 0 ? n : 1);
        if (copy == NULL)
            goto bad;
        memcpy(copy, v, n);
        if (b->data != NULL && (f->default_value == NULL ||
                                b->data != ((const ProtobufCBinaryData *)f->default_value)->data))
            free(b->data);
        b->data = copy;
        b->len = n;
        return RPC_OK;
    }
    default:
        return shop_error_set(err, RPC_INVALID_ARGUMENT,
                              "field '%s' is a message: assign its fields (%s.NAME=...)", f->name,
                              f->name);
    }
bad:
    return shop_error_set(
        err, RPC_INVALID_ARGUMENT, "field '%s': '%s' is not a valid %s", f->name, v,
        f->type == PROTOBUF_C_TYPE_BOOL ? "bool (true/false)" : "number in range");
}

rpc_status rpc_text_assign(ProtobufCMessage *m, const char *assignment, shop_error *err)
{
    const char *eq = strchr(assignment, '=');
    if (eq == NULL || eq == assignment) {
        return shop_error_set(err, RPC_INVALID_ARGUMENT, "'%s' is not field=value", assignment);
    }
    char path[256];
    snprintf(path, sizeof path, "%.*s", (int)(eq - assignment), assignment);
    const char *value = eq + 1;
    char *save = NULL;
    ProtobufCMessage *cur = m;
    char *part = strtok_r(path, ".", &save);
    while (part != NULL) {
        char *next = strtok_r(NULL, ".", &save);
        long index = -1;
        char *br = strchr(part, '[');
        if (br != NULL) {
            char *end = NULL;
            index = strtol(br + 1, &end, 10);
            if (end == br + 1 || *end != ']' || end[1] != '\0' || index < 0) {
                return shop_error_set(err, RPC_INVALID_ARGUMENT, "bad index in '%s'", part);
            }
            *br = '\0';
        }
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(cur->descriptor, part);
        if (f == NULL) {
            return shop_error_set(err, RPC_INVALID_ARGUMENT, "%s has no field '%s'",
                                  cur->descriptor->name, part);
        }
        if (index >= 0 && f->label != PROTOBUF_C_LABEL_REPEATED) {
            return shop_error_set(err, RPC_INVALID_ARGUMENT, "field '%s' is not repeated", part);
        }
        if (next == NULL) {
            /* Before slot_for: a repeated message must not get an empty element. */
            if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                return shop_error_set(err, RPC_INVALID_ARGUMENT,
                                      "field '%s' is a message: assign its fields (%s.NAME=...)",
                                      part, part);
            }
            void *dst = rpc_text_slot(cur, f, index);
            if (dst == NULL) {
                return shop_error_set(err, RPC_INVALID_ARGUMENT,
                                      "field '%s': index %ld skips elements", part, index);
            }
            return rpc_text_set_scalar(f, value, dst, err);
        }
        if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
            return shop_error_set(err, RPC_INVALID_ARGUMENT,
                                  "field '%s' is not a message, '%s' cannot go inside it", part,
                                  next);
        }
        /* A repeated message without an index means its last element. */
        if (index < 0 && f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(size_t *)FIELD_PTR(cur, f->quantifier_offset);
            index = n > 0 ? (long)n - 1 : 0;
        }
        ProtobufCMessage **sub = rpc_text_slot(cur, f, index);
        if (sub == NULL) {
            return shop_error_set(err, RPC_INVALID_ARGUMENT, "field '%s': index %ld skips elements",
                                  part, index);
        }
        if (*sub == NULL && (*sub = rpc_text_new(f->descriptor)) == NULL) {
            return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
        }
        cur = *sub;
        part = next;
    }
    return shop_error_set(err, RPC_INVALID_ARGUMENT, "empty field name in '%s'", assignment);
}

rpc_status rpc_text_assign_all(ProtobufCMessage *m, const char *line, shop_error *err)
{
    size_t n = strlen(line);
    char *tok = malloc(n + 1);
    if (tok == NULL)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    const char *p = line;
    rpc_status rv = RPC_OK;
    while (rv == RPC_OK) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        size_t k = 0;
        int quoted = 0;
        for (; *p != '\0' && (quoted || !isspace((unsigned char)*p)); p++) {
            if (*p == '"') {
                quoted = !quoted;
            } else if (*p == '\\' && p[1] != '\0') {
                tok[k++] = *++p;
            } else {
                tok[k++] = *p;
            }
        }
        tok[k] = '\0';
        rv = rpc_text_assign(m, tok, err);
    }
    free(tok);
    return rv;
}

static void print_escaped(FILE *out, const uint8_t *s, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\%03o", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void print_value(FILE *out, const ProtobufCFieldDescriptor *f, const void *v, int indent)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        fprintf(out, "%" PRId32, *(const int32_t *)v);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        fprintf(out, "%" PRId64, *(const int64_t *)v);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        fprintf(out, "%" PRIu32, *(const uint32_t *)v);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        fprintf(out, "%" PRIu64, *(const uint64_t *)v);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        fprintf(out, "%g", (double)*(const float *)v);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        fprintf(out, "%.17g", *(const double *)v);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        fputs(*(const protobuf_c_boolean *)v ? "true" : "false", out);
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int32_t *)v);
        if (ev != NULL)
            fputs(ev->name, out);
        else
            fprintf(out, "%" PRId32, *(const int32_t *)v);
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)v;
        print_escaped(out, (const uint8_t *)(s != NULL ? s : ""), s != NULL ? strlen(s) : 0);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = v;
        print_escaped(out, b->data, b->len);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        fputs("{\n", out);
        rpc_text_print(out, *(ProtobufCMessage *const *)v, indent + 2);
        fprintf(out, "%*s}", indent, "");
        break;
    }
}

/* Whether a singular field is set: has_/oneof case, or not the zero value. */
int rpc_text_is_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const void *v = FIELD_PTR(m, f->offset);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)FIELD_PTR(m, f->quantifier_offset) == f->id;
    switch (f->type) {
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(void *const *)v != NULL;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)v;
        return s != NULL && (f->label != PROTOBUF_C_LABEL_NONE || *s != '\0');
    }
    default:
        break;
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
        return *(const protobuf_c_boolean *)FIELD_PTR(m, f->quantifier_offset);
    if (f->type == PROTOBUF_C_TYPE_BYTES)
        return ((const ProtobufCBinaryData *)v)->len > 0;
    static const uint8_t zero[16];
    return memcmp(v, zero, rpc_text_value_size(f->type)) != 0;
}

void rpc_text_print(FILE *out, const ProtobufCMessage *m, int indent)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *sep = f->type == PROTOBUF_C_TYPE_MESSAGE ? " " : ": ";
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)FIELD_PTR(m, f->quantifier_offset);
            const char *arr = *(char *const *)FIELD_PTR(m, f->offset);
            for (size_t k = 0; k < n; k++) {
                fprintf(out, "%*s%s%s", indent, "", f->name, sep);
                print_value(out, f, arr + k * rpc_text_value_size(f->type), indent);
                fputc('\n', out);
            }
            continue;
        }
        if (!rpc_text_is_set(m, f))
            continue;
        fprintf(out, "%*s%s%s", indent, "", f->name, sep);
        print_value(out, f, FIELD_PTR(m, f->offset), indent);
        fputc('\n', out);
    }
}
