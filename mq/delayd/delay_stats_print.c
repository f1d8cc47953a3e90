/* Prints mq-delayd's stats as the table `shopflow mq stats` shows. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "mq/mq_delay.h"
#include "base/clock.h"
#include "base/status.h"

static void print_due(FILE *out, int64_t due_us, int64_t now_us)
{
    if (due_us == 0) {
        fprintf(out, "%14s", "-");
    } else {
        fprintf(out, "%12.3fs", (double)(due_us - now_us) / 1e6);
    }
}

int mq_delay_print_stats(const char *url, FILE *out)
{
    mq_delay_client *c = NULL;
    mq_delay_stats s;
    shop_error err = {0};
    url = url ? url : mq_delay_default_url();
    int st = mq_delay_client_open(url, 3000, &c, &err);
    if (st == RPC_OK) {
        st = mq_delay_get_stats(c, &s, &err);
    }
    mq_delay_client_close(c);
    if (st != RPC_OK) {
        fprintf(out, "delay queue %s: %s %s\n", url, rpc_status_name(st), err.message);
        return st;
    }
    int64_t now = shop_wall_ms() * 1000;
    fprintf(out, "delay queue %s\n", url);
    fprintf(out, "  %-32s %10s %14s\n", "topic", "pending", "next due in");
    for (size_t i = 0; i < s.n_topics; i++) {
        fprintf(out, "  %-32s %10" PRIu64 " ", s.topics[i].topic, s.topics[i].pending);
        print_due(out, s.topics[i].next_due_us, now);
        fputc('\n', out);
    }
    fprintf(out, "  %-32s %10" PRIu64 " ", "(all)", s.pending);
    print_due(out, s.next_due_us, now);
    fputc('\n', out);
    fprintf(out,
            "  delivered=%" PRIu64 " cancelled=%" PRIu64 " sink_failures=%" PRIu64
            " segments=%" PRIu64 "\n",
            s.delivered, s.cancelled, s.sink_failures, s.segments);
    fprintf(out,
            "  lateness over %" PRIu64
            " deliveries since start: p50=%.3fms p99=%.3fms max=%.3fms\n",
            s.lateness_samples, s.lateness_p50_us / 1e3, s.lateness_p99_us / 1e3,
            s.lateness_max_us / 1e3);
    mq_delay_stats_free(&s);
    return RPC_OK;
}
