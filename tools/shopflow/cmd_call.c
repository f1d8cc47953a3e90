/* shopflow call: calls any RPC method from the command line, like grpcurl.
 * The request is built from the protobuf-c descriptors of every service in
 * proto/ (`field=value ...`, or proto3 JSON with -d), the reply is printed in
 * protobuf text form (or JSON with --json), --describe prints a service,
 * method or type, and the exit code says how the call went: 0 OK, 64+code
 * for an RPC status, 1 for a local error, 2 for bad usage. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/shopflow/call_describe.h"
#include "tools/shopflow/call_json.h"
#include "tools/shopflow/cli_json.h"
#include "tools/shopflow/commands.h"
#include "rpc/rpc.h"
#include "rpc/text.h"
#include "rpc_admin.rpc.h"
#include "rpc_services.h"

#define EXIT_STATUS_BASE 64
#define MAX_JSON_INPUT (16u << 20)

static void usage(FILE *out)
{
    fprintf(out,
            "usage: shopflow call [--timeout MS] [--wait] [-H K=V]... URL package.Service/Method "
            "['field=value ...']\n"
            "       shopflow call [options] -d JSON|@FILE|@- [--json] URL package.Service/Method\n"
            "       shopflow call --list URL\n"
            "       shopflow call --describe NAME\n"
            "Calls an RPC method and prints the reply in protobuf text form.\n"
            "  field=value       scalars, strings (\"quote spaces\"), enums by name or number,\n"
            "                    nested fields as outer.inner=v, repeated fields by repeating\n"
            "                    them or by index: items[0].id=7 items[1].id=8\n"
            "  --timeout MS      deadline (env SHOPFLOW_CALL_TIMEOUT_MS, default 5000)\n"
            "  --wait            wait for the server instead of failing with UNAVAILABLE\n"
            "  -H, --meta K=V    send metadata (repeatable), e.g. -H trace=abc\n"
            "  -d, --data JSON   the request in the proto3 JSON mapping ('{\"userId\": \"1\"}';\n"
            "                    field names in camelCase or as in the .proto; 64-bit numbers\n"
            "                    as strings or numbers; bytes as base64); @FILE reads a file,\n"
            "                    @- reads stdin\n"
            "  --json            print the reply in the proto3 JSON mapping\n"
            "  --list            print the services and methods the server exposes\n"
            "  --describe NAME   print a service (package.Service), a method\n"
            "                    (package.Service/Method) or a message or enum type in .proto\n"
            "                    form, with the types it uses; needs no server\n"
            "Exit: 0 OK, 64+code for an RPC status (e.g. 78 UNAVAILABLE), 1 local error,\n"
            "2 usage.\n");
}

static const ProtobufCMethodDescriptor *find_method(const char *full)
{
    const char *slash = strrchr(full, '/');
    if (slash == NULL)
        return NULL;
    size_t svc_len = (size_t)(slash - full);
    for (size_t i = 0; i < rpc_n_all_services; i++) {
        const ProtobufCServiceDescriptor *s = rpc_all_services[i];
        if (strlen(s->name) != svc_len || strncmp(s->name, full, svc_len) != 0)
            continue;
        for (unsigned k = 0; k < s->n_methods; k++)
            if (strcmp(s->methods[k].name, slash + 1) == 0)
                return &s->methods[k];
    }
    return NULL;
}

static int status_exit(rpc_status st, const rpc_error *err)
{
    fprintf(stderr, "shopflow call: %s: %s\n", rpc_status_name(st), err->message);
    return EXIT_STATUS_BASE + (int)st;
}

static int list_methods(rpc_channel *ch, const rpc_call_opts *co)
{
    Shop__Rpc__ListMethodsRequest req = SHOP__RPC__LIST_METHODS_REQUEST__INIT;
    Shop__Rpc__ListMethodsReply *rep = NULL;
    rpc_error err = {0};
    rpc_status st = shop_rpc_Admin_ListMethods(ch, &req, &rep, co, &err);
    if (st != RPC_OK)
        return status_exit(st, &err);
    for (size_t i = 0; i < rep->n_methods; i++)
        printf("%s(%s) returns (%s)\n", rep->methods[i]->name, rep->methods[i]->input_type,
               rep->methods[i]->output_type);
    shop__rpc__list_methods_reply__free_unpacked(rep, NULL);
    return 0;
}

/* The -d argument's text: itself, a file's content (@FILE) or stdin (@-). */
static char *read_data(const char *data, size_t *len)
{
    if (data[0] != '@') {
        *len = strlen(data);
        return strdup(data);
    }
    FILE *f = strcmp(data, "@-") == 0 ? stdin : fopen(data + 1, "re");
    if (f == NULL) {
        fprintf(stderr, "shopflow call: cannot read %s: %s\n", data + 1, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n == cap) {
            char *grown = cap < MAX_JSON_INPUT ? realloc(buf, cap * 2) : NULL;
            if (grown == NULL) {
                fprintf(stderr, "shopflow call: %s is larger than %u MiB\n", data,
                        MAX_JSON_INPUT >> 20);
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

/* The request from field=value arguments or -d JSON; NULL after a message. */
static ProtobufCMessage *build_request(const ProtobufCMethodDescriptor *md, const char *data,
                                       int nargs, char **args)
{
    ProtobufCMessage *req = rpc_text_new(md->input);
    shop_error bad = {0};
    if (data != NULL) {
        size_t len = 0;
        char *text = read_data(data, &len);
        rpc_status st = text != NULL ? call_json_parse(req, text, len, &bad) : RPC_INTERNAL;
        free(text);
        if (st != RPC_OK) {
            if (text != NULL)
                fprintf(stderr, "shopflow call: %s\n", bad.message);
            protobuf_c_message_free_unpacked(req, NULL);
            return NULL;
        }
        return req;
    }
    for (int i = 0; i < nargs; i++) {
        if (rpc_text_assign_all(req, args[i], &bad) != RPC_OK) {
            fprintf(stderr, "shopflow call: %s\n", bad.message);
            protobuf_c_message_free_unpacked(req, NULL);
            return NULL;
        }
    }
    return req;
}

static int call_method(rpc_channel *ch, const char *method, int nargs, char **args,
                       const rpc_call_opts *co, const char *data, int json)
{
    const ProtobufCMethodDescriptor *md = find_method(method);
    if (md == NULL) {
        fprintf(stderr,
                "shopflow call: unknown method '%s' (want package.Service/Method; "
                "`shopflow call --list URL` shows what the server has)\n",
                method);
        return 2;
    }
    if (data != NULL && nargs > 0) {
        fprintf(stderr, "shopflow call: give the request either as -d JSON or as field=value, "
                        "not both\n");
        return 2;
    }
    ProtobufCMessage *req = build_request(md, data, nargs, args);
    if (req == NULL)
        return 2;
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(len > 0 ? len : 1), *out = NULL;
    size_t out_len = 0;
    protobuf_c_message_pack(req, buf);
    protobuf_c_message_free_unpacked(req, NULL);
    rpc_error err = {0};
    rpc_status st = rpc_channel_call_bytes(ch, method, buf, len, &out, &out_len, co, &err);
    free(buf);
    if (st != RPC_OK)
        return status_exit(st, &err);
    ProtobufCMessage *rep = protobuf_c_message_unpack(md->output, NULL, out_len, out);
    free(out);
    if (rep == NULL) {
        fprintf(stderr, "shopflow call: the reply does not decode as %s\n", md->output->name);
        return 1;
    }
    int rc = 0;
    if (json)
        rc = cli_json_print("call", call_json_from_message(rep));
    else
        rpc_text_print(stdout, rep, 0);
    protobuf_c_message_free_unpacked(rep, NULL);
    return rc;
}

int cmd_call(int argc, char **argv)
{
    static const struct option longopts[] = {{"timeout", required_argument, NULL, 't'},
                                             {"list", no_argument, NULL, 'l'},
                                             {"wait", no_argument, NULL, 'w'},
                                             {"meta", required_argument, NULL, 'H'},
                                             {"data", required_argument, NULL, 'd'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"describe", no_argument, NULL, 'D'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *env = getenv("SHOPFLOW_CALL_TIMEOUT_MS");
    rpc_call_opts co = {.timeout_ms = env != NULL && *env ? atoll(env) : 5000};
    rpc_metadata md[16];
    char *md_copy[16];
    int list = 0, describe = 0, json = 0, c, rc = 2;
    const char *data = NULL;
    size_t n_md = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+t:lwH:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            co.timeout_ms = atoll(optarg);
            if (co.timeout_ms <= 0) {
                fprintf(stderr, "shopflow call: --timeout wants a positive number of ms\n");
                goto done;
            }
            break;
        case 'l':
            list = 1;
            break;
        case 'd':
            data = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'D':
            describe = 1;
            break;
        case 'w':
            co.wait_for_ready = true;
            break;
        case 'H': {
            char *eq = strchr(optarg, '=');
            if (eq == NULL || eq == optarg || n_md == 16) {
                fprintf(stderr, "shopflow call: --meta wants KEY=VALUE (at most 16)\n");
                goto done;
            }
            if ((md_copy[n_md] = strdup(optarg)) == NULL)
                goto done;
            md_copy[n_md][eq - optarg] = '\0';
            md[n_md].key = md_copy[n_md];
            md[n_md].value = md_copy[n_md] + (eq - optarg) + 1;
            n_md++;
            break;
        }
        case 'h':
            usage(stdout);
            rc = 0;
            goto done;
        default:
            usage(stderr);
            goto done;
        }
    }
    co.metadata = md;
    co.n_metadata = n_md;
    if (describe) {
        if (argc - optind < 1) {
            fprintf(stderr, "shopflow call --describe: name a service, method or type\n");
            goto done;
        }
        const char *name = argv[argc - 1]; /* `--describe URL NAME` works too */
        if (call_describe(stdout, name) == 0) {
            rc = 0;
        } else {
            fprintf(stderr,
                    "shopflow call --describe: nothing is named '%s' (want package.Service, "
                    "package.Service/Method or package.Type; `shopflow call --list URL` lists a "
                    "server's methods)\n",
                    name);
        }
        goto done;
    }
    if (argc - optind < (list ? 1 : 2)) {
        usage(stderr);
        goto done;
    }
    rpc_channel *ch = NULL;
    rpc_error err = {0};
    rpc_channel_opts chopts = {.retry = {.max_attempts = 1}};
    if (rpc_channel_open(&ch, argv[optind], &chopts, &err) != RPC_OK) {
        fprintf(stderr, "shopflow call: %s\n", err.message);
        goto done;
    }
    rc = list ? list_methods(ch, &co)
              : call_method(ch, argv[optind + 1], argc - optind - 2, argv + optind + 2, &co, data,
                            json);
    rpc_channel_close(ch);
done:
    for (size_t i = 0; i < n_md; i++)
        free(md_copy[i]);
    return rc;
}
