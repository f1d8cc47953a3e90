/* shopflow up: placeholder until its part lands. */
#include "commands.h"

int cmd_up(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return shopflow_not_built("up", "services");
}
