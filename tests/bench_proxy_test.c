/* The link proxy relays real nng REQ/REP traffic intact, adds latency to
 * whole messages, drops whole messages with the set probability, and closes
 * clients when the upstream is gone. */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "bench/harness/shop_proxy.h"
#include "tests/support/testsupport.h"

static nng_socket rep_sock, req_sock;
static pthread_t echo_thread;
static shop_proxy *proxy;
static int upstream_port;

/* Echoes every request back until the socket closes. */
static void *echo_main(void *arg)
{
    (void)arg;
    for (;;) {
        nng_msg *m;
        if (nng_recvmsg(rep_sock, &m, 0) != 0)
            return NULL;
        if (nng_sendmsg(rep_sock, m, 0) != 0)
            nng_msg_free(m);
    }
}

static void setup(void)
{
    char url[64];
    shop_error err = {0};
    upstream_port = ts_free_port();
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", upstream_port);
    cr_assert_eq(nng_rep0_open(&rep_sock), 0);
    cr_assert_eq(nng_listen(rep_sock, url, NULL, 0), 0);
    pthread_create(&echo_thread, NULL, echo_main, NULL);
    cr_assert_eq(shop_proxy_start(&proxy, 0, "127.0.0.1", upstream_port, &err), RPC_OK, "%s",
                 err.message);
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", shop_proxy_port(proxy));
    cr_assert_eq(nng_req0_open(&req_sock), 0);
    /* No silent resend: a dropped request must stay lost. */
    nng_socket_set_ms(req_sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_ms(req_sock, NNG_OPT_RECVTIMEO, 2000);
    cr_assert_eq(nng_dial(req_sock, url, NULL, 0), 0);
}

static void teardown(void)
{
    nng_close(req_sock);
    shop_proxy_stop(proxy);
    nng_close(rep_sock);
    pthread_join(echo_thread, NULL);
}

/* Sends `body` and waits for its echo; returns 0 on an intact echo. */
static int round_trip(const char *body, int timeout_ms)
{
    nng_socket_set_ms(req_sock, NNG_OPT_RECVTIMEO, timeout_ms);
    nng_socket_set_ms(req_sock, NNG_OPT_SENDTIMEO, timeout_ms);
    size_t len = strlen(body);
    int rv = nng_send(req_sock, (void *)body, len, 0);
    if (rv != 0)
        return rv;
    char *buf;
    size_t got;
    rv = nng_recv(req_sock, &buf, &got, NNG_FLAG_ALLOC);
    if (rv != 0)
        return rv;
    rv = (got == len && memcmp(buf, body, len) == 0) ? 0 : -1;
    nng_free(buf, got);
    return rv;
}

TestSuite(bench_proxy, .init = setup, .fini = teardown, .timeout = 60);

Test(bench_proxy, relays_requests_and_replies_intact)
{
    char body[64];
    for (int i = 0; i < 200; i++) {
        snprintf(body, sizeof body, "order-%d", i);
        cr_assert_eq(round_trip(body, 2000), 0, "request %d", i);
    }
    shop_proxy_stats st;
    shop_proxy_get_stats(proxy, &st);
    cr_assert_eq(st.forwarded, 400, "200 requests and 200 replies");
    cr_assert_eq(st.dropped, 0);
    cr_assert_geq(st.connections, 1);
}

Test(bench_proxy, relays_a_large_message_split_over_many_reads)
{
    static char big[1 << 20];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cr_assert_eq(round_trip(big, 5000), 0);
}

Test(bench_proxy, an_added_delay_holds_each_message_at_least_that_long)
{
    cr_assert_eq(round_trip("warm-up", 2000), 0);
    shop_proxy_set_faults(proxy, 100, 0);
    int64_t t0 = shop_now_ms();
    cr_assert_eq(round_trip("slow", 5000), 0);
    /* A lower bound only: request and reply are each held 100 ms. */
    cr_assert_geq(shop_now_ms() - t0, 200);
    shop_proxy_stats st;
    shop_proxy_get_stats(proxy, &st);
    cr_assert_eq(st.delayed, 2);
}

Test(bench_proxy, drop_all_loses_the_request_and_healing_restores_the_link)
{
    cr_assert_eq(round_trip("before", 2000), 0);
    shop_proxy_set_faults(proxy, 0, 1.0);
    cr_assert_eq(round_trip("lost", 300), NNG_ETIMEDOUT);
    shop_proxy_set_faults(proxy, 0, 0);
    cr_assert_eq(round_trip("after", 2000), 0, "the connection survives a dropped message");
    shop_proxy_stats st;
    shop_proxy_get_stats(proxy, &st);
    cr_assert_eq(st.dropped, 1);
}

Test(bench_proxy, drops_about_the_set_share_of_messages)
{
    cr_assert_eq(round_trip("before", 2000), 0);
    shop_proxy_set_faults(proxy, 0, 0.3);
    int lost = 0;
    for (int i = 0; i < 100; i++)
        if (round_trip("maybe", 150) != 0)
            lost++;
    shop_proxy_set_faults(proxy, 0, 0);
    shop_proxy_stats st;
    shop_proxy_get_stats(proxy, &st);
    /* Each round trip crosses twice: P(lost) = 1 - 0.7^2 = 0.51. */
    /* Every drop loses exactly one round trip; a stall on a busy machine may
     * lose a few more without a drop. */
    cr_assert(lost >= (int)st.dropped && lost <= (int)st.dropped + 3, "lost %d, dropped %d", lost,
              (int)st.dropped);
    cr_assert(lost > 25 && lost < 80, "lost %d of 100 at p=0.3 per message", lost);
}

Test(bench_proxy, a_dead_upstream_makes_calls_fail_not_hang_the_proxy)
{
    cr_assert_eq(round_trip("before", 2000), 0);
    nng_close(rep_sock);
    pthread_join(echo_thread, NULL);
    cr_assert_neq(round_trip("nobody", 300), 0);
    /* The upstream comes back on its port: the dialer reconnects through. */
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", upstream_port);
    cr_assert_eq(nng_rep0_open(&rep_sock), 0);
    cr_assert_eq(nng_listen(rep_sock, url, NULL, 0), 0);
    pthread_create(&echo_thread, NULL, echo_main, NULL);
    int ok = 0;
    for (int i = 0; i < 50 && !ok; i++)
        ok = round_trip("again", 200) == 0;
    cr_assert(ok, "the link heals after the upstream restarts");
}
