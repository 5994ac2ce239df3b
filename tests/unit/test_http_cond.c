/*
 * Validators, preconditions and byte ranges used by StaticFileModule: the IIS
 * ETag format, entity-tag list matching (RFC 9110 8.8.3, 13.1.1/13.1.2),
 * If-Range (13.1.5) and Range parsing with the module's limits (14.1/14.2).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "modules/http_cond.h"

static void test_http_cond_etag_iis(void **state)
{
    char buf[WASP_HTTP_COND_ETAG_SIZE];
    /* 2023-11-14 22:13:20.1234567 UTC */
    struct timespec ts = {1700000000, 123456789};
    size_t n = wasp_http_cond_etag_iis(&ts, buf);
    /* (1700000000 + 11644473600) * 10^7 + 1234567 = 133444736001234567 */
    assert_string_equal(buf, "\"1da1747c67fd687:0\"");
    assert_int_equal(n, strlen(buf));
    /* The Unix epoch as a FILETIME (0x19db1ded53e8000). */
    ts = (struct timespec){0, 0};
    wasp_http_cond_etag_iis(&ts, buf);
    assert_string_equal(buf, "\"19db1ded53e8000:0\"");
    /* Before 1601: clamped to the FILETIME epoch. */
    ts = (struct timespec){-20000000000LL, 0};
    wasp_http_cond_etag_iis(&ts, buf);
    assert_string_equal(buf, "\"0:0\"");
}

#define M(field, etag, weak) wasp_http_cond_etag_match(field, strlen(field), etag, weak)

static void test_http_cond_etag_match(void **state)
{
    const char *tag = "\"abc:0\"";
    assert_true(M("\"abc:0\"", tag, false));
    assert_true(M("\"abc:0\"", tag, true));
    assert_true(M("*", tag, false));
    assert_true(M("  *  ", tag, true));
    assert_true(M("*", NULL, false)); /* the representation exists, no ETag */
    assert_false(M("\"abc:0\"", NULL, true));
    assert_false(M("\"abc\"", tag, true));
    assert_false(M("\"ABC:0\"", tag, true)); /* opaque tags are case-sensitive */
    /* Lists, OWS and empty elements. */
    assert_true(M("\"x\", \"abc:0\"", tag, false));
    assert_true(M("\"x\",\"y\" ,\t\"abc:0\"", tag, false));
    assert_true(M(" , \"x\",,\"abc:0\",", tag, true));
    assert_false(M("\"x\", \"y\"", tag, true));
    /* Weak tags: weak comparison only (RFC 9110 8.8.3.2). */
    assert_true(M("W/\"abc:0\"", tag, true));
    assert_false(M("W/\"abc:0\"", tag, false));
    assert_true(M("\"abc:0\"", "W/\"abc:0\"", true));
    assert_false(M("\"abc:0\"", "W/\"abc:0\"", false));
    /* Malformed: nothing from the bad element on matches. */
    assert_false(M("abc:0", tag, true));
    assert_false(M("\"abc:0", tag, true));
    assert_false(M("\"x\" junk, \"abc:0\"", tag, true));
    assert_true(M("\"abc:0\", junk", tag, true)); /* matched before the junk */
    assert_false(M("", tag, true));
    assert_false(wasp_http_cond_etag_match(NULL, 0, tag, true));
    /* "*" inside a list is not the wildcard. */
    assert_false(M("\"x\", *", tag, true));
}

#define IR(field, etag, mtime) wasp_http_cond_if_range(field, strlen(field), etag, mtime)

static void test_http_cond_if_range(void **state)
{
    const char *tag = "\"abc:0\"";
    assert_true(IR("\"abc:0\"", tag, 0));
    assert_true(IR(" \"abc:0\" ", tag, 0));
    assert_false(IR("\"abd:0\"", tag, 0));
    assert_false(IR("W/\"abc:0\"", tag, 0)); /* weak never matches */
    assert_false(IR("\"abc:0\"", NULL, 0));
    assert_false(IR("\"abc:0\"", "W/\"abc:0\"", 0));
    assert_true(IR("Sun, 06 Nov 1994 08:49:37 GMT", tag, 784111777));
    assert_false(IR("Sun, 06 Nov 1994 08:49:37 GMT", tag, 784111778)); /* exact only */
    assert_false(IR("Sun, 06 Nov 1994 08:49:38 GMT", tag, 784111777));
    assert_false(IR("yesterday", tag, 784111777));
    assert_false(IR("", tag, 0));
}

typedef struct test_http_cond_case {
    const char *field;
    uint64_t size;
    wasp_http_cond_range_result_t result;
    size_t count;
    uint64_t r[4][2];
} test_http_cond_case_t;

static void test_http_cond_range(void **state)
{
    static const test_http_cond_case_t cases[] = {
        /* single ranges (RFC 9110 14.1.2 examples on a 10000-byte file) */
        {"bytes=0-499", 10000, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{0, 499}}},
        {"bytes=500-999", 10000, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{500, 999}}},
        {"bytes=-500", 10000, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{9500, 9999}}},
        {"bytes=9500-", 10000, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{9500, 9999}}},
        {"bytes=0-0", 10000, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{0, 0}}},
        {"bytes=-1", 10000, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{9999, 9999}}},
        {"bytes=0-", 10, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{0, 9}}},
        {"BYTES=2-3", 10, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{2, 3}}},
        {"  bytes=2-3  ", 10, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{2, 3}}},
        /* clipping */
        {"bytes=5-100", 10, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{5, 9}}},
        {"bytes=-100", 10, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{0, 9}}},
        {"bytes=5-99999999999999999999999", 10, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{5, 9}}},
        /* several, in order and apart: kept as sent */
        {"bytes=0-1,5-6", 10, WASP_HTTP_COND_RANGE_PARTIAL, 2, {{0, 1}, {5, 6}}},
        {"bytes=0-1, 4-4 ,\t8-", 10, WASP_HTTP_COND_RANGE_PARTIAL, 3, {{0, 1}, {4, 4}, {8, 9}}},
        {"bytes=0-1,,5-6,", 10, WASP_HTTP_COND_RANGE_PARTIAL, 2, {{0, 1}, {5, 6}}},
        /* out of order or touching: sorted and merged */
        {"bytes=5-6,0-1", 10, WASP_HTTP_COND_RANGE_PARTIAL, 2, {{0, 1}, {5, 6}}},
        {"bytes=0-1,2-3", 10, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{0, 3}}},
        {"bytes=4-5,0-2,2-3", 10, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{0, 5}}},
        {"bytes=-2,0-1", 10, WASP_HTTP_COND_RANGE_PARTIAL, 2, {{0, 1}, {8, 9}}},
        /* unsatisfiable ones are dropped, the rest served */
        {"bytes=20-30,0-1", 10, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{0, 1}}},
        {"bytes=-0,0-1", 10, WASP_HTTP_COND_RANGE_PARTIAL, 1, {{0, 1}}},
        /* 416 */
        {"bytes=10-", 10, WASP_HTTP_COND_RANGE_UNSATISFIABLE, 0, {{0}}},
        {"bytes=10-20,30-", 10, WASP_HTTP_COND_RANGE_UNSATISFIABLE, 0, {{0}}},
        {"bytes=-0", 10, WASP_HTTP_COND_RANGE_UNSATISFIABLE, 0, {{0}}},
        {"bytes=99999999999999999999999-", 10, WASP_HTTP_COND_RANGE_UNSATISFIABLE, 0, {{0}}},
        /* ignored: 200 with the whole file */
        {"", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
        {"bytes=", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
        {"bytes=,", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
        {"items=0-1", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
        {"bytes 0-1", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
        {"bytes=a-b", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
        {"bytes=1", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
        {"bytes=-", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
        {"bytes=3-2", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}}, /* last < first */
        {"bytes=0-1;x", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
        {"bytes=0 -1", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
        {"bytes=0-1 2-3", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
        {"bytes=0-1,x", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
        {"bytes=0-", 0, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},   /* empty file */
        {"bytes=-5", 0, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
        /* overlap abuse: the ranges add up to more than the file */
        {"bytes=0-,0-", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
        {"bytes=0-5,2-8", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
        {"bytes=-9,0-1", 10, WASP_HTTP_COND_RANGE_IGNORE, 0, {{0}}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const test_http_cond_case_t *c = &cases[i];
        wasp_http_cond_range_t r[WASP_HTTP_COND_RANGE_MAX];
        size_t n = 99;
        wasp_http_cond_range_result_t res =
            wasp_http_cond_range_parse(c->field, strlen(c->field), c->size, r, &n);
        if (res != c->result)
            fail_msg("\"%s\" size %llu: result %d, expected %d", c->field,
                     (unsigned long long)c->size, (int)res, (int)c->result);
        if (res != WASP_HTTP_COND_RANGE_PARTIAL) {
            assert_int_equal(n, 0);
            continue;
        }
        if (n != c->count)
            fail_msg("\"%s\": %zu ranges, expected %zu", c->field, n, c->count);
        for (size_t k = 0; k < n; k++) {
            if (r[k].first != c->r[k][0] || r[k].last != c->r[k][1])
                fail_msg("\"%s\" range %zu: %llu-%llu, expected %llu-%llu", c->field, k,
                         (unsigned long long)r[k].first, (unsigned long long)r[k].last,
                         (unsigned long long)c->r[k][0], (unsigned long long)c->r[k][1]);
        }
    }
}

static void test_http_cond_range_limit(void **state)
{
    char field[512] = "bytes=";
    wasp_http_cond_range_t r[WASP_HTTP_COND_RANGE_MAX];
    size_t n;
    /* Exactly the maximum: served. */
    for (int i = 0; i < WASP_HTTP_COND_RANGE_MAX; i++)
        snprintf(field + strlen(field), sizeof(field) - strlen(field), "%s%d-%d", i ? "," : "",
                 i * 10, i * 10 + 1);
    assert_int_equal(wasp_http_cond_range_parse(field, strlen(field), 1000, r, &n),
                     WASP_HTTP_COND_RANGE_PARTIAL);
    assert_int_equal(n, WASP_HTTP_COND_RANGE_MAX);
    /* One more: ignored (the whole file is sent instead). */
    strcat(field, ",900-901");
    assert_int_equal(wasp_http_cond_range_parse(field, strlen(field), 1000, r, &n),
                     WASP_HTTP_COND_RANGE_IGNORE);
    assert_int_equal(wasp_http_cond_range_parse(NULL, 0, 1000, r, &n),
                     WASP_HTTP_COND_RANGE_IGNORE);
    /* Huge files: no overflow in the sums. */
    const char *big = "bytes=0-,-1";
    assert_int_equal(wasp_http_cond_range_parse(big, strlen(big), INT64_MAX, r, &n),
                     WASP_HTTP_COND_RANGE_IGNORE);
    const char *tail = "bytes=-1";
    assert_int_equal(wasp_http_cond_range_parse(tail, strlen(tail), INT64_MAX, r, &n),
                     WASP_HTTP_COND_RANGE_PARTIAL);
    assert_true(r[0].first == (uint64_t)INT64_MAX - 1 && r[0].last == (uint64_t)INT64_MAX - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_cond_etag_iis),
        cmocka_unit_test(test_http_cond_etag_match),
        cmocka_unit_test(test_http_cond_if_range),
        cmocka_unit_test(test_http_cond_range),
        cmocka_unit_test(test_http_cond_range_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
