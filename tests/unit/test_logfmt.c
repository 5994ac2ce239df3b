/*
 * Unit tests of the log formats and file names (src/listener/logfmt.c):
 * W3C columns in IIS' fixed order, value escaping, line and custom field
 * limits, the IIS and NCSA formats, the HTTPERR line, and the file name of
 * every format and rollover period (iis-hosting.md 4.6, 5).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "listener/logfmt.h"

static char out[70000];

#define S(lit) ((wasp_logstr_t){lit, sizeof(lit) - 1})

/* 2026-11-28 01:02:03 UTC */
#define WHEN ((time_t)1795827723)

static wasp_log_rec_t sample(void)
{
    wasp_log_rec_t r;

    memset(&r, 0, sizeof(r));
    r.when = WHEN;
    r.site_name = S("W3SVC1");
    r.computer = S("web01");
    r.s_ip = S("10.0.0.1");
    r.s_port = 80;
    r.c_ip = S("192.0.2.7");
    r.c_port = 51234;
    r.method = S("GET");
    r.stem = S("/a b/c.txt");
    r.query = S("x=1&y=2");
    r.version = S("HTTP/1.1");
    r.user_agent = S("Mozilla/5.0 (X11; Linux x86_64)");
    r.cookie = S("k=v; k2=v2");
    r.referer = S("http://example.com/");
    r.host = S("example.com");
    r.status = 404;
    r.substatus = 0;
    r.win32 = 2;
    r.sc_bytes = 1234;
    r.cs_bytes = 321;
    r.time_taken_ms = 15;
    return r;
}

static void expect(size_t n, const char *want)
{
    assert_int_equal(n, strlen(want));
    out[n] = '\0';
    assert_string_equal(out, want);
}

static void test_fields_default_and_all(void **state)
{
    (void)state;
    uint32_t dflt = WASP_LOGF_DATE | WASP_LOGF_TIME | WASP_LOGF_CLIENT_IP | WASP_LOGF_USER_NAME |
                    WASP_LOGF_SERVER_IP | WASP_LOGF_METHOD | WASP_LOGF_URI_STEM |
                    WASP_LOGF_URI_QUERY | WASP_LOGF_TIME_TAKEN | WASP_LOGF_HTTP_STATUS |
                    WASP_LOGF_WIN32_STATUS | WASP_LOGF_SERVER_PORT | WASP_LOGF_USER_AGENT |
                    WASP_LOGF_HTTP_SUB_STATUS | WASP_LOGF_REFERER;
    const char *names[] = {"X-Forwarded-For", "Served-By"};

    /* IIS 8.5/10's default header (iis-hosting.md 5.2), column order fixed. */
    expect(wasp_logfmt_w3c_fields(dflt, NULL, 0, out, sizeof(out)),
           "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
           "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n");
    expect(wasp_logfmt_w3c_fields(0x3fffffu, names, 2, out, sizeof(out)),
           "#Fields: date time s-sitename s-computername s-ip cs-method cs-uri-stem "
           "cs-uri-query s-port cs-username c-ip cs-version cs(User-Agent) cs(Cookie) "
           "cs(Referer) cs-host sc-status sc-substatus sc-win32-status sc-bytes cs-bytes "
           "time-taken X-Forwarded-For Served-By\r\n");
    /* Too small a buffer: nothing, rather than half a header. */
    assert_int_equal(wasp_logfmt_w3c_fields(dflt, NULL, 0, out, 20), 0);
}

static void test_w3c_line(void **state)
{
    (void)state;
    wasp_log_rec_t r = sample();

    expect(wasp_logfmt_w3c(&r, 0x3fffffu, 65536, 4096, out, sizeof(out)),
           "2026-11-28 01:02:03 W3SVC1 web01 10.0.0.1 GET /a+b/c.txt x=1&y=2 80 - 192.0.2.7 "
           "HTTP/1.1 Mozilla/5.0+(X11;+Linux+x86_64) k=v;+k2=v2 http://example.com/ "
           "example.com 404 0 2 1234 321 15\r\n");
    /* Only some columns, in IIS' order whatever the flag values. */
    expect(wasp_logfmt_w3c(&r, WASP_LOGF_TIME_TAKEN | WASP_LOGF_DATE | WASP_LOGF_HTTP_STATUS,
                           65536, 4096, out, sizeof(out)),
           "2026-11-28 404 15\r\n");
    /* Absent and empty values are "-"; control characters and tabs "+". */
    r.query = (wasp_logstr_t){NULL, 0};
    r.user_agent = (wasp_logstr_t){"", 0};
    r.referer = S("a\tb\x01" "c\x7f");
    expect(wasp_logfmt_w3c(&r, WASP_LOGF_URI_QUERY | WASP_LOGF_USER_AGENT | WASP_LOGF_REFERER,
                           65536, 4096, out, sizeof(out)),
           "- - a+b+c+\r\n");
    /* UTF-8 stays as it is (logInUTF8). */
    r.stem = S("/caf\xc3\xa9");
    expect(wasp_logfmt_w3c(&r, WASP_LOGF_URI_STEM, 65536, 4096, out, sizeof(out)),
           "/caf\xc3\xa9\r\n");
}

static void test_w3c_limits(void **state)
{
    (void)state;
    wasp_log_rec_t r = sample();
    wasp_logstr_t custom[3] = {S("abcdefgh"), {NULL, 0}, S("x y")};
    static char big[70000];

    r.custom = custom;
    r.custom_count = 3;
    /* maxCustomFieldLength cuts each custom value. */
    expect(wasp_logfmt_w3c(&r, WASP_LOGF_HTTP_STATUS, 65536, 4, out, sizeof(out)),
           "404 abcd - x+y\r\n");
    /* maxLogLineLength cuts the line (CRLF still ends it). */
    expect(wasp_logfmt_w3c(&r, WASP_LOGF_DATE | WASP_LOGF_TIME, 13, 4096, out, sizeof(out)),
           "2026-11-28 01\r\n");
    /* A line at the largest maxLogLineLength: 65536 bytes, then CRLF. */
    memset(big, 'z', sizeof(big));
    custom[0] = (wasp_logstr_t){big, 40000};
    custom[1] = (wasp_logstr_t){big, 40000};
    size_t n = wasp_logfmt_w3c(&r, 0, 65536, 65536, out, sizeof(out));
    assert_int_equal(n, 65536 + 2);
    assert_memory_equal(out + 40000, " zz", 3);
    assert_memory_equal(out + n - 3, "z\r\n", 3);
}

static void test_iis_and_ncsa(void **state)
{
    (void)state;
    wasp_log_rec_t r = sample();
    struct tm local;

    /* Local time 07:55:20 on 2001-03-20, UTC-8 (the callers' localtime_r). */
    memset(&local, 0, sizeof(local));
    local.tm_year = 101;
    local.tm_mon = 2;
    local.tm_mday = 20;
    local.tm_hour = 7;
    local.tm_min = 55;
    local.tm_sec = 20;
    local.tm_gmtoff = -8 * 3600;
    r.stem = S("/DeptLogo.gif");
    r.query = (wasp_logstr_t){NULL, 0};
    r.status = 200;
    r.win32 = 0;
    expect(wasp_logfmt_iis(&r, &local, out, sizeof(out)),
           "192.0.2.7, -, 03/20/01, 7:55:20, W3SVC1, web01, 10.0.0.1, 15, 321, 1234, 200, 0, GET, "
           "/DeptLogo.gif, -,\r\n");
    r.query = S("a=b");
    r.username = S("Microsoft\\User");
    expect(wasp_logfmt_ncsa(&r, &local, out, sizeof(out)),
           "192.0.2.7 - Microsoft\\User [20/Mar/2001:07:55:20 -0800] \"GET /DeptLogo.gif?a=b "
           "HTTP/1.1\" 200 1234\r\n");
    local.tm_gmtoff = 5 * 3600 + 30 * 60;
    r.username = (wasp_logstr_t){NULL, 0};
    r.stem = S("/q\"x");
    expect(wasp_logfmt_ncsa(&r, &local, out, sizeof(out)),
           "192.0.2.7 - - [20/Mar/2001:07:55:20 +0530] \"GET /q+x?a=b HTTP/1.1\" 200 1234\r\n");
}

static void test_httperr_line(void **state)
{
    (void)state;
    static char longuri[5000];
    wasp_httperr_rec_t e = {
        .when = WHEN,
        .c_ip = "192.0.2.7",
        .c_port = 51234,
        .s_ip = "10.0.0.1",
        .s_port = 80,
        .version_major = 1,
        .version_minor = 1,
        .method = S("GET"),
        .uri = S("/app/home"),
        .status = 503,
        .site_id = 1,
        .reason = "AppOffline",
        .queue = "MyAppPool",
    };

    expect(wasp_logfmt_httperr(&e, out, sizeof(out)),
           "2026-11-28 01:02:03 192.0.2.7 51234 10.0.0.1 80 HTTP/1.1 GET /app/home - 503 1 "
           "AppOffline MyAppPool\r\n");
    /* An HTTP/2 stream: its id in the streamid column. */
    e.version_major = 2;
    e.version_minor = 0;
    e.stream_id = 13;
    expect(wasp_logfmt_httperr(&e, out, sizeof(out)),
           "2026-11-28 01:02:03 192.0.2.7 51234 10.0.0.1 80 HTTP/2.0 GET /app/home 13 503 1 "
           "AppOffline MyAppPool\r\n");
    e.stream_id = 0;
    /* Nothing parsed: "-" for what is unknown; IPv6 with its scope id. */
    memset(&e.method, 0, sizeof(e.method));
    memset(&e.uri, 0, sizeof(e.uri));
    e.version_major = -1;
    e.status = 0;
    e.site_id = 0;
    e.queue = NULL;
    e.c_ip = "::1";
    e.s_ip = "::1";
    e.reason = "Timer_ConnectionIdle";
    expect(wasp_logfmt_httperr(&e, out, sizeof(out)),
           "2026-11-28 01:02:03 ::1%0 51234 ::1%0 80 - - - - - - Timer_ConnectionIdle -\r\n");
    /* A version part of two digits; spaces in the URI; the URI cut at 4096. */
    e.version_major = 1;
    e.version_minor = 12;
    e.uri = S("/a b");
    expect(wasp_logfmt_httperr(&e, out, sizeof(out)),
           "2026-11-28 01:02:03 ::1%0 51234 ::1%0 80 HTTP/?.? - /a+b - - - Timer_ConnectionIdle "
           "-\r\n");
    memset(longuri, 'u', sizeof(longuri));
    e.uri = (wasp_logstr_t){longuri, sizeof(longuri)};
    size_t n = wasp_logfmt_httperr(&e, out, sizeof(out));
    out[n] = '\0';
    assert_non_null(strstr(out, " - - - Timer_ConnectionIdle -\r\n"));
    assert_int_equal(strspn(strstr(out, "HTTP/?.? - ") + 11, "u"), 4096);
}

static struct tm tm_of(int y, int mon, int d, int h)
{
    struct tm tm;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    t = timegm(&tm);
    gmtime_r(&t, &tm); /* fills tm_wday */
    return tm;
}

static void name_is(wasp_log_format_t f, wasp_log_period_t p, bool utf8, bool custom,
                    const struct tm *tm, unsigned seq, const char *want)
{
    expect(wasp_logfmt_file_name(f, p, utf8, custom, tm, seq, out, sizeof(out)), want);
}

static void test_file_names(void **state)
{
    (void)state;
    struct tm tm = tm_of(2026, 11, 28, 1);

    /* iis-hosting.md 5.3, with the u_ of logInUTF8 */
    name_is(WASP_LOG_W3C, WASP_LOG_DAILY, true, false, &tm, 0, "u_ex261128.log");
    name_is(WASP_LOG_W3C, WASP_LOG_HOURLY, true, false, &tm, 0, "u_ex26112801.log");
    name_is(WASP_LOG_W3C, WASP_LOG_MONTHLY, true, false, &tm, 0, "u_ex2611.log");
    name_is(WASP_LOG_W3C, WASP_LOG_WEEKLY, true, false, &tm, 0, "u_ex261104.log");
    name_is(WASP_LOG_W3C, WASP_LOG_MAXSIZE, true, false, NULL, 1, "u_extend1.log");
    name_is(WASP_LOG_W3C, WASP_LOG_MAXSIZE, true, false, NULL, 15, "u_extend15.log");
    name_is(WASP_LOG_IIS, WASP_LOG_DAILY, true, false, &tm, 0, "u_in261128.log");
    name_is(WASP_LOG_IIS, WASP_LOG_HOURLY, true, false, &tm, 0, "u_in26112801.log");
    name_is(WASP_LOG_IIS, WASP_LOG_MAXSIZE, true, false, NULL, 2, "u_inetsv2.log");
    name_is(WASP_LOG_NCSA, WASP_LOG_MONTHLY, true, false, &tm, 0, "u_nc2611.log");
    name_is(WASP_LOG_NCSA, WASP_LOG_MAXSIZE, true, false, NULL, 3, "u_ncsa3.log");
    /* customFields: _x; logInUTF8="false": no u_ */
    name_is(WASP_LOG_W3C, WASP_LOG_DAILY, true, true, &tm, 0, "u_ex261128_x.log");
    name_is(WASP_LOG_W3C, WASP_LOG_MAXSIZE, true, true, NULL, 4, "u_extend4_x.log");
    name_is(WASP_LOG_W3C, WASP_LOG_DAILY, false, false, &tm, 0, "ex261128.log");
}

static void test_week_of_month(void **state)
{
    (void)state;
    /* November 2026 begins on a Sunday: weeks 1-7, 8-14, ... */
    struct tm a = tm_of(2026, 11, 1, 0), b = tm_of(2026, 11, 7, 23), c = tm_of(2026, 11, 8, 0);
    /* December 2026 begins on a Tuesday: 1-5 is week 1, Sunday the 6th week 2. */
    struct tm d = tm_of(2026, 12, 5, 0), e = tm_of(2026, 12, 6, 0), f = tm_of(2026, 12, 31, 0);

    assert_int_equal(wasp_logfmt_week_of_month(&a), 1);
    assert_int_equal(wasp_logfmt_week_of_month(&b), 1);
    assert_int_equal(wasp_logfmt_week_of_month(&c), 2);
    assert_int_equal(wasp_logfmt_week_of_month(&d), 1);
    assert_int_equal(wasp_logfmt_week_of_month(&e), 2);
    assert_int_equal(wasp_logfmt_week_of_month(&f), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_default_and_all),
        cmocka_unit_test(test_w3c_line),
        cmocka_unit_test(test_w3c_limits),
        cmocka_unit_test(test_iis_and_ncsa),
        cmocka_unit_test(test_httperr_line),
        cmocka_unit_test(test_file_names),
        cmocka_unit_test(test_week_of_month),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
