/* shopflow bench: placeholder until its part lands. */
#include "commands.h"

int cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return shopflow_not_built("bench", "bench/");
}
