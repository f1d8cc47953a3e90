/* protoc-gen-shoprpc: the protoc plugin that writes shoprpc's typed stubs.
 * protoc runs it with a CodeGeneratorRequest on stdin (decoded with
 * protobuf-c, from Debian's plugin.proto) and reads the CodeGeneratorResponse
 * it writes to stdout: <file>.rpc.h and <file>.rpc.c for every .proto named
 * on protoc's command line, and rpc_services.{h,c} with the services_table
 * option. Problems in the .proto (a streaming method) go back in the
 * response's `error`, which protoc prints; a request that does not decode is
 * reported on stderr with a non-zero exit, as the plugin protocol asks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc/stubgen/stubgen.h"
#include "base/version.h"

typedef Google__Protobuf__Compiler__CodeGeneratorResponse response;
typedef Google__Protobuf__Compiler__CodeGeneratorResponse__File response_file;

static const char usage_text[] =
    "usage: protoc --plugin=protoc-gen-shoprpc=PATH --shoprpc_out=[OPTIONS:]DIR [-I DIR] "
    "FILE.proto...\n"
    "       protoc --shoprpc_out=DIR FILE.proto...   (protoc-gen-shoprpc on PATH)\n"
    "       protoc-gen-shoprpc --help | --version\n"
    "\n"
    "A protoc plugin: for every FILE.proto it writes DIR/FILE.rpc.h and DIR/FILE.rpc.c,\n"
    "shoprpc's typed stubs: per service a server struct of handlers and its register\n"
    "function, per method a sync and an async client call. They include FILE.pb-c.h\n"
    "(run protoc-c --c_out with the same -I) and rpc/rpc.h; link shoprpc.\n"
    "A file without services gets stubs without functions, so that build rules\n"
    "can name two outputs per .proto.\n"
    "\n"
    "Options (comma-separated, before ':' in --shoprpc_out or in --shoprpc_opt):\n"
    "  services_table  also write DIR/rpc_services.{h,c}: a table of every service\n"
    "                  of the given files (rpc_all_services, rpc_n_all_services)\n"
    "\n"
    "Methods marked `option idempotency_level = IDEMPOTENT;` (or NO_SIDE_EFFECTS)\n"
    "may be retried by the channel. Streaming methods are refused: a shoprpc call\n"
    "is one request and one reply (nng REQ/REP).\n"
    "\n"
    "It reads a CodeGeneratorRequest on stdin; started by hand on a terminal it\n"
    "prints this instead.\n";

/* The whole of stdin. NULL on a read error or out of memory. */
static uint8_t *read_all(FILE *in, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, in);
        if (ferror(in)) {
            free(buf);
            return NULL;
        }
        if (n < cap) {
            *len = n;
            return buf;
        }
        uint8_t *bigger = realloc(buf, cap * 2);
        if (bigger == NULL)
            free(buf);
        buf = bigger;
        cap *= 2;
    }
    return NULL;
}

/* Parses the generator parameter; -1 with *err for an unknown option. */
static int parse_options(const char *param, bool *table, char **err)
{
    *table = false;
    char *copy = strdup(param != NULL ? param : ""), *save = NULL;
    if (copy == NULL)
        return -1;
    int rc = 0;
    for (char *opt = strtok_r(copy, ",", &save); opt != NULL && rc == 0;
         opt = strtok_r(NULL, ",", &save)) {
        if (strcmp(opt, "services_table") == 0) {
            *table = true;
        } else {
            if (asprintf(err, "protoc-gen-shoprpc: unknown option '%s' (known: services_table)",
                         opt) < 0)
                *err = NULL;
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

/* Appends one output file to the response; takes `content` (freed on failure). */
static int add_file(response *resp, const char *base, const char *suffix, char *content)
{
    char *name = NULL;
    response_file *f = malloc(sizeof *f);
    response_file **files = realloc(resp->file, (resp->n_file + 1) * sizeof *files);
    if (files != NULL)
        resp->file = files;
    if (f == NULL || files == NULL || asprintf(&name, "%s%s", base, suffix) < 0) {
        free(f);
        free(content);
        return -1;
    }
    google__protobuf__compiler__code_generator_response__file__init(f);
    f->name = name;
    f->content = content;
    resp->file[resp->n_file++] = f;
    return 0;
}

static void free_response(response *resp)
{
    for (size_t i = 0; i < resp->n_file; i++) {
        free(resp->file[i]->name);
        free(resp->file[i]->content);
        free(resp->file[i]);
    }
    free(resp->file);
    free(resp->error);
}

/* Fills the response's files or its error. -1 only when out of memory. */
static int generate(const stubgen_request *req, response *resp)
{
    bool table;
    if (parse_options(req->parameter, &table, &resp->error) != 0)
        return resp->error != NULL ? 0 : -1;
    for (size_t i = 0; i < req->n_file_to_generate; i++) {
        const char *name = req->file_to_generate[i];
        const stubgen_file *file = NULL;
        for (size_t j = 0; j < req->n_proto_file && file == NULL; j++)
            if (req->proto_file[j]->name != NULL && strcmp(req->proto_file[j]->name, name) == 0)
                file = req->proto_file[j];
        if (file == NULL)
            return asprintf(&resp->error, "%s: not in the request", name) < 0 ? -1 : 0;
        char *h, *c, *base = stubgen_strip_proto(name);
        if (base == NULL)
            return -1;
        if (stubgen_emit_file(req, file, &h, &c, &resp->error) != 0) {
            free(base);
            return resp->error != NULL ? 0 : -1;
        }
        int bad = add_file(resp, base, ".rpc.h", h);
        bad |= add_file(resp, base, ".rpc.c", c);
        free(base);
        if (bad)
            return -1;
    }
    if (table) {
        char *h, *c;
        if (stubgen_emit_table(req, &h, &c, &resp->error) != 0)
            return resp->error != NULL ? 0 : -1;
        int bad = add_file(resp, "rpc_services", ".h", h);
        bad |= add_file(resp, "rpc_services", ".c", c);
        if (bad)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("protoc-gen-shoprpc (shopflow) %s, protobuf-c %s\n", SHOPFLOW_VERSION,
               protobuf_c_version());
        return 0;
    }
    if (argc > 1 || isatty(STDIN_FILENO)) {
        fputs(usage_text, stderr);
        return 2;
    }
    size_t len = 0;
    uint8_t *in = read_all(stdin, &len);
    if (in == NULL) {
        perror("protoc-gen-shoprpc: reading stdin");
        return 1;
    }
    stubgen_request *req =
        google__protobuf__compiler__code_generator_request__unpack(NULL, len, in);
    free(in);
    if (req == NULL) {
        fprintf(stderr, "protoc-gen-shoprpc: stdin is not a CodeGeneratorRequest; run me "
                        "through protoc (see --help)\n");
        return 1;
    }
    response resp = GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;
    resp.has_supported_features = true; /* the stubs never look at fields */
    resp.supported_features =
        GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__FEATURE__FEATURE_PROTO3_OPTIONAL;
    int rc = generate(req, &resp);
    google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
    uint8_t *out = NULL;
    size_t out_len = 0;
    if (rc == 0) {
        out_len = google__protobuf__compiler__code_generator_response__get_packed_size(&resp);
        out = malloc(out_len > 0 ? out_len : 1);
    }
    if (out != NULL)
        google__protobuf__compiler__code_generator_response__pack(&resp, out);
    free_response(&resp);
    if (out == NULL) {
        fprintf(stderr, "protoc-gen-shoprpc: out of memory\n");
        return 1;
    }
    int bad = fwrite(out, 1, out_len, stdout) != out_len;
    free(out);
    bad |= fflush(stdout) != 0;
    if (bad) {
        perror("protoc-gen-shoprpc: writing stdout");
        return 1;
    }
    return 0;
}
