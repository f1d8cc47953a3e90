/* `shopflow mq send-half TOPIC BODY --group G [--decide commit|rollback|none]`:
 * a transactional (half) message from the command line, as a member of
 * producer group G. With commit or rollback it ends the transaction and
 * exits; with none (the default) it prints the half's id and stays a member
 * of G that answers every check-back UNKNOWN until it is stopped: a drill
 * for "the producer died after its half" (kill it) and for the check-back
 * reaching the group's other members. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/status.h"
#include "mq/mq.h"
#include "tools/shopflow/mq_cli.h"

static volatile sig_atomic_t half_stop;

static void on_signal(int sig)
{
    (void)sig;
    half_stop = 1;
}

static mq_txn_state always_unknown(const mq_msg *m, void *arg)
{
    (void)arg;
    printf("check-back id=%s: UNKNOWN\n", m->id);
    fflush(stdout);
    return MQ_TXN_UNKNOWN;
}

int mq_send_half(const mq_cli *o, const char *topic, const char *body)
{
    const char *decide = o->decide ? o->decide : "none";
    mq_txn_state st = strcmp(decide, "commit") == 0     ? MQ_TXN_COMMIT
                      : strcmp(decide, "rollback") == 0 ? MQ_TXN_ROLLBACK
                                                        : MQ_TXN_UNKNOWN;
    if (!o->group || (st == MQ_TXN_UNKNOWN && strcmp(decide, "none") != 0)) {
        fprintf(stderr, "shopflow mq send-half: needs --group G; --decide is commit, rollback "
                        "or none\n");
        return 2;
    }
    mq_txn_producer *p;
    shop_error err = {0};
    if (mq_txn_producer_open(o->url, o->group, always_unknown, NULL, NULL, &p, &err) != RPC_OK) {
        fprintf(stderr, "shopflow mq send-half: %s: %s\n", rpc_status_name(err.code), err.message);
        return 1;
    }
    mq_send_opts so = {.id = o->id};
    mq_send_result r;
    int rc = 0;
    if (mq_producer_send_half(p, topic, o->key, body, strlen(body), &so, &r) != RPC_OK) {
        fprintf(stderr, "shopflow mq send-half: %s: %s\n", rpc_status_name(r.status), r.message);
        rc = 1;
    } else {
        printf("half id=%s offset=%llu%s\n", r.id, (unsigned long long)r.offset,
               r.duplicate ? " duplicate=1" : "");
        fflush(stdout);
    }
    if (rc == 0 && st != MQ_TXN_UNKNOWN) {
        if (mq_producer_end_txn(p, r.id, st, &err) != RPC_OK) {
            fprintf(stderr, "shopflow mq send-half: %s: %s\n", rpc_status_name(err.code),
                    err.message);
            rc = 1;
        } else {
            printf("%s id=%s\n", st == MQ_TXN_COMMIT ? "committed" : "rolled back", r.id);
        }
    } else if (rc == 0) {
        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        fprintf(stderr, "undecided; answering check-backs UNKNOWN until stopped\n");
        while (!half_stop)
            shop_sleep_ms(50);
    }
    mq_txn_producer_close(p);
    return rc;
}
