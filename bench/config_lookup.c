/*
 * bench/config_lookup.c: what the configuration costs a request, without the
 * network (wrk numbers on a shared machine move more than this does).
 *
 *   build/bench/config_lookup [iterations]
 *
 * Builds a site under a temporary directory: the root, then a 10-level deep
 * path /l1/l2/.../l10, with and without a web.config at every level, and
 * times, per request:
 *   apphost only   three wasp_config_section() calls (modules, handlers,
 *                  staticContent: what a static file request reads), the
 *                  worker's lookup before web.config support;
 *   cached         wasp_webcfg_lookup + the same three sections + release,
 *                  the worker's lookup now, for a URL already seen;
 *   cold           the same for a URL never seen (a new file name in the
 *                  deepest directory: one level built), and for a whole new
 *                  10-level path (every level built, web.config files read).
 * Printed in microseconds; bench/run.sh adds these lines to its report.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config/config.h"

static char root[64];

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static const char *const sections[] = { "system.webServer/modules", "system.webServer/handlers",
                                        "system.webServer/staticContent" };

/* ns per request for url, n times. */
static double time_apphost(wasp_config_t *cfg, const char *url, long n)
{
    volatile const wasp_section_t *sink = NULL;
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            sink = wasp_config_section(cfg, "S", url, sections[k]);
    (void)sink;
    return (now_ns() - t0) / (double)n;
}

static double time_cached(wasp_webcfg_t *wc, const wasp_site_cfg_t *site, const char *url, long n)
{
    volatile const wasp_section_t *sink = NULL;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        wasp_dircfg_t *dc = wasp_webcfg_lookup(wc, site, url);
        for (int k = 0; k < 3; k++)
            sink = wasp_dircfg_section(dc, sections[k]);
        wasp_dircfg_release(dc);
    }
    (void)sink;
    return (now_ns() - t0) / (double)n;
}

/* A URL not seen before each time: file names f0, f1, ... under dir. */
static double time_new_file(wasp_webcfg_t *wc, const wasp_site_cfg_t *site, const char *dir,
                            long n)
{
    char url[512];
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        snprintf(url, sizeof(url), "%s/f%ld.htm", dir, i);
        wasp_dircfg_release(wasp_webcfg_lookup(wc, site, url));
    }
    return (now_ns() - t0) / (double)n;
}

/* A whole new 10-level path each time: a fresh cache per lookup. */
static double time_new_path(wasp_config_t *cfg, const wasp_site_cfg_t *site, const char *url,
                            long n)
{
    double total = 0;
    for (long i = 0; i < n; i++) {
        wasp_webcfg_t *wc = wasp_webcfg_new(cfg, 4096, NULL, NULL);
        double t0 = now_ns();
        wasp_dircfg_release(wasp_webcfg_lookup(wc, site, url));
        total += now_ns() - t0;
        wasp_webcfg_free(wc);
    }
    return total / (double)n;
}

/* One line of the report: ns per request, printed in microseconds. */
static void row(const char *label, double ns)
{
    printf("  %-40s %9.3f\n", label, ns / 1e3);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    snprintf(root, sizeof(root), "/tmp/wasp-bench-config-XXXXXX");
    if (!mkdtemp(root))
        return 1;
    char path[1024], deep_plain[256] = "", deep_wc[256] = "";
    /* www/l1/.../l10 (no web.config) and www/w1/.../w10 (one at each level) */
    snprintf(path, sizeof(path), "%s/www", root);
    mkdir(path, 0755);
    for (int i = 1; i <= 10; i++) {
        size_t l = strlen(deep_plain), m = strlen(deep_wc);
        snprintf(deep_plain + l, sizeof(deep_plain) - l, "/l%d", i);
        snprintf(deep_wc + m, sizeof(deep_wc) - m, "/w%d", i);
        snprintf(path, sizeof(path), "%s/www%s", root, deep_plain);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/www%s", root, deep_wc);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/www%s/web.config", root, deep_wc);
        put(path, "<configuration><system.webServer><staticContent><mimeMap "
                  "fileExtension=\".x\" mimeType=\"a/b\" /><remove fileExtension=\".x\" />"
                  "</staticContent><defaultDocument enabled=\"true\" /></system.webServer>"
                  "</configuration>\n");
    }
    char text[4096];
    snprintf(text, sizeof(text),
             "<configuration><system.applicationHost><applicationPools><add name=\"P\" />"
             "</applicationPools><sites><site name=\"S\" id=\"1\"><application path=\"/\" "
             "applicationPool=\"P\"><virtualDirectory path=\"/\" physicalPath=\"%s/www\" />"
             "</application><bindings><binding protocol=\"http\" bindingInformation=\"*:80:\" />"
             "</bindings></site></sites></system.applicationHost><system.webServer>"
             "<modules><add name=\"StaticFileModule\" /></modules><handlers><add "
             "name=\"StaticFile\" path=\"*\" verb=\"*\" modules=\"StaticFileModule\" /></handlers>"
             "<staticContent><mimeMap fileExtension=\".htm\" mimeType=\"text/html\" />"
             "</staticContent></system.webServer></configuration>\n",
             root);
    snprintf(path, sizeof(path), "%s/applicationHost.config", root);
    put(path, text);
    wasp_diag_t d;
    wasp_config_t *cfg = wasp_config_load(path, &d);
    if (!cfg) {
        char buf[2048];
        fprintf(stderr, "%s\n", wasp_diag_format(&d, buf, sizeof(buf)));
        return 1;
    }
    const wasp_site_cfg_t *site = wasp_config_find_site(cfg, "S");
    wasp_webcfg_t *wc = wasp_webcfg_new(cfg, 4096, NULL, NULL);
    char url_plain[300], url_wc[300];
    snprintf(url_plain, sizeof(url_plain), "%s/page.htm", deep_plain);
    snprintf(url_wc, sizeof(url_wc), "%s/page.htm", deep_wc);

    printf("effective configuration lookup, microseconds per request (%ld iterations)\n", n);
    row("/small.txt, apphost only (before)", time_apphost(cfg, "/small.txt", n));
    row("/small.txt, cached (now)", time_cached(wc, site, "/small.txt", n));
    row("10 levels, no web.config, apphost only", time_apphost(cfg, url_plain, n));
    row("10 levels, no web.config, cached", time_cached(wc, site, url_plain, n));
    row("10 levels, 10 web.config, cached", time_cached(wc, site, url_wc, n));
    long cold = n / 100 > 1000 ? 1000 : (n / 100 ? n / 100 : 1);
    row("new file in a known directory (cold)", time_new_file(wc, site, deep_wc, cold));
    row("10 levels, no web.config, all cold", time_new_path(cfg, site, url_plain, cold));
    row("10 levels, 10 web.config, all cold", time_new_path(cfg, site, url_wc, cold));
    wasp_webcfg_free(wc);
    wasp_config_free(cfg);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
