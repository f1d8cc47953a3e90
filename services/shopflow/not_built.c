/* The answer of a command whose part is not built yet. */
#include "commands.h"

#include <stdio.h>

int shopflow_not_built(const char *command, const char *what)
{
    fprintf(stderr, "shopflow %s: not built yet (%s)\n", command, what);
    return 3;
}
