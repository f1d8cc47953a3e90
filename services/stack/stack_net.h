/* Loopback port helpers for the stack. */
#ifndef SHOP_STACK_NET_H
#define SHOP_STACK_NET_H

/* A TCP port on 127.0.0.1 that is free right now, or -1. */
int shop_stack_free_port(void);

#endif
