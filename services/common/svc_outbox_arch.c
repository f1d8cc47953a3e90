/* --arch async for the daemons: shared flags and the member services'
 * async side. One daemon per process, so the flag values and the running
 * member live here, file-local. */
#include "services/common/svc_outbox_arch.h"

#include <stdlib.h>
#include <string.h>

#include "mq/mq.h"
#include "mq/mq_delay.h"
#include "base/log.h"
#include "base/status.h"
#include "services/common/svc_flags.h"

const struct option svc_arch_opts[] = {
    {"arch", required_argument, NULL, SVC_OPT_ARCH}, SVC_ASYNC_LONGOPTS, {NULL, 0, NULL, 0}};

static const char *cli[SVC_OPT_PAY_LEVEL - SVC_OPT_ARCH + 1];
static svc_member *member;

int svc_arch_flag(int opt, const char *arg)
{
    if (opt < SVC_OPT_ARCH || opt > SVC_OPT_PAY_LEVEL)
        return 0;
    cli[opt - SVC_OPT_ARCH] = arg;
    return 1;
}

void svc_arch_usage(FILE *out, const char *env)
{
    fprintf(out, "      --arch sync|async  architecture [$%s_ARCH, default sync]\n", env);
    fprintf(
        out,
        "      --mq URL         async: broker requests [$MQ_URL, default " MQ_DEFAULT_URL "]\n"
        "      --mq-pub URL     async: broker deliveries [$MQ_PUB_URL, default " MQ_DEFAULT_PUB_URL
        "]\n"
        "      --delay URL      async: mq-delayd [$MQ_DELAY_URL, default " MQ_DELAY_URL_DEFAULT
        "]\n");
}

int svc_arch_resolve(const shop_daemon *d, const char *arch_cli, svc_arch *out)
{
    const char *arch = shop_daemon_str(d, "ARCH", arch_cli != NULL ? arch_cli : cli[0], "sync");
    memset(out, 0, sizeof *out);
    if (strcmp(arch, "async") == 0) {
        out->async = 1;
    } else if (strcmp(arch, "sync") != 0) {
        shop_log_error("unknown architecture arch=%s hint=\"use --arch sync or --arch async\"",
                       arch);
        return -1;
    }
    out->mq_url = shop_flag_str(cli[SVC_OPT_MQ - SVC_OPT_ARCH], "MQ_URL", MQ_DEFAULT_URL);
    out->pub_url =
        shop_flag_str(cli[SVC_OPT_MQ_PUB - SVC_OPT_ARCH], "MQ_PUB_URL", MQ_DEFAULT_PUB_URL);
    out->delay_url =
        shop_flag_str(cli[SVC_OPT_DELAY - SVC_OPT_ARCH], "MQ_DELAY_URL", MQ_DELAY_URL_DEFAULT);
    out->pay_level = cli[SVC_OPT_PAY_LEVEL - SVC_OPT_ARCH];
    out->dup_publish = atoi(shop_flag_str(NULL, "SHOP_ASYNC_DUP_PUBLISH", "0")) != 0;
    out->dup_deliver = atoi(shop_flag_str(NULL, "SHOP_ASYNC_DUP_DELIVER", "0")) != 0;
    out->crash_after_commits = atoi(shop_flag_str(NULL, "SHOP_ASYNC_CRASH_AFTER_COMMITS", "0"));
    if (out->dup_publish || out->dup_deliver || out->crash_after_commits > 0)
        shop_log_warn("test switches on dup_publish=%d dup_deliver=%d crash_after_commits=%d",
                      out->dup_publish, out->dup_deliver, out->crash_after_commits);
    return 0;
}

int svc_arch_member_start(shop_daemon *d, void (*config)(svc_consumer_cfg *cfg))
{
    svc_arch a;
    shop_error err = {0};
    if (svc_arch_resolve(d, NULL, &a) != 0)
        return -1;
    if (!a.async) {
        shop_log_info("sync architecture");
        return 0;
    }
    svc_member_cfg c = {.config = config,
                        .conninfo = d->conninfo,
                        .mq_url = a.mq_url,
                        .pub_url = a.pub_url,
                        .dup_publish = a.dup_publish,
                        .dup_deliver = a.dup_deliver,
                        .crash_after_commits = a.crash_after_commits};
    rpc_status st = svc_member_start(&c, &member, &err);
    if (st != RPC_OK) {
        shop_log_error("async start failed status=%s error=\"%s\"", rpc_status_name(st),
                       err.message);
        return -1;
    }
    shop_log_info("async architecture mq=%s mq_pub=%s", a.mq_url, a.pub_url);
    return 0;
}

void svc_arch_member_stop(shop_daemon *d)
{
    (void)d;
    svc_member_stop(member);
    member = NULL;
}
