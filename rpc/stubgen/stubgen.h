/* protoc-gen-shoprpc's internals: protobuf-c's naming rules (names.c) and the
 * writers of the stub files (emit.c), both reading the CodeGeneratorRequest
 * that protoc sent to the plugin (plugin.c). */
#ifndef SHOP_RPC_STUBGEN_H
#define SHOP_RPC_STUBGEN_H

#include <stdbool.h>

#include "google/protobuf/compiler/plugin.pb-c.h"

typedef Google__Protobuf__Compiler__CodeGeneratorRequest stubgen_request;
typedef Google__Protobuf__FileDescriptorProto stubgen_file;
typedef Google__Protobuf__ServiceDescriptorProto stubgen_service;

/* The C struct protoc-c names the message `full_name` (".shop.stock.Item"):
 * "Shop__Stock__Item". Looks the message up among every file of the request,
 * since the file that defines it may rename its package (protobuf-c's
 * `option (pb_c_file).c_package`). NULL when no file defines it. Malloc'd. */
char *stubgen_c_type(const stubgen_request *req, const char *full_name);

/* The ProtobufCServiceDescriptor protoc-c emits for `svc` of `file`:
 * "shop__stock__stock_service__descriptor". Malloc'd, NULL if out of memory. */
char *stubgen_c_service_symbol(const stubgen_file *file, const stubgen_service *svc);

/* The service's full name, "shop.stock.StockService". Malloc'd. */
char *stubgen_full_name(const stubgen_file *file, const char *name);

/* The file's name without ".proto" ("shop/stock.proto" -> "shop/stock"). */
char *stubgen_strip_proto(const char *file_name);

/* Writes <name>.rpc.h and <name>.rpc.c for one file of the request into *h
 * and *c (malloc'd). Returns 0, or -1 with a message for the user in *err
 * (malloc'd): a streaming method, an unknown message type, out of memory. */
int stubgen_emit_file(const stubgen_request *req, const stubgen_file *file, char **h, char **c,
                      char **err);

/* Writes rpc_services.{h,c}: a table of every service descriptor of the files
 * to generate (for tools such as `shopflow call`). Same contract. */
int stubgen_emit_table(const stubgen_request *req, char **h, char **c, char **err);

#endif
