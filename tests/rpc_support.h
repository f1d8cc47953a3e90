/* Shared by the rpc tests: rpc-echod as a child process on a fresh port. */
#ifndef SHOP_TESTS_RPC_SUPPORT_H
#define SHOP_TESTS_RPC_SUPPORT_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "rpc_echo.rpc.h"
#include "tests/support/testsupport.h"

typedef struct echod {
    ts_proc proc;
    char url[64];
} echod;

/* Starts rpc-echod with extra flags (NULL-terminated) on a free tcp port. */
static inline void echod_start(echod *e, const char *const *extra)
{
    int port = ts_free_port();
    snprintf(e->url, sizeof e->url, "tcp://127.0.0.1:%d", port);
    char *argv[32] = {"rpc-echod", "--listen", e->url};
    int n = 3;
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 30; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    cr_assert_eq(ts_spawn(&e->proc, argv), 0, "cannot spawn rpc-echod");
    if (ts_wait_port(&e->proc, port, 10000) != 0) {
        ts_dump_log(&e->proc);
        cr_assert_fail("rpc-echod did not start");
    }
}

static inline rpc_channel *echod_channel(const echod *e, int64_t timeout_ms)
{
    rpc_channel *ch = NULL;
    rpc_channel_opts o = {.default_timeout_ms = timeout_ms};
    rpc_error err = {0};
    cr_assert_eq(rpc_channel_open(&ch, e->url, &o, &err), RPC_OK, "%s", err.message);
    return ch;
}

static inline rpc_status echo_once(rpc_channel *ch, const char *text, rpc_error *err)
{
    Shop__Rpctest__EchoRequest req = SHOP__RPCTEST__ECHO_REQUEST__INIT;
    req.data.data = (uint8_t *)text;
    req.data.len = strlen(text);
    Shop__Rpctest__EchoReply *rep = NULL;
    rpc_status st = shop_rpctest_Echo_Echo(ch, &req, &rep, NULL, err);
    if (st == RPC_OK) {
        cr_expect_eq(rep->data.len, strlen(text));
        cr_expect_eq(memcmp(rep->data.data, text, rep->data.len), 0);
        shop__rpctest__echo_reply__free_unpacked(rep, NULL);
    }
    return st;
}

/* Calls Sleep(ms) without the idempotent flag (never retried). */
static inline rpc_status sleep_call(rpc_channel *ch, unsigned ms, int64_t timeout_ms,
                                    Shop__Rpctest__SleepReply **out, rpc_error *err)
{
    Shop__Rpctest__SleepRequest req = SHOP__RPCTEST__SLEEP_REQUEST__INIT;
    req.ms = ms;
    rpc_call_opts o = {.timeout_ms = timeout_ms};
    ProtobufCMessage *rep = NULL;
    rpc_status st =
        rpc_channel_call(ch, &shop__rpctest__echo__descriptor, 2, &req.base, &rep, &o, err);
    if (out != NULL)
        *out = (Shop__Rpctest__SleepReply *)rep;
    else if (rep != NULL)
        protobuf_c_message_free_unpacked(rep, NULL);
    return st;
}

#endif
