/* Runs iproute2 (`ip`, `tc`) for services/hosts: one command, its output
 * kept only to explain a failure. */
#ifndef SHOP_SERVICES_HOSTS_CMD_H
#define SHOP_SERVICES_HOSTS_CMD_H

#include "base/error.h"

/* Runs argv[0] (looked up in PATH) with argv; INTERNAL with the command and
 * the first line it printed when it exits non-zero, UNAVAILABLE when it
 * cannot run. */
rpc_status hosts_cmd(char *const argv[], shop_error *err);

#endif
