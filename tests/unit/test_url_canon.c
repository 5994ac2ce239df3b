/*
 * Unit tests for URL canonicalisation (src/listener/url_canon.c): decoding
 * once, '\' as '/', dot-segments on the decoded path (RFC 3986 5.2.4, as
 * HTTP.sys does), restricted characters, %uNNNN, limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listener/url_canon.h"

/* sprintf returning size_t; out of line, so gcc's -Wformat-overflow does not
 * guess at a negative return inside loops. */
static size_t put(char *dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t put(char *dst, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vsprintf(dst, fmt, ap);
    va_end(ap);
    assert_true(r >= 0);
    return (size_t)r;
}

static char path[70000];
static wasp_url_t url;
static wasp_url_limits_t lim;

static int setup(void **state)
{
    (void)state;
    wasp_url_limits_default(&lim);
    return 0;
}

static wasp_httpsys_error_t canon_n(const char *t, size_t n)
{
    /* exact-size heap copy so ASan sees any over-read */
    char *copy = malloc(n ? n : 1);
    wasp_httpsys_error_t e;

    assert_non_null(copy);
    memcpy(copy, t, n);
    memset(path, 0x55, 64);
    e = wasp_url_canon(copy, n, &lim, path, sizeof(path), &url);
    if (e == WASP_HTTPSYS_NONE) {
        assert_int_equal(strlen(path), url.path_len);
        assert_true(path[0] == '/' || (url.asterisk && path[0] == '*'));
        if (url.query != NULL) {
            /* point back into the caller's copy, then rebase onto t */
            assert_true(url.query >= copy && url.query + url.query_len == copy + n);
            url.query = t + (url.query - copy);
        }
        if (url.authority != NULL) {
            assert_true(url.authority > copy && url.authority + url.authority_len <= copy + n);
            url.authority = t + (url.authority - copy);
        }
    }
    free(copy);
    return e;
}

static wasp_httpsys_error_t canon(const char *t)
{
    return canon_n(t, strlen(t));
}

#define CANON(t, expect)                                                                          \
    do {                                                                                          \
        assert_int_equal(canon(t), WASP_HTTPSYS_NONE);                                            \
        assert_string_equal(path, (expect));                                                      \
    } while (0)

#define INVALID(t) assert_int_equal(canon(t), WASP_HTTPSYS_INVALID_URL)

static bool span_eq(const char *p, size_t n, const char *lit)
{
    return p != NULL && n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static void test_defaults(void **state)
{
    (void)state;
    /* iis-hosting.md 4.1 registry defaults */
    assert_int_equal(lim.max_url_length, 16384);
    assert_int_equal(lim.segment_max_length, 260);
    assert_int_equal(lim.segment_max_count, 255);
    assert_false(lim.allow_restricted_chars);
    assert_true(lim.percent_u_allowed);
    assert_true(lim.enable_non_utf8);
    assert_true(lim.favor_utf8);
}

/* EnableNonUTF8 / FavorUTF8 (iis-hosting.md 4.1): decoded bytes that are not
 * UTF-8 are taken as Windows-1252 and re-encoded, or refused. */
static void test_non_utf8(void **state)
{
    (void)state;
    /* defaults: UTF-8 first, then the code page */
    CANON("/caf%c3%a9.html", "/caf\xc3\xa9.html");
    CANON("/caf%e9.html", "/caf\xc3\xa9.html");       /* Latin-1 e-acute */
    CANON("/%80uro", "/\xe2\x82\xacuro");             /* 0x80 is the euro sign */
    CANON("/a%e9/../b%fc", "/b\xc3\xbc");              /* after dot-segments */
    INVALID("/x%81");                                 /* undefined: a C1 control */
    CANON("/%ed%a0%80", "/\xc3\xad\xc2\xa0\xe2\x82\xac"); /* a UTF-8 surrogate is not UTF-8 */
    CANON("/%c0%af", "/\xc3\x80\xc2\xaf");           /* overlong '/', never a slash */
    /* UTF-8 only */
    lim.enable_non_utf8 = false;
    CANON("/caf%c3%a9.html", "/caf\xc3\xa9.html");
    INVALID("/caf%e9.html");
    INVALID("/%c0%af");
    /* the code page first: even valid UTF-8 is read as Windows-1252 */
    lim.enable_non_utf8 = true;
    lim.favor_utf8 = false;
    CANON("/caf%c3%a9", "/caf\xc3\x83\xc2\xa9");
    CANON("/plain", "/plain");
    /* FavorUTF8 = 0 without EnableNonUTF8: UTF-8 is all there is */
    lim.enable_non_utf8 = false;
    CANON("/caf%c3%a9", "/caf\xc3\xa9");
    /* with AllowRestrictedChars an undefined byte passes as its C1 control */
    lim.enable_non_utf8 = true;
    lim.favor_utf8 = true;
    lim.allow_restricted_chars = true;
    CANON("/x%81", "/x\xc2\x81");
    /* %uNNNN is Unicode: never re-read as code-page bytes; mixed with a
     * byte that is not UTF-8 the path is refused (found by fuzz_url_canon:
     * re-reading the UTF-8 of %u1487 as Windows-1252 outgrew the input) */
    lim.allow_restricted_chars = false;
    INVALID("/%u1487%E0");
    CANON("/%u00e9%C3%A9", "/\xc3\xa9\xc3\xa9");
    lim.favor_utf8 = false;
    CANON("/%u00e9", "/\xc3\xa9");
    /* UrlSegmentMaxLength holds for the re-encoded segment too (fuzzer) */
    lim.favor_utf8 = true;
    lim.segment_max_length = 8;
    CANON("/200000%e9", "/200000\xc3\xa9");
    INVALID("/2000000%e9");
}

static void test_plain(void **state)
{
    (void)state;
    CANON("/", "/");
    CANON("/index.html", "/index.html");
    CANON("/a/b/c/", "/a/b/c/");
    CANON("/a//b", "/a//b"); /* repeated slashes are kept */
    CANON("//", "//");
    CANON("/a-b_c~d!$&'()*+,;=:@", "/a-b_c~d!$&'()*+,;=:@");
    assert_null(url.query);
    assert_null(url.authority);
    assert_false(url.asterisk);
}

static void test_dot_segments(void **state)
{
    (void)state;
    /* RFC 3986 5.2.4 */
    CANON("/.", "/");
    CANON("/./", "/");
    CANON("/a/./b", "/a/b");
    CANON("/a/../b", "/b");
    CANON("/a/b/..", "/a/");
    CANON("/a/b/../", "/a/");
    CANON("/a/b/.", "/a/b/");
    CANON("/a/b/c/./../../g", "/a/g");
    CANON("/a/..", "/");
    CANON("/a//../b", "/a/b");
    CANON("/a/.../b", "/a/.../b");
    CANON("/a/..b/.c/b..", "/a/..b/.c/b..");
    CANON("/./././a", "/a");
    /* above the root: refused, not clamped */
    INVALID("/..");
    INVALID("/../");
    INVALID("/../a");
    INVALID("/a/../..");
    INVALID("/a/../../b");
    INVALID("/./..");
}

static void test_encoded_dots_and_slashes(void **state)
{
    (void)state;
    /* dot-segments are resolved on the decoded path */
    CANON("/a/%2e%2e/b", "/b");
    CANON("/a/%2E%2e/b", "/b");
    CANON("/a/.%2e/b", "/b");
    CANON("/a/%2e/b", "/a/b");
    INVALID("/%2e%2e/");
    INVALID("/%2e%2e");
    INVALID("/a/%2e%2e/%2e%2e/etc/passwd");
    /* '\', %5c and %2f separate segments */
    CANON("/a\\b", "/a/b");
    CANON("/a%2fb", "/a/b");
    CANON("/a%2Fb", "/a/b");
    CANON("/a%5cb", "/a/b");
    CANON("/a\\..\\b", "/b");
    CANON("/a%5c..%5cb", "/b");
    CANON("/a%2f..%2fb", "/b");
    INVALID("/..\\");
    INVALID("/%5c..%5c..%5cwindows");
    INVALID("/a%2f..%2f..%2fb");
    /* %u forms too */
    CANON("/a/%u002e%u002e/b", "/b");
    INVALID("/%u002e%u002e/");
    CANON("/a%u005cb", "/a/b");
}

static void test_percent_decoding(void **state)
{
    (void)state;
    CANON("/%41%42c", "/ABc");
    CANON("/%7e", "/~");
    CANON("/a%20b", "/a b");
    CANON("/%2541", "/%41"); /* decoded once only */
    CANON("/%c3%a9", "/\xc3\xa9");
    CANON("/%3F", "/?");
    CANON("/%23", "/#");
    INVALID("/%");
    INVALID("/%4");
    INVALID("/%4g");
    INVALID("/%zz");
    INVALID("/a%");
    INVALID("/%%41");
}

static void test_restricted(void **state)
{
    (void)state;
    INVALID("/%00");
    INVALID("/a%00.txt");
    INVALID("/%01");
    INVALID("/%0a");
    INVALID("/%0d%0aSet-Cookie:x");
    INVALID("/%1f");
    INVALID("/%7f");
    INVALID("/%c2%80");
    INVALID("/%c2%9f");
    CANON("/%c2%a0", "/\xc2\xa0");
    INVALID("/%u0001");
    INVALID("/%u0085");
    lim.allow_restricted_chars = true;
    CANON("/%01", "/\x01");
    CANON("/a%7fb", "/a\x7f" "b");
    CANON("/%c2%85", "/\xc2\x85");
    CANON("/%u0085", "/\xc2\x85");
    INVALID("/%00"); /* NUL never */
    INVALID("/%u0000");
    lim.allow_restricted_chars = false;
}

static void test_percent_u(void **state)
{
    (void)state;
    CANON("/%u0041", "/A");
    CANON("/%U0041", "/A");
    CANON("/%u00e9", "/\xc3\xa9");
    CANON("/%u20AC", "/\xe2\x82\xac");
    CANON("/%uD83D%uDE00", "/\xf0\x9f\x98\x80");
    CANON("/%u0041%41", "/AA");
    INVALID("/%uD83D");
    INVALID("/%uD83Dx");
    INVALID("/%uD83D%u0041");
    INVALID("/%uDE00");
    INVALID("/%u00");
    INVALID("/%u00zz");
    INVALID("/%u");
    lim.percent_u_allowed = false;
    INVALID("/%u0041");
    CANON("/%41", "/A");
    lim.percent_u_allowed = true;
}

static void test_raw_bytes(void **state)
{
    (void)state;
    INVALID("/a b");
    INVALID("/a\tb");
    INVALID("/\x80");
    INVALID("/caf\xc3\xa9");
    INVALID("/\x7f");
    assert_int_equal(canon_n("/a\0b", 4), WASP_HTTPSYS_INVALID_URL);
}

static void test_query_and_fragment(void **state)
{
    (void)state;
    CANON("/a?b=c", "/a");
    assert_true(span_eq(url.query, url.query_len, "b=c"));
    CANON("/a?", "/a");
    assert_non_null(url.query);
    assert_int_equal(url.query_len, 0);
    CANON("/a/../b?x/../y%zz", "/b"); /* the query stays raw */
    assert_true(span_eq(url.query, url.query_len, "x/../y%zz"));
    CANON("/a?b?c", "/a");
    assert_true(span_eq(url.query, url.query_len, "b?c"));
    CANON("/%3f?q", "/?");
    assert_true(span_eq(url.query, url.query_len, "q"));
    INVALID("/a#frag");
    INVALID("/a?b#c");
    INVALID("#");
}

static void test_forms(void **state)
{
    (void)state;
    assert_int_equal(canon("*"), WASP_HTTPSYS_NONE);
    assert_true(url.asterisk);
    assert_string_equal(path, "*");
    INVALID("*/");
    INVALID("");
    INVALID("a/b");
    INVALID("?a");
    INVALID("example.com:80");

    CANON("http://example.com/a/../b?q", "/b");
    assert_true(span_eq(url.authority, url.authority_len, "example.com"));
    assert_true(span_eq(url.query, url.query_len, "q"));
    CANON("HTTPS://Example.com:8443", "/");
    assert_true(span_eq(url.authority, url.authority_len, "Example.com:8443"));
    CANON("http://h?x", "/");
    assert_true(span_eq(url.query, url.query_len, "x"));
    CANON("http://[::1]:80/x", "/x");
    assert_true(span_eq(url.authority, url.authority_len, "[::1]:80"));
    INVALID("http:///a");
    INVALID("http://");
    INVALID("http://u@h/");
    INVALID("ftp://h/");
    INVALID("http:/h/");
    INVALID("http://h/..");
}

static void test_limits(void **state)
{
    char t[70000];

    (void)state;
    /* MaxFieldLength bounds the URL: 414 */
    lim.max_url_length = 10;
    CANON("/123456789", "/123456789");
    assert_int_equal(canon("/1234567890"), WASP_HTTPSYS_URL_TOO_LONG);
    assert_int_equal(canon("/?345678901"), WASP_HTTPSYS_URL_TOO_LONG); /* query counts */
    lim.max_url_length = 0;                                           /* unlimited */
    CANON("/1234567890", "/1234567890");
    wasp_url_limits_default(&lim);

    /* UrlSegmentMaxLength: 260 fits, 261 does not */
    t[0] = '/';
    memset(t + 1, 's', 260);
    t[261] = '\0';
    assert_int_equal(canon(t), WASP_HTTPSYS_NONE);
    strcpy(t + 261, "/x");
    assert_int_equal(canon(t), WASP_HTTPSYS_NONE);
    t[1 + 260] = 's';
    t[1 + 261] = '\0';
    INVALID(t);
    /* counted decoded: 261 "%41" is 261 bytes */
    t[0] = '/';
    for (int i = 0; i < 261; i++) {
        memcpy(t + 1 + 3 * i, "%41", 3);
    }
    t[1 + 3 * 261] = '\0';
    INVALID(t);
    t[1 + 3 * 260] = '\0';
    assert_int_equal(canon(t), WASP_HTTPSYS_NONE);
    /* a long segment is refused even when ".." would remove it */
    t[0] = '/';
    memset(t + 1, 's', 300);
    strcpy(t + 301, "/../x");
    INVALID(t);
    lim.segment_max_length = 0; /* unlimited */
    assert_int_equal(canon(t), WASP_HTTPSYS_NONE);
    assert_string_equal(path, "/x");
    wasp_url_limits_default(&lim);

    /* UrlSegmentMaxCount: 255 fits, 256 does not */
    size_t n = 0;
    for (int i = 0; i < 255; i++) {
        n += put(t + n, "/a");
    }
    assert_int_equal(canon(t), WASP_HTTPSYS_NONE);
    strcpy(t + n, "/");
    INVALID(t); /* the trailing empty segment counts */
    strcpy(t + n, "/b/..");
    INVALID(t); /* "/a.../" after resolution: 256 */
    strcpy(t + n, "/..");
    assert_int_equal(canon(t), WASP_HTTPSYS_NONE); /* resolves to 255 "/a" minus one, plus "/" */
    lim.segment_max_count = 0;
    strcpy(t + n, "/b/c/d");
    assert_int_equal(canon(t), WASP_HTTPSYS_NONE);
    wasp_url_limits_default(&lim);
}

static void test_small_buffer(void **state)
{
    char small[6];
    wasp_url_t u;

    (void)state;
    assert_int_equal(wasp_url_canon("/abcd", 5, &lim, small, sizeof(small), &u),
                     WASP_HTTPSYS_NONE);
    assert_string_equal(small, "/abcd");
    assert_int_equal(wasp_url_canon("/abcde", 6, &lim, small, sizeof(small), &u),
                     WASP_HTTPSYS_URL_TOO_LONG);
    assert_int_equal(wasp_url_canon("/abcd/", 6, &lim, small, sizeof(small), &u),
                     WASP_HTTPSYS_URL_TOO_LONG);
    assert_int_equal(wasp_url_canon("/", 1, &lim, small, 1, &u), WASP_HTTPSYS_URL_TOO_LONG);
    /* the result is never longer than the input, so len + 1 always fits */
    assert_int_equal(wasp_url_canon("/%41%42%43%44", 13, &lim, small, sizeof(small), &u),
                     WASP_HTTPSYS_NONE);
    assert_string_equal(small, "/ABCD");
    /* NULL limits = defaults */
    assert_int_equal(wasp_url_canon("/a/../b", 7, NULL, small, sizeof(small), &u),
                     WASP_HTTPSYS_NONE);
    assert_string_equal(small, "/b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_plain, setup),
        cmocka_unit_test_setup(test_dot_segments, setup),
        cmocka_unit_test_setup(test_encoded_dots_and_slashes, setup),
        cmocka_unit_test_setup(test_percent_decoding, setup),
        cmocka_unit_test_setup(test_restricted, setup),
        cmocka_unit_test_setup(test_percent_u, setup),
        cmocka_unit_test_setup(test_raw_bytes, setup),
        cmocka_unit_test_setup(test_query_and_fragment, setup),
        cmocka_unit_test_setup(test_forms, setup),
        cmocka_unit_test_setup(test_limits, setup),
        cmocka_unit_test_setup(test_small_buffer, setup),
        cmocka_unit_test_setup(test_non_utf8, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
