/*
 * Unit tests for the HTTP/1.x request-head parser (src/listener/h1_parse.c)
 * and the HTTP.sys error pages (src/listener/httpsys_error.c).
 *
 * Every refusal the parser documents has a test here, plus the message-body
 * length rules of RFC 9112 6 and the smuggling / splitting shapes of
 * RFC 9112 11.  Valid requests are also fed byte by byte: every proper
 * prefix must be INCOMPLETE, never a refusal.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listener/h1_parse.h"
#include "listener/httpsys_error.h"

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

static wasp_h1_request_t req;
static wasp_httpsys_error_t perr;

static wasp_h1_result_t parse_n(const char *s, size_t n, const wasp_h1_limits_t *lim)
{
    perr = WASP_HTTPSYS_NONE;
    return wasp_h1_parse_request(s, n, lim, &req, &perr);
}

static wasp_h1_result_t parse(const char *s)
{
    return parse_n(s, strlen(s), NULL);
}

/* The whole string is one head: DONE, all of it consumed. */
#define DONE(s)                                                                                   \
    do {                                                                                          \
        const char *s_ = (s);                                                                     \
        assert_int_equal(parse(s_), WASP_H1_DONE);                                                \
        assert_int_equal(perr, WASP_HTTPSYS_NONE);                                                \
        assert_int_equal(req.head_len, strlen(s_));                                               \
    } while (0)

#define REFUSED(s, e)                                                                             \
    do {                                                                                          \
        assert_int_equal(parse(s), WASP_H1_REFUSED);                                              \
        assert_int_equal(perr, (e));                                                              \
    } while (0)

#define REFUSED_N(s, e)                                                                           \
    do {                                                                                          \
        assert_int_equal(parse_n((s), sizeof(s) - 1, NULL), WASP_H1_REFUSED);                    \
        assert_int_equal(perr, (e));                                                              \
    } while (0)

#define H11(hdrs) "GET / HTTP/1.1\r\nHost: example.com\r\n" hdrs "\r\n"
#define POST11(hdrs) "POST /upload HTTP/1.1\r\nHost: example.com\r\n" hdrs "\r\n"

static bool span_eq(const char *p, size_t n, const char *lit)
{
    return p != NULL && n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* ---- httpsys_error ------------------------------------------------------ */

static size_t body_len_of(wasp_httpsys_error_t e)
{
    char buf[1024];
    size_t n = wasp_httpsys_render(e, "Sun, 06 Nov 1994 08:49:37 GMT", 0, buf, sizeof(buf));
    const char *b;

    assert_true(n > 0);
    b = strstr(buf, "\r\n\r\n");
    assert_non_null(b);
    return n - (size_t)(b + 4 - buf);
}

static void test_error_body_lengths(void **state)
{
    (void)state;
    /* iis-hosting.md 4.5: observed / computed Content-Length values */
    assert_int_equal(body_len_of(WASP_HTTPSYS_BAD_REQUEST), 311);
    assert_int_equal(body_len_of(WASP_HTTPSYS_INVALID_HOSTNAME), 334);
    assert_int_equal(body_len_of(WASP_HTTPSYS_INVALID_VERB), 326);
    assert_int_equal(body_len_of(WASP_HTTPSYS_INVALID_HEADER), 339);
    assert_int_equal(body_len_of(WASP_HTTPSYS_REQUEST_TOO_LONG), 346);
    assert_int_equal(body_len_of(WASP_HTTPSYS_LENGTH_REQUIRED), 344);
    assert_int_equal(body_len_of(WASP_HTTPSYS_NOT_FOUND), 315);
    assert_int_equal(body_len_of(WASP_HTTPSYS_SERVICE_UNAVAILABLE), 326);
}

static void test_error_render_exact(void **state)
{
    static const char expect[] =
        "HTTP/1.1 400 Bad Request\r\n"
        "Content-Type: text/html; charset=us-ascii\r\n"
        "Server: Microsoft-HTTPAPI/2.0\r\n"
        "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        "Connection: close\r\n"
        "Content-Length: 334\r\n"
        "\r\n"
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\""
        "\"http://www.w3.org/TR/html4/strict.dtd\">\r\n"
        "<HTML><HEAD><TITLE>Bad Request</TITLE>\r\n"
        "<META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; charset=us-ascii\"></HEAD>\r\n"
        "<BODY><h2>Bad Request - Invalid Hostname</h2>\r\n"
        "<hr><p>HTTP Error 400. The request hostname is invalid.</p>\r\n"
        "</BODY></HTML>\r\n";
    char buf[1024];
    size_t n;

    (void)state;
    n = wasp_httpsys_render(WASP_HTTPSYS_INVALID_HOSTNAME, "Sun, 06 Nov 1994 08:49:37 GMT", 0,
                            buf, sizeof(buf));
    assert_int_equal(n, sizeof(expect) - 1);
    assert_memory_equal(buf, expect, n);

    /* HEAD: same headers, no body */
    n = wasp_httpsys_render(WASP_HTTPSYS_INVALID_HOSTNAME, "Sun, 06 Nov 1994 08:49:37 GMT", 1,
                            buf, sizeof(buf));
    assert_int_equal(n, strstr(expect, "\r\n\r\n") + 4 - expect);
    assert_memory_equal(buf, expect, n);

    /* too small a buffer: 0, never a truncated response */
    assert_int_equal(wasp_httpsys_render(WASP_HTTPSYS_BAD_REQUEST, "x", 0, buf, 100), 0);
    assert_int_equal(wasp_httpsys_render(WASP_HTTPSYS_BAD_REQUEST, "x", 0, buf, 0), 0);
}

static void test_error_table(void **state)
{
    char buf[1024];

    (void)state;
    for (int e = WASP_HTTPSYS_BAD_REQUEST; e < WASP_HTTPSYS_ERROR_COUNT; e++) {
        const wasp_httpsys_info_t *i = wasp_httpsys_info((wasp_httpsys_error_t)e);
        size_t n = wasp_httpsys_render((wasp_httpsys_error_t)e, NULL, 0, buf, sizeof(buf));
        char status[64];

        assert_true(i->status >= 400 && i->status <= 505);
        assert_true(strlen(i->sentence) > 0);
        assert_true(strlen(i->httperr_reason) > 0);
        assert_true(n > 0 && n < sizeof(buf));
        snprintf(status, sizeof(status), "HTTP/1.1 %d %s\r\n", i->status, i->reason_phrase);
        assert_memory_equal(buf, status, strlen(status));
        /* Date generated when NULL: 29 bytes */
        const char *d = strstr(buf, "Date: ");
        assert_non_null(d);
        assert_int_equal(strchr(d, '\r') - d - 6, 29);
    }
    assert_int_equal(wasp_httpsys_info(WASP_HTTPSYS_VERSION_NOT_SUPPORTED)->status, 505);
    assert_string_equal(wasp_httpsys_info(WASP_HTTPSYS_VERSION_NOT_SUPPORTED)->httperr_reason,
                        "Version_N/S");
    assert_int_equal(wasp_httpsys_info(WASP_HTTPSYS_NOT_IMPLEMENTED)->status, 501);
    assert_int_equal(wasp_httpsys_info(WASP_HTTPSYS_ENTITY_TOO_LARGE)->status, 413);
    assert_int_equal(wasp_httpsys_info(WASP_HTTPSYS_URL_TOO_LONG)->status, 414);
    assert_string_equal(wasp_httpsys_info(WASP_HTTPSYS_FIELD_TOO_LONG)->heading,
                        "Bad Request - Header Field Too Long");
}

/* ---- good requests ------------------------------------------------------ */

static void test_simple_get(void **state)
{
    static const char s[] = "GET /index.html?a=b HTTP/1.1\r\n"
                            "Host: www.example.com\r\n"
                            "User-Agent:  test/1.0 \t\r\n"
                            "X-Empty:\r\n"
                            "Accept: */*\r\n"
                            "\r\n";

    (void)state;
    DONE(s);
    assert_true(span_eq(req.method, req.method_len, "GET"));
    assert_true(span_eq(req.target, req.target_len, "/index.html?a=b"));
    assert_int_equal(req.version_major, 1);
    assert_int_equal(req.version_minor, 1);
    assert_int_equal(req.header_count, 4);
    assert_true(span_eq(req.headers[0].name, req.headers[0].name_len, "Host"));
    assert_true(span_eq(req.headers[1].value, req.headers[1].value_len, "test/1.0"));
    assert_int_equal(req.headers[2].value_len, 0);
    assert_true(span_eq(req.host, req.host_len, "www.example.com"));
    assert_int_equal(req.content_length, -1);
    assert_false(req.chunked);
    assert_false(req.expect_continue);
    assert_true(req.keep_alive);

    const wasp_h1_header_t *h = wasp_h1_find_header(&req, "user-AGENT");
    assert_non_null(h);
    assert_true(span_eq(h->value, h->value_len, "test/1.0"));
    assert_null(wasp_h1_find_header(&req, "Cookie"));
    assert_null(wasp_h1_find_header(&req, "Hos"));
}

static void test_http10(void **state)
{
    (void)state;
    DONE("GET / HTTP/1.0\r\n\r\n");
    assert_int_equal(req.version_minor, 0);
    assert_null(req.host);
    assert_false(req.keep_alive);

    DONE("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert_true(req.keep_alive);
    DONE("GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n");
    assert_false(req.keep_alive);
    assert_true(span_eq(req.host, req.host_len, "a"));
    /* RFC 9110 10.1.1: 100-continue is ignored in an HTTP/1.0 request */
    DONE("POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    assert_false(req.expect_continue);
    assert_int_equal(req.content_length, 3);
    /* no CL in 1.0: length 0, not 411 */
    DONE("POST / HTTP/1.0\r\n\r\n");
    assert_int_equal(req.content_length, -1);
}

static void test_connection_tokens(void **state)
{
    (void)state;
    DONE(H11("Connection: close\r\n"));
    assert_false(req.keep_alive);
    DONE(H11("Connection: Upgrade, CLOSE\r\n"));
    assert_false(req.keep_alive);
    DONE(H11("Connection: keep-alive\r\n"));
    assert_true(req.keep_alive);
    DONE(H11("Connection: closed\r\n"));
    assert_true(req.keep_alive);
    DONE(H11("Connection: te\r\nConnection: close\r\n"));
    assert_false(req.keep_alive);
}

static void test_expect(void **state)
{
    (void)state;
    DONE(POST11("Content-Length: 10\r\nExpect: 100-Continue\r\n"));
    assert_true(req.expect_continue);
    DONE(POST11("Content-Length: 10\r\nExpect: 100-continuex\r\n"));
    assert_false(req.expect_continue);
    DONE(POST11("Content-Length: 10\r\nExpect: 200-ok\r\n"));
    assert_false(req.expect_continue);
}

static void test_leading_empty_lines(void **state)
{
    (void)state;
    /* RFC 9112 2.2 */
    DONE("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_true(span_eq(req.method, req.method_len, "GET"));
    DONE("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    REFUSED("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    assert_int_equal(parse("\r\n\r"), WASP_H1_INCOMPLETE);
}

static void test_pipelined_and_body_not_consumed(void **state)
{
    static const char two[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                              "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char body[] = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                               "GET /x HTTP/1.1\r\n";
    size_t first;

    (void)state;
    assert_int_equal(parse(two), WASP_H1_DONE);
    first = req.head_len;
    assert_int_equal(first, strlen("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert_int_equal(parse(two + first), WASP_H1_DONE);
    assert_true(span_eq(req.target, req.target_len, "/2"));
    assert_int_equal(first + req.head_len, strlen(two));

    assert_int_equal(parse(body), WASP_H1_DONE);
    assert_int_equal(req.head_len, strlen(body) - strlen("helloGET /x HTTP/1.1\r\n"));
    assert_int_equal(req.content_length, 5);
    assert_memory_equal(body + req.head_len, "hello", 5);
}

static const char *const valid_requests[] = {
    "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "\r\nGET /a/b?c=d HTTP/1.0\r\n\r\n",
    ("POST /form HTTP/1.1\r\nHost: h:8080\r\nContent-Length: 5, 5\r\n"
     "Expect: 100-continue\r\n\r\n"),
    "PUT /x HTTP/1.1\r\nHost: [::1]:80\r\nTransfer-Encoding: chunked\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET http://Example.com/x HTTP/1.1\r\nHost: example.COM\r\nX: \t v\t \r\n\r\n",
    "M-SEARCH /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "DELETE /%41 HTTP/1.1\r\nHost: \r\nCookie: a=\x80\xff\r\n\r\n",
};

static void test_every_prefix_incomplete(void **state)
{
    (void)state;
    for (size_t r = 0; r < sizeof(valid_requests) / sizeof(valid_requests[0]); r++) {
        const char *s = valid_requests[r];
        size_t n = strlen(s);

        for (size_t k = 0; k < n; k++) {
            char *copy = malloc(k + 1); /* exact size: ASan catches any over-read */

            assert_non_null(copy);
            memcpy(copy, s, k);
            assert_int_equal(parse_n(copy, k, NULL), WASP_H1_INCOMPLETE);
            free(copy);
        }
        assert_int_equal(parse_n(s, n, NULL), WASP_H1_DONE);
        assert_int_equal(req.head_len, n);
    }
}

static void test_obs_text_and_tabs_in_values(void **state)
{
    (void)state;
    DONE(H11("X-A: caf\xc3\xa9\r\nX-B: a\tb c\r\n"));
    assert_true(span_eq(req.headers[2].value, req.headers[2].value_len, "a\tb c"));
}

static void test_max_headers(void **state)
{
    char buf[8192];
    size_t n;

    (void)state;
    n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < WASP_H1_MAX_HEADERS; i++) {
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
    }
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
    DONE(buf);
    assert_int_equal(req.header_count, WASP_H1_MAX_HEADERS);
    n -= 2;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-extra: v\r\n\r\n");
    REFUSED(buf, WASP_HTTPSYS_REQUEST_TOO_LONG);
}

/* ---- request-line refusals ---------------------------------------------- */

static void test_invalid_verb(void **state)
{
    (void)state;
    REFUSED("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_VERB);
    REFUSED("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_VERB);
    REFUSED(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_VERB);
    REFUSED("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_VERB);
    REFUSED("G\x80T / HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_VERB);
    REFUSED_N("G\0T / HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_VERB);
    REFUSED("GET\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET\n", WASP_HTTPSYS_BAD_REQUEST);
    /* lower case is a different (unknown) method, still a token */
    DONE("get / HTTP/1.1\r\nHost: a\r\n\r\n");
    /* the method is logged even when the line is refused later */
    REFUSED("PROPFIND / HTTP/9.9\r\n\r\n", WASP_HTTPSYS_VERSION_NOT_SUPPORTED);
    assert_true(span_eq(req.method, req.method_len, "PROPFIND"));
    assert_true(span_eq(req.target, req.target_len, "/"));
    assert_int_equal(req.version_major, 9);
}

static void test_request_line_shape(void **state)
{
    (void)state;
    REFUSED("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET /\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST); /* HTTP/0.9 */
    REFUSED("GET / HTTP/1.1\nHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/1.1\rHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/1.1\n\n", WASP_HTTPSYS_BAD_REQUEST);
}

static void test_versions(void **state)
{
    (void)state;
    REFUSED("GET / HTTP/1.2\r\nHost: a\r\n\r\n", WASP_HTTPSYS_VERSION_NOT_SUPPORTED);
    assert_int_equal(req.version_major, 1);
    assert_int_equal(req.version_minor, 2);
    REFUSED("GET / HTTP/2.0\r\nHost: a\r\n\r\n", WASP_HTTPSYS_VERSION_NOT_SUPPORTED);
    assert_int_equal(req.version_major, 2);
    REFUSED("GET / HTTP/0.9\r\n\r\n", WASP_HTTPSYS_VERSION_NOT_SUPPORTED);
    REFUSED("GET / HTTP/3.0\r\n", WASP_HTTPSYS_VERSION_NOT_SUPPORTED);
    REFUSED("GET / http/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/1.10\r\nHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/11.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/1,1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTPS/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/a.b\r\nHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    assert_int_equal(parse("GET / HTTP/2.0"), WASP_H1_INCOMPLETE);
}

static void test_target_bytes(void **state)
{
    (void)state;
    REFUSED("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_URL);
    REFUSED("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_URL);
    REFUSED("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_URL);
    REFUSED("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_URL);
    REFUSED_N("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_URL);
    /* response splitting through the target: CR LF end the line early */
    REFUSED("GET /a\r\nX: b HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
}

static void test_target_forms(void **state)
{
    (void)state;
    /* asterisk-form: OPTIONS only (RFC 9112 3.2.4) */
    DONE("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    REFUSED("GET * HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_URL);
    REFUSED("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_URL);
    /* authority-form: CONNECT only, and CONNECT is not implemented */
    REFUSED("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            WASP_HTTPSYS_NOT_IMPLEMENTED);
    REFUSED("GET example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
            WASP_HTTPSYS_INVALID_URL);
    REFUSED("GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_URL);
    REFUSED("GET ?a HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_URL);
    /* absolute-form (RFC 9112 3.2.2) */
    DONE("GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_true(span_eq(req.host, req.host_len, "example.com"));
    assert_true(req.host >= req.target && req.host < req.target + req.target_len);
    DONE("GET HTTPS://Example.com:8443?q HTTP/1.1\r\nHost: example.com:8443\r\n\r\n");
    assert_true(span_eq(req.host, req.host_len, "Example.com:8443"));
    DONE("GET http://[::1]:8080/ HTTP/1.0\r\n\r\n");
    assert_true(span_eq(req.host, req.host_len, "[::1]:8080"));
    REFUSED("GET http://example.com/x HTTP/1.1\r\nHost: other.com\r\n\r\n",
            WASP_HTTPSYS_INVALID_HOSTNAME);
    REFUSED("GET http://example.com:80/x HTTP/1.1\r\nHost: example.com\r\n\r\n",
            WASP_HTTPSYS_INVALID_HOSTNAME);
    REFUSED("GET http://example.com/ HTTP/1.1\r\n\r\n", WASP_HTTPSYS_INVALID_HOSTNAME);
    REFUSED("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_URL);
    REFUSED("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_URL);
    REFUSED("GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_URL);
    REFUSED("GET http://a:99999/ HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_URL);
    REFUSED("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_URL);
    REFUSED("GET http:/a HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_URL);
}

/* ---- limits --------------------------------------------------------------- */

#define LIM(req, field) (&(wasp_h1_limits_t){(req), (field)})

static void test_limits(void **state)
{
    static const char ok[] = "GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789012345678901\r\n\r\n";
    char fill[64], buf[256];
    size_t n = sizeof(ok) - 1;

    (void)state;
    /* URL longer than MaxFieldLength: 414 (iis-hosting.md 4.1) */
    memset(fill, 'u', 32);
    fill[32] = '\0';
    snprintf(buf, sizeof(buf), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", fill);
    assert_int_equal(parse_n(buf, strlen(buf), LIM(256, 32)), WASP_H1_REFUSED);
    assert_int_equal(perr, WASP_HTTPSYS_URL_TOO_LONG);
    /* ... detected before the request-line is complete */
    assert_int_equal(parse_n(buf, 4 + 33, LIM(256, 32)), WASP_H1_REFUSED);
    assert_int_equal(perr, WASP_HTTPSYS_URL_TOO_LONG);
    assert_int_equal(parse_n(buf, 4 + 32, LIM(256, 32)), WASP_H1_INCOMPLETE);
    /* exactly 32 is fine */
    fill[31] = '\0';
    snprintf(buf, sizeof(buf), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", fill);
    assert_int_equal(parse_n(buf, strlen(buf), LIM(256, 32)), WASP_H1_DONE);

    /* a field line (CRLF not counted) of 32 fits, 33 does not */
    memset(fill, 'v', 30);
    fill[29] = '\0';
    snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n", fill);
    assert_int_equal(parse_n(buf, strlen(buf), LIM(256, 32)), WASP_H1_DONE);
    fill[29] = 'v';
    fill[30] = '\0';
    snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n", fill);
    assert_int_equal(parse_n(buf, strlen(buf), LIM(256, 32)), WASP_H1_REFUSED);
    assert_int_equal(perr, WASP_HTTPSYS_FIELD_TOO_LONG);
    /* a long name, still incomplete, is refused without waiting */
    snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n%s",
             "X-Very-Long-Header-Name-That-Never-Ends");
    assert_int_equal(parse_n(buf, strlen(buf), LIM(256, 32)), WASP_H1_REFUSED);
    assert_int_equal(perr, WASP_HTTPSYS_FIELD_TOO_LONG);

    /* MaxRequestBytes: a head of exactly the limit is fine */
    assert_int_equal(parse_n(ok, n, LIM(n, 64)), WASP_H1_DONE);
    /* the final CRLF straddling the limit */
    assert_int_equal(parse_n(ok, n, LIM(n - 1, 64)), WASP_H1_REFUSED);
    assert_int_equal(perr, WASP_HTTPSYS_REQUEST_TOO_LONG);
    assert_int_equal(parse_n(ok, n, LIM(n - 20, 64)), WASP_H1_REFUSED);
    assert_int_equal(perr, WASP_HTTPSYS_REQUEST_TOO_LONG);
    /* incomplete but already over the limit: refused without waiting */
    assert_int_equal(parse_n(ok, n - 2, LIM(n - 3, 64)), WASP_H1_REFUSED);
    assert_int_equal(perr, WASP_HTTPSYS_REQUEST_TOO_LONG);
    /* incomplete, exactly at the limit: wait */
    assert_int_equal(parse_n(ok, n - 3, LIM(n - 3, 64)), WASP_H1_INCOMPLETE);
    /* bytes after a head that fits do not count */
    snprintf(buf, sizeof(buf), "%sGET / HTTP/1.1\r\nHost: a\r\n\r\n", ok);
    assert_int_equal(parse_n(buf, strlen(buf), LIM(n, 64)), WASP_H1_DONE);
    assert_int_equal(req.head_len, n);
    /* MaxFieldLength is reduced to MaxRequestBytes (KB 820129) */
    assert_int_equal(parse_n(ok, n, LIM(n, 100000)), WASP_H1_DONE);
    /* limits of 0 mean the defaults */
    assert_int_equal(parse_n(ok, n, LIM(0, 0)), WASP_H1_DONE);
}

static void test_default_limits(void **state)
{
    static char buf[40000];
    size_t n;

    (void)state;
    /* URL of 16385 bytes: 414 */
    n = put(buf, "GET /");
    memset(buf + n, 'a', 16384);
    n += 16384;
    n += put(buf + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(parse_n(buf, n, NULL), WASP_H1_REFUSED);
    assert_int_equal(perr, WASP_HTTPSYS_URL_TOO_LONG);
    /* ... even when only its first bytes arrived */
    assert_int_equal(parse_n(buf, 16390, NULL), WASP_H1_REFUSED);
    assert_int_equal(perr, WASP_HTTPSYS_URL_TOO_LONG);
    /* a URL of 16383 bytes that does not fit in the head with the rest:
     * still the URL's fault */
    n = put(buf, "GET /");
    memset(buf + n, 'a', 16382);
    n += 16382;
    n += put(buf + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(parse_n(buf, n, NULL), WASP_H1_REFUSED);
    assert_int_equal(perr, WASP_HTTPSYS_URL_TOO_LONG);
    assert_int_equal(parse_n(buf, n, LIM(65536, 0)), WASP_H1_DONE);
    /* a URL that fits, then the version runs past the limit */
    n = put(buf, "GET /");
    memset(buf + n, 'a', 16370);
    n += 16370;
    n += put(buf + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(parse_n(buf, n, NULL), WASP_H1_REFUSED);
    assert_int_equal(perr, WASP_HTTPSYS_REQUEST_TOO_LONG);

    /* 20 fields of 1000 bytes: over 16 KiB in total, each one fine */
    n = put(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 20; i++) {
        n += put(buf + n, "X-Pad-%02d: ", i);
        memset(buf + n, 'p', 988);
        n += 988;
        n += put(buf + n, "\r\n");
    }
    n += put(buf + n, "\r\n");
    assert_int_equal(parse_n(buf, n, NULL), WASP_H1_REFUSED);
    assert_int_equal(perr, WASP_HTTPSYS_REQUEST_TOO_LONG);
    assert_int_equal(parse_n(buf, n, LIM(32768, 0)), WASP_H1_DONE);
    assert_int_equal(req.header_count, 21);
    /* a field line of 16385 bytes */
    n = put(buf, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(buf + n, 'f', 16382);
    n += 16382;
    n += put(buf + n, "\r\n\r\n");
    assert_int_equal(parse_n(buf, n, LIM(65536, 0)), WASP_H1_REFUSED);
    assert_int_equal(perr, WASP_HTTPSYS_FIELD_TOO_LONG);
    /* with the default MaxRequestBytes the head runs out first */
    assert_int_equal(parse_n(buf, n, NULL), WASP_H1_REFUSED);
    assert_int_equal(perr, WASP_HTTPSYS_REQUEST_TOO_LONG);
    /* 16384 bytes: the field fits, the head does not */
    assert_int_equal(parse_n(buf, n, LIM(65536, 16384)), WASP_H1_REFUSED);
    assert_int_equal(parse_n(buf, n, LIM(65536, 16385)), WASP_H1_DONE);
    memmove(buf + 30, buf + 31, n - 31);
    n--;
    assert_int_equal(parse_n(buf, n, NULL), WASP_H1_REFUSED);
    assert_int_equal(perr, WASP_HTTPSYS_REQUEST_TOO_LONG);
}

/* ---- header-line refusals ------------------------------------------------- */

static void test_invalid_header_name(void **state)
{
    (void)state;
    /* RFC 9112 5.1: no whitespace between name and colon */
    REFUSED(H11("Transfer-Encoding : chunked\r\n"), WASP_HTTPSYS_INVALID_HEADER);
    REFUSED(H11("Content-Length\t: 5\r\n"), WASP_HTTPSYS_INVALID_HEADER);
    REFUSED(H11("X Y: 1\r\n"), WASP_HTTPSYS_INVALID_HEADER);
    REFUSED(H11(": empty-name\r\n"), WASP_HTTPSYS_INVALID_HEADER);
    REFUSED(H11("NoColonHere\r\n"), WASP_HTTPSYS_INVALID_HEADER);
    REFUSED(H11("X(y): 1\r\n"), WASP_HTTPSYS_INVALID_HEADER);
    REFUSED(H11("X\x80: 1\r\n"), WASP_HTTPSYS_INVALID_HEADER);
    REFUSED(H11("X@Y: 1\r\n"), WASP_HTTPSYS_INVALID_HEADER);
    REFUSED(H11("X\x01Y: 1\r\n"), WASP_HTTPSYS_INVALID_HEADER);
    REFUSED_N("GET / HTTP/1.1\r\nHost: a\r\nX\0: 1\r\n\r\n", WASP_HTTPSYS_INVALID_HEADER);
}

static void test_obs_fold(void **state)
{
    (void)state;
    /* RFC 9112 5.2 */
    REFUSED(H11("X-A: a\r\n b\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(H11("X-A: a\r\n\tb\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    /* RFC 9112 2.2: whitespace before the first field */
    REFUSED("GET / HTTP/1.1\r\n Host: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
}

static void test_bare_cr_lf(void **state)
{
    (void)state;
    REFUSED("GET / HTTP/1.1\r\nHost: a\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\n\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\n\rX", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/1.1\r\nHost\r: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/1.1\r\nHost\n: a\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("GET / HTTP/1.1\nHost: a\n\n", WASP_HTTPSYS_BAD_REQUEST);
    /* response splitting shapes in a value (RFC 9112 11.1) */
    REFUSED(H11("X-A: a\rSet-Cookie: x\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(H11("X-A: a\nSet-Cookie: x\r\n"), WASP_HTTPSYS_BAD_REQUEST);
}

static void test_field_value_bytes(void **state)
{
    (void)state;
    /* RFC 9110 5.5: no NUL, no CTL other than HTAB */
    REFUSED_N("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED_N("GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(H11("X: a\x01\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(H11("X: a\x1f\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(H11("X: a\x7f\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(H11("X: \x0b" "b\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(H11("X: \x0c" "b\r\n"), WASP_HTTPSYS_BAD_REQUEST);
}

/* ---- Host ----------------------------------------------------------------- */

static void test_host(void **state)
{
    (void)state;
    /* RFC 9112 3.2 */
    REFUSED("GET / HTTP/1.1\r\n\r\n", WASP_HTTPSYS_INVALID_HOSTNAME);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_HOSTNAME);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", WASP_HTTPSYS_INVALID_HOSTNAME);
    REFUSED("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", WASP_HTTPSYS_INVALID_HOSTNAME);

    static const char *const good[] = {
        "example.com", "EXAMPLE.com:8080", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:443",
        "[2001:db8::7]", "[::ffff:192.0.2.1]:1", "a-b_c~d.e", "%41bc", "x:", "[::1]:", "x:65535",
        "x:00080", "sub!$&'()*+,;=", "",
    };
    static const char *const bad[] = {
        "exa mple.com", "a/b", "a?b", "a#b", "a@b", "user@host:80", "x:65536", "x:123456",
        "x:8a", "x:-1", ":80", "[::1", "[::1]x", "[zz::1]", "[]", "[1.2.3.4]",
        "[fe80::1%25eth0]", "[v1.abc]", "%4", "%zz", "a\"b", "a<b", "a\\b", "x::80", "a b",
        "\xc3\xa9.com", "[::1]:8080:1",
    };
    char buf[256];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", good[i]);
        assert_int_equal(parse(buf), WASP_H1_DONE);
        assert_true(span_eq(req.host, req.host_len, good[i]));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", bad[i]);
        assert_int_equal(parse(buf), WASP_H1_REFUSED);
        assert_int_equal(perr, WASP_HTTPSYS_INVALID_HOSTNAME);
    }
}

/* ---- message body length (RFC 9112 6) ------------------------------------- */

static void test_no_body(void **state)
{
    (void)state;
    /* RFC 9112 6.3 item 7: a request without CL or TE has no body */
    DONE(H11(""));
    assert_int_equal(req.content_length, -1);
    assert_false(req.chunked);
    DONE("DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n");
    DONE("post /x HTTP/1.1\r\nHost: a\r\n\r\n"); /* not POST: methods are case-sensitive */
}

static void test_length_required(void **state)
{
    (void)state;
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_LENGTH_REQUIRED);
    REFUSED("PUT / HTTP/1.1\r\nHost: a\r\n\r\n", WASP_HTTPSYS_LENGTH_REQUIRED);
    /* a misspelt framing header is just another field */
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n",
            WASP_HTTPSYS_LENGTH_REQUIRED);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length5: 5\r\n\r\n",
            WASP_HTTPSYS_LENGTH_REQUIRED);
    DONE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(req.content_length, 0);
    DONE("PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_true(req.chunked);
}

static void test_content_length(void **state)
{
    (void)state;
    DONE(POST11("Content-Length: 5\r\n"));
    assert_int_equal(req.content_length, 5);
    DONE(POST11("Content-Length: 005\r\n"));
    assert_int_equal(req.content_length, 5);
    DONE(POST11("Content-Length:5\r\n"));
    assert_int_equal(req.content_length, 5);
    DONE(POST11("Content-Length: \t5 \t\r\n"));
    assert_int_equal(req.content_length, 5);
    /* RFC 9110 8.6: a list of identical values */
    DONE(POST11("Content-Length: 5, 5\r\n"));
    assert_int_equal(req.content_length, 5);
    DONE(POST11("Content-Length: 5,5 ,\t5\r\n"));
    DONE(POST11("Content-Length: 5\r\ncontent-length: 5\r\n"));
    assert_int_equal(req.content_length, 5);
    DONE(POST11("Content-Length: 9223372036854775807\r\n"));
    assert_int_equal(req.content_length, INT64_MAX);
    DONE(POST11("Content-Length: 0\r\n"));
    assert_int_equal(req.content_length, 0);

    REFUSED(POST11("Content-Length: 5, 6\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: 5\r\nContent-Length: 6\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: 5\r\nContent-Length: 5, 6\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: +5\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: -1\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: 0x5\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: 5a\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: 5 5\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: 5.0\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: \r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: 5,\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: ,5\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: 5,,5\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: \"5\"\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: 9223372036854775808\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: 18446744073709551621\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: 99999999999999999999999999999999999\r\n"),
            WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: \xd9\xa5\r\n"), WASP_HTTPSYS_BAD_REQUEST); /* Arabic 5 */
}

static void test_transfer_encoding_ok(void **state)
{
    (void)state;
    DONE(POST11("Transfer-Encoding: chunked\r\n"));
    assert_true(req.chunked);
    assert_int_equal(req.content_length, -1);
    DONE(POST11("Transfer-Encoding: Chunked\r\n"));
    assert_true(req.chunked);
    DONE(POST11("transfer-encoding: CHUNKED\r\n"));
    assert_true(req.chunked);
    /* OWS around the value is not part of it (RFC 9110 5.5) */
    DONE(POST11("Transfer-Encoding:  chunked\r\n"));
    assert_true(req.chunked);
    DONE(POST11("Transfer-Encoding: chunked\t\r\n"));
    assert_true(req.chunked);
    DONE(POST11("Transfer-Encoding:\tchunked \r\n"));
    assert_true(req.chunked);
    /* TE on a GET is still framing */
    DONE(H11("Transfer-Encoding: chunked\r\n"));
    assert_true(req.chunked);
}

static void test_transfer_encoding_refused(void **state)
{
    (void)state;
    /* RFC 9112 6.3 item 4: a final coding other than chunked (chunked with
     * parameters is no chunked we know) -> 400; 6.1: a coding we do not
     * implement before a final chunked -> 501 */
    REFUSED(POST11("Transfer-Encoding: gzip\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: identity\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: xchunked\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: chunkedx\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: chunk\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: gzip, chunked\r\n"), WASP_HTTPSYS_NOT_IMPLEMENTED);
    REFUSED(POST11("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
            WASP_HTTPSYS_NOT_IMPLEMENTED);
    REFUSED(POST11("Transfer-Encoding: chunked;q=1\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: chunked ; x=y\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    /* RFC 9112 6.3 item 4: chunked not final -> 400 */
    REFUSED(POST11("Transfer-Encoding: chunked, gzip\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: chunked, chunked\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
            WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"),
            WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: gzip, chunked, chunked\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: chunked, gzip, chunked\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    /* malformed lists */
    REFUSED(POST11("Transfer-Encoding: \r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: chunked,\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: ,chunked\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: chunked x\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: \"chunked\"\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: chu nked\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: chunked\x0b\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: \x0c" "chunked\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    /* obfuscated names are not the framing header, or not a header at all */
    REFUSED(POST11("Transfer-Encoding : chunked\r\n"), WASP_HTTPSYS_INVALID_HEADER);
    REFUSED(POST11("Transfer-Encoding\t: chunked\r\n"), WASP_HTTPSYS_INVALID_HEADER);
    REFUSED(POST11(" Transfer-Encoding: chunked\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("X: y\r\n Transfer-Encoding: chunked\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding:\r\n chunked\r\n"), WASP_HTTPSYS_BAD_REQUEST);
}

static void test_smuggling_shapes(void **state)
{
    (void)state;
    /* RFC 9112 6.3 item 3 / 11.2: CL and TE together */
    REFUSED(POST11("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
            WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
            WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n"),
            WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: 5\r\nTransfer-Encoding: gzip\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    /* RFC 9112 6.1: TE in HTTP/1.0 */
    REFUSED("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", WASP_HTTPSYS_BAD_REQUEST);
    REFUSED("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            WASP_HTTPSYS_BAD_REQUEST);
    /* duplicate / list CL disagreements */
    REFUSED(POST11("Content-Length: 5\r\nContent-Length: 50\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    REFUSED(POST11("Content-Length: 50, 5\r\n"), WASP_HTTPSYS_BAD_REQUEST);
    /* a second request hidden in a header value stays a value */
    DONE(H11("X: GET /admin HTTP/1.1\r\n"));
    assert_int_equal(req.header_count, 2);
    /* NUL in the middle of the head must not end it */
    REFUSED_N("GET / HTTP/1.1\r\nHost: a\r\n\0\r\n\r\n", WASP_HTTPSYS_INVALID_HEADER);
}

static void test_refusal_is_stable_under_more_bytes(void **state)
{
    /* A refusal must not turn into something else when more bytes come. */
    static const char *const bad[] = {
        "G@T / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n", "GET / HTTP/1.1\n",
        "GET / HTTP/2.0\r\n", "GET /\x80 HTTP/1.1\r\n",
    };
    char buf[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        wasp_httpsys_error_t first;

        assert_int_equal(parse(bad[i]), WASP_H1_REFUSED);
        first = perr;
        snprintf(buf, sizeof(buf), "%sHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\n", bad[i]);
        assert_int_equal(parse(buf), WASP_H1_REFUSED);
        assert_int_equal(perr, first);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_body_lengths),
        cmocka_unit_test(test_error_render_exact),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_http10),
        cmocka_unit_test(test_connection_tokens),
        cmocka_unit_test(test_expect),
        cmocka_unit_test(test_leading_empty_lines),
        cmocka_unit_test(test_pipelined_and_body_not_consumed),
        cmocka_unit_test(test_every_prefix_incomplete),
        cmocka_unit_test(test_obs_text_and_tabs_in_values),
        cmocka_unit_test(test_max_headers),
        cmocka_unit_test(test_invalid_verb),
        cmocka_unit_test(test_request_line_shape),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_target_bytes),
        cmocka_unit_test(test_target_forms),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_default_limits),
        cmocka_unit_test(test_invalid_header_name),
        cmocka_unit_test(test_obs_fold),
        cmocka_unit_test(test_bare_cr_lf),
        cmocka_unit_test(test_field_value_bytes),
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_no_body),
        cmocka_unit_test(test_length_required),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_transfer_encoding_ok),
        cmocka_unit_test(test_transfer_encoding_refused),
        cmocka_unit_test(test_smuggling_shapes),
        cmocka_unit_test(test_refusal_is_stable_under_more_bytes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
