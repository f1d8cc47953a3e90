/* Internal to the bench's HTML reports (report_html.c, sweep_report.c): the
 * pieces both pages share. Charts are gnuplot SVGs inlined into the page
 * (so that the page's own script can inspect them), and a script at the end
 * of the page checks every chart: it drew data (a plot group with more
 * than a key sample in it) and nothing lies outside its canvas or the page.
 * Its verdict is in the DOM: <span id="charts-ok">, <span id="charts-total">
 * and one <li> per chart in <ul id="chart-check">, which the browser test
 * reads. */
#ifndef SHOP_REPORT_PAGE_H
#define SHOP_REPORT_PAGE_H

#include <stddef.h>
#include <stdio.h>

#include "base/error.h"

/* mkdir -p: 0, or -1 with errno. */
int bench_make_dirs(const char *path);

/* Opens DIR/NAME for writing. */
rpc_status report_open_in(FILE **out, const char *dir, const char *name, shop_error *err);

/* Runs `gnuplot SCRIPT` in `dir`; its messages go to dir/gnuplot.log. */
rpc_status report_run_gnuplot(const char *dir, const char *script, shop_error *err);

/* `s` with <, > and & escaped. */
void report_html_escaped(FILE *out, const char *s, size_t len);

/* <figure class="chart" id="chart-NAME"> with a heading and DIR/NAME.svg
 * inlined (a note in its place when gnuplot did not write it). */
void report_inline_chart(FILE *out, const char *dir, const char *name, const char *heading);

/* The page up to and including the printed summary: <head> with the style
 * sheet, <h1>TITLE</h1>, the paragraph INTRO (HTML), the summary TEXT in a
 * <pre> (escaped) and, when PLOT_ERR is set, why charts are missing. */
void report_page_begin(FILE *out, const char *title, const char *intro, const char *text,
                       size_t text_len, const char *plot_err);

/* The chart-checking script with its result elements, and the page's end. */
void report_page_end(FILE *out);

#endif
