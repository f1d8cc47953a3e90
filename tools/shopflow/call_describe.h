/* `shopflow call --describe NAME`: a service, a method (Service/Method) or a
 * message or enum type, printed in .proto form from the protobuf-c
 * descriptors linked into shopflow (every service of proto/ and every type
 * reachable from them), with the types it uses. */
#ifndef SHOPFLOW_CALL_DESCRIBE_H
#define SHOPFLOW_CALL_DESCRIBE_H

#include <stdio.h>

/* Prints NAME's description on out; returns 0, or -1 when nothing has that
 * name. */
int call_describe(FILE *out, const char *name);

#endif
