/* The broker's sockets and event loop: nng REP contexts queue requests for
 * the loop thread, which handles a whole batch, syncs the log once (group
 * commit) and only then sends the replies. */
#ifndef SHOP_MQ_SERVER_H
#define SHOP_MQ_SERVER_H

#include <signal.h>

#include "mq/broker/broker.h"

/* Opens the store, recovers it, listens, and runs until *stop is set; then
 * drains, syncs, saves offsets. Returns the process exit code. */
int bk_serve(const mq_broker_opts *o, volatile sig_atomic_t *stop);

#endif
