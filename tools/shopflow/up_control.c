/* The handlers of shop.stack.Control, served by `shopflow up`: Status reads
 * the supervisor's table under its mutex; Act and Fault change it, run on
 * the main thread (up_sup_on_main), which starts every daemon. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tools/shopflow/up_supervisor.h"

static Shop__Stack__Process *describe(up_sup *s, rpc_ctx *ctx, int k)
{
    shop_stack_proc *p = shop_stack_find(s->st, shop_service_name((shop_service)k));
    up_proc_info *in = &s->info[k];
    Shop__Stack__Process *m = rpc_ctx_alloc(ctx, sizeof *m);
    shop__stack__process__init(m);
    char prog[32];
    up_sup_program(s, k, prog, sizeof prog);
    m->name = rpc_ctx_strdup(ctx, p->name);
    m->program = rpc_ctx_strdup(ctx, prog);
    m->pid = (int32_t)p->pid;
    m->url = rpc_ctx_strdup(ctx, p->url);
    const char *state = "running";
    int nats = k == SHOP_SVC_BROKER && s->st->nats != NULL; /* a cluster, no one pid */
    if (nats) {
        m->program = rpc_ctx_strdup(ctx, "nats-server");
        state = in->user_stopped ? "stopped" : p->paused ? "paused" : "running";
    } else if (p->pid == 0)
        state = in->user_stopped ? "stopped" : in->restart_at_ms != 0 ? "restarting" : "exited";
    else if (p->paused)
        state = "paused";
    m->state = rpc_ctx_strdup(ctx, state);
    m->started_ms = in->started_ms;
    m->last_exit = rpc_ctx_strdup(ctx, in->last_exit);
    m->restarts = in->starts > 0 ? in->starts - 1 : 0;
    m->fault_delay_ms = in->delay_ms;
    m->fault_drop = in->drop;
    m->link = rpc_ctx_strdup(ctx, in->link);
    m->log_path = rpc_ctx_strdup(ctx, p->log_path);
    m->pub_url = rpc_ctx_strdup(ctx, k == SHOP_SVC_BROKER ? s->st->mq_pub_url : "");
    return m;
}

static rpc_status on_status(rpc_ctx *ctx, const Shop__Stack__StatusRequest *req,
                            Shop__Stack__StatusReply *reply, void *user)
{
    (void)req;
    up_sup *s = user;
    pthread_mutex_lock(&s->mu);
    shop_stack_poll(s->st);
    reply->arch = rpc_ctx_strdup(ctx, s->st->opts.arch);
    reply->up_pid = (int32_t)getpid();
    reply->up_started_ms = s->started_ms;
    reply->restart = s->restart != 0;
    reply->processes = rpc_ctx_alloc(ctx, SHOP_SVC_COUNT * sizeof *reply->processes);
    for (int k = 0; k < SHOP_SVC_COUNT; k++)
        if (shop_stack_find(s->st, shop_service_name((shop_service)k)) != NULL)
            reply->processes[reply->n_processes++] = describe(s, ctx, k);
    pthread_mutex_unlock(&s->mu);
    return RPC_OK;
}

static rpc_status unknown_service(rpc_ctx *ctx, up_sup *s, const char *name)
{
    return rpc_ctx_fail(ctx, RPC_NOT_FOUND,
                        "no service '%s' in this stack (order, stock, coupon%s)", name,
                        s->async ? ", broker, delayd" : "");
}

static rpc_status act(rpc_ctx *ctx, up_sup *s, int k, shop_stack_proc *p, Shop__Stack__Action a)
{
    char prog[32];
    up_sup_program(s, k, prog, sizeof prog);
    shop_error err = {0};
    /* JetStream in the broker's place: the stack acts on its leading node */
    int running = p->pid > 0 || (k == SHOP_SVC_BROKER && s->st->nats != NULL);
    switch (a) {
    case SHOP__STACK__ACTION__KILL:
        if (!running)
            return rpc_ctx_fail(ctx, RPC_FAILED_PRECONDITION, "%s is not running", prog);
        shop_stack_kill(s->st, p->name);
        s->info[k].seen_pid = 0;
        s->info[k].user_stopped = 1;
        s->info[k].restart_at_ms = 0;
        snprintf(s->info[k].last_exit, sizeof s->info[k].last_exit,
                 "killed by `shopflow kill` (SIGKILL)");
        fprintf(stderr, "shopflow up: %s killed on command; `shopflow start %s` starts it again\n",
                prog, p->name);
        return RPC_OK;
    case SHOP__STACK__ACTION__PAUSE:
    case SHOP__STACK__ACTION__RESUME: {
        int pause = a == SHOP__STACK__ACTION__PAUSE;
        if (!running)
            return rpc_ctx_fail(ctx, RPC_FAILED_PRECONDITION,
                                "%s is not running; `shopflow start %s`", prog, p->name);
        if (pause ? shop_stack_pause(s->st, p->name) : shop_stack_resume(s->st, p->name))
            return rpc_ctx_fail(ctx, RPC_INTERNAL, "cannot signal %s (pid %d)", prog, (int)p->pid);
        fprintf(stderr, "shopflow up: %s %s on command\n", prog, pause ? "paused" : "resumed");
        return RPC_OK;
    }
    case SHOP__STACK__ACTION__START:
        if (running)
            return rpc_ctx_fail(ctx, RPC_FAILED_PRECONDITION,
                                "%s is already running (pid %d); `shopflow restart %s` restarts it",
                                prog, (int)p->pid, p->name);
        break;
    case SHOP__STACK__ACTION__RESTART:
        up_sup_terminate(s, k);
        break;
    default:
        return rpc_ctx_fail(ctx, RPC_INVALID_ARGUMENT, "unknown action %d", (int)a);
    }
    if (up_sup_spawn(s, k, &err) != RPC_OK)
        return rpc_ctx_fail(ctx, shop_error_code(&err), "starting %s: %s", prog, err.message);
    fprintf(stderr, "shopflow up: %s started on command (pid %d)\n", prog, (int)p->pid);
    return RPC_OK;
}

/* An Act or Fault call, run on the main thread (up_sup_on_main). */
typedef struct control_job {
    up_sup *s;
    rpc_ctx *ctx;
    const Shop__Stack__ActRequest *act;
    const Shop__Stack__FaultRequest *fault;
    Shop__Stack__ActReply *act_reply;
    Shop__Stack__FaultReply *fault_reply;
    int ran; /* set on the main thread: 0 after the call means up is stopping */
} control_job;

static rpc_status act_job(void *arg)
{
    control_job *j = arg;
    up_sup *s = j->s;
    j->ran = 1;
    shop_stack_poll(s->st);
    int k = -1;
    shop_stack_proc *p = up_sup_proc(s, j->act->service, &k);
    rpc_status st = p == NULL ? unknown_service(j->ctx, s, j->act->service)
                              : act(j->ctx, s, k, p, j->act->action);
    if (p != NULL)
        j->act_reply->process = describe(s, j->ctx, k);
    fflush(stderr);
    return st;
}

static rpc_status on_act(rpc_ctx *ctx, const Shop__Stack__ActRequest *req,
                         Shop__Stack__ActReply *reply, void *user)
{
    control_job j = {.s = user, .ctx = ctx, .act = req, .act_reply = reply};
    rpc_status st = up_sup_on_main(j.s, act_job, &j);
    if (!j.ran)
        return rpc_ctx_fail(ctx, RPC_UNAVAILABLE, "shopflow up is stopping");
    return st;
}

static rpc_status fault_job(void *arg)
{
    control_job *j = arg;
    up_sup *s = j->s;
    const Shop__Stack__FaultRequest *req = j->fault;
    j->ran = 1;
    int k = -1;
    shop_stack_proc *p = up_sup_proc(s, req->service, &k);
    if (p == NULL)
        return unknown_service(j->ctx, s, req->service);
    char note[256] = "";
    shop_error err = {0};
    rpc_status st =
        up_links_fault(s, k, req->delay_ms, req->drop, req->clear, note, sizeof note, &err);
    if (st != RPC_OK)
        rpc_ctx_fail(j->ctx, st, "%s", err.message);
    j->fault_reply->note = rpc_ctx_strdup(j->ctx, note);
    j->fault_reply->process = describe(s, j->ctx, k);
    fflush(stderr);
    return st;
}

static rpc_status on_fault(rpc_ctx *ctx, const Shop__Stack__FaultRequest *req,
                           Shop__Stack__FaultReply *reply, void *user)
{
    if (req->delay_ms < 0 || req->delay_ms > 60000 || !(req->drop >= 0.0 && req->drop <= 1.0))
        return rpc_ctx_fail(ctx, RPC_INVALID_ARGUMENT,
                            "delay wants 0..60000 ms and drop a probability 0..1");
    control_job j = {.s = user, .ctx = ctx, .fault = req, .fault_reply = reply};
    rpc_status st = up_sup_on_main(j.s, fault_job, &j);
    if (!j.ran)
        return rpc_ctx_fail(ctx, RPC_UNAVAILABLE, "shopflow up is stopping");
    return st;
}

rpc_status up_control_register(up_sup *s, shop_error *err)
{
    s->impl = (shop_stack_Control_server){
        .Status = on_status, .Act = on_act, .Fault = on_fault, .user = s};
    return shop_stack_Control_register(s->srv, &s->impl, err);
}
