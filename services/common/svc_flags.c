/* Flag values with environment fallbacks. */
#include "services/common/svc_flags.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "services/pg/shop_pg.h"

const char *shop_flag_str(const char *cli, const char *env, const char *def)
{
    if (cli != NULL)
        return cli;
    const char *v = env != NULL ? getenv(env) : NULL;
    if (v != NULL && v[0] != '\0')
        return v;
    return def;
}

int shop_flag_i64(const char *prog, const char *name, const char *cli, const char *env, int64_t def,
                  int64_t min, int64_t max, int64_t *out)
{
    const char *v = shop_flag_str(cli, env, NULL);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < min || x > max) {
        fprintf(stderr, "%s: bad %s '%s': want an integer in [%" PRId64 ", %" PRId64 "]%s%s\n",
                prog, name, v, min, max, cli == NULL && env != NULL ? " (from $" : "",
                cli == NULL && env != NULL ? env : "");
        return -1;
    }
    *out = x;
    return 0;
}
