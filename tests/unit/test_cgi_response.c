/*
 * The CGI response header parser (src/modules/cgi_response.c): realistic
 * script outputs give the same result whatever way they are split (every
 * split position, and byte by byte), document / local redirect / client
 * redirect responses, repeated headers in order, LF and CRLF, and the
 * refusals: malformed lines, obs-fold, bad names and values, bad Status,
 * duplicates, an early end, and the size and count limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/cgi_response.h"

/* What one parse produced, comparable across splits. */
typedef struct outcome {
    cgi_head_result_t rc;
    size_t body_at;      /* offset of the body in the input (DONE) */
    int status;
    char reason[128];
    char location[256];
    bool local;
    size_t count;
    char headers[1024];  /* "name=value\n" ... */
} outcome_t;

static void outcome_of(cgi_head_t *h, cgi_head_result_t rc, size_t body_at, outcome_t *o)
{
    memset(o, 0, sizeof(*o));
    o->rc = rc;
    if (rc != CGI_HEAD_DONE) {
        return; /* where an error is noticed may depend on the split */
    }
    o->body_at = body_at;
    o->status = h->status;
    snprintf(o->reason, sizeof(o->reason), "%s", h->reason);
    snprintf(o->location, sizeof(o->location), "%s", h->location ? h->location : "");
    o->local = h->local_redirect;
    o->count = h->header_count;
    for (size_t i = 0; i < h->header_count; i++) {
        size_t n = strlen(o->headers);
        snprintf(o->headers + n, sizeof(o->headers) - n, "%s=%s\n", h->headers[i].name,
                 h->headers[i].value);
    }
}

/* Feed in[0..n) in pieces at the given cut points (ascending), then
 * finish when everything was taken without a result. */
static void parse_cuts(const char *in, size_t n, const size_t *cuts, size_t ncuts, outcome_t *o)
{
    cgi_head_t h;
    size_t pos = 0;
    cgi_head_result_t rc = CGI_HEAD_MORE;

    cgi_head_init(&h);
    for (size_t i = 0; i <= ncuts && rc == CGI_HEAD_MORE; i++) {
        size_t end = i < ncuts ? cuts[i] : n, used = 12345;

        rc = cgi_head_parse(&h, in + pos, end - pos, &used);
        assert_true(used <= end - pos);
        if (rc == CGI_HEAD_MORE) {
            assert_int_equal(used, end - pos);
        }
        pos += used;
    }
    if (rc == CGI_HEAD_MORE) {
        rc = cgi_head_finish(&h);
        assert_int_equal(rc, CGI_HEAD_ERROR);
    }
    if (rc == CGI_HEAD_ERROR) {
        assert_non_null(h.error);
    }
    outcome_of(&h, rc, pos, o);
    cgi_head_free(&h);
}

static void parse_whole(const char *in, size_t n, outcome_t *o)
{
    parse_cuts(in, n, NULL, 0, o);
}

static void assert_same(const outcome_t *a, const outcome_t *b, size_t where)
{
    if (memcmp(a, b, sizeof(*a)) != 0) {
        fail_msg("split at %zu: rc %d/%d body_at %zu/%zu status %d/%d headers \"%s\"/\"%s\"",
                 where, a->rc, b->rc, a->body_at, b->body_at, a->status, b->status, a->headers,
                 b->headers);
    }
}

/* Whole, every single split, byte by byte: all equal. */
static void check_splits(const char *in, size_t n, outcome_t *whole)
{
    outcome_t o;
    size_t *cuts = malloc((n + 1) * sizeof(size_t));

    assert_non_null(cuts);
    parse_whole(in, n, whole);
    for (size_t k = 0; k <= n; k++) {
        parse_cuts(in, n, &k, 1, &o);
        assert_same(whole, &o, k);
    }
    for (size_t k = 0; k < n; k++) {
        cuts[k] = k + 1;
    }
    parse_cuts(in, n, cuts, n ? n - 1 : 0, &o);
    assert_same(whole, &o, (size_t)-1);
    free(cuts);
}

static void check_str(const char *in, outcome_t *whole)
{
    check_splits(in, strlen(in), whole);
}

static void test_document_crlf(void **state)
{
    static const char in[] = "Content-Type: text/html; charset=utf-8\r\n"
                             "X-Powered-By: perl\r\n"
                             "\r\n"
                             "<html><body>hi</body></html>\r\n";
    outcome_t o;

    check_str(in, &o);
    assert_int_equal(o.rc, CGI_HEAD_DONE);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.reason, "");
    assert_false(o.local);
    assert_string_equal(o.location, "");
    assert_string_equal(o.headers, "Content-Type=text/html; charset=utf-8\nX-Powered-By=perl\n");
    assert_string_equal(in + o.body_at, "<html><body>hi</body></html>\r\n");
}

static void test_document_lf(void **state)
{
    static const char in[] = "Content-type: text/plain\n\nline 1\nline 2\n\n";
    outcome_t o;

    check_str(in, &o);
    assert_int_equal(o.rc, CGI_HEAD_DONE);
    assert_string_equal(o.headers, "Content-type=text/plain\n");
    assert_string_equal(in + o.body_at, "line 1\nline 2\n\n");
}

static void test_mixed_line_ends_and_trimming(void **state)
{
    static const char in[] = "A:   spaced  \t\r\nB:\n"
                             "C:x\r\n\nbody";
    outcome_t o;

    check_str(in, &o);
    assert_int_equal(o.rc, CGI_HEAD_DONE);
    assert_string_equal(o.headers, "A=spaced\nB=\nC=x\n");
    assert_string_equal(in + o.body_at, "body");
}

static void test_status(void **state)
{
    outcome_t o;

    check_str("Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope", &o);
    assert_int_equal(o.rc, CGI_HEAD_DONE);
    assert_int_equal(o.status, 404);
    assert_string_equal(o.reason, "Not Found");
    assert_string_equal(o.headers, "Content-Type=text/plain\n");

    check_str("status:201\nX: y\n\n", &o);
    assert_int_equal(o.status, 201);
    assert_string_equal(o.reason, "");

    check_str("Status: 599 Odd  Reason \n\n", &o);
    assert_int_equal(o.rc, CGI_HEAD_DONE);
    assert_int_equal(o.status, 599);
    assert_string_equal(o.reason, "Odd  Reason");

    /* A long phrase is cut, not refused. */
    char in[400];
    snprintf(in, sizeof(in), "Status: 200 %0300d\n\n", 7);
    parse_whole(in, strlen(in), &o);
    assert_int_equal(o.rc, CGI_HEAD_DONE);
    assert_int_equal(strlen(o.reason), 127);
}

static void test_local_redirect(void **state)
{
    outcome_t o;

    check_str("Location: /other/page.html?x=1\r\n\r\n", &o);
    assert_int_equal(o.rc, CGI_HEAD_DONE);
    assert_true(o.local);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.location, "/other/page.html?x=1");
    assert_int_equal(o.count, 0);
}

static void test_client_redirect(void **state)
{
    outcome_t o;

    check_str("Location: http://example.com/a?b=c\n\n", &o);
    assert_int_equal(o.rc, CGI_HEAD_DONE);
    assert_false(o.local);
    assert_int_equal(o.status, 302);
    assert_string_equal(o.location, "http://example.com/a?b=c");

    /* A network-path reference names another host. */
    check_str("Location: //evil.example/x\n\n", &o);
    assert_false(o.local);
    assert_int_equal(o.status, 302);

    /* Status wins; a local path with a Status is not a local redirect. */
    check_str("Status: 301 Moved Permanently\nLocation: /new\nContent-Type: text/html\n\nmoved", &o);
    assert_int_equal(o.status, 301);
    assert_false(o.local);
    assert_string_equal(o.location, "/new");
    assert_string_equal(o.headers, "Content-Type=text/html\n");

    check_str("Location: https://x.example/\nStatus: 303 See Other\n\n", &o);
    assert_int_equal(o.status, 303);
    assert_string_equal(o.reason, "See Other");
}

static void test_repeated_headers_in_order(void **state)
{
    outcome_t o;

    check_str("Set-Cookie: a=1; Path=/\r\nContent-Type: text/plain\r\n"
              "Set-Cookie: b=2\r\nset-cookie: c=3\r\n\r\n", &o);
    assert_int_equal(o.rc, CGI_HEAD_DONE);
    assert_string_equal(o.headers, "Set-Cookie=a=1; Path=/\nContent-Type=text/plain\n"
                                   "Set-Cookie=b=2\nset-cookie=c=3\n");
}

static void test_token_names(void **state)
{
    outcome_t o;

    check_str("X-A!#$%&'*+-.^_`|~9: v\n\n", &o);
    assert_int_equal(o.rc, CGI_HEAD_DONE);
    assert_string_equal(o.headers, "X-A!#$%&'*+-.^_`|~9=v\n");
    /* obs-text in a value is passed on. */
    check_str("X: caf\xc3\xa9\tok\n\n", &o);
    assert_int_equal(o.rc, CGI_HEAD_DONE);
    assert_string_equal(o.headers, "X=caf\xc3\xa9\tok\n");
}

static void expect_error(const char *in, size_t n)
{
    outcome_t o;

    check_splits(in, n, &o);
    if (o.rc != CGI_HEAD_ERROR) {
        fail_msg("accepted: \"%.*s\"", (int)n, in);
    }
}

#define EXPECT_ERROR(lit) expect_error(lit, sizeof(lit) - 1)

static void test_malformed_lines(void **state)
{
    EXPECT_ERROR("this is not a header\n\nbody");
    EXPECT_ERROR("<html>\n");
    EXPECT_ERROR("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
    EXPECT_ERROR(": no name\n\n");
    EXPECT_ERROR("Bad Name: x\n\n");
    EXPECT_ERROR("Name : x\n\n");
    EXPECT_ERROR("Na(me: x\n\n");
    EXPECT_ERROR("N\xc3\xa4me: x\n\n");
    EXPECT_ERROR(" Leading: space\n\n");
    EXPECT_ERROR("\tLeading: tab\n\n");
    EXPECT_ERROR("A: b\n continued\n\n");       /* obs-fold */
    EXPECT_ERROR("A: b\n\tcontinued\n\n");
    EXPECT_ERROR("A: b\rc\n\n");                 /* bare CR */
    EXPECT_ERROR("A: b\r\r\n\r\n");
    EXPECT_ERROR("A: b\0c\n\n");                 /* NUL */
    EXPECT_ERROR("A: b\x01\n\n");
    EXPECT_ERROR("A: b\x7f\n\n");
    EXPECT_ERROR("\r\n");                        /* no header at all */
    EXPECT_ERROR("\nbody");
}

static void test_bad_status(void **state)
{
    EXPECT_ERROR("Status: abc\n\n");
    EXPECT_ERROR("Status: 20\n\n");
    EXPECT_ERROR("Status:\n\n");
    EXPECT_ERROR("Status: 2000\n\n");
    EXPECT_ERROR("Status: 200OK\n\n");
    EXPECT_ERROR("Status: 100 Continue\n\n");
    EXPECT_ERROR("Status: 199 x\n\n");
    EXPECT_ERROR("Status: 600 x\n\n");
    EXPECT_ERROR("Status: -20 x\n\n");
    EXPECT_ERROR("Status: 200 OK\nStatus: 404 x\n\n");
    EXPECT_ERROR("Location: /a\nLocation: /b\n\n");
    EXPECT_ERROR("Location:   \n\n");
}

static void test_early_end(void **state)
{
    cgi_head_t h;
    size_t used;

    cgi_head_init(&h);
    assert_int_equal(cgi_head_finish(&h), CGI_HEAD_ERROR);
    assert_non_null(h.error);
    cgi_head_free(&h);

    cgi_head_init(&h);
    assert_int_equal(cgi_head_parse(&h, "Content-Type: text/plain\n", 25, &used), CGI_HEAD_MORE);
    assert_int_equal(used, 25);
    assert_int_equal(cgi_head_finish(&h), CGI_HEAD_ERROR);
    cgi_head_free(&h);

    cgi_head_init(&h);
    assert_int_equal(cgi_head_parse(&h, "Content-Type: text/pl", 21, &used), CGI_HEAD_MORE);
    assert_int_equal(cgi_head_finish(&h), CGI_HEAD_ERROR);
    cgi_head_free(&h);
}

static void test_sticky_results(void **state)
{
    cgi_head_t h;
    size_t used;

    /* After DONE: nothing more is taken, DONE again, finish says DONE. */
    cgi_head_init(&h);
    assert_int_equal(cgi_head_parse(&h, "A: 1\n\nbody", 10, &used), CGI_HEAD_DONE);
    assert_int_equal(used, 6);
    assert_int_equal(cgi_head_parse(&h, "B: 2\n\n", 6, &used), CGI_HEAD_DONE);
    assert_int_equal(used, 0);
    assert_int_equal(h.header_count, 1);
    assert_int_equal(cgi_head_finish(&h), CGI_HEAD_DONE);
    cgi_head_free(&h);
    assert_int_equal(h.header_count, 0);
    assert_null(h.buf);

    /* After ERROR: ERROR, whatever comes. */
    cgi_head_init(&h);
    assert_int_equal(cgi_head_parse(&h, "bad\n", 4, &used), CGI_HEAD_ERROR);
    assert_int_equal(cgi_head_parse(&h, "A: 1\n\n", 6, &used), CGI_HEAD_ERROR);
    assert_int_equal(used, 0);
    assert_int_equal(cgi_head_finish(&h), CGI_HEAD_ERROR);
    cgi_head_free(&h);

    /* Empty input changes nothing. */
    cgi_head_init(&h);
    assert_int_equal(cgi_head_parse(&h, "", 0, &used), CGI_HEAD_MORE);
    assert_int_equal(used, 0);
    cgi_head_free(&h);
}

static void test_header_count_limit(void **state)
{
    char *in = malloc(CGI_RESPONSE_MAX_HEADERS * 16 + 64);
    size_t n = 0;
    outcome_t o;

    assert_non_null(in);
    /* Status and Location are not stored with the others: not counted. */
    n += (size_t)sprintf(in + n, "Status: 200 OK\nLocation: http://x/\n");
    for (int i = 0; i < CGI_RESPONSE_MAX_HEADERS; i++) {
        n += (size_t)sprintf(in + n, "H%d: %d\n", i, i);
    }
    memcpy(in + n, "\n", 2);
    parse_whole(in, n + 1, &o);
    assert_int_equal(o.rc, CGI_HEAD_DONE);
    assert_int_equal(o.count, CGI_RESPONSE_MAX_HEADERS);

    n += (size_t)sprintf(in + n, "One: more\n\n");
    parse_whole(in, n, &o);
    assert_int_equal(o.rc, CGI_HEAD_ERROR);
    free(in);
}

static void test_head_size_limit(void **state)
{
    size_t max = CGI_RESPONSE_MAX_HEAD;
    char *in = malloc(max + 16);
    outcome_t o;

    assert_non_null(in);
    /* One header filling the head exactly: "X: vvv...v\n\n" == max bytes. */
    memcpy(in, "X: ", 3);
    memset(in + 3, 'v', max - 5);
    memcpy(in + max - 2, "\n\nbody", 6);
    parse_whole(in, max + 4, &o);
    assert_int_equal(o.rc, CGI_HEAD_DONE);
    assert_int_equal(o.body_at, max);

    /* One byte more is refused, whole or in pieces. */
    memcpy(in, "X: ", 3);
    memset(in + 3, 'v', max - 4);
    memcpy(in + max - 1, "\n\nbody", 6);
    parse_whole(in, max + 5, &o);
    assert_int_equal(o.rc, CGI_HEAD_ERROR);
    size_t cuts[3] = {1, max / 2, max - 1};
    parse_cuts(in, max + 5, cuts, 3, &o);
    assert_int_equal(o.rc, CGI_HEAD_ERROR);

    /* A line that never ends is refused as soon as it is too long. */
    cgi_head_t h;
    size_t used;
    cgi_head_init(&h);
    memset(in, 'a', max + 1);
    assert_int_equal(cgi_head_parse(&h, in, max, &used), CGI_HEAD_MORE);
    assert_int_equal(cgi_head_parse(&h, in, 1, &used), CGI_HEAD_ERROR);
    cgi_head_free(&h);
    free(in);
}

/* A realistic big head, every split: many headers, long cookies. */
static void test_realistic_long_head(void **state)
{
    char in[4096];
    size_t n = 0;
    outcome_t o;

    n += (size_t)snprintf(in + n, sizeof(in) - n, "Status: 200 OK\r\n");
    for (int i = 0; i < 20; i++) {
        n += (size_t)snprintf(in + n, sizeof(in) - n,
                              "Set-Cookie: session%d=%040d; Path=/; HttpOnly\r\n", i, i);
    }
    n += (size_t)snprintf(in + n, sizeof(in) - n,
                          "Content-Type: application/json\r\nCache-Control: no-store\r\n\r\n"
                          "{\"ok\":true}");
    check_splits(in, n, &o);
    assert_int_equal(o.rc, CGI_HEAD_DONE);
    assert_int_equal(o.count, 22);
    assert_string_equal(in + o.body_at, "{\"ok\":true}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document_crlf),
        cmocka_unit_test(test_document_lf),
        cmocka_unit_test(test_mixed_line_ends_and_trimming),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_local_redirect),
        cmocka_unit_test(test_client_redirect),
        cmocka_unit_test(test_repeated_headers_in_order),
        cmocka_unit_test(test_token_names),
        cmocka_unit_test(test_malformed_lines),
        cmocka_unit_test(test_bad_status),
        cmocka_unit_test(test_early_end),
        cmocka_unit_test(test_sticky_results),
        cmocka_unit_test(test_header_count_limit),
        cmocka_unit_test(test_head_size_limit),
        cmocka_unit_test(test_realistic_long_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
