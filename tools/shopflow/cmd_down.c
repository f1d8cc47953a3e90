/* shopflow down --hosts netns: removes every network namespace, veth and
 * bridge the multi-host mode made (services/hosts), e.g. after a crashed
 * `shopflow up --hosts netns` or bench run. A stack that stops normally
 * removes its own; this is for what a kill -9 left. */
#include "tools/shopflow/commands.h"

#include <stdio.h>
#include <string.h>

#include "services/hosts/hosts.h"

static void down_usage(FILE *out)
{
    fprintf(out, "usage: shopflow down --hosts netns\n\n"
                 "Removes every network namespace (shopflow<k>-<name>), veth (sf<k>v<i>) and\n"
                 "bridge (sfbr<k>) that multi-host mode made and a crash left behind. Stop\n"
                 "the stacks first: processes inside a removed namespace keep running in it.\n"
                 "Needs root.\n\n"
                 "exit: 0 done (also when nothing was left), 1 failed, 2 usage\n");
}

int cmd_down(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        down_usage(stdout);
        return 0;
    }
    if (!(argc == 3 && strcmp(argv[1], "--hosts") == 0 && strcmp(argv[2], "netns") == 0) &&
        !(argc == 2 && strcmp(argv[1], "--hosts=netns") == 0)) {
        down_usage(stderr);
        return 2;
    }
    shop_error err = {0};
    int removed = 0;
    if (shop_hosts_cleanup(&removed, &err) != RPC_OK) {
        fprintf(stderr, "shopflow down: %s\n", err.message);
        return 1;
    }
    printf("removed %d network namespace(s), link(s) and bridge(s)\n", removed);
    return 0;
}
