/*
 * Unit tests of the logging settings of the configuration (src/config):
 * a site's logFile merged with siteDefaults/logFile attribute by attribute,
 * customFields merged as a collection, system.applicationHost/log, and the
 * HTTPERR values of wasp/httpSys, with their defaults, ranges and the
 * messages for bad values (iis-hosting.md 2.4, 3.3, 4.6).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

static char tmp_path[64];

static const char *write_tmp(const char *text)
{
    if (tmp_path[0]) {
        unlink(tmp_path);
    }
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/wasp-test-config-log-XXXXXX");
    int fd = mkstemp(tmp_path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return tmp_path;
}

static int cleanup_tmp(void **state)
{
    (void)state;
    if (tmp_path[0]) {
        unlink(tmp_path);
    }
    tmp_path[0] = '\0';
    return 0;
}

/* An applicationHost.config: sites' inner XML (siteDefaults included) and
 * more top-level XML. */
static const char *apphost(const char *sites, const char *extra)
{
    static char buf[16384];
    snprintf(buf, sizeof buf,
             "<?xml version=\"1.0\"?>\n"
             "<configuration>\n"
             "<system.applicationHost>\n"
             "<applicationPools><add name=\"P\" /></applicationPools>\n"
             "<sites>\n%s<applicationDefaults applicationPool=\"P\" />\n</sites>\n"
             "%s"
             "</system.applicationHost>\n"
             "</configuration>\n",
             sites, extra);
    return buf;
}

#define SITE(id, inner)                                                                    \
    "<site name=\"S" #id "\" id=\"" #id "\">\n"                                            \
    "<application path=\"/\"><virtualDirectory path=\"/\" physicalPath=\"/srv\" />"        \
    "</application>\n"                                                                     \
    "<bindings><binding protocol=\"http\" bindingInformation=\"*:80" #id ":\" /></bindings>\n" \
    inner "</site>\n"

static wasp_config_t *load_ok(const char *text)
{
    wasp_diag_t d;
    wasp_config_t *cfg = wasp_config_load(write_tmp(text), &d);
    if (!cfg) {
        char buf[2048];
        fail_msg("unexpected load failure: %s", wasp_diag_format(&d, buf, sizeof buf));
    }
    return cfg;
}

static wasp_diag_t load_fail(const char *text)
{
    wasp_diag_t d;
    wasp_config_t *cfg = wasp_config_load(write_tmp(text), &d);
    if (cfg) {
        wasp_config_free(cfg);
        fail_msg("configuration unexpectedly loaded");
    }
    return d;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

#define SITE_DEFAULT_FLAGS 0x25cfcfu /* iis-hosting.md 2.4 */

static void test_defaults(void **state)
{
    (void)state;
    unsetenv("WASP_SYSTEM_DRIVE");
    wasp_config_t *cfg = load_ok(apphost(SITE(1, ""), ""));
    const wasp_logfile_cfg_t *lf = &wasp_config_site(cfg, 0)->log;
    const wasp_log_cfg_t *log = wasp_config_log(cfg);

    assert_true(lf->enabled);
    assert_int_equal(lf->format, WASP_LOG_W3C);
    /* %SystemDrive%\inetpub\logs\LogFiles, mapped like physicalPath */
    assert_string_equal(lf->directory, "/inetpub/logs/LogFiles");
    assert_int_equal(lf->period, WASP_LOG_DAILY);
    assert_int_equal(lf->truncate_size, 20971520);
    assert_false(lf->local_time_rollover);
    assert_int_equal(lf->ext_flags, SITE_DEFAULT_FLAGS);
    assert_true(lf->log_site_id);
    assert_int_equal(lf->target_w3c, 1);
    assert_int_equal(lf->flush_by_entry_count, 0);
    assert_int_equal(lf->max_line_length, 65536);
    assert_int_equal(lf->max_custom_field_length, 4096);
    assert_int_equal(lf->custom_count, 0);

    assert_int_equal(log->mode, WASP_LOG_MODE_SITE);
    assert_true(log->in_utf8);
    assert_true(log->central_w3c.enabled);
    assert_int_equal(log->central_w3c.ext_flags, SITE_DEFAULT_FLAGS | 16u); /* + SiteName */
    assert_string_equal(log->central_w3c.directory, "/inetpub/logs/LogFiles");
    assert_true(log->error_logging);
    assert_int_equal(log->error_truncate_size, 1048576);
    assert_null(log->error_dir);
    wasp_config_free(cfg);
}

static void test_site_defaults_merge(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok(apphost(
        "<siteDefaults><logFile logFormat=\"NCSA\" period=\"Hourly\" directory=\"D:\\logs\\web\" "
        "localTimeRollover=\"true\" logExtFileFlags=\"Date, Time, HttpStatus\" /></siteDefaults>\n"
        SITE(1, "<logFile period=\"MaxSize\" truncateSize=\"2000000\" />\n")
        SITE(2, "<logFile enabled=\"false\" logFormat=\"W3C\" logSiteId=\"false\" "
                "logTargetW3C=\"File,ETW\" flushByEntryCountW3CLog=\"10\" "
                "maxLogLineLength=\"100\" />\n"),
        ""));
    const wasp_logfile_cfg_t *a = &wasp_config_site(cfg, 0)->log;
    const wasp_logfile_cfg_t *b = &wasp_config_site(cfg, 1)->log;

    /* The site's own attribute, else siteDefaults', else the schema's. */
    assert_int_equal(a->format, WASP_LOG_NCSA);
    assert_int_equal(a->period, WASP_LOG_MAXSIZE);
    assert_int_equal(a->truncate_size, 2000000);
    assert_string_equal(a->directory, "/logs/web");
    assert_true(a->local_time_rollover);
    assert_int_equal(a->ext_flags, 1u | 2u | 1024u);
    assert_true(a->enabled);

    assert_false(b->enabled);
    assert_int_equal(b->format, WASP_LOG_W3C);
    assert_int_equal(b->period, WASP_LOG_HOURLY);
    assert_false(b->log_site_id);
    assert_int_equal(b->target_w3c, 3);
    assert_int_equal(b->flush_by_entry_count, 10);
    assert_int_equal(b->max_line_length, 100);
    wasp_config_free(cfg);
}

static void test_custom_fields(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok(apphost(
        "<siteDefaults><logFile><customFields>"
        "<add logFieldName=\"XFF\" sourceName=\"X-Forwarded-For\" sourceType=\"RequestHeader\" />"
        "</customFields></logFile></siteDefaults>\n"
        SITE(1, "<logFile><customFields maxCustomFieldLength=\"10\">"
                "<add logFieldName=\"CT\" sourceName=\"Content-Type\" "
                "sourceType=\"ResponseHeader\" /></customFields></logFile>\n")
        SITE(2, "<logFile><customFields><clear />"
                "<add logFieldName=\"Port\" sourceName=\"SERVER_PORT\" sourceType=\"2\" />"
                "</customFields></logFile>\n")
        SITE(3, ""),
        ""));
    const wasp_logfile_cfg_t *a = &wasp_config_site(cfg, 0)->log;
    const wasp_logfile_cfg_t *b = &wasp_config_site(cfg, 1)->log;
    const wasp_logfile_cfg_t *c = &wasp_config_site(cfg, 2)->log;

    assert_int_equal(a->custom_count, 2);
    assert_string_equal(a->custom[0].name, "XFF");
    assert_string_equal(a->custom[0].source, "X-Forwarded-For");
    assert_int_equal(a->custom[0].type, WASP_LOG_REQUEST_HEADER);
    assert_string_equal(a->custom[1].name, "CT");
    assert_int_equal(a->custom[1].type, WASP_LOG_RESPONSE_HEADER);
    assert_int_equal(a->max_custom_field_length, 10);

    assert_int_equal(b->custom_count, 1);
    assert_string_equal(b->custom[0].name, "Port");
    assert_int_equal(b->custom[0].type, WASP_LOG_SERVER_VARIABLE);
    assert_int_equal(b->max_custom_field_length, 4096);

    assert_int_equal(c->custom_count, 1); /* siteDefaults' only */
    wasp_config_free(cfg);
}

static void test_central_and_httperr(void **state)
{
    (void)state;
    wasp_config_t *cfg = load_ok(apphost(
        SITE(1, ""),
        "<log centralLogFileMode=\"CentralW3C\" logInUTF8=\"false\">"
        "<centralW3CLogFile period=\"Hourly\" directory=\"/var/log/central\" "
        "logExtFileFlags=\"Date, Time, SiteName\" truncateSize=\"1048576\" /></log>\n"
        "</system.applicationHost>\n<wasp><httpSys EnableErrorLogging=\"0\" "
        "ErrorLogFileTruncateSize=\"2097152\" ErrorLoggingDir=\"/var/log/herr\" /></wasp>\n"
        "<system.applicationHost>\n"));
    const wasp_log_cfg_t *log = wasp_config_log(cfg);

    assert_int_equal(log->mode, WASP_LOG_MODE_CENTRAL_W3C);
    assert_false(log->in_utf8);
    assert_int_equal(log->central_w3c.period, WASP_LOG_HOURLY);
    assert_string_equal(log->central_w3c.directory, "/var/log/central");
    assert_int_equal(log->central_w3c.ext_flags, 1u | 2u | 16u);
    assert_int_equal(log->central_w3c.truncate_size, 1048576);
    assert_false(log->error_logging);
    assert_int_equal(log->error_truncate_size, 2097152);
    assert_string_equal(log->error_dir, "/var/log/herr");
    wasp_config_free(cfg);

    /* IIS' own default for ErrorLoggingDir is a Windows folder: it means
     * "wasp's default" (NULL), not a path under the config file. */
    cfg = load_ok(apphost(SITE(1, ""),
                          "</system.applicationHost>\n<wasp><httpSys "
                          "ErrorLoggingDir=\"%SystemRoot%\\System32\\LogFiles\" /></wasp>\n"
                          "<system.applicationHost>\n"));
    assert_null(wasp_config_log(cfg)->error_dir);
    wasp_config_free(cfg);
}

static void test_bad_values(void **state)
{
    (void)state;
    wasp_diag_t d;

    d = load_fail(apphost(SITE(1, "<logFile period=\"MaxSize\"\n truncateSize=\"1000\" />\n"), ""));
    assert_int_equal(d.line, 10); /* the attribute's own line */
    assert_contains(d.message, "<logFile truncateSize=\"1000\"> (in <site name=\"S1\" id=\"1\">)");
    assert_contains(d.message, "between 1048576 and 4294967295");

    d = load_fail(apphost(SITE(1, "<logFile logExtFileFlags=\"Date, Bogus\" />\n"), ""));
    assert_contains(d.message, "logExtFileFlags=\"Date, Bogus\"");
    assert_contains(d.message, "Flags must be some combination of");

    d = load_fail(apphost(SITE(1, "<logFile period=\"Yearly\" />\n"), ""));
    assert_contains(d.message, "Enum must be one of");

    d = load_fail(apphost(SITE(1, "<logFile directory=\"\" />\n"), ""));
    assert_contains(d.message, "<logFile directory=\"\"> (in <site name=\"S1\" id=\"1\">): String must not be empty");

    d = load_fail(apphost(SITE(1, "<logFile><customFields><add logFieldName=\"A B\" "
                                  "sourceName=\"x\" sourceType=\"RequestHeader\" />"
                                  "</customFields></logFile>\n"),
                          ""));
    assert_contains(d.message, "without spaces");

    d = load_fail(apphost(SITE(1, "<logFile><customFields><add logFieldName=\"A\" "
                                  "sourceName=\"x\" /></customFields></logFile>\n"),
                          ""));
    assert_contains(d.message, "Missing required attribute 'sourceType' on <add>");

    d = load_fail(apphost(SITE(1, ""), "<log centralLogFileMode=\"Central\" />\n"));
    assert_contains(d.message, "Site, CentralBinary, CentralW3C");

    d = load_fail(apphost(SITE(1, ""), "</system.applicationHost>\n<wasp><httpSys "
                                      "ErrorLogFileTruncateSize=\"5\" /></wasp>\n"
                                      "<system.applicationHost>\n"));
    assert_contains(d.message, "ErrorLogFileTruncateSize=\"5\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults, cleanup_tmp),
        cmocka_unit_test_teardown(test_site_defaults_merge, cleanup_tmp),
        cmocka_unit_test_teardown(test_custom_fields, cleanup_tmp),
        cmocka_unit_test_teardown(test_central_and_httperr, cleanup_tmp),
        cmocka_unit_test_teardown(test_bad_values, cleanup_tmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
