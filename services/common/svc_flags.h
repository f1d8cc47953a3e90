/* Daemon flags with environment fallbacks: a value comes from the command
 * line, else from its environment variable, else from the default. */
#ifndef SHOP_SVC_FLAGS_H
#define SHOP_SVC_FLAGS_H

#include <stdint.h>

/* `cli` if not NULL, else getenv(env) if set and non-empty, else `def`. */
const char *shop_flag_str(const char *cli, const char *env, const char *def);

/* Same lookup, parsed as an integer within [min, max]. On a bad value prints
 * "<prog>: bad <name> '<value>': ..." to stderr and returns -1. */
int shop_flag_i64(const char *prog, const char *name, const char *cli, const char *env, int64_t def,
                  int64_t min, int64_t max, int64_t *out);

#endif
