/* The client channel against real rpc-echod processes: fail-fast, retries
 * only where allowed, wait-for-ready, load spread, no silent re-send after a
 * lost connection, concurrency, async stubs, deadlines and metadata. */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "base/clock.h"
#include "rpc_admin.rpc.h"
#include "tests/rpc_support.h"

/* A channel to a port where nothing listens. */
static rpc_channel *dead_channel(echod *e, const rpc_channel_opts *o)
{
    snprintf(e->url, sizeof e->url, "tcp://127.0.0.1:%d", ts_free_port());
    rpc_channel *ch = NULL;
    rpc_error err = {0};
    cr_assert_eq(rpc_channel_open(&ch, e->url, o, &err), RPC_OK, "%s", err.message);
    return ch;
}

/* Starts rpc-echod on the URL the channel already dials. */
static void start_at(echod *e)
{
    int port = atoi(strrchr(e->url, ':') + 1);
    char *argv[] = {"rpc-echod", "--listen", e->url, NULL};
    cr_assert_eq(ts_spawn(&e->proc, argv), 0);
    cr_assert_eq(ts_wait_port(&e->proc, port, 10000), 0);
}

typedef struct later {
    echod *e;
    int ms;
    pthread_t t;
} later;

static void *later_main(void *arg)
{
    later *l = arg;
    shop_sleep_ms(l->ms);
    char *argv[] = {"rpc-echod", "--listen", l->e->url, NULL};
    ts_spawn(&l->e->proc, argv);
    return NULL;
}

/* Starts rpc-echod on the channel's URL after `ms`, while the test calls. */
static void start_later(later *l, echod *e, int ms)
{
    l->e = e;
    l->ms = ms;
    cr_assert_eq(pthread_create(&l->t, NULL, later_main, l), 0);
}

Test(rpc_channel, no_server_fails_fast_with_unavailable_and_no_retry_for_plain_methods)
{
    echod e;
    rpc_channel *ch = dead_channel(&e, NULL);
    Shop__Rpctest__FailRequest req = SHOP__RPCTEST__FAIL_REQUEST__INIT;
    Shop__Rpctest__FailReply *rep = NULL;
    rpc_error err = {0};
    int64_t t0 = shop_now_ms();
    rpc_status st = shop_rpctest_Echo_Fail(ch, &req, &rep, NULL, &err);
    cr_expect_eq(st, RPC_UNAVAILABLE, "got %s", rpc_status_name(st));
    cr_expect_eq(err.attempts, 1, "a non-idempotent call is never retried");
    cr_expect_lt(shop_now_ms() - t0, 1000, "fail-fast must not wait for the deadline");
    rpc_channel_close(ch);
}

Test(rpc_channel, an_idempotent_method_is_retried_with_bounded_attempts)
{
    echod e;
    rpc_channel_opts o = {.retry = {.max_attempts = 3, .initial_backoff_ms = 5}};
    rpc_channel *ch = dead_channel(&e, &o);
    rpc_error err = {0};
    rpc_status st = echo_once(ch, "x", &err);
    cr_expect_eq(st, RPC_UNAVAILABLE);
    cr_expect_eq(err.attempts, 3);
    rpc_channel_close(ch);
}

Test(rpc_channel, retries_never_go_past_the_deadline)
{
    echod e;
    rpc_channel_opts o = {.retry = {.max_attempts = 100, .initial_backoff_ms = 50}};
    rpc_channel *ch = dead_channel(&e, &o);
    Shop__Rpctest__EchoRequest req = SHOP__RPCTEST__ECHO_REQUEST__INIT;
    Shop__Rpctest__EchoReply *rep = NULL;
    rpc_call_opts co = {.timeout_ms = 300};
    rpc_error err = {0};
    int64_t t0 = shop_now_ms();
    rpc_status st = shop_rpctest_Echo_Echo(ch, &req, &rep, &co, &err);
    int64_t took = shop_now_ms() - t0;
    cr_expect_eq(st, RPC_UNAVAILABLE, "got %s", rpc_status_name(st));
    cr_expect_lt(took, 300 + 50, "took %lld ms", (long long)took);
    cr_expect_gt(err.attempts, 1);
    cr_expect_lt(err.attempts, 100);
    rpc_channel_close(ch);
}

Test(rpc_channel, an_idempotent_call_gets_through_once_the_server_comes_up)
{
    echod e;
    rpc_channel_opts o = {
        .retry = {.max_attempts = 50, .initial_backoff_ms = 20, .max_backoff_ms = 100}};
    rpc_channel *ch = dead_channel(&e, &o);
    later l;
    start_later(&l, &e, 100);
    rpc_error err = {0};
    cr_expect_eq(echo_once(ch, "late", &err), RPC_OK, "%s", err.message);
    pthread_join(l.t, NULL);
    cr_expect_gt(err.attempts, 1, "the first attempt found no server");
    rpc_channel_close(ch);
    ts_stop(&e.proc, SIGTERM, 5000);
}

Test(rpc_channel, wait_for_ready_waits_for_a_server_instead_of_failing)
{
    echod e;
    rpc_channel *ch = dead_channel(&e, NULL);
    later l;
    start_later(&l, &e, 100);
    Shop__Rpctest__FailRequest req = SHOP__RPCTEST__FAIL_REQUEST__INIT;
    Shop__Rpctest__FailReply *rep = NULL;
    rpc_call_opts co = {.wait_for_ready = true, .timeout_ms = 5000};
    rpc_error err = {0};
    cr_expect_eq(shop_rpctest_Echo_Fail(ch, &req, &rep, &co, &err), RPC_OK, "%s", err.message);
    cr_expect_eq(err.attempts, 1);
    shop__rpctest__fail_reply__free_unpacked(rep, NULL);
    pthread_join(l.t, NULL);
    rpc_channel_close(ch);
    ts_stop(&e.proc, SIGTERM, 5000);
}

static uint64_t echo_count(const echod *e)
{
    rpc_channel *ch = echod_channel(e, 2000);
    Shop__Rpc__StatsRequest req = SHOP__RPC__STATS_REQUEST__INIT;
    Shop__Rpc__StatsReply *rep = NULL;
    rpc_error err = {0};
    cr_assert_eq(shop_rpc_Admin_Stats(ch, &req, &rep, NULL, &err), RPC_OK, "%s", err.message);
    uint64_t n = 0;
    for (size_t i = 0; i < rep->n_methods; i++)
        if (strcmp(rep->methods[i]->name, shop_rpctest_Echo_Echo_METHOD) == 0)
            n = rep->methods[i]->count;
    shop__rpc__stats_reply__free_unpacked(rep, NULL);
    rpc_channel_close(ch);
    return n;
}

Test(rpc_channel, calls_are_spread_over_every_url_of_the_channel)
{
    echod a, b;
    echod_start(&a, NULL);
    echod_start(&b, NULL);
    char urls[160];
    snprintf(urls, sizeof urls, "%s,%s", a.url, b.url);
    rpc_channel *ch = NULL;
    rpc_error err = {0};
    cr_assert_eq(rpc_channel_open(&ch, urls, NULL, &err), RPC_OK, "%s", err.message);
    for (int i = 0; i < 200 && rpc_channel_connected(ch) < 2; i++)
        shop_sleep_ms(10);
    cr_assert_eq(rpc_channel_connected(ch), 2);
    for (int i = 0; i < 40; i++)
        cr_assert_eq(echo_once(ch, "spread", &err), RPC_OK, "%s", err.message);
    uint64_t na = echo_count(&a), nb = echo_count(&b);
    cr_expect_eq(na + nb, 40);
    cr_expect_gt(na, 5, "a served %llu", (unsigned long long)na);
    cr_expect_gt(nb, 5, "b served %llu", (unsigned long long)nb);
    rpc_channel_close(ch);
    ts_stop(&a.proc, SIGTERM, 5000);
    ts_stop(&b.proc, SIGTERM, 5000);
}

Test(rpc_channel, a_lost_connection_fails_the_call_and_it_is_never_resent)
{
    echod e;
    echod_start(&e, NULL);
    rpc_channel *ch = echod_channel(&e, 10000);
    pid_t pid = e.proc.pid;
    /* Kill the server while the call runs, and restart it on the same port:
     * nng's own resend would deliver the call again to the new process. */
    int64_t t0 = shop_now_ms();
    pid_t killer = fork();
    if (killer == 0) {
        shop_sleep_ms(300);
        kill(pid, SIGKILL);
        _exit(0);
    }
    rpc_error err = {0};
    rpc_status st = sleep_call(ch, 3000, 10000, NULL, &err);
    cr_expect_eq(st, RPC_UNAVAILABLE, "got %s: %s", rpc_status_name(st), err.message);
    cr_expect_lt(shop_now_ms() - t0, 2500, "the loss must be noticed, not timed out");
    cr_expect_eq(err.attempts, 1);
    waitpid(killer, NULL, 0);
    ts_stop(&e.proc, SIGKILL, 2000);
    start_at(&e);
    for (int i = 0; i < 200 && rpc_channel_connected(ch) < 1; i++)
        shop_sleep_ms(10);
    shop_sleep_ms(200); /* time in which a silent resend would have arrived */
    Shop__Rpctest__SleepReply *rep = NULL;
    cr_assert_eq(sleep_call(ch, 0, 5000, &rep, &err), RPC_OK, "%s", err.message);
    cr_expect_eq(rep->served, 1, "the restarted server ran the lost call");
    shop__rpctest__sleep_reply__free_unpacked(rep, NULL);
    rpc_channel_close(ch);
    ts_stop(&e.proc, SIGTERM, 5000);
}

typedef struct caller {
    rpc_channel *ch;
    int id;
    int ok;
    pthread_t t;
} caller;

static void *caller_main(void *arg)
{
    caller *c = arg;
    for (int i = 0; i < 100; i++) {
        char text[64];
        snprintf(text, sizeof text, "caller-%d-call-%d", c->id, i);
        rpc_error err = {0};
        if (echo_once(c->ch, text, &err) == RPC_OK) /* echo_once checks the bytes */
            c->ok++;
    }
    return NULL;
}

Test(rpc_channel, concurrent_callers_on_one_channel_each_get_their_own_reply)
{
    echod e;
    echod_start(&e, NULL);
    rpc_channel *ch = echod_channel(&e, 10000);
    caller callers[16];
    for (int i = 0; i < 16; i++) {
        callers[i] = (caller){.ch = ch, .id = i};
        cr_assert_eq(pthread_create(&callers[i].t, NULL, caller_main, &callers[i]), 0);
    }
    for (int i = 0; i < 16; i++) {
        pthread_join(callers[i].t, NULL);
        cr_expect_eq(callers[i].ok, 100, "caller %d", i);
    }
    rpc_channel_close(ch);
    ts_stop(&e.proc, SIGTERM, 5000);
}

typedef struct async_box {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    rpc_status st;
    char data[32];
} async_box;

static void on_echo(rpc_status code, const char *message, Shop__Rpctest__EchoReply *reply,
                    void *arg)
{
    (void)message;
    async_box *b = arg;
    pthread_mutex_lock(&b->mu);
    b->st = code;
    if (reply != NULL) {
        snprintf(b->data, sizeof b->data, "%.*s", (int)reply->data.len, reply->data.data);
        shop__rpctest__echo_reply__free_unpacked(reply, NULL);
    }
    b->done++;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

Test(rpc_channel, the_async_stub_calls_back_with_the_reply)
{
    echod e;
    echod_start(&e, NULL);
    rpc_channel *ch = echod_channel(&e, 5000);
    async_box b = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    Shop__Rpctest__EchoRequest req = SHOP__RPCTEST__ECHO_REQUEST__INIT;
    req.data.data = (uint8_t *)"async";
    req.data.len = 5;
    rpc_error err = {0};
    cr_assert_eq(shop_rpctest_Echo_Echo_async(ch, &req, NULL, on_echo, &b, &err), RPC_OK);
    pthread_mutex_lock(&b.mu);
    while (b.done == 0)
        pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);
    cr_expect_eq(b.st, RPC_OK);
    cr_expect_str_eq(b.data, "async");
    cr_expect_eq(b.done, 1);
    rpc_channel_close(ch);
    ts_stop(&e.proc, SIGTERM, 5000);
}

Test(rpc_channel, a_paused_server_gives_deadline_exceeded_and_serves_again_after_resume)
{
    echod e;
    echod_start(&e, NULL);
    rpc_channel *ch = echod_channel(&e, 5000);
    cr_assert_eq(ts_signal(&e.proc, SIGSTOP), 0);
    rpc_error err = {0};
    int64_t t0 = shop_now_ms();
    rpc_status st = sleep_call(ch, 0, 250, NULL, &err);
    int64_t took = shop_now_ms() - t0;
    cr_expect_eq(st, RPC_DEADLINE_EXCEEDED, "got %s", rpc_status_name(st));
    cr_expect_geq(took, 240);
    cr_expect_lt(took, 2000, "took %lld ms", (long long)took);
    cr_assert_eq(ts_signal(&e.proc, SIGCONT), 0);
    cr_expect_eq(echo_once(ch, "back", &err), RPC_OK, "%s", err.message);
    /* The server first: see the next test. */
    ts_stop(&e.proc, SIGTERM, 5000);
    rpc_channel_close(ch);
}

Test(rpc_channel, the_handler_sees_the_remaining_deadline_and_the_metadata)
{
    echod e;
    echod_start(&e, NULL);
    rpc_channel *ch = echod_channel(&e, 5000);
    Shop__Rpctest__SleepRequest req = SHOP__RPCTEST__SLEEP_REQUEST__INIT;
    Shop__Rpctest__SleepReply *rep = NULL;
    rpc_metadata md[] = {{"trace", "abc-123"}};
    rpc_call_opts co = {.timeout_ms = 1500, .metadata = md, .n_metadata = 1};
    rpc_error err = {0};
    cr_assert_eq(shop_rpctest_Echo_Sleep(ch, &req, &rep, &co, &err), RPC_OK, "%s", err.message);
    cr_expect_leq(rep->remaining_ms, 1500);
    cr_expect_gt(rep->remaining_ms, 500);
    cr_expect_str_eq(rep->trace, "abc-123");
    shop__rpctest__sleep_reply__free_unpacked(rep, NULL);
    rpc_channel_close(ch);
    ts_stop(&e.proc, SIGTERM, 5000);
}

Test(rpc_channel, a_server_calling_another_passes_its_deadline_and_metadata_on)
{
    echod front, back;
    echod_start(&front, NULL);
    echod_start(&back, NULL);
    rpc_channel *ch = echod_channel(&front, 5000);
    Shop__Rpctest__ForwardRequest req = SHOP__RPCTEST__FORWARD_REQUEST__INIT;
    req.url = back.url;
    Shop__Rpctest__SleepReply *rep = NULL;
    rpc_metadata md[] = {{"trace", "t-42"}};
    rpc_call_opts co = {.timeout_ms = 800, .metadata = md, .n_metadata = 1};
    rpc_error err = {0};
    cr_assert_eq(shop_rpctest_Echo_Forward(ch, &req, &rep, &co, &err), RPC_OK, "%s", err.message);
    cr_expect_gt(rep->remaining_ms, 0);
    cr_expect_leq(rep->remaining_ms, 800, "downstream saw %lld ms", (long long)rep->remaining_ms);
    cr_expect_str_eq(rep->trace, "t-42");
    shop__rpctest__sleep_reply__free_unpacked(rep, NULL);

    /* A downstream call longer than the caller's deadline is cut by it. */
    req.ms = 2000;
    int64_t t0 = shop_now_ms();
    rpc_status st = shop_rpctest_Echo_Forward(ch, &req, &rep, &co, &err);
    cr_expect_eq(st, RPC_DEADLINE_EXCEEDED, "got %s", rpc_status_name(st));
    cr_expect_lt(shop_now_ms() - t0, 1800);
    /* The servers first: the front's late reply to the call that timed out
     * must not arrive while the channel closes (nng 1.5.2 then leaves its
     * reaper stuck and this process hangs at exit, see rpc/README.md). */
    ts_stop(&front.proc, SIGTERM, 5000);
    ts_stop(&back.proc, SIGTERM, 5000);
    rpc_channel_close(ch);
}

Test(rpc_channel, the_async_stub_reports_unavailable_after_its_retries)
{
    echod e;
    rpc_channel_opts o = {.retry = {.max_attempts = 3, .initial_backoff_ms = 5}};
    rpc_channel *ch = dead_channel(&e, &o);
    async_box b = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    Shop__Rpctest__EchoRequest req = SHOP__RPCTEST__ECHO_REQUEST__INIT;
    rpc_error err = {0};
    cr_assert_eq(shop_rpctest_Echo_Echo_async(ch, &req, NULL, on_echo, &b, &err), RPC_OK);
    pthread_mutex_lock(&b.mu);
    while (b.done == 0)
        pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);
    cr_expect_eq(b.st, RPC_UNAVAILABLE, "got %s", rpc_status_name(b.st));
    rpc_channel_close(ch); /* waits for nothing: the call is done */
    cr_expect_eq(b.done, 1);
}
