/* Runs the architectures one after the other under the same configuration
 * and fault plan (never at once: they would share the two cores). */
#include "bench/harness/shop_bench.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t shop_bench_violations(const shop_arch_result *a)
{
    return a->checked ? (int64_t)shop_check_total(&a->check) : -1;
}

void shop_bench_report_free(shop_bench_report *r)
{
    for (size_t i = 0; i < r->n_arch; i++)
        shop_arch_result_free(&r->arch[i]);
    r->n_arch = 0;
}

rpc_status shop_bench_compare(const shop_bench_config *cfg, const char *archs, int skip_unbuilt,
                              shop_bench_report *r, shop_error *err)
{
    memset(r, 0, sizeof *r);
    r->rate = cfg->rate;
    r->duration_ms = cfg->duration_ms;
    r->clients = cfg->clients;
    r->deadline_ms = cfg->deadline_ms;
    r->pay_share = cfg->pay_share;
    r->faults = cfg->plan;
    time_t now = time(NULL);
    struct tm tm;
    strftime(r->started_at, sizeof r->started_at, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    char list[64];
    shop_error last_err = {0};
    snprintf(list, sizeof list, "%s", archs);
    char *save = NULL;
    for (char *arch = strtok_r(list, ",", &save); arch; arch = strtok_r(NULL, ",", &save)) {
        if (strcmp(arch, "sync") != 0 && strcmp(arch, "async") != 0 &&
            strcmp(arch, "async-nats") != 0 && strcmp(arch, "async-txmsg") != 0) {
            shop_bench_report_free(r);
            return shop_error_set(
                err, RPC_INVALID_ARGUMENT,
                "unknown architecture '%s' (sync, async, async-nats, async-txmsg)", arch);
        }
        if (r->n_arch == SHOP_REPORT_MAX_ARCH)
            break;
        shop_arch_result *a = &r->arch[r->n_arch];
        if (shop_bench_run_arch(cfg, arch, a, &last_err) == RPC_OK) {
            r->n_arch++;
            continue;
        }
        shop_arch_result_free(a);
        if (skip_unbuilt && strstr(last_err.message, "not built")) {
            fprintf(stderr, "shopflow bench: %s left out: %s\n", arch, last_err.message);
            continue;
        }
        shop_bench_report_free(r);
        return shop_error_set(err, last_err.code, "%s: %s", arch, last_err.message);
    }
    if (r->n_arch == 0)
        return shop_error_set(err, last_err.code != RPC_OK ? last_err.code : RPC_INVALID_ARGUMENT,
                              "no architecture ran: %s", last_err.message);
    return RPC_OK;
}
