/* A producer and a consumer on the installed libshopmq, against a running
 * mq-broker: sends N messages to the topic "example.greetings", then consumes
 * them as the group "example" and prints each one. It also opens a POSIX
 * message queue through <mqueue.h>, to show that both APIs build and link
 * side by side (link with -lrt on older C libraries).
 * Usage: mq-example REQ_URL PUB_URL N */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <mqueue.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/status.h"
#include "mq/mq.h"

#define TOPIC "example.greetings"

static atomic_int consumed;

static mq_consume_result on_message(const mq_msg *msg, void *arg)
{
    (void)arg;
    printf("consumed offset=%llu key=%s body=%.*s\n", (unsigned long long)msg->offset,
           msg->key != NULL ? msg->key : "", (int)msg->len, (const char *)msg->body);
    fflush(stdout);
    atomic_fetch_add(&consumed, 1);
    return MQ_CONSUME_SUCCESS;
}

/* Sends n messages; the first send waits up to 5 s for the broker to be up. */
static int produce(const char *url, int n)
{
    mq_producer *p = NULL;
    rpc_status rc = mq_producer_open(url, NULL, &p);
    if (rc != RPC_OK) {
        fprintf(stderr, "mq-example: producer: %s\n", rpc_status_name(rc));
        return -1;
    }
    int64_t give_up = shop_now_ms() + 5000;
    for (int i = 0; i < n; i++) {
        char key[32], body[64];
        snprintf(key, sizeof key, "k%d", i);
        snprintf(body, sizeof body, "hello %d", i);
        mq_send_result res;
        rc = mq_producer_send(p, TOPIC, key, body, strlen(body), NULL, &res);
        if (rc == RPC_UNAVAILABLE && i == 0 && shop_now_ms() < give_up) {
            i--;
            shop_sleep_ms(50);
            continue;
        }
        if (rc != RPC_OK) {
            fprintf(stderr, "mq-example: send: %s: %s\n", rpc_status_name(rc), res.message);
            mq_producer_close(p);
            return -1;
        }
        printf("sent offset=%llu id=%s\n", (unsigned long long)res.offset, res.id);
    }
    mq_producer_close(p);
    return 0;
}

/* Consumes until n messages arrived or 10 s passed. */
static int consume(const char *url, const char *pub_url, int n)
{
    const char *topics[] = {TOPIC};
    mq_consumer_opts opts = {.url = url, .pub_url = pub_url};
    mq_consumer *c = NULL;
    shop_error err = {0};
    if (mq_consumer_open("example", topics, 1, on_message, NULL, &opts, &c, &err) != RPC_OK ||
        mq_consumer_start(c, &err) != RPC_OK) {
        fprintf(stderr, "mq-example: consumer: %s\n", err.message);
        if (c != NULL)
            mq_consumer_close(c);
        return -1;
    }
    int64_t give_up = shop_now_ms() + 10000;
    while (atomic_load(&consumed) < n && shop_now_ms() < give_up)
        shop_sleep_ms(20);
    mq_consumer_close(c);
    printf("consumed %d of %d\n", atomic_load(&consumed), n);
    return atomic_load(&consumed) >= n ? 0 : -1;
}

/* A POSIX queue next to ours: the names do not clash (mq_send is POSIX's,
 * mq_producer_send ours), though POSIX reserves the whole mq_ prefix. */
static void posix_queue(void)
{
    char name[64];
    snprintf(name, sizeof name, "/shopflow-example-%ld", (long)getpid());
    struct mq_attr attr = {.mq_maxmsg = 1, .mq_msgsize = 16};
    mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    if (q == (mqd_t)-1) {
        perror("posix mq_open (not needed by the example)");
        return;
    }
    int sent = mq_send(q, "x", 1, 0);
    printf("posix mq_send: %s\n", sent == 0 ? "ok" : "failed");
    mq_close(q);
    mq_unlink(name);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: mq-example REQ_URL PUB_URL N\n");
        return 2;
    }
    int n = atoi(argv[3]);
    posix_queue();
    if (produce(argv[1], n) != 0 || consume(argv[1], argv[2], n) != 0)
        return 1;
    return 0;
}
