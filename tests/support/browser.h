/* Debian's headless Chromium for the tests that check a page in a real
 * browser (the dashboard, the bench reports): find it, dump a page's DOM
 * after its scripts ran, save a screenshot, read a number from the DOM. */
#ifndef SHOP_TEST_BROWSER_H
#define SHOP_TEST_BROWSER_H

/* The chromium binary, NULL when it is not installed. */
const char *ts_chromium(void);

/* The page's DOM after `budget_ms` of (virtual) time; malloc'd, NULL when
 * the browser could not be run. */
char *ts_browser_dom(const char *browser, const char *url, int budget_ms);

/* Saves a WIDTHxHEIGHT screenshot of `url` to `png`; 0 on success. */
int ts_browser_screenshot(const char *browser, const char *url, const char *png, int width,
                          int height, int budget_ms);

/* The number at the start of the element with id `id`, -1 when absent. */
long ts_dom_number(const char *dom, const char *id);

#endif
