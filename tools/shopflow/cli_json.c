/* JSON output of the shopflow commands (cli_json.h). */
#include "tools/shopflow/cli_json.h"

#include <stdio.h>

int cli_json_print(const char *cmd, json_t *v)
{
    if (v == NULL) {
        fprintf(stderr, "shopflow %s: cannot build the JSON output\n", cmd);
        return 1;
    }
    int rc = json_dumpf(v, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(v);
    if (rc != 0) {
        fprintf(stderr, "shopflow %s: cannot write the JSON output\n", cmd);
        return 1;
    }
    fputc('\n', stdout);
    return 0;
}
