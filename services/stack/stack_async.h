/* The stack's async architecture: mq-broker and mq-delayd as two more child
 * processes (their data under var/, fresh unless keep_data), and the
 * messaging flags every service gets with --arch async. */
#ifndef SHOP_STACK_ASYNC_H
#define SHOP_STACK_ASYNC_H

#include <stddef.h>

#include "services/stack/shop_stack.h"

#include "base/error.h"

/* 1 when the stack runs the async architecture. */
int stack_async_on(const shop_stack *st);

/* Names, ports, URLs, data dirs and log paths of the messaging processes
 * (a fresh start empties their data). 0 or -1 with `err`. */
rpc_status stack_async_setup(shop_stack *st, shop_error *err);

/* 1 when `p` is mq-broker or mq-delayd. */
int stack_async_is_mq(const shop_stack *st, const shop_stack_proc *p);

/* The argv of a messaging process: bufs[] holds the strings; returns argc. */
int stack_async_mq_argv(const shop_stack *st, const shop_stack_proc *p, char **argv,
                        char bufs[][600]);

/* Appends --arch=async and the broker/delay-queue URLs to a service's argv
 * (bufs[] holds the strings, at least 3); returns the new argc. */
int stack_async_service_args(const shop_stack *st, char **argv, int argc, char bufs[][600]);

#endif
