/* rpc-stubgen: writes typed client stubs and server registration for every
 * service protoc-c generated, walking the ProtobufCServiceDescriptors (so no
 * per-method code is written by hand). Idempotency comes from the standard
 * `option idempotency_level = IDEMPOTENT | NO_SIDE_EFFECTS;` in the .proto.
 *
 * usage: rpc-stubgen OUT_DIR PROTO_FILE...
 * writes OUT_DIR/<name>.rpc.h and <name>.rpc.c per proto file, and
 * OUT_DIR/rpc_services.{h,c} listing every service (for tools). */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stubgen.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rbe");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf != NULL)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Finds `word` followed by a non-identifier character, from p. */
static const char *find_word(const char *p, const char *word)
{
    size_t n = strlen(word);
    while ((p = strstr(p, word)) != NULL) {
        char after = p[n];
        if (!isalnum((unsigned char)after) && after != '_')
            return p;
        p += n;
    }
    return NULL;
}

/* Whether the .proto text marks svc.method idempotent. */
static bool is_idempotent(const char *text, const char *svc_short, const char *method)
{
    if (text == NULL)
        return false;
    char key[256];
    snprintf(key, sizeof key, "service %s", svc_short);
    const char *s = find_word(text, key);
    if (s == NULL)
        return false;
    snprintf(key, sizeof key, "rpc %s", method);
    const char *m = find_word(s, key);
    if (m == NULL)
        return false;
    const char *end = strstr(m + 4, "rpc ");
    const char *svc_end = strstr(m, "service ");
    if (end == NULL || (svc_end != NULL && svc_end < end))
        end = svc_end;
    const char *opt = strstr(m, "idempotency_level");
    if (opt == NULL || (end != NULL && opt > end))
        return false;
    const char *semi = strchr(opt, ';');
    size_t n = semi != NULL ? (size_t)(semi - opt) : strlen(opt);
    char val[128];
    snprintf(val, sizeof val, "%.*s", (int)(n < 127 ? n : 127), opt);
    return strstr(val, "IDEMPOTENT") != NULL || strstr(val, "NO_SIDE_EFFECTS") != NULL;
}

/* "shop.stock.StockService" -> "shop_stock_StockService" */
static void c_prefix(const char *full, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", full);
    for (char *p = out; *p; p++)
        if (*p == '.')
            *p = '_';
}

static void emit_header(FILE *h, const stubgen_entry *e)
{
    const ProtobufCServiceDescriptor *d = e->desc;
    char p[256];
    c_prefix(d->name, p, sizeof p);
    fprintf(h, "\n/* ---- %s ---- */\n\n", d->name);
    fprintf(h, "/* Server side: fill in the handlers (NULL: UNIMPLEMENTED) and register. */\n");
    fprintf(h, "typedef struct %s_server {\n", p);
    for (unsigned i = 0; i < d->n_methods; i++) {
        const ProtobufCMethodDescriptor *m = &d->methods[i];
        fprintf(h, "    rpc_status (*%s)(rpc_ctx *ctx, const %s *req, %s *reply, void *user);\n",
                m->name, m->input->c_name, m->output->c_name);
    }
    fprintf(h, "    void *user; /* passed to every handler */\n} %s_server;\n\n", p);
    fprintf(h, "/* `impl` must outlive the server. */\n");
    fprintf(h, "rpc_status %s_register(rpc_server *srv, const %s_server *impl, rpc_error *err);\n",
            p, p);
    fprintf(h, "extern const ProtobufCServiceDescriptor %s;\n", e->symbol);
    for (unsigned i = 0; i < d->n_methods; i++) {
        const ProtobufCMethodDescriptor *m = &d->methods[i];
        fprintf(h, "\n#define %s_%s_METHOD \"%s/%s\"\n", p, m->name, d->name, m->name);
        fprintf(h,
                "/* Calls %s/%s; on OK the caller frees *reply with %s's free_unpacked. */\n"
                "rpc_status %s_%s(rpc_channel *ch, const %s *req, %s **reply,\n"
                "    const rpc_call_opts *opts, rpc_error *err);\n",
                d->name, m->name, m->output->c_name, p, m->name, m->input->c_name,
                m->output->c_name);
        fprintf(h,
                "typedef void (*%s_%s_done)(rpc_status code, const char *message, %s *reply,\n"
                "    void *arg);\n"
                "rpc_status %s_%s_async(rpc_channel *ch, const %s *req, const rpc_call_opts "
                "*opts,\n    %s_%s_done done, void *arg, rpc_error *err);\n",
                p, m->name, m->output->c_name, p, m->name, m->input->c_name, p, m->name);
    }
}

static void emit_source(FILE *c, const stubgen_entry *e, const char *proto_text)
{
    const ProtobufCServiceDescriptor *d = e->desc;
    char p[256];
    c_prefix(d->name, p, sizeof p);
    const char *short_name = d->short_name;
    for (unsigned i = 0; i < d->n_methods; i++) {
        const ProtobufCMethodDescriptor *m = &d->methods[i];
        const char *in = m->input->c_name, *out = m->output->c_name;
        bool idem = is_idempotent(proto_text, short_name, m->name);
        fprintf(c,
                "\nstatic rpc_status %s_%s_serve(rpc_ctx *ctx, const ProtobufCMessage *req,\n"
                "    ProtobufCMessage *reply, void *impl)\n{\n"
                "    const %s_server *s = impl;\n"
                "    return s->%s(ctx, (const %s *)req, (%s *)reply, s->user);\n}\n",
                p, m->name, p, m->name, in, out);
        fprintf(c,
                "\nrpc_status %s_%s(rpc_channel *ch, const %s *req, %s **reply,\n"
                "    const rpc_call_opts *opts, rpc_error *err)\n{\n"
                "    rpc_call_opts o = {0};\n"
                "    if (opts != NULL)\n        o = *opts;\n"
                "    o.idempotent = o.idempotent || %s;\n"
                "    ProtobufCMessage *m = NULL;\n"
                "    rpc_status st = rpc_call(ch, &%s, %u, &req->base, &m, &o, err);\n"
                "    *reply = (%s *)m;\n    return st;\n}\n",
                p, m->name, in, out, idem ? "true" : "false", e->symbol, i, out);
        fprintf(c,
                "\ntypedef struct %s_%s_pending {\n    %s_%s_done done;\n    void *arg;\n} "
                "%s_%s_pending;\n",
                p, m->name, p, m->name, p, m->name);
        fprintf(c,
                "\nstatic void %s_%s_finish(rpc_status code, const char *message,\n"
                "    ProtobufCMessage *reply, void *arg)\n{\n"
                "    %s_%s_pending pending = *(%s_%s_pending *)arg;\n"
                "    free(arg);\n"
                "    pending.done(code, message, (%s *)reply, pending.arg);\n}\n",
                p, m->name, p, m->name, p, m->name, out);
        fprintf(c,
                "\nrpc_status %s_%s_async(rpc_channel *ch, const %s *req, const rpc_call_opts "
                "*opts,\n    %s_%s_done done, void *arg, rpc_error *err)\n{\n"
                "    rpc_call_opts o = {0};\n"
                "    if (opts != NULL)\n        o = *opts;\n"
                "    o.idempotent = o.idempotent || %s;\n"
                "    %s_%s_pending *pending = malloc(sizeof *pending);\n"
                "    if (pending == NULL)\n"
                "        return rpc_error_set(err, RPC_RESOURCE_EXHAUSTED, \"out of memory\");\n"
                "    pending->done = done;\n    pending->arg = arg;\n"
                "    rpc_status st = rpc_call_async(ch, &%s, %u, &req->base, &o, %s_%s_finish,\n"
                "        pending, err);\n"
                "    if (st != RPC_OK)\n        free(pending);\n    return st;\n}\n",
                p, m->name, in, p, m->name, idem ? "true" : "false", p, m->name, e->symbol, i, p,
                m->name);
    }
    fprintf(c,
            "\nrpc_status %s_register(rpc_server *srv, const %s_server *impl, rpc_error *err)\n{\n"
            "    rpc_handler_fn fns[%u + 1] = {0};\n",
            p, p, d->n_methods);
    for (unsigned i = 0; i < d->n_methods; i++)
        fprintf(c, "    fns[%u] = impl->%s != NULL ? %s_%s_serve : NULL;\n", i, d->methods[i].name,
                p, d->methods[i].name);
    fprintf(c, "    return rpc_server_add_service(srv, &%s, fns, (void *)impl, err);\n}\n",
            e->symbol);
}

static int emit_file(const char *outdir, const char *proto_path)
{
    const char *base = strrchr(proto_path, '/');
    base = base != NULL ? base + 1 : proto_path;
    char name[256];
    snprintf(name, sizeof name, "%s", base);
    char *dot = strstr(name, ".proto");
    if (dot != NULL)
        *dot = '\0';
    char path_h[1024], path_c[1024];
    snprintf(path_h, sizeof path_h, "%s/%s.rpc.h", outdir, name);
    snprintf(path_c, sizeof path_c, "%s/%s.rpc.c", outdir, name);
    FILE *h = fopen(path_h, "we"), *c = fopen(path_c, "we");
    if (h == NULL || c == NULL) {
        fprintf(stderr, "rpc-stubgen: cannot write %s\n", path_h);
        if (h != NULL)
            fclose(h);
        if (c != NULL)
            fclose(c);
        return -1;
    }
    char *text = slurp(proto_path);
    fprintf(h, "/* Generated by rpc-stubgen from %s.proto: do not edit. */\n", name);
    fprintf(h, "#ifndef SHOP_RPC_STUB_%s_H\n#define SHOP_RPC_STUB_%s_H\n\n", name, name);
    fprintf(h, "#include \"rpc/rpc.h\"\n#include \"%s.pb-c.h\"\n", name);
    fprintf(c, "/* Generated by rpc-stubgen from %s.proto: do not edit. */\n", name);
    fprintf(c, "#include <stdlib.h>\n\n#include \"%s.rpc.h\"\n", name);
    fprintf(c, "typedef int shop_rpc_stub_%s_nonempty;\n", name);
    for (const stubgen_entry *e = stubgen_entries; e->file != NULL; e++) {
        if (strcmp(e->file, name) != 0)
            continue;
        emit_header(h, e);
        emit_source(c, e, text);
    }
    fprintf(h, "\n#endif\n");
    free(text);
    int bad = ferror(h) || ferror(c);
    bad |= fclose(h) != 0;
    bad |= fclose(c) != 0;
    return bad ? -1 : 0;
}

static int emit_registry(const char *outdir)
{
    char path_h[1024], path_c[1024];
    snprintf(path_h, sizeof path_h, "%s/rpc_services.h", outdir);
    snprintf(path_c, sizeof path_c, "%s/rpc_services.c", outdir);
    FILE *h = fopen(path_h, "we"), *c = fopen(path_c, "we");
    if (h == NULL || c == NULL) {
        if (h != NULL)
            fclose(h);
        if (c != NULL)
            fclose(c);
        return -1;
    }
    fprintf(h, "/* Generated by rpc-stubgen: every service in proto/. */\n"
               "#ifndef SHOP_RPC_SERVICES_H\n#define SHOP_RPC_SERVICES_H\n\n"
               "#include <stddef.h>\n#include <protobuf-c/protobuf-c.h>\n\n"
               "extern const ProtobufCServiceDescriptor *const rpc_all_services[];\n"
               "extern const size_t rpc_n_all_services;\n\n#endif\n");
    fprintf(c, "/* Generated by rpc-stubgen: do not edit. */\n#include \"rpc_services.h\"\n");
    size_t n = 0;
    for (const stubgen_entry *e = stubgen_entries; e->file != NULL; e++, n++)
        fprintf(c, "extern const ProtobufCServiceDescriptor %s;\n", e->symbol);
    fprintf(c, "\nconst ProtobufCServiceDescriptor *const rpc_all_services[] = {\n");
    for (const stubgen_entry *e = stubgen_entries; e->file != NULL; e++)
        fprintf(c, "    &%s,\n", e->symbol);
    fprintf(c, "    NULL,\n};\nconst size_t rpc_n_all_services = %zu;\n", n);
    int bad = fclose(h) != 0;
    bad |= fclose(c) != 0;
    return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: rpc-stubgen OUT_DIR PROTO_FILE...\n");
        return 2;
    }
    for (int i = 2; i < argc; i++)
        if (emit_file(argv[1], argv[i]) != 0)
            return 1;
    return emit_registry(argv[1]) != 0 ? 1 : 0;
}
