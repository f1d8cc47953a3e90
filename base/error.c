/* The error convention of base/error.h: setting, wrapping and reading a
 * shop_error. */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

rpc_status shop_error_set(shop_error *err, rpc_status code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

static rpc_status status_of_errno(int errnum)
{
    switch (errnum) {
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
        return RPC_RESOURCE_EXHAUSTED;
    case ENOENT:
        return RPC_NOT_FOUND;
    case EACCES:
    case EPERM:
        return RPC_PERMISSION_DENIED;
    case EEXIST:
        return RPC_ALREADY_EXISTS;
    case EINVAL:
        return RPC_INVALID_ARGUMENT;
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ETIMEDOUT:
        return RPC_UNAVAILABLE;
    default:
        return RPC_INTERNAL;
    }
}

rpc_status shop_error_errno(shop_error *err, int errnum, const char *fmt, ...)
{
    rpc_status code = status_of_errno(errnum);
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof err->message)
        snprintf(err->message + n, sizeof err->message - (size_t)n, ": %s", strerror(errnum));
    return code;
}

rpc_status shop_error_wrap(shop_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return RPC_INTERNAL;
    if (err->code == RPC_OK)
        err->code = RPC_INTERNAL;
    char inner[sizeof err->message];
    memcpy(inner, err->message, sizeof inner);
    inner[sizeof inner - 1] = '\0';
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof err->message)
        snprintf(err->message + n, sizeof err->message - (size_t)n, ": %s", inner);
    return err->code;
}

rpc_status shop_error_code(const shop_error *err)
{
    return err != NULL && err->code != RPC_OK ? err->code : RPC_INTERNAL;
}

const char *shop_error_message(const shop_error *err)
{
    return err != NULL ? err->message : "";
}

void shop_error_clear(shop_error *err)
{
    if (err == NULL)
        return;
    err->code = RPC_OK;
    err->message[0] = '\0';
    err->attempts = 0;
}
