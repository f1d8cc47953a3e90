/* JSON output of the shopflow commands (--json), through jansson. */
#ifndef SHOPFLOW_CLI_JSON_H
#define SHOPFLOW_CLI_JSON_H

#include <jansson.h>

/* Prints `v` on stdout (indented, keys in insertion order, newline) and
 * frees it. A NULL `v` (a failed json_pack: out of memory or a bug) is
 * reported on stderr as `cmd`. Returns 0, or 1 on failure. */
int cli_json_print(const char *cmd, json_t *v);

#endif
