/*
 * HTTP-date (RFC 9110 5.6.7): IMF-fixdate formatting, parsing of the three
 * accepted forms, rejection of invalid dates, the RFC 850 two-digit-year rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "modules/http_date.h"

static time_t test_http_date_parse_ok(const char *s)
{
    time_t t = -12345;
    if (wasp_http_date_parse(s, strlen(s), &t) != 0)
        fail_msg("\"%s\" did not parse", s);
    return t;
}

static void test_http_date_parse_bad(const char *s)
{
    time_t t;
    if (wasp_http_date_parse(s, strlen(s), &t) == 0)
        fail_msg("\"%s\" parsed as %lld", s, (long long)t);
}

static void test_http_date_format(void **state)
{
    char buf[WASP_HTTP_DATE_SIZE];
    assert_string_equal(wasp_http_date_format(0, buf), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_string_equal(wasp_http_date_format(784111777, buf), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_int_equal(strlen(buf), WASP_HTTP_DATE_LEN);
    assert_string_equal(wasp_http_date_format(951782400, buf), "Tue, 29 Feb 2000 00:00:00 GMT");
    assert_string_equal(wasp_http_date_format(4107542400, buf), "Mon, 01 Mar 2100 00:00:00 GMT");
    assert_string_equal(wasp_http_date_format(-1, buf), "Wed, 31 Dec 1969 23:59:59 GMT");
    assert_string_equal(wasp_http_date_format(-86400 * 365, buf), "Wed, 01 Jan 1969 00:00:00 GMT");
    assert_string_equal(wasp_http_date_format(1700000000, buf), "Tue, 14 Nov 2023 22:13:20 GMT");
    /* Four year digits: clamped at both ends. */
    assert_string_equal(wasp_http_date_format((time_t)300000000000LL, buf),
                        "Fri, 31 Dec 9999 23:59:59 GMT");
    assert_string_equal(wasp_http_date_format((time_t)-70000000000LL, buf),
                        "Sat, 01 Jan 0000 00:00:00 GMT");
}

static void test_http_date_parse_forms(void **state)
{
    /* RFC 9110 5.6.7's three examples of the same instant. */
    assert_int_equal(test_http_date_parse_ok("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    assert_int_equal(test_http_date_parse_ok("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    assert_int_equal(test_http_date_parse_ok("Sun Nov  6 08:49:37 1994"), 784111777);
    assert_int_equal(test_http_date_parse_ok("Sun Nov 16 08:49:37 1994"), 784111777 + 10 * 86400);
    /* Lenient: case of names, surrounding whitespace, leap second. */
    assert_int_equal(test_http_date_parse_ok("sun, 06 nov 1994 08:49:37 GMT"), 784111777);
    assert_int_equal(test_http_date_parse_ok(" \tSun, 06 Nov 1994 08:49:37 GMT \t"), 784111777);
    assert_int_equal(test_http_date_parse_ok("Sun, 06 Nov 1994 08:49:60 GMT"), 784111800);
    assert_int_equal(test_http_date_parse_ok("Tue, 29 Feb 2000 00:00:00 GMT"), 951782400);
    assert_int_equal(test_http_date_parse_ok("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    /* The length argument bounds the parse. */
    const char *s = "Sun, 06 Nov 1994 08:49:37 GMTxyz";
    time_t t;
    assert_int_equal(wasp_http_date_parse(s, 29, &t), 0);
    assert_int_equal(t, 784111777);
    assert_int_equal(wasp_http_date_parse(s, strlen(s), &t), -1);
    assert_int_equal(wasp_http_date_parse(NULL, 0, &t), -1);
}

static void test_http_date_parse_invalid(void **state)
{
    test_http_date_parse_bad("");
    test_http_date_parse_bad("garbage");
    test_http_date_parse_bad("Sun, 06 Nov 1994 08:49:37");          /* no GMT */
    test_http_date_parse_bad("Sun, 06 Nov 1994 08:49:37 UTC");      /* not GMT */
    test_http_date_parse_bad("Sun, 6 Nov 1994 08:49:37 GMT");       /* one-digit day */
    test_http_date_parse_bad("Sun, 06 Nov 94 08:49:37 GMT");        /* two-digit year */
    test_http_date_parse_bad("Sun, 30 Feb 1994 08:49:37 GMT");      /* no such day */
    test_http_date_parse_bad("Sun, 29 Feb 1900 08:49:37 GMT");      /* 1900 not leap */
    test_http_date_parse_bad("Sun, 00 Nov 1994 08:49:37 GMT");
    test_http_date_parse_bad("Sun, 06 Nov 1994 24:00:00 GMT");
    test_http_date_parse_bad("Sun, 06 Nov 1994 08:60:00 GMT");
    test_http_date_parse_bad("Sun, 06 Nov 1994 08:49:61 GMT");
    test_http_date_parse_bad("Sun, 06 Foo 1994 08:49:37 GMT");
    test_http_date_parse_bad("Xyz, 06 Nov 1994 08:49:37 GMT");
    test_http_date_parse_bad("Sun,  06 Nov 1994 08:49:37 GMT");
    test_http_date_parse_bad("Sun, 06 Nov 1994 8:49:37 GMT");
    test_http_date_parse_bad("Sun, 06 Nov 1994 08:49:37 GMT extra");
    test_http_date_parse_bad("Sunday, 06-Nov-1994 08:49:37 GMT");   /* 4-digit RFC 850 */
    test_http_date_parse_bad("Sun, 06-Nov-94 08:49:37 GMT");        /* short name, RFC 850 */
    test_http_date_parse_bad("Sun Nov 6 08:49:37 1994");            /* asctime needs 2 cols */
    test_http_date_parse_bad("Sun Nov  6 08:49:37 94");
    test_http_date_parse_bad("1994-11-06T08:49:37Z");
    test_http_date_parse_bad("-1");
}

static void test_http_date_rfc850_century(void **state)
{
    /* RFC 9110 5.6.7: a year more than 50 years in the future is in the
     * previous century. */
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int year = tm.tm_year + 1900;
    for (int yy = 0; yy < 100; yy++) {
        int expect = year - year % 100 + yy;
        if (expect > year + 50)
            expect -= 100;
        char in[64], out[WASP_HTTP_DATE_SIZE], want[16];
        snprintf(in, sizeof(in), "Monday, 01-Jan-%02d 00:00:00 GMT", yy);
        time_t t = test_http_date_parse_ok(in);
        wasp_http_date_format(t, out);
        snprintf(want, sizeof(want), "Jan %04d", expect);
        if (strstr(out, want) == NULL)
            fail_msg("%s → %s, expected year %d", in, out, expect);
    }
}

/* format → parse is the identity, and agrees with the C library. */
static void test_http_date_roundtrip(void **state)
{
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        time_t t = (time_t)(int64_t)(x % 253402300800ull) - (i % 2 ? 62167219200LL : 0);
        char buf[WASP_HTTP_DATE_SIZE];
        wasp_http_date_format(t, buf);
        time_t back = test_http_date_parse_ok(buf);
        assert_int_equal(back, t);
        struct tm tm;
        if (t >= 0 && gmtime_r(&t, &tm) != NULL) {
            char ref[64];
            strftime(ref, sizeof(ref), "%a, %d %b %Y %H:%M:%S GMT", &tm); /* C locale */
            assert_string_equal(buf, ref);
        }
    }
}

static void test_http_date_days(void **state)
{
    assert_int_equal(wasp_http_date_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(wasp_http_date_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(wasp_http_date_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(wasp_http_date_days_from_civil(1601, 1, 1), -134774);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_date_format),
        cmocka_unit_test(test_http_date_parse_forms),
        cmocka_unit_test(test_http_date_parse_invalid),
        cmocka_unit_test(test_http_date_rfc850_century),
        cmocka_unit_test(test_http_date_roundtrip),
        cmocka_unit_test(test_http_date_days),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
