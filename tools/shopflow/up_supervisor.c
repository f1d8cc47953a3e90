/* `shopflow up`'s supervisor: exits noticed and reported, --restart with
 * backoff, and the single place that starts and stops a daemon after the
 * stack is up. */
#include "tools/shopflow/up_supervisor.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "services/stack/stack_net.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

shop_stack_proc *up_sup_proc(up_sup *s, const char *name, int *svc)
{
    int k = shop_service_from_name(name, strlen(name));
    if (k < 0)
        return NULL;
    shop_stack_proc *p = shop_stack_find(s->st, shop_service_name((shop_service)k));
    if (p != NULL && svc != NULL)
        *svc = k;
    return p;
}

void up_sup_program(const up_sup *s, int svc, char *out, size_t outlen)
{
    (void)s;
    int mq = svc == SHOP_SVC_BROKER || svc == SHOP_SVC_DELAYD;
    snprintf(out, outlen, "%s-%s", mq ? "mq" : "shop", shop_service_name((shop_service)svc));
}

/* How a waitpid status reads to a person. */
static void describe_exit(int status, char *out, size_t outlen)
{
    if (WIFSIGNALED(status))
        snprintf(out, outlen, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(out, outlen, "exit status %d", WEXITSTATUS(status));
    else
        snprintf(out, outlen, "status %d", status);
}

rpc_status up_sup_spawn(up_sup *s, int svc, shop_error *err)
{
    const char *name = shop_service_name((shop_service)svc);
    char saved[SHOP_SVC_COUNT][64];
    up_links_swap(s, svc, saved, 0);
    rpc_status st = shop_stack_restart(s->st, name, err);
    up_links_swap(s, svc, saved, 1);
    up_proc_info *in = &s->info[svc];
    if (st != RPC_OK) {
        /* a half-started daemon is not left behind */
        shop_stack_kill(s->st, name);
        in->seen_pid = 0;
        return st;
    }
    shop_stack_find(s->st, name)->last_status = 0;
    in->started_ms = wall_ms();
    in->starts++;
    in->user_stopped = 0;
    in->restart_at_ms = 0;
    in->seen_pid = shop_stack_find(s->st, name)->pid;
    return RPC_OK;
}

void up_sup_terminate(up_sup *s, int svc)
{
    shop_stack_proc *p = shop_stack_find(s->st, shop_service_name((shop_service)svc));
    if (p == NULL || p->pid <= 0)
        return;
    if (p->paused)
        kill(p->pid, SIGCONT);
    kill(p->pid, SIGTERM);
    int status = 0;
    int64_t until = shop_now_ms() + 10000;
    pid_t r = 0;
    while ((r = waitpid(p->pid, &status, WNOHANG)) == 0 && shop_now_ms() < until)
        shop_sleep_ms(10);
    if (r == 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &status, 0);
    }
    p->last_status = status;
    p->pid = 0;
    p->paused = 0;
    s->info[svc].seen_pid = 0;
    describe_exit(status, s->info[svc].last_exit, sizeof s->info[svc].last_exit);
}

rpc_status up_sup_start(up_sup *s, shop_stack *st, int restart, shop_error *err)
{
    memset(s, 0, sizeof *s);
    s->st = st;
    s->restart = restart;
    s->async = strcmp(st->opts.arch, "async") == 0;
    s->started_ms = wall_ms();
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->job_cv, NULL);
    pthread_cond_init(&s->done_cv, NULL);
    for (int k = 0; k < SHOP_SVC_COUNT; k++) {
        shop_stack_proc *p = shop_stack_find(st, shop_service_name((shop_service)k));
        if (p == NULL)
            continue;
        s->info[k].seen_pid = p->pid;
        s->info[k].started_ms = s->started_ms;
        s->info[k].starts = 1;
        s->info[k].backoff_ms = BACKOFF_MIN_MS;
    }
    rpc_server_opts so = {.workers = 2, .name = "shopflow-up"};
    if (rpc_server_new(&s->srv, &so, err) != RPC_OK)
        return shop_error_wrap(err, "control service");
    if (up_control_register(s, err) != RPC_OK)
        goto fail;
    int port = shop_stack_free_port();
    snprintf(s->control_url, sizeof s->control_url, "tcp://127.0.0.1:%d", port);
    if (port <= 0 || rpc_server_listen(s->srv, s->control_url, err) != RPC_OK ||
        rpc_server_start(s->srv, err) != RPC_OK) {
        if (port <= 0)
            shop_error_set(err, RPC_UNAVAILABLE, "no free TCP port on 127.0.0.1");
        goto fail;
    }
    return RPC_OK;
fail:
    rpc_server_free(s->srv);
    s->srv = NULL;
    return shop_error_wrap(err, "control service");
}

/* One daemon: noticed exits and due restarts. */
static void tick_one(up_sup *s, int k, int64_t now)
{
    up_proc_info *in = &s->info[k];
    shop_stack_proc *p = shop_stack_find(s->st, shop_service_name((shop_service)k));
    if (p == NULL)
        return;
    char prog[32];
    up_sup_program(s, k, prog, sizeof prog);
    if (in->seen_pid != 0 && p->pid == 0) {
        describe_exit(p->last_status, in->last_exit, sizeof in->last_exit);
        in->seen_pid = 0;
        if (wall_ms() - in->started_ms > BACKOFF_MAX_MS)
            in->backoff_ms = BACKOFF_MIN_MS; /* it ran a good while: not a crash loop */
        if (s->restart) {
            in->restart_at_ms = now + in->backoff_ms;
            fprintf(stderr,
                    "shopflow up: %s exited (%s); the others stay up; restarting in %lld ms\n",
                    prog, in->last_exit, (long long)in->backoff_ms);
            in->backoff_ms =
                in->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : in->backoff_ms * 2;
        } else {
            fprintf(stderr,
                    "shopflow up: %s exited (%s); the others stay up; `shopflow start %s` starts "
                    "it again\n",
                    prog, in->last_exit, shop_service_name((shop_service)k));
        }
    }
    if (in->restart_at_ms != 0 && now >= in->restart_at_ms && p->pid == 0 && !in->user_stopped) {
        shop_error err = {0};
        if (up_sup_spawn(s, k, &err) == RPC_OK) {
            fprintf(stderr, "shopflow up: %s restarted (pid %d)\n", prog, (int)p->pid);
        } else {
            fprintf(stderr, "shopflow up: restarting %s: %s; next try in %lld ms\n", prog,
                    err.message, (long long)in->backoff_ms);
            in->restart_at_ms = now + in->backoff_ms;
            in->backoff_ms =
                in->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : in->backoff_ms * 2;
        }
    }
}

rpc_status up_sup_on_main(up_sup *s, up_job_fn fn, void *arg)
{
    pthread_mutex_lock(&s->mu);
    while (s->job_busy && !s->stopping)
        pthread_cond_wait(&s->done_cv, &s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return RPC_UNAVAILABLE;
    }
    s->job_busy = 1;
    s->job_done = 0;
    s->job_fn = fn;
    s->job_arg = arg;
    pthread_cond_signal(&s->job_cv);
    while (!s->job_done && !s->stopping)
        pthread_cond_wait(&s->done_cv, &s->mu);
    rpc_status st = s->job_done ? s->job_result : RPC_UNAVAILABLE;
    s->job_busy = 0;
    pthread_cond_broadcast(&s->done_cv);
    pthread_mutex_unlock(&s->mu);
    return st;
}

void up_sup_tick(up_sup *s, int wait_ms)
{
    pthread_mutex_lock(&s->mu);
    if (!(s->job_busy && !s->job_done)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)wait_ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->job_cv, &s->mu, &until);
    }
    if (s->job_busy && !s->job_done) {
        s->job_result = s->job_fn(s->job_arg);
        s->job_done = 1;
        pthread_cond_broadcast(&s->done_cv);
    }
    shop_stack_poll(s->st);
    int64_t now = shop_now_ms();
    for (int k = 0; k < SHOP_SVC_COUNT; k++)
        tick_one(s, k, now);
    fflush(stderr);
    pthread_mutex_unlock(&s->mu);
}

int up_sup_stop(up_sup *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = 1; /* handlers waiting for the main thread give up */
    pthread_cond_broadcast(&s->done_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->srv != NULL)
        rpc_server_shutdown(s->srv, 1000);
    pthread_mutex_lock(&s->mu);
    for (int k = 0; k < SHOP_SVC_COUNT; k++) {
        shop_stack_proc *p = shop_stack_find(s->st, shop_service_name((shop_service)k));
        if (p != NULL && p->pid == 0 && s->info[k].user_stopped)
            p->last_status = 0; /* stopped on purpose: not a failure of the stack */
    }
    int rc = shop_stack_stop(s->st);
    pthread_mutex_unlock(&s->mu);
    rpc_server_free(s->srv);
    s->srv = NULL;
    up_links_free(s);
    pthread_cond_destroy(&s->job_cv);
    pthread_cond_destroy(&s->done_cv);
    pthread_mutex_destroy(&s->mu);
    return rc;
}
