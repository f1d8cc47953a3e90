/* shopflow mq: placeholder until its part lands. */
#include "commands.h"

int cmd_mq(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return shopflow_not_built("mq", "mq/ broker tools");
}
