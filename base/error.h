/* Errors: the one convention for every function in the project that can fail.
 *
 *   rpc_status thing_do(thing *t, int arg, shop_error *err);
 *
 * - The return value is a status of base/status.h: RPC_OK, or the gRPC code
 *   that says what kind of failure it was (INVALID_ARGUMENT for bad input,
 *   UNAVAILABLE for a peer or daemon that is not there, RESOURCE_EXHAUSTED for
 *   a full disk or queue, INTERNAL for a bug or a system call that should not
 *   fail, ...). Callers test `!= RPC_OK`.
 * - The last parameter is a shop_error the caller may pass as NULL. On
 *   failure it holds the same code and a message for a person: what failed
 *   and why ("opening /var/x: Permission denied"), no trailing newline. On
 *   success it is left as it was.
 * - Results come back through out-parameters, never mixed into the return
 *   value (no pid-or-minus-one, no pointer-or-NULL for things that can fail
 *   for more than one reason).
 * - A caller that adds context keeps the code: shop_error_wrap(err, "starting
 *   %s", name) turns "bind: Address in use" into "starting x: bind: Address in
 *   use".
 *
 * rpc_error (rpc/rpc.h) is this same struct under the RPC library's name.
 *
 * Two kinds of calls keep their own shape, on purpose:
 * - calls whose answer is a per-item outcome carry a status and message per
 *   item in their result (mq_send_result, mq_delay_result, stock_result,
 *   coupon_result), as a batch can half succeed;
 * - inside the storage engines (mq/broker/, and the delay log's internals)
 *   functions return -errno with a message buffer, because the errno itself
 *   decides what the client hears (ENOSPC: RESOURCE_EXHAUSTED, and the
 *   unsynced tail is punched out); the daemon turns it into a status at the
 *   request boundary. */
#ifndef SHOP_BASE_ERROR_H
#define SHOP_BASE_ERROR_H

#include <errno.h>

#include "base/status.h"

#define SHOP_ERROR_MESSAGE_MAX 256

typedef struct shop_error {
    rpc_status code;
    char message[SHOP_ERROR_MESSAGE_MAX];
    int attempts; /* RPC client calls: how many times the call was sent; 0 elsewhere */
} shop_error;

/* Sets err (if not NULL) to code and the formatted message; returns code. */
rpc_status shop_error_set(shop_error *err, rpc_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like shop_error_set, with ": <strerror(errnum)>" appended and the code
 * chosen from errnum (ENOSPC/EDQUOT: RESOURCE_EXHAUSTED, ENOENT: NOT_FOUND,
 * EACCES/EPERM: PERMISSION_DENIED, EEXIST: ALREADY_EXISTS, EINVAL:
 * INVALID_ARGUMENT, ECONNREFUSED/EHOSTUNREACH/ETIMEDOUT: UNAVAILABLE, others:
 * INTERNAL). */
rpc_status shop_error_errno(shop_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Puts "<context>: " in front of err's message and keeps its code; returns
 * the code (RPC_INTERNAL if err is NULL or holds no failure). */
rpc_status shop_error_wrap(shop_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The code a failed call left in err, to pass the failure on: err->code, or
 * RPC_INTERNAL when err is NULL or holds no failure. */
rpc_status shop_error_code(const shop_error *err);

/* err's message, "" when err is NULL. */
const char *shop_error_message(const shop_error *err);

/* Clears err to RPC_OK with an empty message (err may be NULL). */
void shop_error_clear(shop_error *err);

#endif
