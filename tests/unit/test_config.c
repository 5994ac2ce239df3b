/*
 * Unit tests of the configuration system (src/config): loading, section
 * declarations, collections, <location> merging, the applicationHost model,
 * URL mapping, the stock conf/applicationHost.config and every real IIS
 * applicationHost.config of the shared corpus.
 *
 * Run from the repository root (meson's test workdir): the stock file is
 * conf/applicationHost.config and the corpus ../shared/corpus/iis.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"

/* ---- helpers -------------------------------------------------------------- */

#define MAX_TMP 64
static char tmp_paths[MAX_TMP][64];
static int tmp_count;

/* Write text to a fresh file under /tmp and return its path. */
static const char *write_tmp(const char *text)
{
    assert_true(tmp_count < MAX_TMP);
    char *path = tmp_paths[tmp_count++];
    snprintf(path, 64, "/tmp/wasp-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static int cleanup_tmp(void **state)
{
    (void)state;
    for (int i = 0; i < tmp_count; i++)
        unlink(tmp_paths[i]);
    tmp_count = 0;
    return 0;
}

static wasp_config_t *load_ok(const char *text)
{
    wasp_diag_t d;
    wasp_config_t *cfg = wasp_config_load(write_tmp(text), &d);
    if (!cfg) {
        char buf[2048];
        fprintf(stderr, "unexpected load failure: %s\n", wasp_diag_format(&d, buf, sizeof buf));
    }
    assert_non_null(cfg);
    return cfg;
}

/* Load text that must fail; returns the diag (file checked here). */
static wasp_diag_t load_fail(const char *text)
{
    wasp_diag_t d;
    const char *path = write_tmp(text);
    wasp_config_t *cfg = wasp_config_load(path, &d);
    if (cfg) {
        wasp_config_free(cfg);
        fail_msg("configuration unexpectedly loaded");
    }
    assert_string_equal(d.file, path);
    return d;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

/* A small applicationHost.config around the given pools, sites and extra
 * top-level content. */
static const char *apphost(const char *pools, const char *sites, const char *extra)
{
    static char buf[16384];
    snprintf(buf, sizeof buf,
             "<?xml version=\"1.0\"?>\n"
             "<configuration>\n"
             "<system.applicationHost>\n"
             "<applicationPools>\n%s</applicationPools>\n"
             "<sites>\n%s<applicationDefaults applicationPool=\"DefaultAppPool\" />\n</sites>\n"
             "</system.applicationHost>\n"
             "%s"
             "</configuration>\n",
             pools, sites, extra);
    return buf;
}

#define POOL "<add name=\"DefaultAppPool\" />\n"
#define SITE(name, id, port)                                                                       \
    "<site name=\"" name "\" id=\"" #id "\">\n"                                                    \
    "<application path=\"/\"><virtualDirectory path=\"/\" physicalPath=\"/srv/" name               \
    "\" /></application>\n"                                                                        \
    "<bindings><binding protocol=\"http\" bindingInformation=\"*:" #port ":\" /></bindings>\n"     \
    "</site>\n"

static const char *item_attr(const wasp_section_t *s, size_t i, const char *name)
{
    const wasp_section_t *it = wasp_section_item(s, i);
    assert_non_null(it);
    return wasp_section_attr(it, name);
}

/* ---- loading and XML ------------------------------------------------------- */

static void test_malformed_xml_names_line(void **state)
{
    (void)state;
    wasp_diag_t d = load_fail("<?xml version=\"1.0\"?>\n"
                              "<configuration>\n"
                              "  <system.webServer>\n"
                              "    <directoryBrowse enabled=\"true\">\n"
                              "  </system.webServer>\n"
                              "</configuration>\n");
    assert_int_equal(d.line, 5);
    assert_contains(d.message, "malformed XML");
    assert_contains(d.message, "directoryBrowse"); /* libxml2's own words */
    char buf[2048];
    assert_contains(wasp_diag_format(&d, buf, sizeof buf), ":5: malformed XML");
}

static void test_missing_file(void **state)
{
    (void)state;
    wasp_diag_t d;
    assert_null(wasp_config_load("/nonexistent/wasp/applicationHost.config", &d));
    assert_string_equal(d.file, "/nonexistent/wasp/applicationHost.config");
    assert_contains(d.message, "No such file");
}

static void test_doctype_refused(void **state)
{
    (void)state;
    wasp_diag_t d = load_fail("<?xml version=\"1.0\"?>\n"
                              "<!DOCTYPE configuration [ <!ENTITY a \"aaaa\"> ]>\n"
                              "<configuration><appSettings><add key=\"k\" value=\"&a;\" />"
                              "</appSettings></configuration>\n");
    assert_contains(d.message, "DOCTYPE");
}

static void test_root_must_be_configuration(void **state)
{
    (void)state;
    wasp_diag_t d = load_fail("<system.webServer><directoryBrowse /></system.webServer>\n");
    assert_contains(d.message, "<configuration>");
}

static void test_attribute_lines(void **state)
{
    (void)state;
    /* libxml2 has no attribute lines; the reader finds them. */
    wasp_config_t *cfg = load_ok("<configuration>\n"
                                 "  <!-- <directoryBrowse enabled=\"true\" /> -->\n"
                                 "  <system.webServer>\n"
                                 "    <directoryBrowse\n"
                                 "        enabled=\"true\"\n"
                                 "        showFlags=\"Date\" />\n"
                                 "  </system.webServer>\n"
                                 "</configuration>\n");
    const wasp_section_t *s =
        wasp_config_section(cfg, NULL, NULL, "system.webServer/directoryBrowse");
    assert_non_null(s);
    assert_int_equal(s->line, 4);
    assert_int_equal(s->attr_count, 2);
    assert_string_equal(s->attrs[0].name, "enabled");
    assert_int_equal(s->attrs[0].line, 5);
    assert_int_equal(s->attrs[1].line, 6);
    wasp_config_free(cfg);
}

/* ---- section declarations -------------------------------------------------- */

static void test_unknown_section(void **state)
{
    (void)state;
    wasp_diag_t d = load_fail("<configuration>\n"
                              "  <system.webServer>\n"
                              "    <staticContnet />\n"
                              "  </system.webServer>\n"
                              "</configuration>\n");
    assert_int_equal(d.line, 3);
    assert_contains(d.message,
                    "Unrecognized configuration section 'system.webServer/staticContnet'");

    d = load_fail("<configuration>\n<myCustomSection a=\"1\" />\n</configuration>\n");
    assert_int_equal(d.line, 2);
    assert_contains(d.message, "Unrecognized configuration section 'myCustomSection'");

    d = load_fail("<configuration>\n<location path=\"Default Web Site\">\n"
                  "<system.webServer><nope /></system.webServer>\n</location>\n</configuration>\n");
    assert_int_equal(d.line, 3);
    assert_contains(d.message, "Unrecognized configuration section 'system.webServer/nope'");
}

static void test_file_without_config_sections(void **state)
{
    (void)state;
    /* IIS, .NET and tool sections are all known without <configSections>. */
    wasp_config_t *cfg = load_ok("<configuration>\n"
                                 "<appSettings><add key=\"a\" value=\"1\" /></appSettings>\n"
                                 "<system.web><compilation debug=\"true\" /></system.web>\n"
                                 "<system.webServer>\n"
                                 "  <defaultDocument enabled=\"false\" />\n"
                                 "  <rewrite><rules /></rewrite>\n"
                                 "  <security><requestFiltering /></security>\n"
                                 "</system.webServer>\n"
                                 "</configuration>\n");
    assert_true(wasp_config_section_known(cfg, "system.webServer/staticContent"));
    assert_true(wasp_config_section_known(cfg, "system.applicationHost/sites"));
    assert_true(wasp_config_section_known(cfg, "system.web/compilation"));
    assert_true(wasp_config_section_known(cfg, "system.webServer/rewrite/rules"));
    assert_false(wasp_config_section_known(cfg, "system.webServer")); /* a group */
    assert_false(wasp_config_section_known(cfg, "system.webServer/nope"));
    const wasp_section_t *dd =
        wasp_config_section(cfg, NULL, NULL, "system.webServer/defaultDocument");
    assert_false(wasp_section_bool(dd, "enabled", true));
    const wasp_section_t *c = wasp_config_section(cfg, "Any Site", "/x", "system.web/compilation");
    assert_true(wasp_section_bool(c, "debug", false));
    assert_null(wasp_config_section(cfg, NULL, NULL, "system.webServer/staticContent"));
    assert_int_equal(wasp_config_site_count(cfg), 0);
    assert_int_equal(wasp_config_pool_count(cfg), 0);
    wasp_config_free(cfg);
}

static void test_config_sections_declare_custom(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok("<configuration>\n"
                                 "<configSections>\n"
                                 "  <sectionGroup name=\"myGroup\">\n"
                                 "    <section name=\"mySection\" overrideModeDefault=\"Deny\" />\n"
                                 "  </sectionGroup>\n"
                                 "  <section name=\"elmah\" type=\"Elmah.X, Elmah\" />\n"
                                 "</configSections>\n"
                                 "<myGroup><mySection value=\"42\" /></myGroup>\n"
                                 "<elmah />\n"
                                 "</configuration>\n");
    assert_true(wasp_config_section_known(cfg, "myGroup/mySection"));
    const wasp_section_t *s = wasp_config_section(cfg, NULL, NULL, "myGroup/mySection");
    assert_int_equal(wasp_section_uint(s, "value", 0), 42);
    wasp_config_free(cfg);

    wasp_diag_t d = load_fail("<configuration>\n<configSections>\n"
                              "  <section name=\"a\" />\n  <section name=\"a\" />\n"
                              "</configSections>\n</configuration>\n");
    assert_int_equal(d.line, 4);
    assert_contains(d.message, "already defined");

    d = load_fail("<configuration>\n<location path=\"Default Web Site\">\n"
                  "<system.webServer><globalModules /></system.webServer>\n"
                  "</location>\n</configuration>\n");
    assert_int_equal(d.line, 3);
    assert_contains(d.message, "AppHostOnly");

    d = load_fail("<configuration>\n<configSections>\n"
                  "  <section name=\"b\" allowLocation=\"false\" />\n"
                  "</configSections>\n<location path=\"\"><b /></location>\n</configuration>\n");
    assert_int_equal(d.line, 5);
    assert_contains(d.message, "allowLocation");

    d = load_fail("<configuration>\n<configSections>\n"
                  "  <section name=\"a\" allowDefinition=\"Somewhere\" />\n"
                  "</configSections>\n</configuration>\n");
    assert_int_equal(d.line, 3);
    assert_contains(d.message, "AppHostOnly");
}

static void test_duplicate_section(void **state)
{
    (void)state;
    wasp_diag_t d =
        load_fail("<configuration>\n"
                  "<system.webServer><directoryBrowse enabled=\"true\" /></system.webServer>\n"
                  "<location path=\"\">\n"
                  "<system.webServer><directoryBrowse enabled=\"false\" /></system.webServer>\n"
                  "</location>\n"
                  "</configuration>\n");
    assert_int_equal(d.line, 4);
    assert_contains(d.message,
                    "There is a duplicate 'system.webServer/directoryBrowse' section defined");
}

static void test_section_group_attributes_warn(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok("<configuration>\n<system.webServer>\n"
                                 "<security requireClientCertificate=\"false\" />\n"
                                 "</system.webServer>\n</configuration>\n");
    assert_int_equal(wasp_config_warning_count(cfg), 1);
    assert_int_equal(wasp_config_warning(cfg, 0)->line, 3);
    assert_contains(wasp_config_warning(cfg, 0)->message, "section group");
    wasp_config_free(cfg);
}

static void test_location_dot_and_config_source(void **state)
{
    (void)state;
    wasp_config_t *cfg =
        load_ok("<configuration>\n"
                "<configSections>\n"
                "  <section name=\"moduleProviders\" allowDefinition=\"MachineToWebRoot\" />\n"
                "</configSections>\n"
                "<location path=\".\">\n"
                "<system.webServer><directoryBrowse enabled=\"true\" /></system.webServer>\n"
                "</location>\n"
                "</configuration>\n");
    assert_true(
        wasp_section_bool(wasp_config_section(cfg, NULL, NULL, "system.webServer/directoryBrowse"),
                          "enabled", false));
    assert_true(wasp_section_bool(
        wasp_config_section(cfg, "S", "/a", "system.webServer/directoryBrowse"), "enabled", false));
    assert_int_equal(wasp_config_warning_count(cfg), 0);
    wasp_config_free(cfg);
    /* configSource is read (test_apphost_config_source): a missing file is
     * an error at the attribute's line. */
    wasp_diag_t d = load_fail("<configuration>\n"
                              "<appSettings configSource=\"wasp-no-such-app.config\" />\n"
                              "</configuration>\n");
    assert_int_equal(d.line, 2);
    assert_contains(d.message, "Unable to open configSource file 'wasp-no-such-app.config'");
}

/* ---- collections ------------------------------------------------------------ */

static void test_duplicate_mimemap_message(void **state)
{
    (void)state;
    wasp_diag_t d = load_fail("<configuration>\n"
                              "<system.webServer>\n"
                              "<staticContent>\n"
                              "  <mimeMap fileExtension=\".txt\" mimeType=\"text/plain\" />\n"
                              "  <mimeMap fileExtension=\".htm\" mimeType=\"text/html\" />\n"
                              "  <mimeMap fileExtension=\".TXT\" mimeType=\"text/x\" />\n"
                              "</staticContent>\n"
                              "</system.webServer>\n"
                              "</configuration>\n");
    assert_int_equal(d.line, 6);
    assert_contains(d.message,
                    "Cannot add duplicate collection entry of type 'mimeMap' with unique "
                    "key attribute 'fileExtension' set to '.TXT'");
    assert_contains(d.message, "line 4");
    assert_contains(d.message, "<remove fileExtension=\".TXT\" />");
}

static void test_duplicate_combined_key(void **state)
{
    (void)state;
    wasp_diag_t d = load_fail(apphost(POOL,
                                      "<site name=\"S\" id=\"1\">\n"
                                      "<application path=\"/\"><virtualDirectory path=\"/\" "
                                      "physicalPath=\"/srv\" /></application>\n"
                                      "<bindings>\n"
                                      "<binding protocol=\"http\" bindingInformation=\"*:80:\" />\n"
                                      "<binding protocol=\"http\" bindingInformation=\"*:80:\" />\n"
                                      "</bindings>\n</site>\n",
                                      ""));
    assert_contains(d.message,
                    "Cannot add duplicate collection entry of type 'binding' with combined "
                    "key attributes 'protocol, bindingInformation' respectively set to "
                    "'http, *:80:'");
}

static void test_duplicate_key_between_levels(void **state)
{
    (void)state;
    /* Found at load, although it only shows when the levels merge. */
    wasp_diag_t d = load_fail("<configuration>\n"
                              "<system.webServer><staticContent>\n"
                              "  <mimeMap fileExtension=\".txt\" mimeType=\"text/plain\" />\n"
                              "</staticContent></system.webServer>\n"
                              "<location path=\"Default Web Site/app\">\n"
                              "<system.webServer><staticContent>\n"
                              "  <mimeMap fileExtension=\".txt\" mimeType=\"text/x\" />\n"
                              "</staticContent></system.webServer>\n"
                              "</location>\n"
                              "</configuration>\n");
    assert_int_equal(d.line, 7);
    assert_contains(d.message, "set to '.txt'");
    assert_contains(d.message, "line 3");
}

static const char *remove_clear_cfg =
    "<configuration>\n"
    "<system.webServer>\n"
    "<staticContent>\n"
    "  <mimeMap fileExtension=\".a\" mimeType=\"t/a\" />\n"
    "  <mimeMap fileExtension=\".b\" mimeType=\"t/b\" />\n"
    "  <mimeMap fileExtension=\".c\" mimeType=\"t/c\" />\n"
    "  <clientCache cacheControlMode=\"UseMaxAge\" />\n"
    "</staticContent>\n"
    "<httpErrors errorMode=\"Custom\">\n"
    "  <error statusCode=\"404\" path=\"404.htm\" />\n"
    "  <error statusCode=\"404\" subStatusCode=\"3\" path=\"404-3.htm\" />\n"
    "  <error statusCode=\"500\" path=\"500.htm\" />\n"
    "</httpErrors>\n"
    "</system.webServer>\n"
    "<location path=\"Default Web Site/x\">\n"
    "<system.webServer>\n"
    "<staticContent>\n"
    "  <remove fileExtension=\".B\" />\n"
    "  <mimeMap fileExtension=\".d\" mimeType=\"t/d\" />\n"
    "  <mimeMap fileExtension=\".b\" mimeType=\"t/b2\" />\n"
    "</staticContent>\n"
    "<httpErrors><remove statusCode=\"404\" subStatusCode=\"-1\" /></httpErrors>\n"
    "</system.webServer>\n"
    "</location>\n"
    "<location path=\"Default Web Site/y\">\n"
    "<system.webServer>\n"
    "<staticContent>\n"
    "  <clear />\n"
    "  <mimeMap fileExtension=\".e\" mimeType=\"t/e\" />\n"
    "</staticContent>\n"
    "</system.webServer>\n"
    "</location>\n"
    "</configuration>\n";

static void test_remove_and_clear(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok(remove_clear_cfg);
    const wasp_section_t *root =
        wasp_config_section(cfg, NULL, NULL, "system.webServer/staticContent");
    assert_int_equal(wasp_section_item_count(root), 3);

    const wasp_section_t *x =
        wasp_config_section(cfg, "Default Web Site", "/x/f.txt", "system.webServer/staticContent");
    assert_int_equal(wasp_section_item_count(x), 4);
    assert_string_equal(item_attr(x, 0, "fileExtension"), ".a");
    assert_string_equal(item_attr(x, 1, "fileExtension"), ".c");
    assert_string_equal(item_attr(x, 2, "fileExtension"), ".d");
    assert_string_equal(item_attr(x, 3, "mimeType"), "t/b2");
    /* a non-collection child element is inherited */
    assert_string_equal(wasp_section_attr(wasp_section_child(x, "clientCache"), "cacheControlMode"),
                        "UseMaxAge");

    const wasp_section_t *y =
        wasp_config_section(cfg, "Default Web Site", "/y", "system.webServer/staticContent");
    assert_int_equal(wasp_section_item_count(y), 1);
    assert_string_equal(item_attr(y, 0, "fileExtension"), ".e");

    /* httpErrors key: statusCode + subStatusCode (default -1) */
    const wasp_section_t *e =
        wasp_config_section(cfg, "Default Web Site", "/x", "system.webServer/httpErrors");
    assert_int_equal(wasp_section_item_count(e), 2);
    assert_string_equal(item_attr(e, 0, "path"), "404-3.htm");
    assert_string_equal(item_attr(e, 1, "path"), "500.htm");
    assert_string_equal(wasp_section_attr(e, "errorMode"), "Custom");
    wasp_config_free(cfg);
}

static void test_handlers_prepend(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok(
        "<configuration>\n"
        "<location path=\"\" overrideMode=\"Allow\"><system.webServer>\n"
        "<handlers accessPolicy=\"Read, Script\">\n"
        "  <add name=\"OPTIONSVerbHandler\" path=\"*\" verb=\"OPTIONS\" "
        "modules=\"ProtocolSupportModule\" />\n"
        "  <add name=\"StaticFile\" path=\"*\" verb=\"*\" modules=\"StaticFileModule\" />\n"
        "</handlers>\n"
        "<defaultDocument><files><add value=\"index.html\" /></files></defaultDocument>\n"
        "<modules><add name=\"StaticFileModule\" /></modules>\n"
        "</system.webServer></location>\n"
        "<location path=\"Default Web Site\"><system.webServer>\n"
        "<handlers>\n"
        "  <add name=\"PHP\" path=\"*.php\" verb=\"GET,POST\" modules=\"FastCgiModule\" />\n"
        "  <add name=\"Py\" path=\"*.py\" verb=\"*\" modules=\"FastCgiModule\" />\n"
        "</handlers>\n"
        "<defaultDocument><files><add value=\"index.php\" /></files></defaultDocument>\n"
        "<modules><add name=\"FastCgiModule\" /></modules>\n"
        "</system.webServer></location>\n"
        "</configuration>\n");
    const wasp_section_t *h =
        wasp_config_section(cfg, "Default Web Site", "/a/b.php", "system.webServer/handlers");
    assert_int_equal(wasp_section_item_count(h), 4);
    assert_string_equal(item_attr(h, 0, "name"), "PHP");
    assert_string_equal(item_attr(h, 1, "name"), "Py");
    assert_string_equal(item_attr(h, 2, "name"), "OPTIONSVerbHandler");
    assert_string_equal(item_attr(h, 3, "name"), "StaticFile");
    assert_string_equal(wasp_section_attr(h, "accessPolicy"), "Read, Script");

    const wasp_section_t *f = wasp_section_child(
        wasp_config_section(cfg, "Default Web Site", "/", "system.webServer/defaultDocument"),
        "files");
    assert_int_equal(wasp_section_item_count(f), 2);
    assert_string_equal(item_attr(f, 0, "value"), "index.php");
    assert_string_equal(item_attr(f, 1, "value"), "index.html");

    /* modules append */
    const wasp_section_t *m =
        wasp_config_section(cfg, "Default Web Site", "/", "system.webServer/modules");
    assert_int_equal(wasp_section_item_count(m), 2);
    assert_string_equal(item_attr(m, 0, "name"), "StaticFileModule");
    assert_string_equal(item_attr(m, 1, "name"), "FastCgiModule");

    /* another site sees only the server level */
    h = wasp_config_section(cfg, "Other", "/a.php", "system.webServer/handlers");
    assert_int_equal(wasp_section_item_count(h), 2);
    wasp_config_free(cfg);
}

/* ---- <location> -------------------------------------------------------------- */

static void test_location_merge_case_insensitive(void **state)
{
    (void)state;
    wasp_config_t *cfg =
        load_ok("<configuration>\n"
                "<system.webServer><directoryBrowse enabled=\"false\" showFlags=\"Date, Size\" "
                "/></system.webServer>\n"
                "<location path=\"default web site/APP\">\n"
                "<system.webServer><directoryBrowse enabled=\"true\" /></system.webServer>\n"
                "</location>\n"
                "<location path=\"Default Web Site/app/deeper/x.htm\">\n"
                "<system.webServer><directoryBrowse showFlags=\"None\" /></system.webServer>\n"
                "</location>\n"
                "</configuration>\n");
    const char *sec = "system.webServer/directoryBrowse";
    const wasp_section_t *s =
        wasp_config_section(cfg, "Default Web Site", "/app/sub/file.htm", sec);
    assert_true(wasp_section_bool(s, "enabled", false));
    assert_string_equal(wasp_section_attr(s, "showFlags"), "Date, Size"); /* inherited */
    s = wasp_config_section(cfg, "DEFAULT WEB SITE", "/App", sec);
    assert_true(wasp_section_bool(s, "enabled", false));
    /* segment-wise: /application is not under /app */
    s = wasp_config_section(cfg, "Default Web Site", "/application/x", sec);
    assert_false(wasp_section_bool(s, "enabled", true));
    s = wasp_config_section(cfg, "Other Site", "/app", sec);
    assert_false(wasp_section_bool(s, "enabled", true));
    s = wasp_config_section(cfg, NULL, "/app", sec);
    assert_false(wasp_section_bool(s, "enabled", true));
    /* three levels, down to a single file */
    s = wasp_config_section(cfg, "Default Web Site", "/app/deeper/X.HTM", sec);
    assert_true(wasp_section_bool(s, "enabled", false));
    assert_string_equal(wasp_section_attr(s, "showFlags"), "None");
    s = wasp_config_section(cfg, "Default Web Site", "/app/deeper/y.htm", sec);
    assert_string_equal(wasp_section_attr(s, "showFlags"), "Date, Size");
    /* repeated lookups return the cached node */
    assert_ptr_equal(wasp_config_section(cfg, "Default Web Site", "/app/1", sec),
                     wasp_config_section(cfg, "Default Web Site", "/app/2/3", sec));
    wasp_config_free(cfg);
}

static void test_location_inherit_in_child_apps(void **state)
{
    (void)state;
    char extra[2048];
    snprintf(extra, sizeof extra,
             "<location path=\"S\" inheritInChildApplications=\"false\">\n"
             "<system.webServer><directoryBrowse enabled=\"true\" /></system.webServer>\n"
             "</location>\n");
    wasp_config_t *cfg = load_ok(
        apphost(POOL,
                "<site name=\"S\" id=\"1\">\n"
                "<application path=\"/\"><virtualDirectory path=\"/\" physicalPath=\"/srv/s\" "
                "/></application>\n"
                "<application path=\"/child\"><virtualDirectory path=\"/\" physicalPath=\"/srv/c\" "
                "/></application>\n"
                "<bindings><binding protocol=\"http\" bindingInformation=\"*:80:\" /></bindings>\n"
                "</site>\n",
                extra));
    const char *sec = "system.webServer/directoryBrowse";
    assert_true(wasp_section_bool(wasp_config_section(cfg, "S", "/dir/x", sec), "enabled", false));
    assert_null(wasp_config_section(cfg, "S", "/child/x", sec));
    wasp_config_free(cfg);
}

/* ---- applicationHost model ----------------------------------------------------- */

static void test_pool_and_site_defaults(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok(apphost(POOL, SITE("Default Web Site", 1, 80), ""));
    assert_int_equal(wasp_config_pool_count(cfg), 1);
    const wasp_pool_cfg_t *p = wasp_config_find_pool(cfg, "defaultapppool");
    assert_non_null(p);
    assert_ptr_equal(p, wasp_config_pool(cfg, 0));
    assert_string_equal(p->name, "DefaultAppPool");
    assert_int_equal(p->queue_length, 1000);
    assert_true(p->auto_start);
    assert_int_equal(p->start_mode, WASP_START_ON_DEMAND);
    assert_string_equal(p->managed_runtime_version, "");
    assert_string_equal(p->managed_pipeline_mode, "Integrated");
    assert_string_equal(p->identity_type, "ApplicationPoolIdentity");
    assert_string_equal(p->user_name, "");
    assert_int_equal(p->max_processes, 1);
    assert_int_equal(p->idle_timeout_s, 1200);
    assert_int_equal(p->startup_time_limit_s, 90);
    assert_int_equal(p->shutdown_time_limit_s, 90);
    assert_int_equal(p->ping_interval_s, 30);
    assert_int_equal(p->ping_response_time_s, 90);
    assert_true(p->pinging_enabled);
    assert_int_equal(p->line, 5);

    const wasp_site_cfg_t *s = wasp_config_find_site_by_id(cfg, 1);
    assert_non_null(s);
    assert_ptr_equal(s, wasp_config_find_site(cfg, "default web site"));
    assert_true(s->server_auto_start);
    assert_int_equal(s->connection_timeout_s, 120);
    assert_int_equal(s->binding_count, 1);
    assert_string_equal(s->bindings[0].protocol, "http");
    assert_string_equal(s->bindings[0].ip, "*");
    assert_int_equal(s->bindings[0].port, 80);
    assert_string_equal(s->bindings[0].host, "");
    assert_int_equal(s->app_count, 1);
    assert_string_equal(s->apps[0].pool, "DefaultAppPool");
    assert_string_equal(s->apps[0].vdirs[0].physical_path, "/srv/Default Web Site");
    assert_int_equal(wasp_config_warning_count(cfg), 0);
    wasp_config_free(cfg);
}

static void test_pool_defaults_inheritance(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok(apphost(
        "<add name=\"DefaultAppPool\" />\n"
        "<add name=\"Busy\" queueLength=\"3000\" startMode=\"AlwaysRunning\" "
        "managedPipelineMode=\"classic\">\n"
        "  <processModel idleTimeout=\"1.00:00:00\" maxProcesses=\"4\" />\n"
        "</add>\n"
        "<applicationPoolDefaults queueLength=\"2000\" autoStart=\"false\" "
        "managedRuntimeVersion=\"v4.0\">\n"
        "  <processModel identityType=\"SpecificUser\" userName=\"web\" idleTimeout=\"00:05:00\"\n"
        "                pingingEnabled=\"FALSE\" pingInterval=\"00:00:10\" />\n"
        "</applicationPoolDefaults>\n",
        SITE("S", 1, 80), ""));
    const wasp_pool_cfg_t *d = wasp_config_find_pool(cfg, "DefaultAppPool");
    assert_int_equal(d->queue_length, 2000);
    assert_false(d->auto_start);
    assert_string_equal(d->managed_runtime_version, "v4.0");
    assert_string_equal(d->identity_type, "SpecificUser");
    assert_string_equal(d->user_name, "web");
    assert_int_equal(d->idle_timeout_s, 300);
    assert_false(d->pinging_enabled);
    assert_int_equal(d->ping_interval_s, 10);
    assert_int_equal(d->ping_response_time_s, 90); /* schema default */
    const wasp_pool_cfg_t *b = wasp_config_find_pool(cfg, "Busy");
    assert_int_equal(b->queue_length, 3000);
    assert_false(b->auto_start);
    assert_int_equal(b->start_mode, WASP_START_ALWAYS_RUNNING);
    assert_string_equal(b->managed_pipeline_mode, "Classic");
    assert_int_equal(b->idle_timeout_s, 86400);
    assert_int_equal(b->max_processes, 4);
    assert_string_equal(b->identity_type, "SpecificUser");
    wasp_config_free(cfg);
}

static void test_bad_queue_length(void **state)
{
    (void)state;
    wasp_diag_t d = load_fail(apphost("<add name=\"DefaultAppPool\"\n"
                                      "     queueLength=\"5\" />\n",
                                      SITE("S", 1, 80), ""));
    assert_int_equal(d.line, 6);
    assert_contains(d.message, "queueLength=\"5\"");
    assert_contains(d.message, "name=\"DefaultAppPool\"");
    assert_contains(d.message, "between 10 and 65535");

    d = load_fail(
        apphost(POOL "<applicationPoolDefaults queueLength=\"70000\" />\n", SITE("S", 1, 80), ""));
    assert_int_equal(d.line, 6);
    assert_contains(d.message, "between 10 and 65535");

    d = load_fail(
        apphost("<add name=\"DefaultAppPool\" queueLength=\"many\" />\n", SITE("S", 1, 80), ""));
    assert_contains(d.message, "Integer value must be a whole number");
}

static void test_bad_values(void **state)
{
    (void)state;
    wasp_diag_t d = load_fail(
        apphost("<add name=\"DefaultAppPool\" startMode=\"Sometimes\" />\n", SITE("S", 1, 80), ""));
    assert_contains(d.message, "OnDemand, AlwaysRunning");
    d = load_fail(
        apphost("<add name=\"DefaultAppPool\"><processModel idleTimeout=\"00:00:30\" /></add>\n",
                SITE("S", 1, 80), ""));
    assert_contains(d.message, "granularity of 60 seconds");
    d = load_fail(
        apphost("<add name=\"DefaultAppPool\"><processModel pingInterval=\"soon\" /></add>\n",
                SITE("S", 1, 80), ""));
    assert_contains(d.message, "Timespan value must be written");
    d = load_fail(apphost("<add name=\"Bad:Name\" />\n", SITE("S", 1, 80), ""));
    assert_contains(d.message, "application pool name");
    d = load_fail(apphost(POOL, "<site name=\"S\" id=\"x\" />\n", ""));
    assert_contains(d.message, "id=\"x\"");
    d = load_fail(apphost(POOL, SITE("A", 1, 80) SITE("B", 1, 81), ""));
    assert_contains(d.message, "already has");
    d = load_fail(
        apphost(POOL,
                "<site name=\"S\" id=\"1\"><application path=\"/a/\">"
                "<virtualDirectory path=\"/\" physicalPath=\"/x\" /></application></site>\n",
                ""));
    assert_contains(d.message, "Invalid application path");
}

static void test_pool_schema_defaults(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok(apphost(POOL, SITE("S", 1, 80), ""));
    const wasp_pool_cfg_t *p = wasp_config_find_pool(cfg, "DefaultAppPool");
    assert_non_null(p);
    assert_false(p->enable_32bit_app_on_win64);
    assert_true(p->enable_configuration_override);
    assert_true(p->pass_anonymous_token);
    assert_string_equal(p->managed_runtime_loader, "webengine4.dll");
    assert_string_equal(p->clr_config_file, "");
    assert_false(p->load_user_profile);
    assert_true(p->set_profile_environment);
    assert_string_equal(p->logon_type, "LogonBatch");
    assert_false(p->manual_group_membership);
    assert_int_equal(p->idle_timeout_action, WASP_IDLE_TERMINATE);
    assert_true(p->log_event_on_idle_timeout);
    assert_false(p->disallow_overlapping_rotation);
    assert_false(p->disallow_rotation_on_config_change);
    assert_int_equal(p->log_event_on_recycle, 255);
    assert_int_equal(p->restart_time_s, 104400);
    assert_int_equal(p->restart_requests, 0);
    assert_int_equal(p->restart_memory_kb, 0);
    assert_int_equal(p->restart_private_memory_kb, 0);
    assert_int_equal(p->restart_schedule_count, 0);
    assert_true(p->rapid_fail_protection);
    assert_int_equal(p->rapid_fail_interval_s, 300);
    assert_int_equal(p->rapid_fail_max_crashes, 5);
    assert_int_equal(p->load_balancer_capabilities, WASP_LB_HTTP_LEVEL);
    assert_false(p->orphan_worker_process);
    assert_string_equal(p->orphan_action_exe, "");
    assert_string_equal(p->orphan_action_params, "");
    assert_string_equal(p->auto_shutdown_exe, "");
    assert_string_equal(p->auto_shutdown_params, "");
    assert_int_equal(p->cpu_limit, 0);
    assert_int_equal(p->cpu_action, WASP_CPU_NO_ACTION);
    assert_int_equal(p->cpu_reset_interval_s, 300);
    assert_false(p->cpu_smp_affinitized);
    assert_true(p->cpu_smp_mask == UINT64_C(0xFFFFFFFFFFFFFFFF));
    assert_string_equal(p->request_queue_delegator_identity, "");
    assert_int_equal(p->cpu_processor_group, 0);
    assert_string_equal(p->cpu_numa_node_assignment, "MostAvailableMemory");
    assert_string_equal(p->cpu_numa_node_affinity_mode, "Soft");
    assert_int_equal(p->env_count, 0);
    assert_null(p->env);
    wasp_config_free(cfg);
}

static void test_pool_children_inherit_and_override(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok(apphost(
        "<add name=\"DefaultAppPool\" />\n"
        "<add name=\"Own\" enableConfigurationOverride=\"false\">\n"
        "  <processModel idleTimeoutAction=\"Terminate\"\n"
        "      logEventOnProcessModel=\"IdleTimeout\" />\n"
        "  <recycling disallowOverlappingRotation=\"false\" logEventOnRecycle=\"Time, Memory\">\n"
        "    <periodicRestart time=\"1.00:00:00\" requests=\"100000\" />\n"
        "  </recycling>\n"
        "  <failure rapidFailProtectionMaxCrashes=\"10\" loadBalancerCapabilities=\"1\" />\n"
        "  <cpu action=\"ThrottleUnderLoad\" smpProcessorAffinityMask2=\"0\" />\n"
        "</add>\n"
        "<applicationPoolDefaults enable32BitAppOnWin64=\"true\" passAnonymousToken=\"false\"\n"
        "    managedRuntimeLoader=\"v4.0\" CLRConfigFile=\"/etc/clr.config\">\n"
        "  <processModel loadUserProfile=\"true\" setProfileEnvironment=\"false\"\n"
        "      logonType=\"logonservice\" manualGroupMembership=\"true\"\n"
        "      idleTimeoutAction=\"Suspend\" logEventOnProcessModel=\"\" password=\"x\"\n"
        "      requestQueueDelegatorIdentity=\"CONTOSO\\delegator\" />\n"
        "  <recycling disallowOverlappingRotation=\"true\"\n"
        "      disallowRotationOnConfigChange=\"true\"\n"
        "      logEventOnRecycle=\"ConfigChange,OnDemand\">\n"
        "    <periodicRestart time=\"00:00:00\" requests=\"5\" memory=\"1048576\"\n"
        "        privateMemory=\"524288\" />\n"
        "  </recycling>\n"
        "  <failure rapidFailProtection=\"false\" rapidFailProtectionInterval=\"00:10:00\"\n"
        "      rapidFailProtectionMaxCrashes=\"3\" loadBalancerCapabilities=\"TcpLevel\"\n"
        "      orphanWorkerProcess=\"true\" />\n"
        "  <cpu limit=\"50000\" action=\"Throttle\" resetInterval=\"00:01:00\"\n"
        "      smpAffinitized=\"true\" smpProcessorAffinityMask=\"3\" processorGroup=\"1\"\n"
        "      numaNodeAssignment=\"WindowsScheduling\" numaNodeAffinityMode=\"Hard\" />\n"
        "</applicationPoolDefaults>\n",
        SITE("S", 1, 80), ""));
    const wasp_pool_cfg_t *d = wasp_config_find_pool(cfg, "DefaultAppPool");
    assert_true(d->enable_32bit_app_on_win64);
    assert_true(d->enable_configuration_override);
    assert_false(d->pass_anonymous_token);
    assert_string_equal(d->managed_runtime_loader, "v4.0");
    assert_string_equal(d->clr_config_file, "/etc/clr.config");
    assert_true(d->load_user_profile);
    assert_false(d->set_profile_environment);
    assert_string_equal(d->logon_type, "LogonService");
    assert_true(d->manual_group_membership);
    assert_int_equal(d->idle_timeout_action, WASP_IDLE_SUSPEND);
    assert_false(d->log_event_on_idle_timeout);
    assert_true(d->disallow_overlapping_rotation);
    assert_true(d->disallow_rotation_on_config_change);
    assert_int_equal(d->log_event_on_recycle, WASP_RECYCLE_CONFIG_CHANGE | WASP_RECYCLE_ON_DEMAND);
    assert_int_equal(d->restart_time_s, 0);
    assert_int_equal(d->restart_requests, 5);
    assert_int_equal(d->restart_memory_kb, 1048576);
    assert_int_equal(d->restart_private_memory_kb, 524288);
    assert_false(d->rapid_fail_protection);
    assert_int_equal(d->rapid_fail_interval_s, 600);
    assert_int_equal(d->rapid_fail_max_crashes, 3);
    assert_int_equal(d->load_balancer_capabilities, WASP_LB_TCP_LEVEL);
    assert_true(d->orphan_worker_process);
    assert_int_equal(d->cpu_limit, 50000);
    assert_int_equal(d->cpu_action, WASP_CPU_THROTTLE);
    assert_int_equal(d->cpu_reset_interval_s, 60);
    assert_true(d->cpu_smp_affinitized);
    assert_true(d->cpu_smp_mask == UINT64_C(0xFFFFFFFF00000003));
    assert_string_equal(d->request_queue_delegator_identity, "CONTOSO\\delegator");
    assert_int_equal(d->cpu_processor_group, 1);
    assert_string_equal(d->cpu_numa_node_assignment, "WindowsScheduling");
    assert_string_equal(d->cpu_numa_node_affinity_mode, "Hard");

    const wasp_pool_cfg_t *o = wasp_config_find_pool(cfg, "Own");
    assert_false(o->enable_configuration_override);
    assert_true(o->enable_32bit_app_on_win64); /* from the defaults */
    assert_int_equal(o->idle_timeout_action, WASP_IDLE_TERMINATE);
    assert_true(o->log_event_on_idle_timeout);
    assert_false(o->disallow_overlapping_rotation);
    assert_true(o->disallow_rotation_on_config_change);
    assert_int_equal(o->log_event_on_recycle, 9); /* "Time, Memory" */
    assert_int_equal(o->restart_time_s, 86400);
    assert_int_equal(o->restart_requests, 100000);
    assert_int_equal(o->restart_memory_kb, 1048576); /* attribute by attribute */
    assert_int_equal(o->rapid_fail_max_crashes, 10);
    assert_int_equal(o->rapid_fail_interval_s, 600);
    assert_int_equal(o->load_balancer_capabilities, WASP_LB_TCP_LEVEL); /* "1" */
    assert_int_equal(o->cpu_action, WASP_CPU_THROTTLE_UNDER_LOAD);
    assert_true(o->cpu_smp_mask == UINT64_C(3));
    assert_int_equal(o->cpu_limit, 50000);
    wasp_config_free(cfg);
}

static void test_pool_flags(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok(apphost(
        "<add name=\"A\"><recycling logEventOnRecycle=\" time ,PRIVATEMEMORY,Schedule \" />"
        "</add>\n"
        "<add name=\"B\"><recycling logEventOnRecycle=\"\" /></add>\n"
        "<add name=\"C\"><recycling logEventOnRecycle=\"Requests, 16\" /></add>\n"
        "<add name=\"D\"><recycling logEventOnRecycle=\"Time, Requests, Schedule, Memory, "
        "IsapiUnhealthy, OnDemand, ConfigChange, PrivateMemory\" /></add>\n",
        "", ""));
    assert_int_equal(wasp_config_find_pool(cfg, "A")->log_event_on_recycle,
                     WASP_RECYCLE_TIME | WASP_RECYCLE_PRIVATE_MEMORY | WASP_RECYCLE_SCHEDULE);
    assert_int_equal(wasp_config_find_pool(cfg, "B")->log_event_on_recycle, 0);
    assert_int_equal(wasp_config_find_pool(cfg, "C")->log_event_on_recycle,
                     WASP_RECYCLE_REQUESTS | WASP_RECYCLE_ISAPI_UNHEALTHY);
    assert_int_equal(wasp_config_find_pool(cfg, "D")->log_event_on_recycle, 255);
    wasp_config_free(cfg);

    wasp_diag_t d = load_fail(apphost("<add name=\"A\">\n"
                                      "<recycling logEventOnRecycle=\"Time, Hourly\" />\n"
                                      "</add>\n",
                                      "", ""));
    assert_int_equal(d.line, 6);
    assert_contains(d.message, "logEventOnRecycle=\"Time, Hourly\"");
    assert_contains(d.message, "Flags must be some combination of Time, Requests, Schedule, "
                               "Memory, IsapiUnhealthy, OnDemand, ConfigChange, PrivateMemory");
    d = load_fail(apphost("<add name=\"A\"><recycling logEventOnRecycle=\"Time,\" /></add>\n",
                          "", ""));
    assert_contains(d.message, "Flags must be some combination");
    d = load_fail(apphost("<add name=\"A\"><recycling logEventOnRecycle=\"256\" /></add>\n", "",
                          ""));
    assert_contains(d.message, "Flags must be some combination");
    d = load_fail(apphost(
        "<add name=\"A\"><processModel logEventOnProcessModel=\"Recycle\" /></add>\n", "", ""));
    assert_contains(d.message, "Flags must be some combination of IdleTimeout");
}

static void test_pool_schedule(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok(apphost(
        "<add name=\"Inherits\" />\n"
        "<add name=\"Cleared\"><recycling><periodicRestart><schedule>\n"
        "  <clear />\n"
        "  <add value=\"12:30:00\" />\n"
        "</schedule></periodicRestart></recycling></add>\n"
        "<add name=\"Empty\"><recycling><periodicRestart><schedule><clear />"
        "</schedule></periodicRestart></recycling></add>\n"
        "<add name=\"More\"><recycling><periodicRestart><schedule>"
        "<add value=\"00:00:00\" /></schedule></periodicRestart></recycling></add>\n"
        "<applicationPoolDefaults><recycling><periodicRestart><schedule>\n"
        "  <add value=\"23:59:00\" />\n"
        "  <add value=\"03:00:00\" />\n"
        "</schedule></periodicRestart></recycling></applicationPoolDefaults>\n",
        "", ""));
    const wasp_pool_cfg_t *p = wasp_config_find_pool(cfg, "Inherits");
    assert_int_equal(p->restart_schedule_count, 2);
    assert_int_equal(p->restart_schedule_s[0], 3 * 3600); /* ascending */
    assert_int_equal(p->restart_schedule_s[1], 86340);
    p = wasp_config_find_pool(cfg, "Cleared");
    assert_int_equal(p->restart_schedule_count, 1);
    assert_int_equal(p->restart_schedule_s[0], 12 * 3600 + 30 * 60);
    assert_int_equal(wasp_config_find_pool(cfg, "Empty")->restart_schedule_count, 0);
    p = wasp_config_find_pool(cfg, "More");
    assert_int_equal(p->restart_schedule_count, 3);
    assert_int_equal(p->restart_schedule_s[0], 0);
    assert_int_equal(p->restart_schedule_s[1], 3 * 3600);
    assert_int_equal(p->restart_schedule_s[2], 86340);
    wasp_config_free(cfg);

    /* 0..86399 s in whole minutes, unique as times (not as text) */
    wasp_diag_t d = load_fail(apphost("<add name=\"A\"><recycling><periodicRestart><schedule>\n"
                                      "<add value=\"03:00:30\" />\n"
                                      "</schedule></periodicRestart></recycling></add>\n",
                                      "", ""));
    assert_int_equal(d.line, 6);
    assert_contains(d.message, "value=\"03:00:30\"");
    assert_contains(d.message, "granularity of 60 seconds");
    d = load_fail(apphost("<add name=\"A\"><recycling><periodicRestart><schedule>"
                          "<add value=\"1.00:00:00\" /></schedule></periodicRestart></recycling>"
                          "</add>\n",
                          "", ""));
    assert_contains(d.message, "between 00:00:00 and 23:59:59 seconds inclusive");
    d = load_fail(apphost("<add name=\"A\"><recycling><periodicRestart><schedule>\n"
                          "<add value=\"03:00:00\" />\n"
                          "<add value=\"3:00:00\" />\n"
                          "</schedule></periodicRestart></recycling></add>\n",
                          "", ""));
    assert_int_equal(d.line, 7);
    assert_contains(d.message, "Cannot add duplicate collection entry");
    d = load_fail(apphost("<add name=\"A\"><recycling><periodicRestart><schedule>\n"
                          "<add />\n"
                          "</schedule></periodicRestart></recycling></add>\n",
                          "", ""));
    assert_int_equal(d.line, 6);
    assert_contains(d.message, "Missing required attribute 'value'");
}

static void test_pool_environment_variables(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok(apphost(
        "<add name=\"Inherits\" />\n"
        "<add name=\"Mixed\"><environmentVariables>\n"
        "  <remove name=\"MODE\" />\n"
        "  <add name=\"EXTRA\" value=\"3\" />\n"
        "  <add name=\"MODE\" value=\"debug\" />\n"
        "</environmentVariables></add>\n"
        "<add name=\"Dropped\"><environmentVariables><remove name=\"mode\" /><remove "
        "name=\"LANG\" /></environmentVariables></add>\n"
        "<applicationPoolDefaults><environmentVariables>\n"
        "  <add name=\"MODE\" value=\"production\" />\n"
        "  <add name=\"LANG\" value=\"C.UTF-8\" />\n"
        "</environmentVariables></applicationPoolDefaults>\n",
        "", ""));
    const wasp_pool_cfg_t *p = wasp_config_find_pool(cfg, "Inherits");
    assert_int_equal(p->env_count, 2);
    assert_string_equal(p->env[0].name, "MODE");
    assert_string_equal(p->env[0].value, "production");
    assert_string_equal(p->env[1].name, "LANG");
    assert_string_equal(p->env[1].value, "C.UTF-8");
    p = wasp_config_find_pool(cfg, "Mixed");
    assert_int_equal(p->env_count, 3);
    assert_string_equal(p->env[0].name, "LANG"); /* defaults first */
    assert_string_equal(p->env[1].name, "EXTRA");
    assert_string_equal(p->env[1].value, "3");
    assert_string_equal(p->env[2].name, "MODE");
    assert_string_equal(p->env[2].value, "debug");
    assert_int_equal(wasp_config_find_pool(cfg, "Dropped")->env_count, 0);
    wasp_config_free(cfg);

    /* a name the defaults already have needs <remove> first, as in IIS */
    wasp_diag_t d = load_fail(
        apphost("<add name=\"A\"><environmentVariables>\n"
                "<add name=\"MODE\" value=\"x\" />\n"
                "</environmentVariables></add>\n"
                "<applicationPoolDefaults><environmentVariables><add name=\"MODE\" value=\"y\" />"
                "</environmentVariables></applicationPoolDefaults>\n",
                "", ""));
    assert_int_equal(d.line, 6);
    assert_contains(d.message, "Cannot add duplicate collection entry");
    assert_contains(d.message, "<remove name=\"MODE\" />");
    d = load_fail(apphost("<add name=\"A\"><environmentVariables>\n"
                          "<add name=\"X\" />\n"
                          "</environmentVariables></add>\n",
                          "", ""));
    assert_int_equal(d.line, 6);
    assert_contains(d.message, "Missing required attribute 'value'");
    d = load_fail(apphost("<add name=\"A\"><environmentVariables>\n"
                          "<add name=\"\" value=\"1\" />\n"
                          "</environmentVariables></add>\n",
                          "", ""));
    assert_int_equal(d.line, 6);
    assert_contains(d.message, "String must not be empty");
}

static void test_pool_expanded_strings(void **state)
{
    (void)state;
    setenv("WASP_TEST_TOOLS", "/opt/tools", 1);
    setenv("1", "not-a-pid", 1); /* %1% is the pid placeholder, never this */
    unsetenv("WASP_TEST_UNSET");
    wasp_config_t *cfg = load_ok(apphost(
        "<add name=\"A\">\n"
        "  <failure orphanActionExe=\"%WASP_TEST_TOOLS%/dump\"\n"
        "      orphanActionParams=\"-p %1% -o %wasp_test_tools%/out\"\n"
        "      autoShutdownExe=\"%WASP_TEST_UNSET%/notify\" autoShutdownParams=\"%1% 100%\" />\n"
        "</add>\n",
        "", ""));
    const wasp_pool_cfg_t *p = wasp_config_find_pool(cfg, "A");
    assert_string_equal(p->orphan_action_exe, "/opt/tools/dump");
    assert_string_equal(p->orphan_action_params, "-p %1% -o /opt/tools/out");
    assert_string_equal(p->auto_shutdown_exe, "%WASP_TEST_UNSET%/notify");
    /* %1% is only a placeholder in orphanActionParams */
    assert_string_equal(p->auto_shutdown_params, "not-a-pid 100%");
    assert_int_equal(wasp_config_warning_count(cfg), 0);
    wasp_config_free(cfg);
    unsetenv("1");
    unsetenv("WASP_TEST_TOOLS");
}

static void test_pool_bad_child_values(void **state)
{
    (void)state;
    wasp_diag_t d = load_fail(apphost("<add name=\"DefaultAppPool\">\n"
                                      "  <failure\n"
                                      "      rapidFailProtectionMaxCrashes=\"0\" />\n"
                                      "</add>\n",
                                      "", ""));
    assert_int_equal(d.line, 7);
    assert_contains(d.message, "rapidFailProtectionMaxCrashes=\"0\"");
    assert_contains(d.message, "name=\"DefaultAppPool\"");
    assert_contains(d.message, "Integer value must be between 1 and 2147483647 inclusive");
    char buf[2048];
    assert_contains(wasp_diag_format(&d, buf, sizeof buf), ":7: ");

    d = load_fail(apphost(POOL "<applicationPoolDefaults>\n"
                               "<recycling><periodicRestart time=\"00:00:30\" /></recycling>\n"
                               "</applicationPoolDefaults>\n",
                          "", ""));
    assert_int_equal(d.line, 7);
    assert_contains(d.message, "time=\"00:00:30\"");
    assert_contains(d.message, "<applicationPoolDefaults>");
    assert_contains(d.message, "Timespan value must be between 00:00:00 and 300.00:00:00 "
                               "seconds inclusive, with a granularity of 60 seconds");
    d = load_fail(apphost(
        "<add name=\"A\"><failure rapidFailProtectionInterval=\"00:00:00\" /></add>\n", "", ""));
    assert_contains(d.message, "between 00:01:00 and 100.00:00:00");
    d = load_fail(apphost("<add name=\"A\"><cpu limit=\"100001\" /></add>\n", "", ""));
    assert_contains(d.message, "between 0 and 100000 inclusive");
    d = load_fail(apphost("<add name=\"A\"><cpu resetInterval=\"1.00:01:00\" /></add>\n", "", ""));
    assert_contains(d.message, "between 00:00:00 and 1.00:00:00");
    d = load_fail(apphost("<add name=\"A\"><cpu smpProcessorAffinityMask=\"4294967296\" /></add>\n",
                          "", ""));
    assert_contains(d.message, "Integer value must be between 0 and 4294967295 inclusive");
    d = load_fail(apphost("<add name=\"A\"><cpu processorGroup=\"-1\" /></add>\n", "", ""));
    assert_contains(d.message, "processorGroup=\"-1\"");

    /* enums: names and IIS' numbers only */
    d = load_fail(apphost("<add name=\"A\">\n"
                          "<failure loadBalancerCapabilities=\"Tcp\" /></add>\n",
                          "", ""));
    assert_int_equal(d.line, 6);
    assert_contains(d.message, "Enum must be one of TcpLevel, HttpLevel");
    d = load_fail(
        apphost("<add name=\"A\"><failure loadBalancerCapabilities=\"0\" /></add>\n", "", ""));
    assert_contains(d.message, "Enum must be one of TcpLevel, HttpLevel");
    d = load_fail(apphost("<add name=\"A\"><cpu action=\"Kill\" /></add>\n", "", ""));
    assert_contains(d.message, "Enum must be one of NoAction, KillW3wp, Throttle, "
                               "ThrottleUnderLoad");
    d = load_fail(
        apphost("<add name=\"A\"><processModel idleTimeoutAction=\"Sleep\" /></add>\n", "", ""));
    assert_contains(d.message, "Enum must be one of Terminate, Suspend");
    d = load_fail(apphost("<add name=\"A\"><processModel logonType=\"Interactive\" /></add>\n", "",
                          ""));
    assert_contains(d.message, "Enum must be one of LogonBatch, LogonService");
    d = load_fail(apphost("<add name=\"A\"><cpu numaNodeAffinityMode=\"Firm\" /></add>\n", "", ""));
    assert_contains(d.message, "Enum must be one of Soft, Hard");
    d = load_fail(apphost("<add name=\"A\" enable32BitAppOnWin64=\"yes\" />\n", "", ""));
    assert_contains(d.message, "enable32BitAppOnWin64=\"yes\"");
}

/* smpAffinitized="true" with a mask of no CPU is an error in IIS; a mask
 * that names CPUs only in its high half (smpProcessorAffinityMask2) is not,
 * and neither is a zero mask nobody pins to. */
static void test_pool_affinity_mask_zero_refused(void **state)
{
    (void)state;
    wasp_diag_t d = load_fail(apphost("<add name=\"A\">\n"
                                      "  <cpu smpAffinitized=\"true\"\n"
                                      "      smpProcessorAffinityMask=\"0\"\n"
                                      "      smpProcessorAffinityMask2=\"0\" />\n"
                                      "</add>\n",
                                      "", ""));
    assert_int_equal(d.line, 7);
    assert_contains(d.message, "smpAffinitized=\"true\" of application pool 'A'");
    assert_contains(d.message, "smpProcessorAffinityMask and smpProcessorAffinityMask2 are "
                               "both 0");
    assert_contains(d.message, "set the bit of each CPU they may use");
    assert_contains(d.message, "or set smpAffinitized=\"false\"");

    /* pinned by the defaults, masked to nothing by the pool */
    d = load_fail(apphost("<add name=\"B\">\n"
                          "  <cpu smpProcessorAffinityMask=\"0\"\n"
                          "      smpProcessorAffinityMask2=\"0\" />\n"
                          "</add>\n"
                          "<applicationPoolDefaults><cpu smpAffinitized=\"true\" />"
                          "</applicationPoolDefaults>\n",
                          "", ""));
    assert_int_equal(d.line, 6);
    assert_contains(d.message, "application pool 'B'");

    /* the defaults are checked even when no pool uses them */
    d = load_fail(apphost("<add name=\"C\" />\n"
                          "<applicationPoolDefaults><cpu smpAffinitized=\"true\"\n"
                          "    smpProcessorAffinityMask=\"0\" smpProcessorAffinityMask2=\"0\" />"
                          "</applicationPoolDefaults>\n",
                          "", ""));
    assert_int_equal(d.line, 7);
    assert_contains(d.message, "<applicationPoolDefaults>");

    wasp_config_t *cfg = load_ok(apphost(
        "<add name=\"High\"><cpu smpAffinitized=\"true\" smpProcessorAffinityMask=\"0\" "
        "smpProcessorAffinityMask2=\"1\" /></add>\n"
        "<add name=\"Off\"><cpu smpAffinitized=\"false\" smpProcessorAffinityMask=\"0\" "
        "smpProcessorAffinityMask2=\"0\" /></add>\n",
        "", ""));
    assert_true(wasp_config_find_pool(cfg, "High")->cpu_smp_mask == UINT64_C(1) << 32);
    assert_true(wasp_config_find_pool(cfg, "Off")->cpu_smp_mask == 0);
    wasp_config_free(cfg);
}

/* Two configurations that differ only in the given pool attributes. */
static bool pools_same(const char *a, const char *b)
{
    char pa[1024], pb[1024];
    const char *body = "<processModel pingInterval=\"00:00:20\" />"
                       "<environmentVariables><add name=\"K\" value=\"v\" /></environmentVariables>"
                       "<recycling><periodicRestart><schedule><add value=\"01:00:00\" />"
                       "</schedule></periodicRestart></recycling>";
    snprintf(pa, sizeof pa, "<add name=\"P\" %s>%s</add>\n", a, body);
    snprintf(pb, sizeof pb, "<add name=\"P\" %s>%s</add>\n", b, body);
    wasp_config_t *ca = load_ok(apphost(pa, "", ""));
    wasp_config_t *cb = load_ok(apphost(pb, "", ""));
    bool same = wasp_pool_cfg_same(wasp_config_pool(ca, 0), wasp_config_pool(cb, 0));
    wasp_config_free(ca);
    wasp_config_free(cb);
    return same;
}

static void test_pool_cfg_same(void **state)
{
    (void)state;
    assert_true(pools_same("", ""));
    assert_true(pools_same("autoStart=\"true\"", "autoStart=\"false\""));
    assert_false(pools_same("queueLength=\"1000\"", "queueLength=\"1001\""));
    assert_false(pools_same("managedRuntimeVersion=\"\"", "managedRuntimeVersion=\"v4.0\""));

    /* Within one file: a pool and its copy under another name are the same;
     * one attribute, one variable or one schedule entry makes them differ. */
    wasp_config_t *cfg = load_ok(apphost(
        "<add name=\"A\"><processModel pingInterval=\"00:00:20\" />"
        "<environmentVariables><add name=\"K\" value=\"v\" /></environmentVariables></add>\n"
        "<add name=\"B\" autoStart=\"false\"><processModel pingInterval=\"00:00:20\" />"
        "<environmentVariables><add name=\"K\" value=\"v\" /></environmentVariables></add>\n"
        "<add name=\"Ping\"><processModel pingInterval=\"00:00:21\" />"
        "<environmentVariables><add name=\"K\" value=\"v\" /></environmentVariables></add>\n"
        "<add name=\"Env\"><processModel pingInterval=\"00:00:20\" />"
        "<environmentVariables><add name=\"K\" value=\"w\" /></environmentVariables></add>\n"
        "<add name=\"Env2\"><processModel pingInterval=\"00:00:20\" />"
        "<environmentVariables><add name=\"K\" value=\"v\" /><add name=\"L\" value=\"v\" />"
        "</environmentVariables></add>\n"
        "<add name=\"Sched\"><processModel pingInterval=\"00:00:20\" />"
        "<environmentVariables><add name=\"K\" value=\"v\" /></environmentVariables>"
        "<recycling><periodicRestart><schedule><add value=\"01:00:00\" /></schedule>"
        "</periodicRestart></recycling></add>\n"
        "<add name=\"Orphan\"><processModel pingInterval=\"00:00:20\" />"
        "<environmentVariables><add name=\"K\" value=\"v\" /></environmentVariables>"
        "<failure orphanActionExe=\"/bin/true\" /></add>\n"
        "<add name=\"Numa\"><processModel pingInterval=\"00:00:20\" />"
        "<environmentVariables><add name=\"K\" value=\"v\" /></environmentVariables>"
        "<cpu numaNodeAffinityMode=\"Hard\" /></add>\n"
        "<add name=\"Delegator\"><processModel pingInterval=\"00:00:20\" "
        "requestQueueDelegatorIdentity=\"svc\" />"
        "<environmentVariables><add name=\"K\" value=\"v\" /></environmentVariables></add>\n",
        "", ""));
    const wasp_pool_cfg_t *a = wasp_config_find_pool(cfg, "A");
    assert_true(wasp_pool_cfg_same(a, a));
    assert_true(wasp_pool_cfg_same(a, wasp_config_find_pool(cfg, "B")));
    assert_false(wasp_pool_cfg_same(a, wasp_config_find_pool(cfg, "Ping")));
    assert_false(wasp_pool_cfg_same(a, wasp_config_find_pool(cfg, "Env")));
    assert_false(wasp_pool_cfg_same(a, wasp_config_find_pool(cfg, "Env2")));
    assert_false(wasp_pool_cfg_same(a, wasp_config_find_pool(cfg, "Sched")));
    assert_false(wasp_pool_cfg_same(a, wasp_config_find_pool(cfg, "Orphan")));
    assert_false(wasp_pool_cfg_same(a, wasp_config_find_pool(cfg, "Numa")));
    assert_false(wasp_pool_cfg_same(a, wasp_config_find_pool(cfg, "Delegator")));

    /* NULL strings compare as "" */
    wasp_pool_cfg_t x = *a, y = *a;
    x.user_name = NULL;
    y.user_name = "";
    assert_true(wasp_pool_cfg_same(&x, &y));
    wasp_config_free(cfg);
}

static void test_bindings(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok(apphost(
        POOL,
        "<site name=\"S\" id=\"7\" serverAutoStart=\"false\">\n"
        "<application path=\"/\"><virtualDirectory path=\"/\" physicalPath=\"/srv\" "
        "/></application>\n"
        "<bindings>\n"
        "<binding protocol=\"HTTP\" bindingInformation=\"192.168.0.1:8080:WWW.Example.COM\" />\n"
        "<binding protocol=\"https\" bindingInformation=\"[::1]:443:\" sslFlags=\"1\" />\n"
        "<binding protocol=\"http\" bindingInformation=\":8081:localhost\" />\n"
        "<binding protocol=\"net.tcp\" bindingInformation=\"808:*\" />\n"
        "</bindings>\n"
        "<limits connectionTimeout=\"00:00:45\" />\n"
        "</site>\n",
        ""));
    const wasp_site_cfg_t *s = wasp_config_find_site_by_id(cfg, 7);
    assert_false(s->server_auto_start);
    assert_int_equal(s->connection_timeout_s, 45);
    assert_int_equal(s->binding_count, 3); /* net.tcp is not an HTTP binding */
    assert_string_equal(s->bindings[0].protocol, "http");
    assert_string_equal(s->bindings[0].ip, "192.168.0.1");
    assert_int_equal(s->bindings[0].port, 8080);
    assert_string_equal(s->bindings[0].host, "www.example.com");
    assert_int_equal(s->bindings[0].line, 11);
    assert_string_equal(s->bindings[1].protocol, "https");
    assert_string_equal(s->bindings[1].ip, "::1");
    assert_int_equal(s->bindings[1].ssl_flags, 1);
    assert_string_equal(s->bindings[2].ip, "*");
    assert_string_equal(s->bindings[2].host, "localhost");
    wasp_config_free(cfg);

    const char *bad[] = {
        "*:0:", "*:65536:", "*:80", "300.1.1.1:80:", "[::1:80:", "*:eighty:", "::1:80:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char site[1024];
        snprintf(
            site, sizeof site,
            "<site name=\"S\" id=\"1\">\n"
            "<application path=\"/\"><virtualDirectory path=\"/\" physicalPath=\"/srv\" "
            "/></application>\n"
            "<bindings>\n<binding protocol=\"http\"\n bindingInformation=\"%s\" />\n</bindings>\n"
            "</site>\n",
            bad[i]);
        wasp_diag_t d = load_fail(apphost(POOL, site, ""));
        assert_int_equal(d.line, 12);
        assert_contains(d.message, "Expected IP:port:host");
    }
}

static void test_site_defaults_bindings_and_limits(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok(apphost(
        POOL,
        "<site name=\"A\" id=\"1\">\n"
        "<application path=\"/\"><virtualDirectory path=\"/\" physicalPath=\"/a\" "
        "/></application>\n"
        "</site>\n"
        "<site name=\"B\" id=\"2\">\n"
        "<application path=\"/\"><virtualDirectory path=\"/\" physicalPath=\"/b\" "
        "/></application>\n"
        "<bindings><clear /><binding protocol=\"http\" bindingInformation=\"*:81:\" /></bindings>\n"
        "<limits connectionTimeout=\"00:00:05\" />\n"
        "</site>\n"
        "<siteDefaults serverAutoStart=\"false\">\n"
        "<bindings><binding protocol=\"http\" bindingInformation=\"*:80:\" /></bindings>\n"
        "<limits connectionTimeout=\"00:01:00\" />\n"
        "</siteDefaults>\n",
        ""));
    const wasp_site_cfg_t *a = wasp_config_find_site(cfg, "A"),
                          *b = wasp_config_find_site(cfg, "B");
    assert_false(a->server_auto_start);
    assert_int_equal(a->binding_count, 1);
    assert_int_equal(a->bindings[0].port, 80);
    assert_int_equal(a->connection_timeout_s, 60);
    assert_int_equal(b->binding_count, 1);
    assert_int_equal(b->bindings[0].port, 81);
    assert_int_equal(b->connection_timeout_s, 5);
    wasp_config_free(cfg);
}

static void test_duplicate_binding_between_sites(void **state)
{
    (void)state;
    wasp_diag_t d = load_fail(apphost(POOL, SITE("A", 1, 80) SITE("B", 2, 80), ""));
    assert_contains(d.message, "already used by site 'A'");
    assert_contains(d.message, "*:80:");
}

static void test_missing_pool_and_root(void **state)
{
    (void)state;
    const char *text =
        apphost(POOL,
                "<site name=\"S\" id=\"1\">\n"
                "<application path=\"/\"><virtualDirectory path=\"/\" physicalPath=\"/s\" "
                "/></application>\n"
                "<application path=\"/app\" applicationPool=\"NoSuchPool\">\n"
                "<virtualDirectory path=\"/\" physicalPath=\"/s/app\" /></application>\n"
                "<bindings><binding protocol=\"http\" bindingInformation=\"*:80:\" /></bindings>\n"
                "</site>\n"
                "<site name=\"NoRoot\" id=\"2\">\n"
                "<bindings><binding protocol=\"http\" bindingInformation=\"*:81:\" /></bindings>\n"
                "</site>\n",
                "");
    wasp_config_t *cfg = load_ok(text);
    assert_int_equal(wasp_config_site_count(cfg), 1); /* NoRoot is not started */
    const wasp_site_cfg_t *s = wasp_config_site(cfg, 0);
    assert_int_equal(s->app_count, 1); /* /app is ignored ... */
    const wasp_app_cfg_t *app;
    char phys[256];
    assert_int_equal(wasp_config_map_url(cfg, s, "/app/x", &app, NULL, phys, sizeof phys), 0);
    assert_string_equal(app->path, "/"); /* ... and served by the parent */
    assert_string_equal(phys, "/s/app/x");
    assert_int_equal(wasp_config_warning_count(cfg), 2);
    const wasp_diag_t *w = wasp_config_warning(cfg, 0);
    assert_int_equal(w->line, 10);
    assert_contains(w->message, "'NoSuchPool'");
    assert_contains(w->message, "does not exist");
    assert_contains(w->message, "<applicationPools>");
    assert_contains(wasp_config_warning(cfg, 1)->message, "no root application");
    wasp_config_free(cfg);

    /* strict: the first warning is the error */
    wasp_diag_t d;
    const char *path = write_tmp(text);
    assert_null(wasp_config_load_ex(path, WASP_CONFIG_STRICT, &d));
    assert_string_equal(d.file, path);
    assert_int_equal(d.line, 10);
    assert_contains(d.message, "'NoSuchPool'");
}

static void test_physical_paths(void **state)
{
    (void)state;
    setenv("WASP_TEST_CONTENT", "/data/www", 1);
    setenv("WASP_SYSTEM_DRIVE", "/mnt/c", 1);
    wasp_config_t *cfg = load_ok(apphost(
        POOL,
        "<site name=\"S\" id=\"1\">\n"
        "<application path=\"/\">\n"
        "<virtualDirectory path=\"/\" physicalPath=\"%SystemDrive%\\inetpub\\wwwroot\\\" />\n"
        "<virtualDirectory path=\"/c\" physicalPath=\"C:\\inetpub\\stuff\" />\n"
        "<virtualDirectory path=\"/env\" physicalPath=\"%wasp_test_content%/site//./x/\" />\n"
        "<virtualDirectory path=\"/rel\" physicalPath=\"content\\sub\" />\n"
        "<virtualDirectory path=\"/undef\" physicalPath=\"/a/%WASP_UNDEFINED_VAR%/b\" />\n"
        "</application>\n"
        "<bindings><binding protocol=\"http\" bindingInformation=\"*:80:\" /></bindings>\n"
        "</site>\n",
        ""));
    const wasp_app_cfg_t *a = &wasp_config_site(cfg, 0)->apps[0];
    assert_int_equal(a->vdir_count, 5);
    assert_string_equal(a->vdirs[0].physical_path, "/mnt/c/inetpub/wwwroot");
    assert_string_equal(a->vdirs[1].physical_path, "/inetpub/stuff");
    assert_string_equal(a->vdirs[2].physical_path, "/data/www/site/x");
    assert_string_equal(a->vdirs[3].physical_path, "/tmp/content/sub"); /* next to the file */
    assert_string_equal(a->vdirs[4].physical_path, "/a/%WASP_UNDEFINED_VAR%/b");
    assert_int_equal(wasp_config_warning_count(cfg), 1);
    assert_int_equal(wasp_config_warning(cfg, 0)->line, 14);
    assert_contains(wasp_config_warning(cfg, 0)->message, "%WASP_UNDEFINED_VAR%");
    wasp_config_free(cfg);
    unsetenv("WASP_SYSTEM_DRIVE");
    cfg = load_ok(
        apphost(POOL,
                "<site name=\"S\" id=\"1\"><application path=\"/\">"
                "<virtualDirectory path=\"/\" physicalPath=\"%SystemDrive%\\inetpub\\wwwroot\" />"
                "</application></site>\n",
                ""));
    assert_string_equal(wasp_config_site(cfg, 0)->apps[0].vdirs[0].physical_path,
                        "/inetpub/wwwroot");
    wasp_config_free(cfg);
}

/* docs/configuration.md, "Paths and variables": the three Windows shapes of
 * a physicalPath an IIS file carries. */
static void test_physical_paths_windows(void **state)
{
    (void)state;
    unsetenv("WASP_SYSTEM_DRIVE");
    wasp_config_t *cfg = load_ok(apphost(
        POOL,
        "<site name=\"S\" id=\"1\">\n"
        "<application path=\"/\">\n"
        "<virtualDirectory path=\"/\" physicalPath=\"%SystemDrive%\\inetpub\\wwwroot\" />\n"
        "<virtualDirectory path=\"/d\" physicalPath=\"D:\\sites\\x\" />\n"
        "</application>\n"
        "</site>\n",
        ""));
    const wasp_app_cfg_t *a = &wasp_config_site(cfg, 0)->apps[0];
    assert_string_equal(a->vdirs[0].physical_path, "/inetpub/wwwroot");
    assert_string_equal(a->vdirs[1].physical_path, "/sites/x"); /* any drive letter */
    wasp_config_free(cfg);

    /* A UNC path is refused, naming the line and the fix. */
    wasp_diag_t d;
    const char *path = write_tmp(apphost(
        POOL,
        "<site name=\"S\" id=\"1\">\n"
        "<application path=\"/\">\n"
        "<virtualDirectory path=\"/\" physicalPath=\"\\\\fileserver\\share\\www\" />\n"
        "</application>\n"
        "</site>\n",
        ""));
    assert_null(wasp_config_load(path, &d));
    assert_string_equal(d.file, path);
    assert_int_equal(d.line, 10);
    assert_contains(d.message, "\\\\fileserver\\share\\www");
    assert_contains(d.message, "UNC path");
    assert_contains(d.message, "mount the share");
}

/* configSource on sections of applicationHost.config itself. */
static char cs_dir[64];

static const char *cs_put(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", cs_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int cs_cleanup(void **state)
{
    (void)state;
    const char *names[] = { "applicationHost.config", "sites.config", "dd.config", "bad.config" };
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", cs_dir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/sub/dd.config", cs_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/sub", cs_dir);
    rmdir(path);
    rmdir(cs_dir);
    return 0;
}

static const char *cs_apphost(const char *sites, const char *webserver)
{
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "<?xml version=\"1.0\"?>\n"
             "<configuration>\n"
             "<system.applicationHost>\n"
             "<applicationPools><add name=\"DefaultAppPool\" /></applicationPools>\n"
             "%s\n"
             "</system.applicationHost>\n"
             "<system.webServer>\n%s\n</system.webServer>\n"
             "</configuration>\n",
             sites, webserver);
    return cs_put("applicationHost.config", buf);
}

static void test_apphost_config_source(void **state)
{
    (void)state;
    snprintf(cs_dir, sizeof cs_dir, "/tmp/wasp-test-cs-XXXXXX");
    assert_non_null(mkdtemp(cs_dir));
    char sub[128];
    snprintf(sub, sizeof sub, "%s/sub", cs_dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    cs_put("sites.config",
           "<sites>\n"
           "  <site name=\"S\" id=\"1\">\n"
           "    <application path=\"/\" applicationPool=\"DefaultAppPool\">\n"
           "      <virtualDirectory path=\"/\" physicalPath=\"/srv/s\" />\n"
           "    </application>\n"
           "  </site>\n"
           "</sites>\n");
    char dd[128];
    snprintf(dd, sizeof dd, "%s",
             cs_put("sub/dd.config", "<defaultDocument enabled=\"false\">\n"
                                     "  <files><add value=\"start.htm\" /></files>\n"
                                     "</defaultDocument>\n"));
    wasp_diag_t d;
    const char *path = cs_apphost("<sites configSource=\"sites.config\" />",
                                  "<defaultDocument configSource=\"sub\\dd.config\" />");
    wasp_config_t *cfg = wasp_config_load(path, &d);
    assert_non_null(cfg);
    assert_int_equal(wasp_config_site_count(cfg), 1);
    assert_string_equal(wasp_config_site(cfg, 0)->apps[0].vdirs[0].physical_path, "/srv/s");
    const wasp_section_t *sec =
        wasp_config_section(cfg, "S", "/", "system.webServer/defaultDocument");
    assert_non_null(sec);
    assert_string_equal(wasp_section_attr(sec, "enabled"), "false");
    /* the files to watch: both configSource files */
    assert_int_equal(wasp_config_source_count(cfg), 2);
    assert_string_equal(wasp_config_source(cfg, 1), dd);
    wasp_config_free(cfg);

    /* The rules, each an error naming the file and line. */
    static const struct {
        const char *ws, *file, *words;
        int line;
    } bad[] = {
        { "<defaultDocument configSource=\"dd.config\" enabled=\"true\" />", NULL,
          "no other attributes", 8 },
        { "<defaultDocument configSource=\"dd.config\">\n<files /></defaultDocument>", NULL,
          "move <files> into dd.config", 9 },
        { "<defaultDocument configSource=\"..\\dd.config\" />", NULL, "no '..'", 8 },
        { "<defaultDocument configSource=\"/etc/dd.config\" />", NULL, "no '..'", 8 },
        { "<defaultDocument configSource=\"missing.config\" />", NULL,
          "Unable to open configSource file 'missing.config'", 8 },
        { "<defaultDocument configSource=\"bad.config\" />", "bad.config", "<defaultDocument>",
          1 },
        { "<defaultDocument configSource=\"sub/dd.config\" />\n<directoryBrowse enabled=\"x\" />",
          NULL, "Boolean value must be true or false", 9 },
    };
    cs_put("bad.config", "<directoryBrowse enabled=\"true\" />\n");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        path = cs_apphost("<sites configSource=\"sites.config\" />", bad[i].ws);
        assert_null(wasp_config_load(path, &d));
        char want[160];
        snprintf(want, sizeof want, "%s/%s", cs_dir, bad[i].file ? bad[i].file : "");
        assert_string_equal(d.file, bad[i].file ? want : path);
        assert_int_equal(d.line, bad[i].line);
        assert_contains(d.message, bad[i].words);
    }
    /* A bad value inside the external file: its own file and line. */
    cs_put("sub/dd.config", "<defaultDocument enabled=\"maybe\" />\n");
    path = cs_apphost("<sites configSource=\"sites.config\" />",
                      "<defaultDocument configSource=\"sub/dd.config\" />");
    assert_null(wasp_config_load(path, &d));
    assert_string_equal(d.file, dd);
    assert_int_equal(d.line, 1);
}

static void test_map_url(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok(
        apphost("<add name=\"DefaultAppPool\" />\n<add name=\"P1\" />\n",
                "<site name=\"S\" id=\"1\">\n"
                "<application path=\"/\"><virtualDirectory path=\"/\" physicalPath=\"/srv/root\" "
                "/></application>\n"
                "<application path=\"/app1\" applicationPool=\"p1\">\n"
                "  <virtualDirectory path=\"/\" physicalPath=\"/srv/app1\" />\n"
                "  <virtualDirectory path=\"/img\" physicalPath=\"/media/images\" />\n"
                "  <virtualDirectory path=\"/img/big\" physicalPath=\"/media/big\" />\n"
                "</application>\n"
                "<application path=\"/app10\"><virtualDirectory path=\"/\" "
                "physicalPath=\"/srv/app10\" /></application>\n"
                "<application path=\"/app1/sub\"><virtualDirectory path=\"/\" "
                "physicalPath=\"/srv/sub\" /></application>\n"
                "<bindings><binding protocol=\"http\" bindingInformation=\"*:80:\" /></bindings>\n"
                "</site>\n",
                ""));
    const wasp_site_cfg_t *s = wasp_config_find_site(cfg, "S");
    const wasp_app_cfg_t *app;
    const wasp_vdir_cfg_t *vd;
    char phys[256];
    struct {
        const char *url, *app, *vdir, *phys;
    } cases[] = {
        {"/", "/", "/", "/srv/root/"},
        {"/index.html", "/", "/", "/srv/root/index.html"},
        {"/app1", "/app1", "/", "/srv/app1"},
        {"/app1/", "/app1", "/", "/srv/app1/"},
        {"/app1/a/b.txt", "/app1", "/", "/srv/app1/a/b.txt"},
        {"/APP1/Img/a.png", "/app1", "/img", "/media/images/a.png"},
        {"/app1/img", "/app1", "/img", "/media/images"},
        {"/app1/img/big/x", "/app1", "/img/big", "/media/big/x"},
        {"/app1/imgx", "/app1", "/", "/srv/app1/imgx"},
        {"/app10/x", "/app10", "/", "/srv/app10/x"},
        {"/app100", "/", "/", "/srv/root/app100"},
        {"/app1/sub/z", "/app1/sub", "/", "/srv/sub/z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(wasp_config_map_url(cfg, s, cases[i].url, &app, &vd, phys, sizeof phys),
                         0);
        assert_string_equal(app->path, cases[i].app);
        assert_string_equal(vd->path, cases[i].vdir);
        assert_string_equal(phys, cases[i].phys);
    }
    assert_int_equal(wasp_config_map_url(cfg, s, "/app1/x", &app, NULL, NULL, 0), 0);
    assert_string_equal(app->pool, "P1");
    assert_int_equal(wasp_config_map_url(cfg, s, "relative", &app, &vd, phys, sizeof phys), -1);
    assert_int_equal(wasp_config_map_url(cfg, s, "/app1/a/b.txt", &app, &vd, phys, 8), -1);
    wasp_config_free(cfg);
}

/* ---- values and accessors ------------------------------------------------------- */

static void test_timespan(void **state)
{
    (void)state;
    int64_t ms;
    struct {
        const char *s;
        wasp_timespan_format_t f;
        int64_t ms;
    } ok[] = {
        {"00:20:00", WASP_TIMESPAN_STRING, 1200000},
        {"1.00:00:00", WASP_TIMESPAN_STRING, 86400000},
        {"1.05:00:00", WASP_TIMESPAN_STRING, 104400000},
        {"29:00:00", WASP_TIMESPAN_STRING, 104400000},
        {"00:00:01.5", WASP_TIMESPAN_STRING, 1500},
        {"00:00:00.1234567", WASP_TIMESPAN_STRING, 123},
        {"-00:01:00", WASP_TIMESPAN_STRING, -60000},
        {"02:30", WASP_TIMESPAN_STRING, 9000000},
        {"1:02:03:04", WASP_TIMESPAN_STRING, 93784000},
        {"2", WASP_TIMESPAN_STRING, 172800000},
        {"90", WASP_TIMESPAN_SECONDS, 90000},
        {"20", WASP_TIMESPAN_MINUTES, 1200000},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_true(wasp_config_parse_timespan(ok[i].s, ok[i].f, &ms));
        assert_int_equal(ms, ok[i].ms);
    }
    const char *bad[] = {"",          "abc",   "00:60:00",          "00:00:60",   "1:2:3:4:5",
                         "00:00:00.", "1.2.3", "00:00:00.12345678", "1:24:00:00", " 00:01:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(wasp_config_parse_timespan(bad[i], WASP_TIMESPAN_STRING, &ms));
    assert_false(wasp_config_parse_timespan("1:00", WASP_TIMESPAN_SECONDS, &ms));
}

static void test_section_accessors(void **state)
{
    (void)state;
    /* A section no schema describes keeps its values as written, so the
     * accessors' handling of malformed ones can be seen. */
    wasp_config_t *cfg = load_ok("<configuration><configSections>"
                                 "<section name=\"accessorTest\" /></configSections>\n"
                                 "<accessorTest enabled=\"TRUE\" showFlags=\"12\" bad=\"yes\" "
                                 "big=\"99999999999999999999\">\n"
                                 "</accessorTest>\n"
                                 "</configuration>\n");
    const wasp_section_t *s = wasp_config_section(cfg, NULL, NULL, "accessorTest");
    assert_true(wasp_section_bool(s, "enabled", false));
    assert_true(wasp_section_bool(s, "bad", true));
    assert_false(wasp_section_bool(s, "missing", false));
    assert_int_equal(wasp_section_uint(s, "showFlags", 0), 12);
    assert_int_equal(wasp_section_uint(s, "enabled", 7), 7);
    assert_int_equal(wasp_section_uint(s, "big", 7), 7);
    assert_null(wasp_section_attr(s, "Enabled")); /* XML names are case-sensitive */
    assert_null(wasp_section_child(s, "x"));
    assert_int_equal(wasp_section_item_count(s), 0);
    assert_null(wasp_section_item(s, 0));
    assert_null(wasp_section_attr(NULL, "a"));
    assert_int_equal(wasp_section_item_count(NULL), 0);
    wasp_config_free(cfg);
}

/* ---- the stock file and the corpus ----------------------------------------------- */

static void test_stock_apphost(void **state)
{
    (void)state;
    wasp_diag_t d;
    wasp_config_t *cfg = wasp_config_load_ex("conf/applicationHost.config", WASP_CONFIG_STRICT, &d);
    if (!cfg) {
        char buf[2048];
        fail_msg("%s", wasp_diag_format(&d, buf, sizeof buf));
    }
    assert_int_equal(wasp_config_warning_count(cfg), 0);
    const wasp_section_t *sc = wasp_config_section(cfg, "Default Web Site", "/index.html",
                                                   "system.webServer/staticContent");
    assert_int_equal(wasp_section_item_count(sc), 378);
    const wasp_section_t *h =
        wasp_config_section(cfg, "Default Web Site", "/", "system.webServer/handlers");
    size_t n = wasp_section_item_count(h);
    assert_true(n >= 1);
    assert_string_equal(item_attr(h, n - 1, "name"), "StaticFile");
    assert_string_equal(item_attr(h, n - 1, "path"), "*");
    assert_string_equal(item_attr(h, n - 1, "modules"),
                        "StaticFileModule,DefaultDocumentModule,DirectoryListingModule");
    const wasp_section_t *m =
        wasp_config_section(cfg, "Default Web Site", "/", "system.webServer/modules");
    assert_int_equal(wasp_section_item_count(m), 7);
    const wasp_section_t *g =
        wasp_config_section(cfg, NULL, NULL, "system.webServer/globalModules");
    assert_int_equal(wasp_section_item_count(g), 7);
    assert_string_equal(item_attr(g, 0, "image"), "builtin");
    const wasp_section_t *dd =
        wasp_config_section(cfg, "Default Web Site", "/", "system.webServer/defaultDocument");
    assert_true(wasp_section_bool(dd, "enabled", false));
    assert_int_equal(wasp_section_item_count(wasp_section_child(dd, "files")), 5);
    assert_false(wasp_section_bool(
        wasp_config_section(cfg, "Default Web Site", "/", "system.webServer/directoryBrowse"),
        "enabled", true));
    assert_string_equal(wasp_section_attr(wasp_config_section(cfg, "Default Web Site", "/",
                                                              "system.webServer/httpErrors"),
                                          "errorMode"),
                        "DetailedLocalOnly");

    assert_int_equal(wasp_config_pool_count(cfg), 1);
    const wasp_pool_cfg_t *p = wasp_config_find_pool(cfg, "DefaultAppPool");
    assert_non_null(p);
    assert_string_equal(p->identity_type, "ApplicationPoolIdentity");
    const wasp_site_cfg_t *s = wasp_config_find_site_by_id(cfg, 1);
    assert_non_null(s);
    assert_string_equal(s->name, "Default Web Site");
    assert_int_equal(s->binding_count, 1);
    assert_int_equal(s->bindings[0].port, 8080);
    assert_string_equal(s->bindings[0].ip, "*");
    char phys[4096];
    const wasp_app_cfg_t *app;
    assert_int_equal(wasp_config_map_url(cfg, s, "/index.html", &app, NULL, phys, sizeof phys), 0);
    assert_string_equal(app->pool, "DefaultAppPool");
    const char *suffix = "/conf/wwwroot/index.html";
    assert_true(phys[0] == '/');
    assert_true(strlen(phys) > strlen(suffix));
    assert_string_equal(phys + strlen(phys) - strlen(suffix), suffix);
    assert_int_equal(access(phys, R_OK), 0);
    wasp_config_free(cfg);
}

static bool name_has_applicationhost(const char *name)
{
    char low[512];
    size_t n = strlen(name);
    if (n >= sizeof low)
        return false;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    return strstr(low, "applicationhost") && n > 7 && strcmp(low + n - 7, ".config") == 0;
}

/* Corpus files that IIS would not load either (schema/README.md, and the
 * schema's own test): the reason wasp must give. */
/* The part of the error wasp must give for a corpus file IIS itself refuses,
 * from tests/corpus_expectations.txt (test_corpus.py reads it too), or NULL.
 * The answer is in a static buffer. */
static const char *corpus_invalid_reason(const char *name)
{
    static char line[2048];
    FILE *f = fopen("tests/corpus_expectations.txt", "r");
    const char *found = NULL;

    if (!f)
        fail_msg("tests/corpus_expectations.txt not found (tests run from the project root)");
    while (!found && fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || !tab)
            continue;
        *tab = '\0';
        tab[strcspn(tab + 1, "\n") + 1] = '\0';
        if (strcmp(line, name) == 0)
            found = tab + 1;
    }
    fclose(f);
    return found;
}

static void test_corpus_applicationhost_files(void **state)
{
    (void)state;
    const char *dir = "../shared/corpus/iis";
    DIR *dp = opendir(dir);
    /* The corpus is at ../shared from the project root on every machine and
     * in CI: its absence is a failure, not a reason to skip. */
    if (!dp)
        fail_msg("corpus %s not found (tests run from the project root)", dir);
    int count = 0, failures = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (!name_has_applicationhost(e->d_name))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        wasp_diag_t d;
        wasp_config_t *cfg = wasp_config_load(path, &d);
        const char *why = corpus_invalid_reason(e->d_name);
        count++;
        if (why) {
            /* A file IIS itself refuses: wasp must refuse it, for that reason. */
            char buf[2048];
            assert_null(cfg);
            assert_non_null(strstr(wasp_diag_format(&d, buf, sizeof buf), why));
            continue;
        }
        if (!cfg) {
            char buf[2048];
            fprintf(stderr, "corpus file failed: %s\n", wasp_diag_format(&d, buf, sizeof buf));
            failures++;
            continue;
        }
        /* every section of every site resolves without allocation or error */
        for (size_t i = 0; i < wasp_config_site_count(cfg); i++) {
            const wasp_site_cfg_t *s = wasp_config_site(cfg, i);
            (void)wasp_config_section(cfg, s->name, "/a/b", "system.webServer/handlers");
            char phys[4096];
            assert_int_equal(wasp_config_map_url(cfg, s, "/", NULL, NULL, phys, sizeof phys), 0);
        }
        wasp_config_free(cfg);
    }
    closedir(dp);
    assert_true(count >= 20);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_malformed_xml_names_line, cleanup_tmp),
        cmocka_unit_test_teardown(test_missing_file, cleanup_tmp),
        cmocka_unit_test_teardown(test_doctype_refused, cleanup_tmp),
        cmocka_unit_test_teardown(test_root_must_be_configuration, cleanup_tmp),
        cmocka_unit_test_teardown(test_attribute_lines, cleanup_tmp),
        cmocka_unit_test_teardown(test_unknown_section, cleanup_tmp),
        cmocka_unit_test_teardown(test_file_without_config_sections, cleanup_tmp),
        cmocka_unit_test_teardown(test_config_sections_declare_custom, cleanup_tmp),
        cmocka_unit_test_teardown(test_duplicate_section, cleanup_tmp),
        cmocka_unit_test_teardown(test_section_group_attributes_warn, cleanup_tmp),
        cmocka_unit_test_teardown(test_location_dot_and_config_source, cleanup_tmp),
        cmocka_unit_test_teardown(test_duplicate_mimemap_message, cleanup_tmp),
        cmocka_unit_test_teardown(test_duplicate_combined_key, cleanup_tmp),
        cmocka_unit_test_teardown(test_duplicate_key_between_levels, cleanup_tmp),
        cmocka_unit_test_teardown(test_remove_and_clear, cleanup_tmp),
        cmocka_unit_test_teardown(test_handlers_prepend, cleanup_tmp),
        cmocka_unit_test_teardown(test_location_merge_case_insensitive, cleanup_tmp),
        cmocka_unit_test_teardown(test_location_inherit_in_child_apps, cleanup_tmp),
        cmocka_unit_test_teardown(test_pool_and_site_defaults, cleanup_tmp),
        cmocka_unit_test_teardown(test_pool_defaults_inheritance, cleanup_tmp),
        cmocka_unit_test_teardown(test_bad_queue_length, cleanup_tmp),
        cmocka_unit_test_teardown(test_bad_values, cleanup_tmp),
        cmocka_unit_test_teardown(test_pool_schema_defaults, cleanup_tmp),
        cmocka_unit_test_teardown(test_pool_children_inherit_and_override, cleanup_tmp),
        cmocka_unit_test_teardown(test_pool_flags, cleanup_tmp),
        cmocka_unit_test_teardown(test_pool_schedule, cleanup_tmp),
        cmocka_unit_test_teardown(test_pool_environment_variables, cleanup_tmp),
        cmocka_unit_test_teardown(test_pool_expanded_strings, cleanup_tmp),
        cmocka_unit_test_teardown(test_pool_bad_child_values, cleanup_tmp),
        cmocka_unit_test_teardown(test_pool_affinity_mask_zero_refused, cleanup_tmp),
        cmocka_unit_test_teardown(test_pool_cfg_same, cleanup_tmp),
        cmocka_unit_test_teardown(test_bindings, cleanup_tmp),
        cmocka_unit_test_teardown(test_site_defaults_bindings_and_limits, cleanup_tmp),
        cmocka_unit_test_teardown(test_duplicate_binding_between_sites, cleanup_tmp),
        cmocka_unit_test_teardown(test_missing_pool_and_root, cleanup_tmp),
        cmocka_unit_test_teardown(test_physical_paths, cleanup_tmp),
        cmocka_unit_test_teardown(test_physical_paths_windows, cleanup_tmp),
        cmocka_unit_test_teardown(test_apphost_config_source, cs_cleanup),
        cmocka_unit_test_teardown(test_map_url, cleanup_tmp),
        cmocka_unit_test(test_timespan),
        cmocka_unit_test_teardown(test_section_accessors, cleanup_tmp),
        cmocka_unit_test(test_stock_apphost),
        cmocka_unit_test(test_corpus_applicationhost_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
