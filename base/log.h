/* One log line per event on stderr: `time level component msg key=value ...`;
 * a line written while the thread works for a trace ends in trace_id=...
 * (base/trace.h). */
#ifndef SHOP_BASE_LOG_H
#define SHOP_BASE_LOG_H

typedef enum shop_log_level {
    SHOP_LOG_DEBUG,
    SHOP_LOG_INFO,
    SHOP_LOG_WARN,
    SHOP_LOG_ERROR,
} shop_log_level;

/* Sets the component name printed on every line (e.g. "shop-stock"). */
void shop_log_init(const char *component);

/* Lines below this level are dropped. Default INFO; SHOPFLOW_LOG_LEVEL=debug|info|warn|error. */
void shop_log_set_level(shop_log_level level);

/* `fmt` carries the message and its key=value pairs: "listening url=%s". */
void shop_log(shop_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define shop_log_debug(...) shop_log(SHOP_LOG_DEBUG, __VA_ARGS__)
#define shop_log_info(...) shop_log(SHOP_LOG_INFO, __VA_ARGS__)
#define shop_log_warn(...) shop_log(SHOP_LOG_WARN, __VA_ARGS__)
#define shop_log_error(...) shop_log(SHOP_LOG_ERROR, __VA_ARGS__)

#endif
