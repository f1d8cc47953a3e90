/* rpc-stubgen's input: every service descriptor protoc-c generated, with the
 * proto file it came from (table written by scan.cmake). */
#ifndef SHOP_RPC_STUBGEN_H
#define SHOP_RPC_STUBGEN_H

#include <protobuf-c/protobuf-c.h>

typedef struct stubgen_entry {
    const char *file;   /* proto base name: "stock" */
    const char *symbol; /* "shop__stock__stock_service__descriptor" */
    const ProtobufCServiceDescriptor *desc;
} stubgen_entry;

extern const stubgen_entry stubgen_entries[]; /* ends with a NULL file */

#endif
