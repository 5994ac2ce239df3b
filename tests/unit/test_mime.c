/*
 * wasp_mime_lookup(): the stock list (no staticContent section), sections
 * built by the configuration library from real applicationHost.config text
 * (<clear/>, <remove/>, <location> merging), longest-suffix and
 * case-insensitive matching, the "." and ".*" conventions, and the agreement
 * of conf/applicationHost.config with the built-in stock list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "modules/mime.h"

static const char test_mime_config[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<configuration>\n"
    "  <system.applicationHost>\n"
    "    <applicationPools><add name=\"DefaultAppPool\" /></applicationPools>\n"
    "    <sites>\n"
    "      <site name=\"Test Site\" id=\"1\">\n"
    "        <application path=\"/\" applicationPool=\"DefaultAppPool\">\n"
    "          <virtualDirectory path=\"/\" physicalPath=\".\" />\n"
    "        </application>\n"
    "        <bindings><binding protocol=\"http\" bindingInformation=\"*:8080:\" /></bindings>\n"
    "      </site>\n"
    "    </sites>\n"
    "  </system.applicationHost>\n"
    "  <system.webServer>\n"
    "    <staticContent>\n"
    "      <mimeMap fileExtension=\".txt\" mimeType=\"text/plain\" />\n"
    "      <mimeMap fileExtension=\".config\" mimeType=\"application/xml\" />\n"
    "      <mimeMap fileExtension=\".dll.config\" mimeType=\"text/xml\" />\n"
    "      <mimeMap fileExtension=\".IVF\" mimeType=\"video/x-ivf\" />\n"
    "      <mimeMap fileExtension=\".tar.gz\" mimeType=\"application/gzip\" />\n"
    "      <mimeMap fileExtension=\".gz\" mimeType=\"application/x-gzip\" />\n"
    "      <mimeMap fileExtension=\".old\" mimeType=\"application/x-old\" />\n"
    "    </staticContent>\n"
    "  </system.webServer>\n"
    "  <location path=\"Test Site/extensionless\">\n"
    "    <system.webServer>\n"
    "      <staticContent>\n"
    "        <mimeMap fileExtension=\".\" mimeType=\"text/plain\" />\n"
    "        <remove fileExtension=\".old\" />\n"
    "      </staticContent>\n"
    "    </system.webServer>\n"
    "  </location>\n"
    "  <location path=\"Test Site/anything\">\n"
    "    <system.webServer>\n"
    "      <staticContent>\n"
    "        <mimeMap fileExtension=\".*\" mimeType=\"application/octet-stream\" />\n"
    "      </staticContent>\n"
    "    </system.webServer>\n"
    "  </location>\n"
    "  <location path=\"Test Site/nothing\">\n"
    "    <system.webServer>\n"
    "      <staticContent>\n"
    "        <clear />\n"
    "      </staticContent>\n"
    "    </system.webServer>\n"
    "  </location>\n"
    "</configuration>\n";

typedef struct test_mime_fixture {
    char path[64];
    wasp_config_t *cfg;
} test_mime_fixture_t;

static int test_mime_setup(void **state)
{
    test_mime_fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    strcpy(f->path, "/tmp/wasp-test-mime-XXXXXX");
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, test_mime_config, sizeof(test_mime_config) - 1),
                     (ssize_t)(sizeof(test_mime_config) - 1));
    close(fd);
    wasp_diag_t diag;
    f->cfg = wasp_config_load(f->path, &diag);
    if (f->cfg == NULL) {
        char buf[2048];
        fail_msg("config did not load: %s", wasp_diag_format(&diag, buf, sizeof(buf)));
    }
    *state = f;
    return 0;
}

static int test_mime_teardown(void **state)
{
    test_mime_fixture_t *f = *state;
    /* The indexes point into the sections: forget them before freeing. */
    wasp_mime_reset();
    wasp_config_free(f->cfg);
    unlink(f->path);
    free(f);
    return 0;
}

static const wasp_section_t *test_mime_section(test_mime_fixture_t *f, const char *url)
{
    const wasp_section_t *s =
        wasp_config_section(f->cfg, "Test Site", url, "system.webServer/staticContent");
    assert_non_null(s);
    return s;
}

static void test_mime_stock_list(void **state)
{
    assert_string_equal(wasp_mime_lookup(NULL, "index.html"), "text/html");
    assert_string_equal(wasp_mime_lookup(NULL, "style.css"), "text/css");
    assert_string_equal(wasp_mime_lookup(NULL, "app.js"), "application/javascript");
    assert_string_equal(wasp_mime_lookup(NULL, "data.json"), "application/json");
    assert_string_equal(wasp_mime_lookup(NULL, "module.wasm"), "application/wasm");
    assert_string_equal(wasp_mime_lookup(NULL, "font.woff2"), "application/font-woff2");
    assert_string_equal(wasp_mime_lookup(NULL, "a.svg"), "image/svg+xml");
    assert_string_equal(wasp_mime_lookup(NULL, "archive.zip"), "application/x-zip-compressed");
    assert_string_equal(wasp_mime_lookup(NULL, "x.323"), "text/h323");
    /* Multi-dot entries and the longest suffix. */
    assert_string_equal(wasp_mime_lookup(NULL, "web.dll.config"), "text/xml");
    assert_string_equal(wasp_mime_lookup(NULL, "tool.exe.config"), "text/xml");
    assert_string_equal(wasp_mime_lookup(NULL, "lib.dll"), "application/x-msdownload");
    /* Case-insensitive, both ways (".IVF" is upper case in the stock list). */
    assert_string_equal(wasp_mime_lookup(NULL, "clip.ivf"), "video/x-ivf");
    assert_string_equal(wasp_mime_lookup(NULL, "PAGE.HTM"), "text/html");
    assert_string_equal(wasp_mime_lookup(NULL, "Web.DLL.Config"), "text/xml");
    /* Only the last path segment counts. */
    assert_string_equal(wasp_mime_lookup(NULL, "/srv/www.example.com/docs/readme.txt"),
                        "text/plain");
    assert_null(wasp_mime_lookup(NULL, "/srv/site.html/README"));
    /* Unknown, none, and the ones IIS deliberately leaves out. */
    assert_null(wasp_mime_lookup(NULL, "script.php"));
    assert_null(wasp_mime_lookup(NULL, "page.aspx"));
    assert_null(wasp_mime_lookup(NULL, "web.config"));
    assert_null(wasp_mime_lookup(NULL, "Makefile"));
    assert_null(wasp_mime_lookup(NULL, "trailing."));
    assert_null(wasp_mime_lookup(NULL, ""));
    assert_null(wasp_mime_lookup(NULL, NULL));
    /* A dotfile's whole name is its extension. */
    assert_null(wasp_mime_lookup(NULL, ".htaccess"));
    assert_string_equal(wasp_mime_lookup(NULL, ".txt"), "text/plain");
}

static void test_mime_section_list(void **state)
{
    test_mime_fixture_t *f = *state;
    const wasp_section_t *s = test_mime_section(f, "/");
    assert_string_equal(wasp_mime_lookup(s, "notes.txt"), "text/plain");
    assert_string_equal(wasp_mime_lookup(s, "NOTES.TXT"), "text/plain");
    assert_string_equal(wasp_mime_lookup(s, "clip.ivf"), "video/x-ivf");
    assert_string_equal(wasp_mime_lookup(s, "app.dll.config"), "text/xml");
    assert_string_equal(wasp_mime_lookup(s, "web.config"), "application/xml");
    assert_string_equal(wasp_mime_lookup(s, "x.tar.gz"), "application/gzip");
    assert_string_equal(wasp_mime_lookup(s, "x.gz"), "application/x-gzip");
    /* ".a.tar.gz": the leftmost dot gives ".a.tar.gz", not listed; then
     * ".tar.gz" wins over ".gz". */
    assert_string_equal(wasp_mime_lookup(s, "v1.a.tar.gz"), "application/gzip");
    assert_string_equal(wasp_mime_lookup(s, "backup.old"), "application/x-old");
    /* The section replaces the stock list. */
    assert_null(wasp_mime_lookup(s, "index.html"));
    assert_null(wasp_mime_lookup(s, "README"));
    assert_null(wasp_mime_lookup(s, "x.unknown"));
    /* Repeated lookups use the cached index and agree. */
    for (int i = 0; i < 1000; i++)
        assert_string_equal(wasp_mime_lookup(s, "notes.txt"), "text/plain");
}

static void test_mime_location_merge(void **state)
{
    test_mime_fixture_t *f = *state;
    const wasp_section_t *ext = test_mime_section(f, "/extensionless/doc");
    assert_string_equal(wasp_mime_lookup(ext, "LICENSE"), "text/plain");
    assert_string_equal(wasp_mime_lookup(ext, "notes.txt"), "text/plain");
    assert_null(wasp_mime_lookup(ext, "backup.old")); /* <remove> */
    assert_null(wasp_mime_lookup(ext, "x.unknown"));  /* "." is only for no extension */

    const wasp_section_t *any = test_mime_section(f, "/anything/x");
    assert_string_equal(wasp_mime_lookup(any, "x.unknown"), "application/octet-stream");
    assert_string_equal(wasp_mime_lookup(any, "LICENSE"), "application/octet-stream");
    assert_string_equal(wasp_mime_lookup(any, "notes.txt"), "text/plain"); /* listed wins */

    const wasp_section_t *none = test_mime_section(f, "/nothing/");
    assert_null(wasp_mime_lookup(none, "notes.txt"));
    assert_null(wasp_mime_lookup(none, "index.html"));

    /* The root section still answers as before after the others were built. */
    const wasp_section_t *root = test_mime_section(f, "/");
    assert_null(wasp_mime_lookup(root, "LICENSE"));
    assert_string_equal(wasp_mime_lookup(root, "backup.old"), "application/x-old");
}

static void test_mime_reset_rebuilds(void **state)
{
    test_mime_fixture_t *f = *state;
    const wasp_section_t *s = test_mime_section(f, "/");
    assert_string_equal(wasp_mime_lookup(s, "a.txt"), "text/plain");
    wasp_mime_reset();
    wasp_mime_reset(); /* idempotent */
    assert_string_equal(wasp_mime_lookup(s, "a.txt"), "text/plain");
    assert_string_equal(wasp_mime_lookup(NULL, "a.htm"), "text/html");
}

/* conf/applicationHost.config lists IIS' stock mimeMap; the built-in list
 * must say the same for every one of its entries. */
static void test_mime_default_conf_matches_stock(void **state)
{
    wasp_diag_t diag;
    wasp_config_t *cfg = wasp_config_load("conf/applicationHost.config", &diag);
    if (cfg == NULL) /* meson test runs from the source root */
        fail_msg("conf/applicationHost.config: %s", diag.message);
    const wasp_section_t *s =
        wasp_config_section(cfg, "Default Web Site", "/", "system.webServer/staticContent");
    assert_non_null(s);
    size_t n = wasp_section_item_count(s);
    assert_int_equal(n, 378);
    for (size_t i = 0; i < n; i++) {
        const wasp_section_t *item = wasp_section_item(s, i);
        const char *ext = wasp_section_attr(item, "fileExtension");
        char name[64];
        snprintf(name, sizeof(name), "file%s", ext);
        const char *conf_type = wasp_mime_lookup(s, name);
        const char *stock_type = wasp_mime_lookup(NULL, name);
        assert_non_null(conf_type);
        assert_non_null(stock_type);
        assert_string_equal(conf_type, stock_type);
    }
    wasp_mime_reset();
    wasp_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mime_stock_list),
        cmocka_unit_test_setup_teardown(test_mime_section_list, test_mime_setup,
                                        test_mime_teardown),
        cmocka_unit_test_setup_teardown(test_mime_location_merge, test_mime_setup,
                                        test_mime_teardown),
        cmocka_unit_test_setup_teardown(test_mime_reset_rebuilds, test_mime_setup,
                                        test_mime_teardown),
        cmocka_unit_test(test_mime_default_conf_matches_stock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
