/* shopflow scenario: placeholder until its part lands. */
#include "commands.h"

int cmd_scenario(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return shopflow_not_built("scenario", "bench/");
}
