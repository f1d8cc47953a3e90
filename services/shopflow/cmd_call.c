/* shopflow call: placeholder until its part lands. */
#include "commands.h"

int cmd_call(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return shopflow_not_built("call", "rpc/ text client");
}
