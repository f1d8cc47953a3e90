/* Fault schedules: `--fault coupon:kill@5s,restart@15s` and friends, parsed
 * into a flat, time-ordered list of actions the bench applies to processes
 * (kill/restart/pause), to the link proxy in front of a service
 * (delay/drop), or, in multi-host mode, to a host's link (partition/heal,
 * bandwidth). */
#ifndef SHOP_FAULT_H
#define SHOP_FAULT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef enum shop_service {
    SHOP_SVC_ORDER,
    SHOP_SVC_STOCK,
    SHOP_SVC_COUPON,
    SHOP_SVC_BROKER,
    SHOP_SVC_DELAYD,
    SHOP_SVC_COUNT
} shop_service;

typedef enum shop_fault_kind {
    SHOP_FAULT_KILL,      /* SIGKILL at at_ms */
    SHOP_FAULT_RESTART,   /* start again at at_ms */
    SHOP_FAULT_PAUSE,     /* SIGSTOP at at_ms, SIGCONT at until_ms */
    SHOP_FAULT_DELAY,     /* the proxy adds delay_ms per message in the window */
    SHOP_FAULT_DROP,      /* the proxy drops messages with probability drop_p */
    SHOP_FAULT_PARTITION, /* multi-host: the host's link cut at at_ms (both directions) */
    SHOP_FAULT_HEAL,      /* multi-host: the host's link back at at_ms */
    SHOP_FAULT_BANDWIDTH, /* multi-host: the host's link limited to `rate` in the window */
    SHOP_FAULT_DB_KILL,   /* multi-host: the host of the service's database primary lost
                             (every process on it killed -9); the standby takes over */
} shop_fault_kind;

typedef struct shop_fault {
    shop_service service;
    shop_fault_kind kind;
    int64_t at_ms;    /* from the start of the load */
    int64_t until_ms; /* end of a window (pause, delay, drop); else = at_ms */
    int delay_ms;
    double drop_p;
    char rate[16]; /* bandwidth: tc's rate ("1mbit", "500kbit") */
} shop_fault;

#define SHOP_FAULT_MAX 32

typedef struct shop_fault_plan {
    size_t n;
    shop_fault faults[SHOP_FAULT_MAX];
} shop_fault_plan;

/* Parses one spec, SERVICE:ACTION[,ACTION...] where an action may start with
 * its own SERVICE: (`coupon:kill@5s,stock:pause@2s-4s`), and appends its
 * actions to `plan`. Actions: kill@T, restart@T, pause@T1-T2,
 * delay=MS@T1-T2, drop=P@T1-T2, and on hosts of their own (--hosts netns)
 * partition@T, heal@T, bandwidth=RATE@T1-T2, and for order, stock and
 * coupon db-kill@T; times as 5s, 1500ms, 1.5s, 2m.
 * Returns RPC_OK,
 * or RPC_INVALID_ARGUMENT with `err` naming the bad part; on error `plan` is
 * unchanged. */
rpc_status shop_fault_parse(shop_fault_plan *plan, const char *spec, shop_error *err);

/* Checks the whole plan: a restart follows a kill of the same service, a
 * service is not killed twice without a restart in between (the same for
 * partition and heal), windows of one service do not overlap. Sorts the plan by time. Returns
 * RPC_OK, or RPC_INVALID_ARGUMENT + err. */
rpc_status shop_fault_validate(shop_fault_plan *plan, shop_error *err);

/* Formats one action back as spec text ("coupon:pause@2000ms-4000ms"). */
void shop_fault_format(const shop_fault *f, char *out, size_t outlen);

/* Parses a duration like 5s, 1500ms, 1.5s, 2m into ms (0 to a day).
 * Returns RPC_OK, or RPC_INVALID_ARGUMENT with err quoting the bad text. */
rpc_status shop_parse_duration_ms(const char *text, int64_t *ms, shop_error *err);

const char *shop_service_name(shop_service s);

/* The service for a name, or -1. */
int shop_service_from_name(const char *name, size_t len);

#endif
