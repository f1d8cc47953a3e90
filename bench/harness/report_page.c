/* Shared pieces of the bench's HTML pages: gnuplot runner, escaping, the
 * inlined SVG charts and the in-page chart check. */
#include "bench/harness/report_page.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/spawn.h"

rpc_status report_open_in(FILE **out, const char *dir, const char *name, shop_error *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *out = fopen(path, "we");
    return *out ? RPC_OK : shop_error_errno(err, errno, "cannot write %s", path);
}

rpc_status report_run_gnuplot(const char *dir, const char *script, shop_error *err)
{
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/gnuplot.log", dir);
    char *argv[] = {"gnuplot", (char *)script, NULL};
    shop_spawn_opts so = {
        .log_path = log, .log_truncate = true, .stdin_null = true, .search_path = true, .cwd = dir};
    pid_t pid = 0;
    if (shop_spawn(argv, &so, &pid, err) != RPC_OK)
        return shop_error_code(err);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return RPC_OK;
    return shop_error_set(
        err, RPC_INTERNAL, "gnuplot failed (exit %d, see %s/gnuplot.log)%s",
        WIFEXITED(status) ? WEXITSTATUS(status) : -1, dir,
        WIFEXITED(status) && WEXITSTATUS(status) == 127 ? ": gnuplot is not installed" : "");
}

void report_html_escaped(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '<')
            fputs("&lt;", out);
        else if (s[i] == '>')
            fputs("&gt;", out);
        else if (s[i] == '&')
            fputs("&amp;", out);
        else
            fputc(s[i], out);
    }
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf != NULL && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n - 1 == 0) {
            char *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

void report_inline_chart(FILE *out, const char *dir, const char *name, const char *heading)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.svg", dir, name);
    fprintf(out, "<figure class='chart' id='chart-%s'><h2>%s</h2>\n", name, heading);
    char *svg = read_all(path);
    const char *start = svg ? strstr(svg, "<svg") : NULL;
    if (start)
        fputs(start, out); /* without the <?xml ...?> prologue, which HTML does not want */
    else
        fprintf(out, "<p class='missing'>%s.svg was not drawn (see gnuplot.log)</p>\n", name);
    fprintf(out, "</figure>\n");
    free(svg);
}

static void page_style(FILE *out)
{
    fprintf(out, "<style>body{font-family:sans-serif;max-width:1240px;margin:2em auto}"
                 "pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:11px}"
                 "figure.chart{margin:1em 0}figure.chart svg{width:100%%;height:auto;"
                 "display:block}#chart-check{font-size:small;color:#555}</style>\n");
}

static void page_begin(FILE *out, const char *title, const char *intro, const char *text,
                       size_t text_len, const char *plot_err)
{
    fprintf(out, "<!doctype html>\n<html><head><meta charset='utf-8'><title>");
    report_html_escaped(out, title, strlen(title));
    fprintf(out, "</title>\n");
    page_style(out);
    fprintf(out, "</head><body>\n<h1>");
    report_html_escaped(out, title, strlen(title));
    fprintf(out, "</h1>\n<p>%s</p>\n<pre>", intro);
    report_html_escaped(out, text, text_len);
    fprintf(out, "</pre>\n");
    if (plot_err) {
        fprintf(out, "<p><b>Charts missing:</b> ");
        report_html_escaped(out, plot_err, strlen(plot_err));
        fprintf(out, "</p>\n");
    }
}

/* A plot group has data when it holds more drawn vertices than a key sample
 * (a line is 2, a box 5); "clipped" is content outside the SVG's viewBox or
 * a chart wider than the page. */
static void chart_check(FILE *out)
{
    fprintf(out,
            "<h2>Chart check</h2><p><span id='charts-ok'>?</span> of "
            "<span id='charts-total'>?</span> charts drew data and fit the page; "
            "<span id='text-clipped'>?</span> text blocks clipped.</p>\n"
            "<ul id='chart-check'></ul>\n<script>\n"
            "(function(){\n"
            " var figs=document.querySelectorAll('figure.chart'),ok=0,list="
            "document.getElementById('chart-check'),textCut=0;\n"
            " var pageW=document.documentElement.clientWidth;\n"
            " figs.forEach(function(f){\n"
            "  var svg=f.querySelector('svg'),why=[],withData=0;\n"
            "  if(!svg){why.push('no svg');}else{\n"
            "   svg.querySelectorAll('g[id^=\"gnuplot_plot_\"]').forEach(function(g){\n"
            "    var t=g.querySelector('title');if(t&&/^reference/.test(t.textContent))return;\n"
            "    var v=0;g.querySelectorAll('path,polyline,polygon').forEach(function(p){\n"
            "     var d=p.getAttribute('d')||p.getAttribute('points')||'';\n"
            "     v+=(d.match(/[MLml]/g)||[]).length;if(p.tagName!=='path')"
            "v+=(d.trim().split(/\\s+/).length);});\n"
            "    v+=g.querySelectorAll('use').length;if(v>5)withData++;});\n"
            "   if(withData===0)why.push('no data drawn');\n"
            "   var vb=svg.viewBox.baseVal,b=svg.getBBox();\n"
            "   if(b.x<vb.x-1||b.y<vb.y-1||b.x+b.width>vb.x+vb.width+1||"
            "b.y+b.height>vb.y+vb.height+1)why.push('content outside the canvas');\n"
            "   var r=svg.getBoundingClientRect();\n"
            "   if(r.width<100||r.right>pageW+1)why.push('wider than the page or not shown');\n"
            "  }\n"
            "  var li=document.createElement('li');li.className=why.length?'bad':'good';\n"
            "  li.textContent=f.id+': '+(why.length?why.join(', '):'ok, '+withData+"
            "' series with data');\n"
            "  list.appendChild(li);if(!why.length)ok++;\n"
            " });\n"
            " document.querySelectorAll('pre').forEach(function(p,i){var li=document."
            "createElement('li');\n"
            "  var cut=p.scrollWidth>p.clientWidth+1;li.className=cut?'bad':'good';\n"
            "  li.textContent='text-'+i+': '+(cut?'clipped ('+p.scrollWidth+' > '+p.clientWidth+"
            "' px)':'ok');list.appendChild(li);if(cut)textCut++;});\n"
            " document.getElementById('text-clipped').textContent=textCut;\n"
            " document.getElementById('charts-ok').textContent=ok;\n"
            " document.getElementById('charts-total').textContent=figs.length;\n"
            "})();\n</script>\n");
}

int bench_make_dirs(const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static void page_end(FILE *out)
{
    chart_check(out);
    fprintf(out, "</body></html>\n");
}

rpc_status report_page_write(const char *dir, const report_page *page, shop_error *err)
{
    shop_error plot_err = {0};
    int plotted = report_run_gnuplot(dir, "charts.gp", &plot_err) == RPC_OK;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return shop_error_set(err, RPC_RESOURCE_EXHAUSTED, "out of memory");
    page->summary(page->ctx, mem);
    fclose(mem);
    FILE *f;
    rpc_status st = report_open_in(&f, dir, "index.html", err);
    if (st == RPC_OK) {
        page_begin(f, page->title, page->intro, text, len, plotted ? NULL : plot_err.message);
        for (size_t i = 0; i < page->n_charts; i++)
            report_inline_chart(f, dir, page->charts[i].name, page->charts[i].heading);
        page_end(f);
        fclose(f);
    }
    free(text);
    if (st == RPC_OK && !plotted)
        st = shop_error_set(err, plot_err.code, "%s", plot_err.message);
    return st;
}
