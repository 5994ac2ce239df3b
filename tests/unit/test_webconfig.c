/*
 * Unit tests of web.config files (src/config/webconfig.c, webconfig_cache.c,
 * locking.c): the merge order of applicationHost.config's <location> tags
 * and web.config files, inheritInChildApplications, every kind of lock,
 * allowDefinition, configSource, allowSubDirConfig and
 * enableConfigurationOverride, the errors and their HRESULTs, and the cache:
 * hits, invalidation by inotify, stable section pointers.
 *
 * Each test builds a real directory tree under /tmp (applicationHost.config,
 * content directories, web.config files) and removes it afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"

/* ---- the tree ----------------------------------------------------------------- */

static char root[64];
static wasp_config_t *cfg;
static wasp_webcfg_t *wc;
static int logged;
static char last_log[2048];

static void put(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    /* every directory on the way */
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void del(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    assert_int_equal(unlink(path), 0);
}

static void mkdirs(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/x", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
}

static void on_error(const wasp_config_error_t *e, void *data)
{
    (void)data;
    logged++;
    snprintf(last_log, sizeof(last_log), "%s:%d: %s", e->file, e->line, e->message);
}

/* applicationHost.config: site "S" with the root application (www), a
 * child application /app (www/app), a vdir /v (vdir) with
 * allowSubDirConfig="false"; webserver and locations are inserted. */
static void start(const char *webserver, const char *locations, const char *pool_attrs)
{
    char text[16384];
    snprintf(text, sizeof(text),
             "<configuration>\n"
             "  <system.applicationHost>\n"
             "    <applicationPools><add name=\"P\" %s /></applicationPools>\n"
             "    <sites>\n"
             "      <site name=\"S\" id=\"1\">\n"
             "        <application path=\"/\" applicationPool=\"P\">\n"
             "          <virtualDirectory path=\"/\" physicalPath=\"%s/www\" />\n"
             "          <virtualDirectory path=\"/v\" physicalPath=\"%s/vdir\" "
             "allowSubDirConfig=\"false\" />\n"
             "        </application>\n"
             "        <application path=\"/app\" applicationPool=\"P\">\n"
             "          <virtualDirectory path=\"/\" physicalPath=\"%s/www/app\" />\n"
             "        </application>\n"
             "        <bindings><binding protocol=\"http\" bindingInformation=\"*:80:\" />"
             "</bindings>\n"
             "      </site>\n"
             "    </sites>\n"
             "  </system.applicationHost>\n"
             "  <system.webServer>\n"
             "    <directoryBrowse enabled=\"false\" showFlags=\"Date\" />\n"
             "%s\n"
             "  </system.webServer>\n"
             "%s\n"
             "</configuration>\n",
             pool_attrs ? pool_attrs : "", root, root, root, webserver ? webserver : "",
             locations ? locations : "");
    put("applicationHost.config", text);
    mkdirs("www/app");
    mkdirs("vdir");
    char path[512];
    snprintf(path, sizeof(path), "%s/applicationHost.config", root);
    wasp_diag_t d;
    cfg = wasp_config_load(path, &d);
    if (!cfg) {
        char buf[2048];
        fail_msg("applicationHost.config does not load: %s", wasp_diag_format(&d, buf, sizeof buf));
    }
    wc = wasp_webcfg_new(cfg, 64, on_error, NULL);
    assert_true(wasp_webcfg_fd(wc) >= 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/wasp-test-wc-XXXXXX");
    assert_non_null(mkdtemp(root));
    logged = 0;
    last_log[0] = '\0';
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    (void)state;
    wasp_webcfg_free(wc);
    wc = NULL;
    wasp_config_free(cfg);
    cfg = NULL;
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static const wasp_site_cfg_t *site(void)
{
    return wasp_config_find_site(cfg, "S");
}

/* An attribute of an element of the effective section at url ("a/b" walks
 * child elements); NULL when absent.  Asserts the URL has no error. */
static const char *value(const char *url, const char *section, const char *elem,
                         const char *attr)
{
    wasp_dircfg_t *dc = wasp_webcfg_lookup(wc, site(), url);
    const wasp_config_error_t *e = wasp_dircfg_error(dc);
    if (e)
        fail_msg("%s: unexpected error %s:%d: %s", url, e->file, e->line, e->message);
    const wasp_section_t *s = wasp_dircfg_section(dc, section);
    wasp_dircfg_release(dc);
    if (s && elem)
        s = wasp_section_child(s, elem);
    return s ? wasp_section_attr(s, attr) : NULL;
}

static const char *browse(const char *url)
{
    return value(url, "system.webServer/directoryBrowse", NULL, "enabled");
}

/* The error at url, which must have one with this HRESULT and file. */
static const wasp_config_error_t *error_at(const char *url, uint32_t hresult, const char *file)
{
    wasp_dircfg_t *dc = wasp_webcfg_lookup(wc, site(), url);
    const wasp_config_error_t *e = wasp_dircfg_error(dc);
    wasp_dircfg_release(dc);
    if (!e)
        fail_msg("%s: no configuration error", url);
    if (e->hresult != hresult)
        fail_msg("%s: HRESULT 0x%08x, expected 0x%08x (%s)", url, e->hresult, hresult, e->message);
    char want[512];
    snprintf(want, sizeof(want), "%s/%s", root, file);
    assert_string_equal(e->file, want);
    return e;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("\"%s\" does not contain \"%s\"", hay ? hay : "(null)", needle);
}

#define WEB(body) "<configuration>\n" body "\n</configuration>\n"
#define WS(body) WEB("<system.webServer>\n" body "\n</system.webServer>")

/* ---- merge order ----------------------------------------------------------------- */

/* At one level: applicationHost.config's <location> first, then the
 * <location> of the web.config above, then the level's own web.config. */
static void test_merge_order_same_level(void **state)
{
    (void)state;
    start("", "<location path=\"S/a\"><system.webServer>"
              "<directoryBrowse enabled=\"true\" showFlags=\"Time\" /></system.webServer></location>",
          NULL);
    put("www/web.config", WEB("<location path=\"a\"><system.webServer>"
                              "<directoryBrowse showFlags=\"Size\" /></system.webServer></location>"));
    put("www/a/web.config", WS("<directoryBrowse enabled=\"false\" />"));
    assert_string_equal(browse("/a"), "false");   /* a's own web.config, last */
    assert_string_equal(value("/a", "system.webServer/directoryBrowse", NULL, "showFlags"),
                        "Size");                  /* the root web.config's location beats apphost's */
    assert_string_equal(browse("/"), "false");    /* apphost top level */
    assert_string_equal(value("/", "system.webServer/directoryBrowse", NULL, "showFlags"),
                        "Date");
}

/* A deeper level's applicationHost.config <location> overrides a
 * web.config above it; the deeper web.config overrides both. */
static void test_merge_order_deeper(void **state)
{
    (void)state;
    start("", "<location path=\"S/a/b\"><system.webServer>"
              "<directoryBrowse enabled=\"true\" /></system.webServer></location>",
          NULL);
    put("www/a/web.config", WS("<directoryBrowse enabled=\"false\" showFlags=\"Size\" />"));
    mkdirs("www/a/b/c");
    assert_string_equal(browse("/a"), "false");
    assert_string_equal(browse("/a/b"), "true");
    assert_string_equal(browse("/a/b/c/file.txt"), "true");
    assert_string_equal(value("/a/b", "system.webServer/directoryBrowse", NULL, "showFlags"),
                        "Size"); /* inherited from a's web.config */
    put("www/a/b/c/web.config", WS("<directoryBrowse enabled=\"false\" />"));
    wasp_webcfg_process(wc);
    assert_string_equal(browse("/a/b/c"), "false");
    assert_string_equal(browse("/a/b/c/file.txt"), "false");
    /* a file that is a directory's sibling keeps its directory's settings */
    assert_string_equal(browse("/a/file.txt"), "false");
}

/* Collections merge down the levels: items added by each level, <remove>
 * of an inherited one, mergeAppend="false" (defaultDocument/files) puts the
 * deeper level's first. */
static void test_merge_collections(void **state)
{
    (void)state;
    start("<defaultDocument><files><add value=\"index.html\" /><add value=\"a.htm\" />"
          "</files></defaultDocument>",
          NULL, NULL);
    put("www/sub/web.config", WS("<defaultDocument><files><remove value=\"a.htm\" />"
                                 "<add value=\"home.htm\" /></files></defaultDocument>"));
    wasp_dircfg_t *dc = wasp_webcfg_lookup(wc, site(), "/sub/");
    const wasp_section_t *files = wasp_section_child(
        wasp_dircfg_section(dc, "system.webServer/defaultDocument"), "files");
    assert_int_equal(wasp_section_item_count(files), 2);
    assert_string_equal(wasp_section_attr(wasp_section_item(files, 0), "value"), "home.htm");
    assert_string_equal(wasp_section_attr(wasp_section_item(files, 1), "value"), "index.html");
    wasp_dircfg_release(dc);
}

/* inheritInChildApplications="false": the root's settings stop at the
 * child application /app, not at a plain sub-directory. */
static void test_inherit_in_child_applications(void **state)
{
    (void)state;
    start("", NULL, NULL);
    put("www/web.config",
        WEB("<location path=\".\" inheritInChildApplications=\"false\"><system.webServer>"
            "<directoryBrowse enabled=\"true\" /></system.webServer></location>"
            "<system.webServer><staticContent enableDocFooter=\"true\" /></system.webServer>"));
    mkdirs("www/sub");
    mkdirs("www/app/deep");
    assert_string_equal(browse("/"), "true");
    assert_string_equal(browse("/sub"), "true");
    assert_string_equal(browse("/app"), "false");
    assert_string_equal(browse("/app/deep"), "false");
    /* settings without the attribute reach the child application */
    assert_string_equal(value("/app/deep", "system.webServer/staticContent", NULL,
                              "enableDocFooter"),
                        "true");
}

/* The same through applicationHost.config's <location>, which a child
 * application's web.config then builds on. */
static void test_inherit_in_child_applications_apphost(void **state)
{
    (void)state;
    start("", "<location path=\"S\" inheritInChildApplications=\"false\"><system.webServer>"
              "<directoryBrowse enabled=\"true\" /></system.webServer></location>",
          NULL);
    put("www/app/web.config", WS("<directoryBrowse showFlags=\"Size\" />"));
    mkdirs("www/sub");
    assert_string_equal(browse("/sub/"), "true");
    assert_string_equal(browse("/app/"), "false");
    assert_string_equal(value("/app/x.htm", "system.webServer/directoryBrowse", NULL,
                              "showFlags"),
                        "Size");
}

/* A <location> may name a single file: its settings apply to that URL
 * only, not to the files beside it. */
static void test_location_for_a_file(void **state)
{
    (void)state;
    start("", "<location path=\"S/d/one.htm\"><system.webServer><directoryBrowse "
              "showFlags=\"Time\" /></system.webServer></location>",
          NULL);
    put("www/d/web.config", WEB("<location path=\"two.htm\"><system.webServer>"
                                "<directoryBrowse enabled=\"true\" /></system.webServer>"
                                "</location>"));
    put("www/d/one.htm", "1");
    put("www/d/two.htm", "2");
    assert_string_equal(value("/d/one.htm", "system.webServer/directoryBrowse", NULL,
                              "showFlags"),
                        "Time");
    assert_string_equal(browse("/d/two.htm"), "true");
    assert_string_equal(browse("/d/three.htm"), "false");
    assert_string_equal(value("/d/three.htm", "system.webServer/directoryBrowse", NULL,
                              "showFlags"),
                        "Date");
}

/* ---- section locks ------------------------------------------------------------------- */

/* overrideModeDefault="Deny" (handlers, IIS' default): a web.config cannot
 * set it until applicationHost.config unlocks it with a <location>. */
static void test_lock_override_mode_default(void **state)
{
    (void)state;
    start("", NULL, NULL);
    put("www/web.config", WS("<handlers><clear /></handlers>"));
    const wasp_config_error_t *e = error_at("/x.htm", 0x80070021, "www/web.config");
    assert_contains(e->message, "This configuration section cannot be used at this path");
    assert_contains(e->message, "overrideModeDefault");
    assert_int_equal(e->line, 3);
    assert_contains(e->source, "    3: <handlers><clear /></handlers>");
    teardown(state);
    setup(state);
    start("", "<location path=\"S\" overrideMode=\"Allow\"><system.webServer><handlers />"
              "</system.webServer></location>",
          NULL);
    put("www/web.config", WS("<handlers><clear /></handlers>"));
    wasp_dircfg_t *dc = wasp_webcfg_lookup(wc, site(), "/x.htm");
    assert_null(wasp_dircfg_error(dc));
    assert_int_equal(wasp_section_item_count(wasp_dircfg_section(dc, "system.webServer/handlers")),
                     0);
    wasp_dircfg_release(dc);
}

/* <location overrideMode="Deny"> (and the legacy allowOverride="false")
 * locks a section for the files below it; siblings are untouched;
 * applicationHost.config itself may still set it for a deeper path. */
static void test_lock_location_deny(void **state)
{
    (void)state;
    start("", "<location path=\"S/locked\" overrideMode=\"Deny\"><system.webServer>"
              "<directoryBrowse /></system.webServer></location>"
              "<location path=\"S/old\" allowOverride=\"false\"><system.webServer>"
              "<directoryBrowse /></system.webServer></location>"
              "<location path=\"S/locked/deeper\"><system.webServer>"
              "<directoryBrowse enabled=\"true\" /></system.webServer></location>",
          NULL);
    put("www/locked/web.config", WS("<directoryBrowse enabled=\"true\" />"));
    put("www/old/web.config", WS("<directoryBrowse enabled=\"true\" />"));
    put("www/open/web.config", WS("<directoryBrowse enabled=\"true\" />"));
    mkdirs("www/locked/deeper");
    error_at("/locked/page.htm", 0x80070021, "www/locked/web.config");
    error_at("/old/", 0x80070021, "www/old/web.config");
    assert_string_equal(browse("/open/page.htm"), "true");
    assert_string_equal(browse("/"), "false");
    del("www/locked/web.config");
    wasp_webcfg_process(wc);
    assert_string_equal(browse("/locked/deeper"), "true");
}

/* A web.config's <location path="." overrideMode="Deny"> binds the files
 * below it, not the file itself; Allow cannot undo a lock set above. */
static void test_lock_web_config_location(void **state)
{
    (void)state;
    start("", NULL, NULL);
    put("www/web.config",
        WEB("<location path=\".\" overrideMode=\"Deny\"><system.webServer>"
            "<directoryBrowse enabled=\"true\" /></system.webServer></location>"
            "<location path=\"sub/own\"><system.webServer><directoryBrowse enabled=\"false\" />"
            "</system.webServer></location>"));
    put("www/sub/web.config", WS("<directoryBrowse showFlags=\"Size\" />"));
    mkdirs("www/other");
    assert_string_equal(browse("/other"), "true");
    error_at("/sub/a.txt", 0x80070021, "www/sub/web.config");
    /* the root file's own <location> for a deeper path is allowed */
    del("www/sub/web.config");
    wasp_webcfg_process(wc);
    mkdirs("www/sub/own");
    assert_string_equal(browse("/sub/own"), "false");
    /* a lower file cannot unlock what is locked above it */
    put("www/sub/web.config", WEB("<location path=\"own\" overrideMode=\"Allow\"><system.webServer>"
                                  "<directoryBrowse /></system.webServer></location>"));
    wasp_webcfg_process(wc);
    error_at("/sub/own/", 0x80070021, "www/sub/web.config");
}

/* applicationHost.config unlocks a path that a site's web.config locks
 * above it: conflicting lock and unlock between levels. */
static void test_lock_conflict(void **state)
{
    (void)state;
    start("", "<location path=\"S/shop\" overrideMode=\"Allow\"><system.webServer>"
              "<directoryBrowse /></system.webServer></location>",
          NULL);
    put("www/web.config", WEB("<location path=\".\" overrideMode=\"Deny\"><system.webServer>"
                              "<directoryBrowse /></system.webServer></location>"));
    mkdirs("www/shop");
    assert_string_equal(browse("/"), "false");
    wasp_dircfg_t *dc = wasp_webcfg_lookup(wc, site(), "/shop");
    const wasp_config_error_t *e = wasp_dircfg_error(dc);
    assert_non_null(e);
    assert_int_equal(e->hresult, 0x80070021);
    assert_contains(e->message, "cannot unlock");
    wasp_dircfg_release(dc);
}

/* overrideMode and allowOverride together in a web.config: invalid. */
static void test_lock_both_attributes(void **state)
{
    (void)state;
    start("", NULL, NULL);
    put("www/web.config", WEB("<location path=\".\" overrideMode=\"Deny\" allowOverride=\"false\">"
                              "<system.webServer><directoryBrowse /></system.webServer>"
                              "</location>"));
    const wasp_config_error_t *e = error_at("/", 0x8007000d, "www/web.config");
    assert_contains(e->message, "not both");
}

/* ---- granular locks ------------------------------------------------------------------ */

static void test_lock_attributes(void **state)
{
    (void)state;
    start("<staticContent lockAttributes=\"enableDocFooter, defaultDocFooter\" />",
          "<location path=\"S/sub\"><system.webServer><staticContent enableDocFooter=\"true\" />"
          "</system.webServer></location>",
          NULL);
    put("www/ok/web.config", WS("<staticContent isDocFooterFileName=\"true\" />"));
    put("www/bad/web.config", WS("<staticContent\n   enableDocFooter=\"false\" />"));
    mkdirs("www/sub");
    assert_string_equal(value("/ok/", "system.webServer/staticContent", NULL,
                              "isDocFooterFileName"),
                        "true");
    const wasp_config_error_t *e = error_at("/bad/", 0x80070021, "www/bad/web.config");
    assert_contains(e->message, "Lock violation");
    assert_contains(e->message, "enableDocFooter");
    assert_int_equal(e->line, 4); /* the attribute's own line */
    /* the same file (applicationHost.config) may set it for a deeper path */
    assert_string_equal(value("/sub", "system.webServer/staticContent", NULL, "enableDocFooter"),
                        "true");
}

static void test_lock_all_attributes_except(void **state)
{
    (void)state;
    start("<staticContent lockAllAttributesExcept=\"enableDocFooter\" />", NULL, NULL);
    put("www/ok/web.config", WS("<staticContent enableDocFooter=\"true\" />"));
    put("www/bad/web.config", WS("<staticContent defaultDocFooter=\"x\" />"));
    assert_string_equal(value("/ok", "system.webServer/staticContent", NULL, "enableDocFooter"),
                        "true");
    const wasp_config_error_t *e = error_at("/bad", 0x80070021, "www/bad/web.config");
    assert_contains(e->message, "defaultDocFooter");
}

static void test_lock_elements(void **state)
{
    (void)state;
    start("<staticContent lockElements=\"clientCache\"><mimeMap fileExtension=\".a\" "
          "mimeType=\"text/a\" /></staticContent>"
          "<defaultDocument><files lockElements=\"clear\"><add value=\"index.html\" />"
          "</files></defaultDocument>",
          NULL, NULL);
    put("www/ok/web.config", WS("<staticContent><mimeMap fileExtension=\".b\" mimeType=\"text/b\" />"
                                "</staticContent><defaultDocument><files><add value=\"x.htm\" />"
                                "</files></defaultDocument>"));
    put("www/cache/web.config", WS("<staticContent><clientCache cacheControlMode=\"NoControl\" />"
                                   "</staticContent>"));
    put("www/clear/web.config", WS("<defaultDocument><files><clear /></files></defaultDocument>"));
    wasp_dircfg_t *dc = wasp_webcfg_lookup(wc, site(), "/ok/");
    assert_null(wasp_dircfg_error(dc));
    assert_int_equal(
        wasp_section_item_count(wasp_dircfg_section(dc, "system.webServer/staticContent")), 2);
    wasp_dircfg_release(dc);
    assert_contains(error_at("/cache/", 0x80070021, "www/cache/web.config")->message,
                    "<clientCache>");
    assert_contains(error_at("/clear/", 0x80070021, "www/clear/web.config")->message, "<clear>");
}

static void test_lock_all_elements_except(void **state)
{
    (void)state;
    start("<defaultDocument><files lockAllElementsExcept=\"add\" /></defaultDocument>", NULL, NULL);
    put("www/ok/web.config", WS("<defaultDocument><files><add value=\"x.htm\" /></files>"
                                "</defaultDocument>"));
    put("www/bad/web.config", WS("<defaultDocument><files><remove value=\"x.htm\" /></files>"
                                 "</defaultDocument>"));
    assert_null(value("/ok/", "system.webServer/defaultDocument", NULL, "enabled"));
    error_at("/bad/", 0x80070021, "www/bad/web.config");
}

static void test_lock_item(void **state)
{
    (void)state;
    start("<defaultDocument><files><add value=\"index.html\" lockItem=\"true\" />"
          "<add value=\"a.htm\" /></files></defaultDocument>",
          NULL, NULL);
    put("www/ok/web.config", WS("<defaultDocument><files><remove value=\"a.htm\" /></files>"
                                "</defaultDocument>"));
    put("www/rm/web.config", WS("<defaultDocument><files><remove value=\"INDEX.html\" /></files>"
                                "</defaultDocument>"));
    put("www/clear/web.config", WS("<defaultDocument><files><clear /></files></defaultDocument>"));
    wasp_dircfg_t *dc = wasp_webcfg_lookup(wc, site(), "/ok/");
    assert_null(wasp_dircfg_error(dc));
    wasp_dircfg_release(dc);
    assert_contains(error_at("/rm/", 0x80070021, "www/rm/web.config")->message, "lockItem");
    error_at("/clear/", 0x80070021, "www/clear/web.config");
}

/* ---- allowDefinition ------------------------------------------------------------------ */

static void test_allow_definition(void **state)
{
    (void)state;
    /* modules: MachineToApplication (and Deny, so unlocked for the site) */
    start("", "<location path=\"S\" overrideMode=\"Allow\"><system.webServer><modules />"
              "</system.webServer></location>",
          NULL);
    put("www/app/web.config", WS("<modules><clear /></modules>"));
    put("www/sub/web.config", WS("<modules><clear /></modules>"));
    put("www/g/web.config", WS("<globalModules><clear /></globalModules>"));
    put("www/h/web.config", WEB("<system.applicationHost><sites /></system.applicationHost>"));
    wasp_dircfg_t *dc = wasp_webcfg_lookup(wc, site(), "/app/x");
    assert_null(wasp_dircfg_error(dc));
    wasp_dircfg_release(dc);
    assert_contains(error_at("/sub/", 0x80070021, "www/sub/web.config")->message,
                    "MachineToApplication");
    assert_contains(error_at("/g/", 0x80070021, "www/g/web.config")->message, "AppHostOnly");
    error_at("/h/", 0x80070021, "www/h/web.config");
}

/* A <location> of applicationHost.config below an application root with a
 * MachineToApplication section is refused at load. */
static void test_allow_definition_apphost(void **state)
{
    (void)state;
    char text[4096];
    snprintf(text, sizeof(text),
             "<configuration><system.applicationHost><applicationPools><add name=\"P\" />"
             "</applicationPools><sites><site name=\"S\" id=\"1\"><application path=\"/\" "
             "applicationPool=\"P\"><virtualDirectory path=\"/\" physicalPath=\"%s\" />"
             "</application><bindings><binding protocol=\"http\" bindingInformation=\"*:80:\" />"
             "</bindings></site></sites></system.applicationHost>\n"
             "<location path=\"S/sub\"><system.webServer><modules /></system.webServer>"
             "</location></configuration>\n",
             root);
    put("applicationHost.config", text);
    char path[512];
    snprintf(path, sizeof(path), "%s/applicationHost.config", root);
    wasp_diag_t d;
    assert_null(wasp_config_load(path, &d));
    assert_int_equal(d.line, 2);
    assert_contains(d.message, "MachineToApplication");
}

/* ---- declarations, unknown sections, XML, duplicates --------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    start("", NULL, NULL);
    put("www/xml/web.config", "<configuration>\n  <system.webServer>\n    <directoryBrowse enabled=\"true\">\n"
                              "  </system.webServer>\n</configuration>\n");
    put("www/unknown/web.config", WEB("<system.webServer>\n<noSuchSection />\n</system.webServer>"));
    put("www/dup/web.config",
        WS("<staticContent><mimeMap fileExtension=\".x\" mimeType=\"a/b\" />"
           "<mimeMap fileExtension=\".X\" mimeType=\"a/c\" /></staticContent>"));
    put("www/twice/web.config", WEB("<system.webServer><directoryBrowse /></system.webServer>"
                                    "<location path=\".\"><system.webServer><directoryBrowse />"
                                    "</system.webServer></location>"));
    const wasp_config_error_t *e = error_at("/xml/a.htm", 0x8007000d, "www/xml/web.config");
    assert_contains(e->message, "Configuration file is not well-formed XML");
    assert_int_equal(e->line, 4);
    assert_contains(e->source, "    3:     <directoryBrowse enabled=\"true\">\n"
                               "    4:   </system.webServer>\n    5: </configuration>\n");
    assert_contains(error_at("/unknown/", 0x8007000d, "www/unknown/web.config")->message,
                    "Unrecognized configuration section 'system.webServer/noSuchSection'");
    assert_contains(error_at("/dup/", 0x800700b7, "www/dup/web.config")->message,
                    "Cannot add duplicate collection entry");
    assert_contains(error_at("/twice/", 0x8007000d, "www/twice/web.config")->message,
                    "duplicate 'system.webServer/directoryBrowse' section");
    /* below a broken directory: the same error; beside it: fine */
    mkdirs("www/xml/deeper");
    error_at("/xml/deeper/file", 0x8007000d, "www/xml/web.config");
    assert_string_equal(browse("/fine/page.htm"), "false");
    /* one log line per broken file, however often it is asked for */
    int before = logged;
    error_at("/xml/other.htm", 0x8007000d, "www/xml/web.config");
    error_at("/xml/", 0x8007000d, "www/xml/web.config");
    assert_int_equal(logged, before);
    /* the sections of a broken URL are applicationHost.config's */
    wasp_dircfg_t *dc = wasp_webcfg_lookup(wc, site(), "/xml/");
    assert_string_equal(wasp_section_attr(wasp_dircfg_section(dc, "system.webServer/directoryBrowse"),
                                          "showFlags"),
                        "Date");
    wasp_dircfg_release(dc);
}

/* Duplicate keys between levels: applicationHost.config's entry added again. */
static void test_duplicate_across_levels(void **state)
{
    (void)state;
    start("<staticContent><mimeMap fileExtension=\".txt\" mimeType=\"text/plain\" />"
          "</staticContent>",
          NULL, NULL);
    put("www/web.config", WS("<staticContent>\n<mimeMap fileExtension=\".txt\" mimeType=\"a/b\" />"
                             "\n</staticContent>"));
    const wasp_config_error_t *e = error_at("/", 0x800700b7, "www/web.config");
    assert_contains(e->message, "unique key attribute 'fileExtension' set to '.txt'");
    assert_int_equal(e->line, 4);
    put("www/web.config", WS("<staticContent><remove fileExtension=\".txt\" />"
                             "<mimeMap fileExtension=\".txt\" mimeType=\"a/b\" /></staticContent>"));
    wasp_webcfg_process(wc);
    wasp_dircfg_t *dc = wasp_webcfg_lookup(wc, site(), "/");
    assert_null(wasp_dircfg_error(dc));
    wasp_dircfg_release(dc);
}

/* <configSections> in a web.config declares a section for its level and
 * below (opaque: kept as written); a declaration above cannot be redone. */
static void test_config_sections(void **state)
{
    (void)state;
    start("", NULL, NULL);
    put("www/web.config",
        WEB("<configSections><sectionGroup name=\"myGroup\"><section name=\"mine\" />"
            "</sectionGroup></configSections>\n"
            "<myGroup><mine color=\"blue\" /></myGroup>\n<appSettings><add key=\"k\" "
            "value=\"v\" /></appSettings>"));
    put("www/sub/web.config", WEB("<myGroup><mine color=\"red\" /></myGroup>"));
    put("www/re/web.config", WEB("<configSections><section name=\"appSettings\" />"
                                 "</configSections>"));
    assert_string_equal(value("/", "myGroup/mine", NULL, "color"), "blue");
    assert_string_equal(value("/sub/", "myGroup/mine", NULL, "color"), "red");
    wasp_dircfg_t *dc = wasp_webcfg_lookup(wc, site(), "/");
    assert_int_equal(wasp_section_item_count(wasp_dircfg_section(dc, "appSettings")), 1);
    wasp_dircfg_release(dc);
    assert_contains(error_at("/re/", 0x8007000d, "www/re/web.config")->message,
                    "already defined");
    /* a child application inherits the declaration and the value */
    put("www/app/web.config", WEB("<myGroup><mine /></myGroup>"));
    assert_string_equal(value("/app/", "myGroup/mine", NULL, "color"), "blue");
}

/* ---- configSource ---------------------------------------------------------------------- */

static void test_config_source(void **state)
{
    (void)state;
    start("", NULL, NULL);
    put("www/a/web.config", WS("<directoryBrowse configSource=\"browse.config\" />"));
    put("www/a/browse.config", "<directoryBrowse enabled=\"true\" showFlags=\"Size\" />\n");
    put("www/b/web.config", WS("<directoryBrowse configSource=\"conf\\browse.config\" />"));
    put("www/b/conf/browse.config",
        WS("<directoryBrowse enabled=\"true\" />")); /* wrapped, as in the IIS sample */
    put("www/up/web.config", WS("<directoryBrowse configSource=\"../a/browse.config\" />"));
    put("www/abs/web.config", WS("<directoryBrowse configSource=\"/etc/passwd\" />"));
    put("www/missing/web.config", WS("<directoryBrowse configSource=\"nothere.config\" />"));
    put("www/extra/web.config", WS("<directoryBrowse enabled=\"true\" configSource=\"x.config\" />"));
    put("www/bad/web.config", WS("<directoryBrowse configSource=\"bad.config\" />"));
    put("www/bad/bad.config", "<directoryBrowse>\n<oops>\n</directoryBrowse>\n");
    assert_string_equal(browse("/a/x.htm"), "true");
    assert_string_equal(value("/a/", "system.webServer/directoryBrowse", NULL, "showFlags"),
                        "Size");
    assert_string_equal(browse("/b/"), "true");
    assert_contains(error_at("/up/", 0x8007000d, "www/up/web.config")->message, "no '..'");
    error_at("/abs/", 0x8007000d, "www/abs/web.config");
    assert_contains(error_at("/missing/", 0x80070003, "www/missing/web.config")->message,
                    "nothere.config");
    error_at("/extra/", 0x8007000d, "www/extra/web.config");
    const wasp_config_error_t *e = error_at("/bad/", 0x8007000d, "www/bad/bad.config");
    assert_int_equal(e->line, 3);
    /* an edit of the configSource file applies like one of the web.config */
    put("www/a/browse.config", "<directoryBrowse enabled=\"false\" />\n");
    wasp_webcfg_process(wc);
    assert_string_equal(browse("/a/x.htm"), "false");
}

/* ---- which files are read ------------------------------------------------------------ */

static void test_allow_sub_dir_config(void **state)
{
    (void)state;
    start("", NULL, NULL);
    put("vdir/web.config", WS("<directoryBrowse enabled=\"true\" />"));
    put("vdir/sub/web.config", WS("<directoryBrowse showFlags=\"Size\" />"));
    assert_string_equal(browse("/v"), "true");
    assert_string_equal(browse("/v/sub/"), "true");
    /* vdir/sub/web.config is not read */
    assert_string_equal(value("/v/sub/", "system.webServer/directoryBrowse", NULL, "showFlags"),
                        "Date");
}

static void test_enable_configuration_override(void **state)
{
    (void)state;
    start("", NULL, "enableConfigurationOverride=\"false\"");
    put("www/web.config", WS("<directoryBrowse enabled=\"true\" />"));
    put("www/broken/web.config", "<configuration>");
    assert_string_equal(browse("/"), "false");
    assert_string_equal(browse("/broken/"), "false");
}

/* ---- the cache --------------------------------------------------------------------- */

static void test_cache_hits_and_invalidation(void **state)
{
    (void)state;
    start("", NULL, NULL);
    put("www/a/b/page.htm", "x");
    wasp_webcfg_stats_t st0, st1;
    assert_string_equal(browse("/a/b/page.htm"), "false");
    wasp_webcfg_stats(wc, &st0);
    assert_int_equal(st0.builds, 5); /* server, /, /a, /a/b, /a/b/page.htm */
    for (int i = 0; i < 10; i++)
        assert_string_equal(browse("/a/b/page.htm"), "false");
    wasp_webcfg_stats(wc, &st1);
    assert_int_equal(st1.builds, st0.builds); /* hits */
    assert_true(st1.watches >= 3);          /* www, www/a, www/a/b */

    /* a web.config appears where none was: the next lookup sees it */
    put("www/a/web.config", WS("<directoryBrowse enabled=\"true\" />"));
    wasp_webcfg_process(wc);
    assert_string_equal(browse("/a/b/page.htm"), "true");
    /* edited */
    put("www/a/web.config", WS("<directoryBrowse enabled=\"false\" showFlags=\"Size\" />"));
    wasp_webcfg_process(wc);
    assert_string_equal(value("/a/b/page.htm", "system.webServer/directoryBrowse", NULL,
                              "showFlags"),
                        "Size");
    /* broken, then fixed: logged once while broken, again after a change */
    logged = 0;
    put("www/a/web.config", "<configuration><system.webServer>");
    wasp_webcfg_process(wc);
    error_at("/a/b/page.htm", 0x8007000d, "www/a/web.config");
    error_at("/a/", 0x8007000d, "www/a/web.config");
    assert_int_equal(logged, 1);
    assert_contains(last_log, "www/a/web.config:1: Configuration file is not well-formed XML");
    put("www/a/web.config", WS("<directoryBrowse enabled=\"true\" />"));
    wasp_webcfg_process(wc);
    assert_string_equal(browse("/a/b/page.htm"), "true");
    /* deleted */
    del("www/a/web.config");
    wasp_webcfg_process(wc);
    assert_string_equal(browse("/a/b/page.htm"), "false");
    /* a change elsewhere drops nothing of this path */
    wasp_webcfg_stats(wc, &st0);
    put("www/other/web.config", WS("<directoryBrowse enabled=\"true\" />"));
    put("www/a/b/unrelated.txt", "y");
    wasp_webcfg_process(wc);
    assert_string_equal(browse("/a/b/page.htm"), "false");
    wasp_webcfg_stats(wc, &st1);
    assert_int_equal(st1.builds, st0.builds);
}

/* A rebuilt level gives back the same section pointers (modules cache by
 * pointer), and a changed file gives new ones. */
static void test_cache_stable_pointers(void **state)
{
    (void)state;
    start("", NULL, NULL);
    put("www/a/web.config", WS("<directoryBrowse enabled=\"true\" />"));
    wasp_dircfg_t *dc = wasp_webcfg_lookup(wc, site(), "/a/");
    const wasp_section_t *s1 = wasp_dircfg_section(dc, "system.webServer/directoryBrowse");
    wasp_dircfg_release(dc);
    put("www/a/web.config", WS("<directoryBrowse enabled=\"true\" />")); /* same bytes */
    wasp_webcfg_process(wc);
    dc = wasp_webcfg_lookup(wc, site(), "/a/");
    assert_ptr_equal(wasp_dircfg_section(dc, "system.webServer/directoryBrowse"), s1);
    wasp_dircfg_release(dc);
    put("www/a/web.config", WS("<directoryBrowse enabled=\"false\" />"));
    wasp_webcfg_process(wc);
    dc = wasp_webcfg_lookup(wc, site(), "/a/");
    assert_ptr_not_equal(wasp_dircfg_section(dc, "system.webServer/directoryBrowse"), s1);
    wasp_dircfg_release(dc);
}

/* A level held by a request stays usable after it is dropped; the LRU
 * keeps at most its size. */
static void test_cache_pin_and_lru(void **state)
{
    (void)state;
    start("", NULL, NULL);
    put("www/a/web.config", WS("<directoryBrowse enabled=\"true\" />"));
    wasp_dircfg_t *held = wasp_webcfg_lookup(wc, site(), "/a/page.htm");
    put("www/a/web.config", WS("<directoryBrowse enabled=\"false\" />"));
    wasp_webcfg_process(wc);
    assert_string_equal(wasp_section_attr(wasp_dircfg_section(held,
                                                              "system.webServer/directoryBrowse"),
                                          "enabled"),
                        "true");
    assert_string_equal(browse("/a/page.htm"), "false");
    wasp_dircfg_release(held);
    for (int i = 0; i < 200; i++) {
        char url[64];
        snprintf(url, sizeof(url), "/a/f%d.htm", i);
        assert_string_equal(browse(url), "false");
    }
    wasp_webcfg_stats_t st;
    wasp_webcfg_stats(wc, &st);
    assert_true(st.entries <= 64);
}

/* URL-to-configuration matching is case-insensitive for <location>. */
static void test_location_case(void **state)
{
    (void)state;
    start("", "<location path=\"s/SUB\"><system.webServer><directoryBrowse enabled=\"true\" />"
              "</system.webServer></location>",
          NULL);
    put("www/web.config", WEB("<location path=\"Sub/Deep\"><system.webServer>"
                              "<directoryBrowse showFlags=\"Size\" /></system.webServer></location>"));
    mkdirs("www/sub/deep");
    assert_string_equal(browse("/sub/"), "true");
    assert_string_equal(value("/sub/deep/", "system.webServer/directoryBrowse", NULL, "showFlags"),
                        "Size");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_merge_order_same_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_order_deeper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_collections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inherit_in_child_applications, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inherit_in_child_applications_apphost, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_location_for_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_override_mode_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_location_deny, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_web_config_location, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_both_attributes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_attributes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_all_attributes_except, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_elements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_all_elements_except, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_item, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allow_definition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allow_definition_apphost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_across_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_sections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allow_sub_dir_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enable_configuration_override, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_hits_and_invalidation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_stable_pointers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_pin_and_lru, setup, teardown),
        cmocka_unit_test_setup_teardown(test_location_case, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
