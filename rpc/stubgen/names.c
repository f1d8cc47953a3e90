/* protobuf-c's naming rules, as protoc-c 1.4 applies them, so that the stubs
 * name the structs and service descriptors in the .pb-c.h files:
 * - a message's C struct: the dotted full name split at '.', each piece
 *   camel-cased (underscores dropped, the letter after one upper-cased), the
 *   pieces joined with "__": my_pkg.Outer.inner_msg -> MyPkg__Outer__InnerMsg;
 * - a service descriptor: each piece lower-cased with '_' before an
 *   upper-case letter that follows a lower-case one, joined with "__", plus
 *   "__descriptor": shop.stock.StockService -> shop__stock__stock_service__descriptor;
 * - a file's `option (pb_c_file).c_package = "x.y"` replaces its package in
 *   both. protobuf-c keeps that extension (field 1019 of FileOptions) as an
 *   unknown field, so it is read from the wire form here. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/stubgen/stubgen.h"

enum { PB_C_FILE_OPTIONS = 1019, PB_C_C_PACKAGE = 6 };

/* Reads a base-128 varint at *p (< end); 0 on success. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* c_package in an encoded ProtobufCFileOptions; the last one wins, as when
 * protobuf merges a message. Sets *found. */
static void scan_c_package(const uint8_t *p, size_t len, const char **start, size_t *n, bool *found)
{
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t key, v;
        if (read_varint(&p, end, &key) != 0)
            return;
        switch (key & 7) {
        case 0:
            if (read_varint(&p, end, &v) != 0)
                return;
            break;
        case 1:
        case 5: {
            size_t w = (key & 7) == 1 ? 8 : 4;
            if ((size_t)(end - p) < w)
                return;
            p += w;
            break;
        }
        case 2:
            if (read_varint(&p, end, &v) != 0 || v > (uint64_t)(end - p))
                return;
            if (key >> 3 == PB_C_C_PACKAGE) {
                *start = (const char *)p;
                *n = (size_t)v;
                *found = true;
            }
            p += v;
            break;
        default:
            return;
        }
    }
}

/* The package protoc-c names the file's symbols with: c_package if set,
 * else the proto package. Malloc'd ("" when neither). */
static char *c_package(const stubgen_file *file)
{
    const char *start = file->package != NULL ? file->package : "";
    size_t n = strlen(start);
    bool found = false;
    if (file->options != NULL) {
        const ProtobufCMessage *opts = &file->options->base;
        for (unsigned i = 0; i < opts->n_unknown_fields; i++) {
            const ProtobufCMessageUnknownField *u = &opts->unknown_fields[i];
            if (u->tag != PB_C_FILE_OPTIONS || u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
                continue;
            /* protobuf-c keeps the length prefix in an unknown field's data. */
            const uint8_t *p = u->data, *end = u->data + u->len;
            uint64_t len;
            if (read_varint(&p, end, &len) == 0 && len == (uint64_t)(end - p))
                scan_c_package(p, (size_t)len, &start, &n, &found);
        }
    }
    return strndup(start, n);
}

/* Appends the pieces of dotted name `s` to `out` (joined with "__", empty
 * pieces skipped), each transformed by protoc-c's rule `lower` (CamelToLower)
 * or not (ToCamel). */
static void append_pieces(FILE *out, const char *s, bool lower, bool *first)
{
    while (*s != '\0') {
        size_t n = strcspn(s, ".");
        if (n > 0) {
            if (!*first)
                fputs("__", out);
            *first = false;
            bool up_next = true, was_upper = true;
            for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)s[i];
                if (lower) {
                    bool is_upper = isupper(ch) != 0;
                    if (is_upper && !was_upper)
                        fputc('_', out);
                    fputc(tolower(ch), out);
                    was_upper = is_upper;
                } else if (ch == '_') {
                    up_next = true;
                } else {
                    fputc(up_next ? toupper(ch) : ch, out);
                    up_next = false;
                }
            }
        }
        s += n;
        if (*s == '.')
            s++;
    }
}

/* package pieces + rest pieces under one rule. Malloc'd. */
static char *join_name(const char *package, const char *rest, bool lower, const char *suffix)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (out == NULL)
        return NULL;
    bool first = true;
    append_pieces(out, package, lower, &first);
    append_pieces(out, rest, lower, &first);
    fputs(suffix, out);
    if (fclose(out) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Whether `path` ("Outer.Inner") names a message among `msgs` or nested in them. */
static bool has_message(Google__Protobuf__DescriptorProto *const *msgs, size_t n, const char *path)
{
    size_t head = strcspn(path, ".");
    for (size_t i = 0; i < n; i++) {
        const char *name = msgs[i]->name;
        if (name == NULL || strlen(name) != head || strncmp(name, path, head) != 0)
            continue;
        if (path[head] == '\0')
            return true;
        if (has_message(msgs[i]->nested_type, msgs[i]->n_nested_type, path + head + 1))
            return true;
    }
    return false;
}

char *stubgen_c_type(const stubgen_request *req, const char *full_name)
{
    const char *name = full_name[0] == '.' ? full_name + 1 : full_name;
    for (size_t i = 0; i < req->n_proto_file; i++) {
        const stubgen_file *f = req->proto_file[i];
        const char *rest = name;
        size_t plen = f->package != NULL ? strlen(f->package) : 0;
        if (plen > 0) {
            if (strncmp(name, f->package, plen) != 0 || name[plen] != '.')
                continue;
            rest = name + plen + 1;
        }
        if (!has_message(f->message_type, f->n_message_type, rest))
            continue;
        char *pkg = c_package(f);
        char *c = pkg != NULL ? join_name(pkg, rest, false, "") : NULL;
        free(pkg);
        return c;
    }
    return NULL;
}

char *stubgen_c_service_symbol(const stubgen_file *file, const stubgen_service *svc)
{
    char *pkg = c_package(file);
    char *sym = pkg != NULL ? join_name(pkg, svc->name, true, "__descriptor") : NULL;
    free(pkg);
    return sym;
}

char *stubgen_full_name(const stubgen_file *file, const char *name)
{
    char *out = NULL;
    if (file->package == NULL || file->package[0] == '\0')
        return strdup(name);
    return asprintf(&out, "%s.%s", file->package, name) < 0 ? NULL : out;
}

char *stubgen_strip_proto(const char *file_name)
{
    size_t n = strlen(file_name);
    if (n > 6 && strcmp(file_name + n - 6, ".proto") == 0)
        n -= 6;
    return strndup(file_name, n);
}
