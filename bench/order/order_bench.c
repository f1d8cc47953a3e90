/* order-bench: the sync architecture's PlaceOrder at full speed from N
 * concurrent clients for a few seconds, next to a raw libpq baseline that
 * runs the same transactions in the same run (insert the order PENDING,
 * deduct stock, use the coupon, confirm the order), each client with its own
 * connections, and a raw nng REQ/REP echo at 8 callers (bench/rpc/raw.c, in
 * a child process). Sync pays three RPC round trips per order (client ->
 * order, order -> stock, order -> coupon) on top of the transactions, so
 * the most it can reach is
 *     bound = 1 / (1/baseline + 3/raw_calls_per_s)
 * and its target is a share of that bound; the ratio to the libpq baseline
 * is printed too, for information. Prints key=value lines. */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/order/bench_stats.h"
#include "bench/rpc/bench.h"
#include "base/spawn.h"
#include "services/stack/stack_net.h"
#include "base/clock.h"
#include "base/tmpdir.h"
#include "services/coupon/coupon_logic.h"
#include "services/order/order_logic.h"
#include "services/pg/shop_pg.h"
#include "services/stack/shop_stack.h"
#include "services/stock/stock_logic.h"
#include "shop_order.rpc.h"
#include "base/version.h"

typedef struct bench_opts {
    int clients;
    int seconds;
    int warmup_ms;
    int64_t goods;
    int64_t users;
    int workers;
    int rounds;
} bench_opts;

typedef struct phase {
    const char *name;
    const bench_opts *o;
    shop_stack *st;
    int64_t start_ms, record_ms, end_ms;
} phase;

typedef struct client {
    const phase *ph;
    unsigned seed;
    bench_samples s;
    int ok;
} client;

static atomic_llong next_user = 1;
static atomic_llong next_request = 1;

/* The next order's user and coupon (0 once every coupon is taken). */
static int64_t take_user(const bench_opts *o)
{
    long long u = atomic_fetch_add(&next_user, 1);
    return u <= o->users ? u : 0;
}

static PGconn *connect_db(shop_stack *st, int proc, rpc_status (*prep)(PGconn *, shop_error *))
{
    char conninfo[SHOP_PG_CONNLEN];
    shop_error err = {0};
    if (shop_pg_conninfo(st->pg_url, st->procs[proc].db, conninfo, sizeof conninfo, &err) !=
        RPC_OK) {
        fprintf(stderr, "order-bench: %s\n", err.message);
        return NULL;
    }
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK || prep(c, &err) != 0) {
        fprintf(stderr, "order-bench: %s: %s %s\n", st->procs[proc].db, PQerrorMessage(c),
                err.message);
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* One baseline order: the services' own statements, straight through libpq. */
static int baseline_order(client *cl, PGconn *oc, PGconn *sc, PGconn *cc)
{
    const bench_opts *o = cl->ph->o;
    int64_t user = take_user(o);
    order_place_args a = {NULL,   user > 0 ? user : 1, 1 + rand_r(&cl->seed) % o->goods, 1, user,
                          1800000};
    shop_order ord;
    int dup;
    shop_error msg = {0};
    int st = order_place(oc, &a, &ord, &dup, &msg);
    if (st != 0)
        return st;
    stock_result sr;
    if ((st = stock_deduct(sc, ord.order_id, a.goods_id, a.count, &sr)) != 0)
        return st;
    coupon_result cr = {0};
    if (user > 0 && (st = coupon_use(cc, ord.order_id, user, user, &cr)) != 0)
        return st;
    int64_t now = shop_wall_ms() * 1000;
    return order_confirm(oc, ord.order_id, sr.price_cents - cr.discount_cents, now,
                         user > 0 ? now : 0, &ord, &msg);
}

static void *baseline_client(void *arg)
{
    client *cl = arg;
    shop_stack *st = cl->ph->st;
    PGconn *oc = connect_db(st, SHOP_STACK_ORDER, order_logic_prepare);
    PGconn *sc = connect_db(st, SHOP_STACK_STOCK, stock_logic_prepare);
    PGconn *cc = connect_db(st, SHOP_STACK_COUPON, coupon_logic_prepare);
    if (oc != NULL && sc != NULL && cc != NULL) {
        cl->ok = 1;
        while (shop_now_ms() < cl->ph->start_ms)
            shop_sleep_ms(1);
        for (int64_t t0; (t0 = shop_now_us()) / 1000 < cl->ph->end_ms;) {
            int rc = baseline_order(cl, oc, sc, cc);
            if (t0 / 1000 < cl->ph->record_ms)
                continue;
            if (rc == 0)
                bench_samples_add(&cl->s, shop_now_us() - t0);
            else
                cl->s.errors++, cl->s.by_status[rc >= 0 && rc < 17 ? rc : 2]++;
        }
    }
    PQfinish(oc);
    PQfinish(sc);
    PQfinish(cc);
    return NULL;
}

static void *sync_client(void *arg)
{
    client *cl = arg;
    const bench_opts *o = cl->ph->o;
    rpc_channel *ch = NULL;
    rpc_channel_opts co = {.default_timeout_ms = 5000, .retry = {.max_attempts = 1}};
    rpc_error err;
    if (rpc_channel_open(&ch, cl->ph->st->procs[SHOP_STACK_ORDER].url, &co, &err) != RPC_OK)
        return NULL;
    cl->ok = 1;
    while (shop_now_ms() < cl->ph->start_ms)
        shop_sleep_ms(1);
    for (int64_t t0; (t0 = shop_now_us()) / 1000 < cl->ph->end_ms;) {
        char rid[32];
        snprintf(rid, sizeof rid, "b%lld", (long long)atomic_fetch_add(&next_request, 1));
        int64_t user = take_user(o);
        Shop__Order__PlaceOrderRequest rq = SHOP__ORDER__PLACE_ORDER_REQUEST__INIT;
        rq.request_id = rid;
        rq.user_id = user > 0 ? user : 1;
        rq.goods_id = 1 + rand_r(&cl->seed) % o->goods;
        rq.count = 1;
        rq.coupon_id = user;
        Shop__Order__PlaceOrderReply *rp = NULL;
        rpc_call_opts opts = {.wait_for_ready = true};
        rpc_status st = shop_order_OrderService_PlaceOrder(ch, &rq, &rp, &opts, &err);
        if (st == RPC_OK)
            shop__order__place_order_reply__free_unpacked(rp, NULL);
        if (t0 / 1000 < cl->ph->record_ms)
            continue;
        if (st == RPC_OK)
            bench_samples_add(&cl->s, shop_now_us() - t0);
        else
            cl->s.errors++, cl->s.by_status[st < 17 ? st : 2]++;
    }
    rpc_channel_close(ch);
    return NULL;
}

/* Runs one slice of a phase and adds its samples to `all`. */
static void run_slice(phase *ph, void *(*fn)(void *), int64_t slice_ms, bench_samples *all)
{
    const bench_opts *o = ph->o;
    client *cls = calloc((size_t)o->clients, sizeof *cls);
    pthread_t *th = calloc((size_t)o->clients, sizeof *th);
    ph->start_ms = shop_now_ms() + 300; /* connections first */
    ph->record_ms = ph->start_ms + o->warmup_ms;
    ph->end_ms = ph->record_ms + slice_ms;
    for (int i = 0; i < o->clients; i++) {
        cls[i].ph = ph;
        cls[i].seed = (unsigned)(i * 7919 + 1) ^ (unsigned)ph->start_ms;
        pthread_create(&th[i], NULL, fn, &cls[i]);
    }
    for (int i = 0; i < o->clients; i++) {
        pthread_join(th[i], NULL);
        bench_samples_merge(all, &cls[i].s);
        bench_samples_free(&cls[i].s);
    }
    free(cls);
    free(th);
}

typedef struct phase_result {
    double per_s;
    int64_t orders, errors, p50, p99, max;
} phase_result;

static phase_result report(const char *name, bench_samples *all, int64_t measured_ms)
{
    phase_result r = {.orders = bench_samples_count(all), .errors = all->errors};
    r.per_s = measured_ms > 0 ? (double)r.orders * 1000.0 / (double)measured_ms : 0;
    r.p50 = bench_samples_pct(all, 50);
    r.p99 = bench_samples_pct(all, 99);
    r.max = bench_samples_pct(all, 100);
    printf("%s_orders=%lld %s_orders_per_s=%.0f %s_p50_us=%lld %s_p99_us=%lld %s_max_us=%lld "
           "%s_errors=%lld\n",
           name, (long long)r.orders, name, r.per_s, name, (long long)r.p50, name, (long long)r.p99,
           name, (long long)r.max, name, (long long)r.errors);
    for (int c = 1; c < 17; c++)
        if (all->by_status[c] > 0)
            printf("%s_status_%s=%lld\n", name, rpc_status_name(c), (long long)all->by_status[c]);
    fflush(stdout);
    return r;
}

#define RAW_CALLERS 8
#define RPC_HOPS_PER_ORDER 3
#define BOUND_TARGET 0.85

/* The raw nng echo server: this program again, as a child (`--serve-raw`). */
typedef struct raw_echo {
    pid_t pid;
    char tcp[64], ipc[160];
    void *client;
} raw_echo;

static int raw_echo_start(raw_echo *r)
{
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    snprintf(r->tcp, sizeof r->tcp, "tcp://127.0.0.1:%d", shop_stack_free_port());
    snprintf(r->ipc, sizeof r->ipc, "ipc://%s/order-bench-raw-%d.sock", shop_tmp_dir(),
             (int)getpid());
    char *argv[] = {self, "--serve-raw", r->tcp, r->ipc, NULL};
    shop_error err = {0};
    if (shop_spawn(argv, NULL, &r->pid, &err) != RPC_OK) {
        fprintf(stderr, "order-bench: %s\n", err.message);
        return -1;
    }
    for (int i = 0; i < 100 && r->client == NULL; i++) { /* until it listens */
        shop_sleep_ms(50);
        r->client = raw_client_open(r->tcp, RAW_CALLERS);
    }
    return r->client ? 0 : -1;
}

static void raw_echo_stop(raw_echo *r)
{
    raw_client_close(r->client);
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
    }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: order-bench [--clients N] [--seconds S] [--warmup-ms MS] [--goods G]\n"
                 "                   [--users U] [--workers W] [--rounds R]\n\n"
                 "Starts the sync stack on fresh bench<pid>_* databases and measures the raw\n"
                 "libpq baseline, sync PlaceOrder from N clients and a raw nng REQ/REP echo\n"
                 "from 8 callers, S seconds each, in R interleaved slices (each after a\n"
                 "warm-up). Verdict: sync >= 0.85 of 1 / (1/baseline + 3/raw echo calls/s).\n"
                 "Defaults: 8 clients, 6 s, 4 rounds, 200 ms warm-up, 1000 goods, 200000 users\n"
                 "(one coupon each; orders use a coupon while any is left), workers = clients.\n");
}

static int parse(int argc, char **argv, bench_opts *o)
{
    static const struct option opts[] = {{"clients", required_argument, NULL, 'c'},
                                         {"seconds", required_argument, NULL, 's'},
                                         {"warmup-ms", required_argument, NULL, 'W'},
                                         {"goods", required_argument, NULL, 'g'},
                                         {"users", required_argument, NULL, 'u'},
                                         {"workers", required_argument, NULL, 'w'},
                                         {"rounds", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:s:g:u:w:r:h", opts, NULL)) != -1) {
        long v = optarg != NULL ? strtol(optarg, NULL, 10) : 0;
        if (c == 'h') {
            usage(stdout);
            return 1;
        }
        if (c == '?' || (c != 'W' && v <= 0) || v < 0) {
            usage(stderr);
            return -1;
        }
        if (c == 'c')
            o->clients = (int)v;
        else if (c == 's')
            o->seconds = (int)v;
        else if (c == 'W')
            o->warmup_ms = (int)v;
        else if (c == 'g')
            o->goods = v;
        else if (c == 'u')
            o->users = v;
        else if (c == 'r')
            o->rounds = (int)v;
        else
            o->workers = (int)v;
    }
    if (o->workers == 0)
        o->workers = o->clients;
    return 0;
}

int main(int argc, char **argv)
{
    if (shop_version_asked(argc, argv, "order-bench"))
        return 0;
    if (argc == 4 && strcmp(argv[1], "--serve-raw") == 0)
        return raw_server_main(argv[2], argv[3]);
    bench_opts o = {
        .clients = 8, .seconds = 6, .warmup_ms = 200, .goods = 1000, .users = 200000, .rounds = 4};
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    char log_dir[128];
    snprintf(log_dir, sizeof log_dir, "%s/order-bench-%d", shop_tmp_dir(), (int)getpid());
    mkdir(log_dir, 0755);
    shop_stack_opts so = shop_stack_defaults();
    so.goods = o.goods;
    so.stock = 100000000;
    so.users = o.users;
    so.workers = o.workers;
    char db_prefix[32]; /* per run: two runs at once must not drop each other's databases */
    snprintf(db_prefix, sizeof db_prefix, "bench%d_", (int)getpid());
    so.db_prefix = db_prefix;
    so.log_dir = log_dir;
    shop_stack st;
    shop_error err = {0};
    if (shop_stack_start(&st, &so, &err) != 0) {
        fprintf(stderr, "order-bench: %s\n", err.message);
        return 1;
    }
    printf("bench=order arch=sync clients=%d seconds=%d rounds=%d warmup_ms=%d goods=%lld "
           "users=%lld workers=%d logs=%s\n",
           o.clients, o.seconds, o.rounds, o.warmup_ms, (long long)o.goods, (long long)o.users,
           o.workers, log_dir);
    fflush(stdout);
    /* Interleaved slices, so that load from elsewhere on a shared machine
     * falls on both sides alike. */
    phase base = {.name = "baseline", .o = &o, .st = &st};
    phase sync = {.name = "sync", .o = &o, .st = &st};
    bench_samples bs = {0}, ss = {0};
    bench_result raw = {0};
    raw_echo echo = {0};
    int raw_ok = raw_echo_start(&echo) == 0;
    if (!raw_ok)
        fprintf(stderr, "order-bench: the raw nng echo did not start: no bound\n");
    int64_t slice_ms = (int64_t)o.seconds * 1000 / o.rounds;
    for (int r = 0; r < o.rounds; r++) {
        run_slice(&base, baseline_client, slice_ms, &bs);
        run_slice(&sync, sync_client, slice_ms, &ss);
        if (raw_ok)
            bench_run(raw_client_call, echo.client, RAW_CALLERS, 64, (int)slice_ms, &raw);
    }
    raw_echo_stop(&echo);
    phase_result b = report("baseline", &bs, slice_ms * o.rounds);
    phase_result s = report("sync", &ss, slice_ms * o.rounds);
    bench_samples_free(&bs);
    bench_samples_free(&ss);
    double raw_per_s = raw.seconds > 0 ? (double)raw.calls / raw.seconds : 0;
    printf("raw_nng_callers=%d raw_nng_calls_per_s=%.0f raw_nng_p50_us=%lld raw_nng_errors=%llu\n",
           RAW_CALLERS, raw_per_s, (long long)(raw.calls ? bench_percentile(&raw, 0.5) : 0),
           (unsigned long long)raw.errors);
    bench_result_free(&raw);
    double bound =
        b.per_s > 0 && raw_per_s > 0 ? 1.0 / (1.0 / b.per_s + RPC_HOPS_PER_ORDER / raw_per_s) : 0;
    double of_bound = bound > 0 ? s.per_s / bound : 0;
    printf("bound_orders_per_s=%.0f ratio_to_bound=%.2f target=%.2f verdict=%s\n", bound, of_bound,
           BOUND_TARGET,
           bound <= 0                 ? "UNKNOWN"
           : of_bound >= BOUND_TARGET ? "PASS"
                                      : "BELOW");
    double ratio = b.per_s > 0 ? s.per_s / b.per_s : 0;
    printf("ratio_orders_per_s=%.2f (to the libpq baseline, for information) p50_ratio=%.2f\n",
           ratio, b.p50 > 0 ? (double)s.p50 / (double)b.p50 : 0);
    int stopped = shop_stack_stop(&st);
    int ok = stopped == 0 && b.errors == 0 && s.errors == 0 && raw_ok;
    for (int i = 0; i < SHOP_STACK_NPROCS; i++) {
        shop_pg_drop_database(st.pg_url, st.procs[i].db, &err);
        if (ok) /* the logs only matter when something went wrong */
            unlink(st.procs[i].log_path);
    }
    if (ok)
        rmdir(log_dir);
    return ok ? 0 : 1;
}
