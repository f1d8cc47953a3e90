/* Signal handling for daemons: SIGTERM and SIGINT are blocked in every thread
 * and collected by the main thread, which then drains and exits 0. */
#ifndef SHOP_SVC_SIGNAL_H
#define SHOP_SVC_SIGNAL_H

/* Blocks SIGTERM, SIGINT and SIGHUP and ignores SIGPIPE. Call in main before
 * any thread starts so that every thread inherits the mask. */
void shop_signals_block(void);

/* Waits up to `timeout_ms` (<0: forever) for a blocked signal. Returns the
 * signal number, or 0 on timeout. */
int shop_signals_wait(int timeout_ms);

#endif
