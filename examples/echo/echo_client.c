/* An echo client on the installed shoprpc library: calls example.echo.Echo/Say
 * N times on the server at URL (waiting up to 5 s for it to come up) and
 * prints each reply. Usage: echo-client URL N */
#include <stdio.h>
#include <stdlib.h>

#include "echo.rpc.h"
#include "rpc/rpc.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: echo-client URL N\n");
        return 2;
    }
    int n = atoi(argv[2]);
    rpc_error err = {0};
    rpc_channel *ch = NULL;
    if (rpc_channel_open(&ch, argv[1], NULL, &err) != RPC_OK) {
        fprintf(stderr, "echo-client: %s: %s\n", rpc_status_name(err.code), err.message);
        return 1;
    }
    rpc_call_opts opts = {.timeout_ms = 5000, .wait_for_ready = true};
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char text[32];
        snprintf(text, sizeof text, "hello %d", i);
        Example__Echo__SayRequest req = EXAMPLE__ECHO__SAY_REQUEST__INIT;
        req.text = text;
        Example__Echo__SayReply *reply = NULL;
        if (example_echo_Echo_Say(ch, &req, &reply, &opts, &err) != RPC_OK) {
            fprintf(stderr, "echo-client: Say: %s: %s\n", rpc_status_name(err.code), err.message);
            failed++;
            continue;
        }
        printf("reply %d: %s (served %lu)\n", i, reply->text, (unsigned long)reply->served);
        example__echo__say_reply__free_unpacked(reply, NULL);
    }
    rpc_channel_close(ch);
    return failed == 0 ? 0 : 1;
}
