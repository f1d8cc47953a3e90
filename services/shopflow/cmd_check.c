/* shopflow check: placeholder until its part lands. */
#include "commands.h"

int cmd_check(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return shopflow_not_built("check", "bench/ invariant checker");
}
