/* Headless Chromium through popen/system; a profile directory per run in
 * the tests' temporary folder, so that no user profile is touched. */
#include "tests/support/browser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/testsupport.h"

const char *ts_chromium(void)
{
    static const char *const paths[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

char *ts_browser_dom(const char *browser, const char *url, int budget_ms)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd,
             "'%s' --headless --no-sandbox --disable-gpu --window-size=1280,900 "
             "--virtual-time-budget=%d --user-data-dir='%s/chromium' --dump-dom '%s' "
             "2>/dev/null",
             browser, budget_ms, ts_tmp_dir(), url);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return NULL;
    size_t cap = 8 << 20;
    char *out = malloc(cap);
    if (out == NULL) {
        pclose(p);
        return NULL;
    }
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    pclose(p);
    return out;
}

int ts_browser_screenshot(const char *browser, const char *url, const char *png, int width,
                          int height, int budget_ms)
{
    char cmd[1600];
    snprintf(cmd, sizeof cmd,
             "'%s' --headless --no-sandbox --disable-gpu --hide-scrollbars "
             "--virtual-time-budget=%d --window-size=%d,%d --user-data-dir='%s/chromium' "
             "--screenshot='%s' '%s' >/dev/null 2>&1",
             browser, budget_ms, width, height, ts_tmp_dir(), png, url);
    return system(cmd);
}

long ts_dom_number(const char *dom, const char *id)
{
    char needle[96];
    snprintf(needle, sizeof needle, "id=\"%s\">", id);
    const char *p = dom ? strstr(dom, needle) : NULL;
    return p != NULL ? strtol(p + strlen(needle), NULL, 10) : -1;
}
