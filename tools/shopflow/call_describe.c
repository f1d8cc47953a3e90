/* `shopflow call --describe` (call_describe.h): the descriptors walked
 * from every linked service, printed as .proto text. */
#include "tools/shopflow/call_describe.h"

#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "rpc_services.h"
#include "tools/shopflow/call_json.h"

#define MAX_TYPES 512

/* Types already printed (or found), by descriptor address. */
typedef struct seen {
    const void *d[MAX_TYPES];
    size_t n;
} seen;

static int seen_add(seen *s, const void *d)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->d[i] == d)
            return 0;
    if (s->n < MAX_TYPES)
        s->d[s->n++] = d;
    return 1;
}

static const char *scalar_name(ProtobufCType t)
{
    static const char *const names[] = {
        [PROTOBUF_C_TYPE_INT32] = "int32",       [PROTOBUF_C_TYPE_SINT32] = "sint32",
        [PROTOBUF_C_TYPE_SFIXED32] = "sfixed32", [PROTOBUF_C_TYPE_INT64] = "int64",
        [PROTOBUF_C_TYPE_SINT64] = "sint64",     [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
        [PROTOBUF_C_TYPE_UINT32] = "uint32",     [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
        [PROTOBUF_C_TYPE_UINT64] = "uint64",     [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
        [PROTOBUF_C_TYPE_FLOAT] = "float",       [PROTOBUF_C_TYPE_DOUBLE] = "double",
        [PROTOBUF_C_TYPE_BOOL] = "bool",         [PROTOBUF_C_TYPE_STRING] = "string",
        [PROTOBUF_C_TYPE_BYTES] = "bytes",
    };
    return (size_t)t < sizeof names / sizeof names[0] && names[t] ? names[t] : "?";
}

static const char *type_name(const ProtobufCFieldDescriptor *f)
{
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return ((const ProtobufCMessageDescriptor *)f->descriptor)->name;
    if (f->type == PROTOBUF_C_TYPE_ENUM)
        return ((const ProtobufCEnumDescriptor *)f->descriptor)->name;
    return scalar_name(f->type);
}

static void print_field(FILE *out, const ProtobufCFieldDescriptor *f, int indent)
{
    if (call_json_is_map(f)) {
        const ProtobufCMessageDescriptor *e = f->descriptor;
        fprintf(out, "%*smap<%s, %s> %s = %u;\n", indent, "", type_name(&e->fields[0]),
                type_name(&e->fields[1]), f->name, f->id);
        return;
    }
    const char *label = f->label == PROTOBUF_C_LABEL_REPEATED   ? "repeated "
                        : f->label == PROTOBUF_C_LABEL_OPTIONAL ? "optional "
                        : f->label == PROTOBUF_C_LABEL_REQUIRED ? "required "
                                                                : "";
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        label = "";
    fprintf(out, "%*s%s%s %s = %u;\n", indent, "", label, type_name(f), f->name, f->id);
}

static void print_enum(FILE *out, const ProtobufCEnumDescriptor *e)
{
    fprintf(out, "enum %s {\n", e->name);
    for (unsigned i = 0; i < e->n_values; i++)
        fprintf(out, "  %s = %d;\n", e->values[i].name, e->values[i].value);
    fprintf(out, "}\n");
}

/* A message, then (once each) every message and enum type it uses. */
static void print_message(FILE *out, const ProtobufCMessageDescriptor *d, seen *done)
{
    if (!seen_add(done, d))
        return;
    fprintf(out, "message %s {\n", d->name);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
            print_field(out, f, 2);
            continue;
        }
        /* a oneof's members share their case field; print them together once */
        int first = 1;
        for (unsigned k = 0; k < i; k++)
            if ((d->fields[k].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                d->fields[k].quantifier_offset == f->quantifier_offset)
                first = 0;
        if (!first)
            continue;
        fprintf(out, "  oneof {\n");
        for (unsigned k = i; k < d->n_fields; k++)
            if ((d->fields[k].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                d->fields[k].quantifier_offset == f->quantifier_offset)
                print_field(out, &d->fields[k], 4);
        fprintf(out, "  }\n");
    }
    fprintf(out, "}\n");
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (call_json_is_map(f)) {
            const ProtobufCMessageDescriptor *e = f->descriptor;
            const ProtobufCFieldDescriptor *v = &e->fields[1];
            if (v->type == PROTOBUF_C_TYPE_MESSAGE)
                print_message(out, v->descriptor, done);
            else if (v->type == PROTOBUF_C_TYPE_ENUM && seen_add(done, v->descriptor))
                print_enum(out, v->descriptor);
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            print_message(out, f->descriptor, done);
        } else if (f->type == PROTOBUF_C_TYPE_ENUM && seen_add(done, f->descriptor)) {
            print_enum(out, f->descriptor);
        }
    }
}

static void print_rpc(FILE *out, const ProtobufCMethodDescriptor *m, int indent)
{
    fprintf(out, "%*srpc %s(%s) returns (%s);\n", indent, "", m->name, m->input->name,
            m->output->name);
}

/* Finds a message or enum type named `name` reachable from d. */
static const void *find_type(const ProtobufCMessageDescriptor *d, const char *name, int *is_enum,
                             seen *visited)
{
    if (!seen_add(visited, d))
        return NULL;
    if (strcmp(d->name, name) == 0) {
        *is_enum = 0;
        return d;
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type == PROTOBUF_C_TYPE_ENUM &&
            strcmp(((const ProtobufCEnumDescriptor *)f->descriptor)->name, name) == 0) {
            *is_enum = 1;
            return f->descriptor;
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const void *t = find_type(f->descriptor, name, is_enum, visited);
            if (t != NULL)
                return t;
        }
    }
    return NULL;
}

int call_describe(FILE *out, const char *name)
{
    const char *slash = strrchr(name, '/');
    size_t svc_len = slash != NULL ? (size_t)(slash - name) : strlen(name);
    for (size_t i = 0; i < rpc_n_all_services; i++) {
        const ProtobufCServiceDescriptor *s = rpc_all_services[i];
        if (strlen(s->name) != svc_len || strncmp(s->name, name, svc_len) != 0)
            continue;
        if (slash == NULL) {
            fprintf(out, "service %s {\n", s->name);
            for (unsigned k = 0; k < s->n_methods; k++)
                print_rpc(out, &s->methods[k], 2);
            fprintf(out, "}\n");
            return 0;
        }
        for (unsigned k = 0; k < s->n_methods; k++) {
            if (strcmp(s->methods[k].name, slash + 1) != 0)
                continue;
            seen done = {.n = 0};
            print_rpc(out, &s->methods[k], 0);
            fputc('\n', out);
            print_message(out, s->methods[k].input, &done);
            fputc('\n', out);
            print_message(out, s->methods[k].output, &done);
            return 0;
        }
        return -1;
    }
    for (size_t i = 0; i < rpc_n_all_services; i++) {
        const ProtobufCServiceDescriptor *s = rpc_all_services[i];
        for (unsigned k = 0; k < s->n_methods; k++) {
            const ProtobufCMessageDescriptor *io[2] = {s->methods[k].input, s->methods[k].output};
            for (int j = 0; j < 2; j++) {
                seen visited = {.n = 0}, done = {.n = 0};
                int is_enum = 0;
                const void *t = find_type(io[j], name, &is_enum, &visited);
                if (t != NULL && is_enum)
                    print_enum(out, t);
                else if (t != NULL)
                    print_message(out, t, &done);
                if (t != NULL)
                    return 0;
            }
        }
    }
    return -1;
}
