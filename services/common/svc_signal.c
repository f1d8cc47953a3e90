/* Synchronous signal collection with sigtimedwait. */
#include "services/common/svc_signal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

static void stop_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

void shop_signals_block(void)
{
    sigset_t set;
    stop_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int shop_signals_wait(int timeout_ms)
{
    sigset_t set;
    stop_set(&set);
    for (;;) {
        int sig;
        if (timeout_ms < 0) {
            sig = sigwaitinfo(&set, NULL);
        } else {
            struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
            sig = sigtimedwait(&set, NULL, &ts);
        }
        if (sig > 0)
            return sig;
        if (errno == EAGAIN)
            return 0;
        /* EINTR (e.g. SIGCONT after SIGSTOP): wait again. */
    }
}
