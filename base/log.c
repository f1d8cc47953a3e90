/* The shared event log: a whole line is formatted first and written with one
 * write(2), so lines from concurrent threads never interleave. */
#include "base/log.h"
#include "base/trace.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *log_component = "shopflow";
static shop_log_level log_min_level = SHOP_LOG_INFO;
static int log_level_from_env_done;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void shop_log_init(const char *component)
{
    log_component = component;
}

void shop_log_set_level(shop_log_level level)
{
    log_min_level = level;
    log_level_from_env_done = 1;
}

static void log_level_from_env(void)
{
    const char *env = getenv("SHOPFLOW_LOG_LEVEL");
    if (env == NULL)
        env = getenv("SHOP_LOG_LEVEL"); /* the name before the one scheme */
    log_level_from_env_done = 1;
    if (env == NULL)
        return;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(env, level_names[i]) == 0)
            log_min_level = (shop_log_level)i;
}

/* Appends " trace_id=<id>" of the thread's current trace, unless the line
 * names one already. */
static size_t with_trace(char *line, size_t len, size_t max)
{
    const shop_trace *t = shop_trace_current();
    if (t == NULL || len >= max || strstr(line, "trace_id=") != NULL)
        return len;
    int k = snprintf(line + len, max - len, " trace_id=%s", t->trace_id);
    return k < 0 ? len : len + (size_t)k;
}

void shop_log(shop_log_level level, const char *fmt, ...)
{
    if (!log_level_from_env_done)
        log_level_from_env();
    if (level < log_min_level)
        return;

    char line[2048];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     now.tv_nsec / 1000000, level_names[level], log_component);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    len = with_trace(line, len, sizeof line - 2);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
