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

typedef struct report_chart {
    const char *name;    /* NAME.svg, drawn by the page's charts.gp */
    const char *heading; /* HTML */
} report_chart;

typedef struct report_page {
    const char *title;
    const char *intro;                           /* a paragraph of HTML */
    void (*summary)(const void *ctx, FILE *out); /* prints the text shown in a <pre> */
    const void *ctx;
    const report_chart *charts;
    size_t n_charts;
} report_page;

/* Runs gnuplot on DIR/charts.gp, then writes DIR/index.html: the summary,
 * the charts inlined, and the chart check. Returns RPC_OK, or the failure
 * + err (when only gnuplot failed the page is still written, saying so). */
rpc_status report_page_write(const char *dir, const report_page *page, shop_error *err);

#endif
