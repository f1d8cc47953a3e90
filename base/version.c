/* --version for every shopflow binary, from the project version. */
#include "base/version.h"

#include <stdio.h>
#include <string.h>

int shop_version_asked(int argc, char *const *argv, const char *prog)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s (shopflow) %s\n", prog, SHOPFLOW_VERSION);
            return 1;
        }
    }
    return 0;
}
