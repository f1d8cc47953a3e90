/* protoc-gen-shoprpc, the protoc plugin that writes typed stubs, run the way a
 * user runs it: protoc with --plugin on .proto files the test writes (a
 * package with two services, messages from an imported file of another
 * package, a file without services, a streaming method). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/spawn.h"
#include "tests/support/testsupport.h"

static const char money_proto[] = "syntax = \"proto3\";\n"
                                  "package shop.common;\n"
                                  "message Money { int64 cents = 1; string currency = 2; }\n";

static const char pay_proto[] =
    "syntax = \"proto3\";\n"
    "package acme.pay;\n"
    "import \"common/money.proto\";\n"
    "message ChargeRequest { shop.common.Money amount = 1; string card_token = 2; }\n"
    "message ChargeReply { string charge_id = 1; }\n"
    "service Payments {\n"
    "  rpc Charge(ChargeRequest) returns (ChargeReply) {\n"
    "    option idempotency_level = IDEMPOTENT;\n"
    "  }\n"
    "  rpc Refund(shop.common.Money) returns (ChargeReply);\n"
    "}\n"
    "service Audit { rpc Balance(ChargeReply) returns (shop.common.Money); }\n";

static const char stream_proto[] = "syntax = \"proto3\";\n"
                                   "package acme.feed;\n"
                                   "message Tick { int64 at = 1; }\n"
                                   "service Feed { rpc Watch(Tick) returns (stream Tick); }\n";

/* A fresh directory for one test under the binary's scratch directory. */
static void make_dir(char *dir, size_t len, const char *what)
{
    snprintf(dir, len, "%s/stubgen-%s-%lld", ts_tmp_dir(), what, (long long)shop_now_us());
    cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s: %s", dir, strerror(errno));
}

static void write_file(const char *dir, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0755); /* the parent of "common/money.proto" */
    *slash = '/';
    FILE *f = fopen(path, "we");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* The file's text (malloc'd), or NULL when it does not exist. */
static char *read_file(const char *dir, const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    char *text = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&text, &cap, '\0', f);
    fclose(f);
    if (n < 0) {
        free(text);
        return strdup("");
    }
    return text;
}

static bool exists(const char *dir, const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return access(path, F_OK) == 0;
}

/* Runs argv (argv[0] looked up in PATH) in `dir`, its output in dir/run.log.
 * Returns the exit code. */
static int run_in(const char *dir, char *const argv[])
{
    char log[512];
    shop_error err = {0};
    snprintf(log, sizeof log, "%s/run.log", dir);
    shop_spawn_opts so = {
        .log_path = log, .log_truncate = true, .stdin_null = true, .search_path = true, .cwd = dir};
    pid_t pid = 0;
    cr_assert_eq(shop_spawn(argv, &so, &pid, &err), RPC_OK, "%s: %s", argv[0], err.message);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* protoc with the built plugin on `file`, writing into dir/out; `options`
 * go before the ':' of --shoprpc_out. */
static int run_protoc(const char *dir, const char *options, const char *file)
{
    char plugin_path[512], plugin[600], out[600];
    ts_bin("protoc-gen-shoprpc", plugin_path, sizeof plugin_path);
    snprintf(plugin, sizeof plugin, "--plugin=protoc-gen-shoprpc=%s", plugin_path);
    snprintf(out, sizeof out, "--shoprpc_out=%s%sout", options, options[0] != '\0' ? ":" : "");
    snprintf(plugin_path, sizeof plugin_path, "%s/out", dir);
    mkdir(plugin_path, 0755);
    char *argv[] = {"protoc", plugin, out, "-I.", (char *)file, NULL};
    return run_in(dir, argv);
}

/* Makes a fresh dir (common/money.proto in it, for imports), writes `text` as
 * `rel` and runs protoc with the plugin on it. Returns protoc's exit code. */
static int protoc_on(char *dir, size_t len, const char *what, const char *options, const char *rel,
                     const char *text)
{
    make_dir(dir, len, what);
    write_file(dir, "common/money.proto", money_proto);
    write_file(dir, rel, text);
    return run_protoc(dir, options, rel);
}

static void expect_contains(const char *text, const char *what, const char *file)
{
    cr_expect_not_null(strstr(text, what), "%s lacks \"%s\"", file, what);
}

Test(rpc_stubgen_plugin, protoc_with_the_plugin_writes_stubs_for_two_services_and_imported_types)
{
    char dir[400];
    cr_assert_eq(protoc_on(dir, sizeof dir, "two", "", "acme/pay.proto", pay_proto), 0,
                 "protoc failed, see %s/run.log", dir);

    char *h = read_file(dir, "out/acme/pay.rpc.h"), *c = read_file(dir, "out/acme/pay.rpc.c");
    cr_assert_not_null(h, "no out/acme/pay.rpc.h");
    cr_assert_not_null(c, "no out/acme/pay.rpc.c");
    const char *in_h[] = {
        "#include \"acme/pay.pb-c.h\"",
        "rpc_status acme_pay_Payments_Charge(rpc_channel *ch, const Acme__Pay__ChargeRequest *req, "
        "Acme__Pay__ChargeReply **reply,",
        "rpc_status acme_pay_Payments_Charge_async(",
        "rpc_status acme_pay_Payments_Refund(rpc_channel *ch, const Shop__Common__Money *req,",
        "rpc_status acme_pay_Payments_register(rpc_server *srv, const acme_pay_Payments_server",
        "rpc_status acme_pay_Audit_Balance(rpc_channel *ch, const Acme__Pay__ChargeReply *req, "
        "Shop__Common__Money **reply,",
        "rpc_status acme_pay_Audit_register(",
        "extern const ProtobufCServiceDescriptor acme__pay__payments__descriptor;",
        "#define acme_pay_Audit_Balance_METHOD \"acme.pay.Audit/Balance\"",
    };
    for (size_t i = 0; i < sizeof in_h / sizeof in_h[0]; i++)
        expect_contains(h, in_h[i], "pay.rpc.h");
    expect_contains(c, "#include \"acme/pay.rpc.h\"", "pay.rpc.c");
    expect_contains(c, "static rpc_status acme_pay_Audit_Balance_serve(", "pay.rpc.c");
    /* Charge is declared idempotent, Refund is not. */
    const char *charge = strstr(c, "\nrpc_status acme_pay_Payments_Charge(");
    const char *refund = strstr(c, "\nrpc_status acme_pay_Payments_Refund(");
    cr_assert(charge != NULL && refund != NULL);
    cr_expect(
        strncmp(strstr(charge, "o.idempotent ="), "o.idempotent = o.idempotent || true;", 36) == 0);
    cr_expect(strncmp(strstr(refund, "o.idempotent ="), "o.idempotent = o.idempotent || false;",
                      37) == 0);
    /* Only the files named on the command line get stubs. */
    cr_expect_not(exists(dir, "out/common/money.rpc.h"));
    free(h);
    free(c);
}

Test(rpc_stubgen_plugin, the_stubs_compile_against_the_headers_protoc_c_writes)
{
    char dir[400];
    cr_assert_eq(protoc_on(dir, sizeof dir, "cc", "services_table", "acme/pay.proto", pay_proto), 0,
                 "protoc failed, see %s/run.log", dir);
    char *protoc_c[] = {"protoc-c",       "--c_out=out",        "-I.",
                        "acme/pay.proto", "common/money.proto", NULL};
    cr_assert_eq(run_in(dir, protoc_c), 0, "protoc-c failed, see %s/run.log", dir);
    char src[600];
    snprintf(src, sizeof src, "-I%s", SHOP_SOURCE_DIR);
    const char *units[] = {"out/acme/pay.rpc.c", "out/rpc_services.c"};
    for (size_t i = 0; i < 2; i++) {
        char *cc[] = {"cc", "-std=c11", "-Wall",          "-Wextra", "-Werror", "-fsyntax-only",
                      src,  "-Iout",    (char *)units[i], NULL};
        cr_expect_eq(run_in(dir, cc), 0, "%s does not compile, see %s/run.log", units[i], dir);
    }
}

Test(rpc_stubgen_plugin, a_file_without_services_gets_stubs_without_functions)
{
    char dir[400];
    cr_assert_eq(protoc_on(dir, sizeof dir, "empty", "", "common/money.proto", money_proto), 0,
                 "protoc failed, see %s/run.log", dir);
    char *h = read_file(dir, "out/common/money.rpc.h"),
         *c = read_file(dir, "out/common/money.rpc.c");
    cr_assert(h != NULL && c != NULL, "a service-less file still gets both files");
    expect_contains(h, "#include \"common/money.pb-c.h\"", "money.rpc.h");
    cr_expect_null(strstr(h, "rpc_status"), "no functions expected:\n%s", h);
    free(h);
    free(c);
}

Test(rpc_stubgen_plugin, a_streaming_method_fails_protoc_with_a_message_naming_it)
{
    char dir[400];
    cr_assert_neq(protoc_on(dir, sizeof dir, "stream", "", "acme/feed.proto", stream_proto), 0);
    char *log = read_file(dir, "run.log");
    cr_assert_not_null(log);
    expect_contains(log, "acme/feed.proto: acme.feed.Feed/Watch is a streaming method", "output");
    expect_contains(log, "only unary methods are supported", "output");
    cr_expect_not(exists(dir, "out/acme/feed.rpc.h"), "nothing is written on an error");
    free(log);
}

Test(rpc_stubgen_plugin, the_plugin_answers_help_and_version_instead_of_reading_stdin)
{
    char dir[400], path[512];
    make_dir(dir, sizeof dir, "flags");
    ts_bin("protoc-gen-shoprpc", path, sizeof path);
    char *help[] = {path, "--help", NULL};
    cr_assert_eq(run_in(dir, help), 0);
    char *log = read_file(dir, "run.log");
    expect_contains(log, "--shoprpc_out=", "--help");
    free(log);
    char *version[] = {path, "--version", NULL};
    cr_assert_eq(run_in(dir, version), 0);
    log = read_file(dir, "run.log");
    expect_contains(log, "protoc-gen-shoprpc ", "--version");
    free(log);
}
