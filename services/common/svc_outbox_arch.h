/* --arch async for the three daemons: the flags they share (with
 * environment fallbacks) and, for the member services, starting and
 * stopping their async side (outbox relay + consumer) inside the daemon.
 *
 *   shop-stock --arch async --mq URL --mq-pub URL
 *   (environment: SHOP_STOCK_ARCH, MQ_URL, MQ_PUB_URL, MQ_DELAY_URL; test
 *   switches SHOP_ASYNC_DUP_PUBLISH, SHOP_ASYNC_DUP_DELIVER,
 *   SHOP_ASYNC_CRASH_AFTER_COMMITS) */
#ifndef SHOP_SVC_OUTBOX_ARCH_H
#define SHOP_SVC_OUTBOX_ARCH_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "services/common/svc_daemon.h"
#include "services/common/svc_outbox_consumer.h"

enum {
    SVC_OPT_ARCH = 0x280,
    SVC_OPT_MQ,
    SVC_OPT_MQ_PUB,
    SVC_OPT_DELAY,
    SVC_OPT_PAY_LEVEL,
};

/* The messaging flags (a daemon that already has --arch adds these). */
#define SVC_ASYNC_LONGOPTS                                                                         \
    {"mq", required_argument, NULL, SVC_OPT_MQ},                                                   \
        {"mq-pub", required_argument, NULL, SVC_OPT_MQ_PUB},                                       \
        {"delay", required_argument, NULL, SVC_OPT_DELAY},                                         \
    {                                                                                              \
        "pay-window-level", required_argument, NULL, SVC_OPT_PAY_LEVEL                             \
    }

/* --arch plus the messaging flags, {0}-terminated, for a daemon's extra_opts. */
extern const struct option svc_arch_opts[];

/* Takes one of these flags (SVC_OPT_*); returns 1 when it was one. */
int svc_arch_flag(int opt, const char *arg);

/* Help for --arch and the messaging flags. */
void svc_arch_usage(FILE *out, const char *env);

typedef struct svc_arch {
    int async; /* 1: --arch async */
    const char *mq_url, *pub_url, *delay_url;
    const char *pay_level; /* NULL unless given */
    /* test switches, from the environment only (fault injection):
     * SHOP_ASYNC_DUP_PUBLISH=1, SHOP_ASYNC_DUP_DELIVER=1,
     * SHOP_ASYNC_CRASH_AFTER_COMMITS=N */
    int dup_publish, dup_deliver, crash_after_commits;
} svc_arch;

/* Resolves the flags: `arch_cli` (or $<PREFIX>_ARCH, default sync), the
 * broker and delay queue (flags, then MQ_URL / MQ_PUB_URL / MQ_DELAY_URL).
 * Returns -1 after logging an unknown architecture. */
int svc_arch_resolve(const shop_daemon *d, const char *arch_cli, svc_arch *out);

/* Member daemons: with --arch async starts the relay and the consumer
 * `config` describes; with sync does nothing. 0 or -1. */
int svc_arch_member_start(shop_daemon *d, void (*config)(svc_consumer_cfg *cfg));

/* Stops what svc_arch_member_start started (a shop_daemon_spec.stop). */
void svc_arch_member_stop(shop_daemon *d);

#endif
