/* The text of the generated stubs. Per service of a .proto: a server struct
 * of typed handlers and its register function, and per method a sync call,
 * an async call with its callback type, and the trampolines that convert
 * between the typed functions and the generic rpc_channel_call / rpc_handler_fn
 * (calling a function through a pointer of another type is undefined
 * behaviour, hence one small static function per method). A method is
 * idempotent (may be retried) when the .proto says
 * `option idempotency_level = IDEMPOTENT | NO_SIDE_EFFECTS;`. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/stubgen/stubgen.h"

typedef Google__Protobuf__MethodDescriptorProto method_proto;

typedef struct method_names {
    const char *name; /* "Deduct" */
    char *in, *out;   /* C structs of the request and the reply */
    bool idempotent;
} method_names;

typedef struct service_names {
    char *full;   /* "shop.stock.StockService" */
    char *prefix; /* "shop_stock_StockService": the stubs' own names */
    char *symbol; /* protoc-c's "shop__stock__stock_service__descriptor" */
    size_t n;
    method_names *m;
} service_names;

static void service_names_free(service_names *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->m[i].in);
        free(s->m[i].out);
    }
    free(s->m);
    free(s->full);
    free(s->prefix);
    free(s->symbol);
}

/* Sets *err (a message for the user) unless already set; returns -1. */
__attribute__((format(printf, 2, 3))) static int fail(char **err, const char *fmt, ...)
{
    if (*err != NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(err, fmt, ap) < 0)
        *err = NULL;
    va_end(ap);
    return -1;
}

static bool is_idempotent(const method_proto *m)
{
    if (m->options == NULL || !m->options->has_idempotency_level)
        return false;
    return m->options->idempotency_level ==
               GOOGLE__PROTOBUF__METHOD_OPTIONS__IDEMPOTENCY_LEVEL__IDEMPOTENT ||
           m->options->idempotency_level ==
               GOOGLE__PROTOBUF__METHOD_OPTIONS__IDEMPOTENCY_LEVEL__NO_SIDE_EFFECTS;
}

/* Fills `s` for service `svc` of `file`; refuses streaming methods, which one
 * REQ/REP exchange cannot carry. */
static int service_names_init(service_names *s, const stubgen_request *req,
                              const stubgen_file *file, const stubgen_service *svc, char **err)
{
    memset(s, 0, sizeof *s);
    s->full = stubgen_full_name(file, svc->name);
    s->prefix = s->full != NULL ? strdup(s->full) : NULL;
    s->symbol = stubgen_c_service_symbol(file, svc);
    s->m = calloc(svc->n_method + 1, sizeof *s->m);
    if (s->full == NULL || s->prefix == NULL || s->symbol == NULL || s->m == NULL)
        return fail(err, "out of memory");
    for (char *p = s->prefix; *p != '\0'; p++)
        if (*p == '.')
            *p = '_';
    for (size_t i = 0; i < svc->n_method; i++, s->n++) {
        const method_proto *m = svc->method[i];
        method_names *mn = &s->m[i];
        mn->name = m->name;
        if (m->client_streaming || m->server_streaming)
            return fail(err,
                        "%s: %s/%s is a streaming method (`stream` in its request or reply); "
                        "shoprpc carries one request and one reply per call (nng REQ/REP), so "
                        "only unary methods are supported",
                        file->name, s->full, m->name);
        mn->in = stubgen_c_type(req, m->input_type);
        mn->out = stubgen_c_type(req, m->output_type);
        if (mn->in == NULL || mn->out == NULL)
            return fail(err, "%s: %s: no message %s among the files protoc sent", file->name,
                        s->full, mn->in == NULL ? m->input_type : m->output_type);
        mn->idempotent = is_idempotent(m);
    }
    return 0;
}

static void emit_header(FILE *h, const service_names *s)
{
    const char *p = s->prefix;
    fprintf(h, "\n/* ---- %s ---- */\n\n", s->full);
    fprintf(h, "/* Server side: fill in the handlers (NULL: UNIMPLEMENTED) and register. */\n");
    fprintf(h, "typedef struct %s_server {\n", p);
    for (size_t i = 0; i < s->n; i++)
        fprintf(h, "    rpc_status (*%s)(rpc_ctx *ctx, const %s *req, %s *reply, void *user);\n",
                s->m[i].name, s->m[i].in, s->m[i].out);
    fprintf(h, "    void *user; /* passed to every handler */\n} %s_server;\n\n", p);
    fprintf(h, "/* `impl` must outlive the server. */\n");
    fprintf(h, "rpc_status %s_register(rpc_server *srv, const %s_server *impl, rpc_error *err);\n",
            p, p);
    fprintf(h, "extern const ProtobufCServiceDescriptor %s;\n", s->symbol);
    for (size_t i = 0; i < s->n; i++) {
        const char *name = s->m[i].name, *in = s->m[i].in, *out = s->m[i].out;
        fprintf(h, "\n#define %s_%s_METHOD \"%s/%s\"\n", p, name, s->full, name);
        fprintf(h,
                "/* Calls %s/%s; on OK the caller frees *reply with %s's free_unpacked. */\n"
                "rpc_status %s_%s(rpc_channel *ch, const %s *req, %s **reply,\n"
                "    const rpc_call_opts *opts, rpc_error *err);\n",
                s->full, name, out, p, name, in, out);
        fprintf(h,
                "typedef void (*%s_%s_done)(rpc_status code, const char *message, %s *reply,\n"
                "    void *arg);\n"
                "rpc_status %s_%s_async(rpc_channel *ch, const %s *req, const rpc_call_opts "
                "*opts,\n    %s_%s_done done, void *arg, rpc_error *err);\n",
                p, name, out, p, name, in, p, name);
    }
}

static void emit_method(FILE *c, const service_names *s, size_t i)
{
    const char *p = s->prefix, *sym = s->symbol;
    const char *name = s->m[i].name, *in = s->m[i].in, *out = s->m[i].out;
    const char *idem = s->m[i].idempotent ? "true" : "false";
    fprintf(c,
            "\nstatic rpc_status %s_%s_serve(rpc_ctx *ctx, const ProtobufCMessage *req,\n"
            "    ProtobufCMessage *reply, void *impl)\n{\n"
            "    const %s_server *s = impl;\n"
            "    return s->%s(ctx, (const %s *)req, (%s *)reply, s->user);\n}\n",
            p, name, p, name, in, out);
    fprintf(c,
            "\nrpc_status %s_%s(rpc_channel *ch, const %s *req, %s **reply,\n"
            "    const rpc_call_opts *opts, rpc_error *err)\n{\n"
            "    rpc_call_opts o = {0};\n"
            "    if (opts != NULL)\n        o = *opts;\n"
            "    o.idempotent = o.idempotent || %s;\n"
            "    ProtobufCMessage *m = NULL;\n"
            "    rpc_status st = rpc_channel_call(ch, &%s, %zu, &req->base, &m, &o, err);\n"
            "    *reply = (%s *)m;\n    return st;\n}\n",
            p, name, in, out, idem, sym, i, out);
    fprintf(c,
            "\ntypedef struct %s_%s_pending {\n    %s_%s_done done;\n    void *arg;\n} "
            "%s_%s_pending;\n",
            p, name, p, name, p, name);
    fprintf(c,
            "\nstatic void %s_%s_finish(rpc_status code, const char *message,\n"
            "    ProtobufCMessage *reply, void *arg)\n{\n"
            "    %s_%s_pending pending = *(%s_%s_pending *)arg;\n"
            "    free(arg);\n"
            "    pending.done(code, message, (%s *)reply, pending.arg);\n}\n",
            p, name, p, name, p, name, out);
    fprintf(
        c,
        "\nrpc_status %s_%s_async(rpc_channel *ch, const %s *req, const rpc_call_opts "
        "*opts,\n    %s_%s_done done, void *arg, rpc_error *err)\n{\n"
        "    rpc_call_opts o = {0};\n"
        "    if (opts != NULL)\n        o = *opts;\n"
        "    o.idempotent = o.idempotent || %s;\n"
        "    %s_%s_pending *pending = malloc(sizeof *pending);\n"
        "    if (pending == NULL)\n"
        "        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, \"out of memory\");\n"
        "    pending->done = done;\n    pending->arg = arg;\n"
        "    rpc_status st = rpc_channel_call_async(ch, &%s, %zu, &req->base, &o, %s_%s_finish,\n"
        "        pending, err);\n"
        "    if (st != RPC_OK)\n        free(pending);\n    return st;\n}\n",
        p, name, in, p, name, idem, p, name, sym, i, p, name);
}

static void emit_source(FILE *c, const service_names *s)
{
    for (size_t i = 0; i < s->n; i++)
        emit_method(c, s, i);
    fprintf(c,
            "\nrpc_status %s_register(rpc_server *srv, const %s_server *impl, rpc_error *err)\n{\n"
            "    rpc_handler_fn fns[%zu + 1] = {0};\n",
            s->prefix, s->prefix, s->n);
    for (size_t i = 0; i < s->n; i++)
        fprintf(c, "    fns[%zu] = impl->%s != NULL ? %s_%s_serve : NULL;\n", i, s->m[i].name,
                s->prefix, s->m[i].name);
    fprintf(c, "    return rpc_server_add_service(srv, &%s, fns, (void *)impl, err);\n}\n",
            s->symbol);
}

/* Closes both streams (either may be NULL: it failed to open). Returns 0, or
 * -1 with the texts freed when a stream failed or `rc` says the caller did;
 * *err says "out of memory" unless the caller set a message. */
static int close_pair(FILE *h, FILE *c, char **h_text, char **c_text, int rc, char **err)
{
    int bad = rc != 0 || h == NULL || c == NULL;
    if (h != NULL)
        bad |= fclose(h) != 0;
    if (c != NULL)
        bad |= fclose(c) != 0;
    if (!bad)
        return 0;
    free(*h_text);
    free(*c_text);
    *h_text = *c_text = NULL;
    if (*err == NULL)
        fail(err, "out of memory");
    return -1;
}

int stubgen_emit_file(const stubgen_request *req, const stubgen_file *file, char **h_text,
                      char **c_text, char **err)
{
    size_t hn, cn;
    *h_text = *c_text = *err = NULL;
    FILE *h = open_memstream(h_text, &hn), *c = open_memstream(c_text, &cn);
    char *base = stubgen_strip_proto(file->name), *id = base != NULL ? strdup(base) : NULL;
    if (h == NULL || c == NULL || id == NULL) {
        free(base);
        free(id);
        return close_pair(h, c, h_text, c_text, -1, err);
    }
    /* "shop/stock" -> "shop_stock": for the include guard and the typedef
     * that keeps a service-less .c file from being an empty unit. */
    for (char *p = id; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p))
            *p = '_';
    fprintf(h, "/* Generated by protoc-gen-shoprpc from %s: do not edit. */\n", file->name);
    fprintf(h, "#ifndef SHOP_RPC_STUB_%s_H\n#define SHOP_RPC_STUB_%s_H\n\n", id, id);
    fprintf(h, "#include \"rpc/rpc.h\"\n#include \"%s.pb-c.h\"\n", base);
    fprintf(c, "/* Generated by protoc-gen-shoprpc from %s: do not edit. */\n", file->name);
    fprintf(c, "#include <stdlib.h>\n\n#include \"%s.rpc.h\"\n", base);
    fprintf(c, "typedef int shop_rpc_stub_%s_nonempty;\n", id);
    int rc = 0;
    for (size_t i = 0; i < file->n_service && rc == 0; i++) {
        service_names s;
        rc = service_names_init(&s, req, file, file->service[i], err);
        if (rc == 0) {
            emit_header(h, &s);
            emit_source(c, &s);
        }
        service_names_free(&s);
    }
    fprintf(h, "\n#endif\n");
    free(base);
    free(id);
    return close_pair(h, c, h_text, c_text, rc, err);
}

/* The file of the request named `name` (every file to generate is sent). */
static const stubgen_file *find_file(const stubgen_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_proto_file; i++)
        if (req->proto_file[i]->name != NULL && strcmp(req->proto_file[i]->name, name) == 0)
            return req->proto_file[i];
    return NULL;
}

int stubgen_emit_table(const stubgen_request *req, char **h_text, char **c_text, char **err)
{
    size_t hn, cn, n = 0;
    *h_text = *c_text = *err = NULL;
    FILE *h = open_memstream(h_text, &hn), *c = open_memstream(c_text, &cn);
    if (h == NULL || c == NULL) {
        return close_pair(h, c, h_text, c_text, -1, err);
    }
    fprintf(h, "/* Generated by protoc-gen-shoprpc: every service of the .proto files it was "
               "given. */\n"
               "#ifndef SHOP_RPC_SERVICES_H\n#define SHOP_RPC_SERVICES_H\n\n"
               "#include <stddef.h>\n#include <protobuf-c/protobuf-c.h>\n\n"
               "extern const ProtobufCServiceDescriptor *const rpc_all_services[];\n"
               "extern const size_t rpc_n_all_services;\n\n#endif\n");
    fprintf(c,
            "/* Generated by protoc-gen-shoprpc: do not edit. */\n#include \"rpc_services.h\"\n");
    char *list = NULL;
    size_t list_len;
    FILE *l = open_memstream(&list, &list_len);
    int rc = l == NULL ? -1 : 0;
    for (size_t i = 0; i < req->n_file_to_generate && rc == 0; i++) {
        const stubgen_file *f = find_file(req, req->file_to_generate[i]);
        for (size_t j = 0; f != NULL && j < f->n_service && rc == 0; j++, n++) {
            char *sym = stubgen_c_service_symbol(f, f->service[j]);
            rc = sym == NULL ? -1 : 0;
            if (sym != NULL) {
                fprintf(c, "extern const ProtobufCServiceDescriptor %s;\n", sym);
                fprintf(l, "    &%s,\n", sym);
            }
            free(sym);
        }
    }
    if (l != NULL && fclose(l) != 0)
        rc = -1;
    if (rc == 0)
        fprintf(
            c,
            "\nconst ProtobufCServiceDescriptor *const rpc_all_services[] = {\n%s    NULL,\n};\n"
            "const size_t rpc_n_all_services = %zu;\n",
            list, n);
    free(list);
    return close_pair(h, c, h_text, c_text, rc, err);
}
