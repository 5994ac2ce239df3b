/*
 * Unit tests for the chunked transfer-coding decoder (src/listener/chunked.c,
 * RFC 9112 7.1): whole, byte by byte and randomly split input, in place and
 * into a separate buffer; every framing violation must give -1.
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

typedef struct result {
    int rc;
    size_t consumed; /* total input used */
    size_t out_len;  /* total output */
    char out[200000];
} result_t;

static result_t res;

/* Feed s in pieces of the sizes given by next_piece(); decode in place in a
 * heap copy (so ASan sees any overrun).  Stops at rc != 0. */
static void feed(const char *s, size_t n, size_t (*next_piece)(size_t left), bool in_place)
{
    wasp_chunked_t c;
    char *copy = malloc(n ? n : 1);
    char *out = malloc(n ? n : 1);
    size_t off = 0;

    assert_non_null(copy);
    assert_non_null(out);
    memcpy(copy, s, n);
    wasp_chunked_init(&c);
    res.rc = 0;
    res.consumed = 0;
    res.out_len = 0;
    while (off < n || n == 0) {
        size_t piece = next_piece(n - off), used = 999999, wrote = 999999;
        char *dst = in_place ? copy + off : out;

        res.rc = wasp_chunked_decode(&c, copy + off, piece, &used, dst, &wrote);
        assert_true(used <= piece);
        assert_true(wrote <= used);
        if (res.rc == 0) {
            assert_int_equal(used, piece); /* "more" means all was taken */
        }
        memcpy(res.out + res.out_len, dst, wrote);
        res.out_len += wrote;
        off += used;
        res.consumed = off;
        if (res.rc != 0 || n == 0) {
            break;
        }
    }
    free(copy);
    free(out);
}

static size_t piece_all(size_t left)
{
    return left;
}

static size_t piece_one(size_t left)
{
    return left ? 1 : 0;
}

static unsigned rng_state = 12345;

static size_t piece_random(size_t left)
{
    size_t k;

    rng_state = rng_state * 1103515245u + 12345u;
    k = 1 + (rng_state >> 16) % 7;
    return k < left ? k : left;
}

/* Decode s every way; all must agree on rc, consumed and output. */
static void decode_all_ways(const char *s, size_t n, int rc, const char *data, size_t consumed)
{
    size_t (*ways[])(size_t) = {piece_all, piece_one, piece_random, piece_random, piece_random};

    for (size_t w = 0; w < sizeof(ways) / sizeof(ways[0]); w++) {
        for (int in_place = 0; in_place < 2; in_place++) {
            feed(s, n, ways[w], in_place);
            assert_int_equal(res.rc, rc);
            if (rc >= 0 && data != NULL) {
                assert_int_equal(res.out_len, strlen(data));
                assert_memory_equal(res.out, data, res.out_len);
            }
            if (rc != 0) {
                assert_int_equal(res.consumed, consumed);
            }
        }
    }
}

#define OK(s, data) decode_all_ways((s), strlen(s), 1, (data), strlen(s))
#define OK_N(s, data) decode_all_ways((s), sizeof(s) - 1, 1, (data), sizeof(s) - 1)
#define MORE(s) decode_all_ways((s), strlen(s), 0, NULL, 0)
/* bad: -1 and the offending byte is not consumed */
#define BAD_AT(s, at) decode_all_ways((s), strlen(s), -1, NULL, (at))
#define BAD(s) decode_one_bad((s), strlen(s))

static void decode_one_bad(const char *s, size_t n)
{
    feed(s, n, piece_all, true);
    assert_int_equal(res.rc, -1);
    feed(s, n, piece_one, false);
    assert_int_equal(res.rc, -1);
}

static void test_basic(void **state)
{
    (void)state;
    OK("5\r\nhello\r\n0\r\n\r\n", "hello");
    OK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
    OK("0\r\n\r\n", "");
    OK("1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n", "\r\n"); /* CR / LF are fine as data */
    OK_N("3\r\na\0b\r\n0\r\n\r\n", NULL);
    assert_int_equal(res.out_len, 3);
    assert_memory_equal(res.out, "a\0b", 3);
}

static void test_sizes(void **state)
{
    (void)state;
    OK("A\r\n0123456789\r\n0\r\n\r\n", "0123456789");
    OK("a\r\n0123456789\r\n0\r\n\r\n", "0123456789");
    OK("00000005\r\nhello\r\n000\r\n\r\n", "hello");
    OK("10\r\n0123456789abcdef\r\n0\r\n\r\n", "0123456789abcdef");
    /* 16 significant digits fit in 64 bits: waits for data */
    MORE("ffffffffffffffff\r\nabc");
    MORE("0000000000000000ffffffffffffffff\r\n");
    MORE("8000000000000000\r\n");
    /* 17 significant digits overflow */
    BAD_AT("10000000000000000\r\n", 16);
    BAD_AT("fffffffffffffffff\r\n", 16);
    /* leading zeros are bounded too */
    char buf[256];
    memset(buf, '0', 64);
    strcpy(buf + 64, "\r\n\r\n");
    OK(buf, "");
    memset(buf, '0', 65);
    strcpy(buf + 65, "\r\n\r\n");
    BAD_AT(buf, 64);
}

static void test_bad_sizes(void **state)
{
    (void)state;
    BAD_AT("\r\n", 0);            /* empty size */
    BAD_AT("g\r\n", 0);
    BAD_AT("-1\r\n", 0);
    BAD_AT("+5\r\nhello\r\n", 0);
    BAD_AT("0x5\r\nhello\r\n", 1);
    BAD_AT(" 5\r\nhello\r\n", 0);
    BAD_AT("5 \r\nhello\r\n", 2); /* BWS only before ';' */
    BAD_AT("5\t\r\nhello\r\n", 2);
    BAD_AT("5 5\r\nhello\r\n", 2);
    BAD_AT("5z\r\nhello\r\n", 1);
    BAD_AT("\xff\r\n", 0);
    BAD_AT(";a\r\n", 0);
}

static void test_crlf_strict(void **state)
{
    (void)state;
    BAD_AT("5\nhello\r\n0\r\n\r\n", 1);          /* bare LF after size */
    BAD_AT("5\rhello\r\n0\r\n\r\n", 2);          /* bare CR after size */
    BAD_AT("5\r\nhello\n0\r\n\r\n", 8);          /* bare LF after data */
    BAD_AT("5\r\nhello\r0\r\n\r\n", 9);          /* bare CR after data */
    BAD_AT("5\r\nhelloX\r\n0\r\n\r\n", 8);       /* data longer than size */
    BAD_AT("5\r\nhell\r\n0\r\n\r\n", 8);         /* shorter: "hell\r" is the data */
    BAD_AT("5\r\nhello\r\n0\r\n\n", 13);         /* bare LF at the end */
    BAD_AT("5\r\nhello\r\n0\r\n\rX", 14);
    BAD_AT("5\r\nhello\r\n0\n\r\n", 11);
    BAD_AT("5\r\nhello\r\n\r\n0\r\n\r\n", 10);   /* an empty line where a size is due */
}

static void test_extensions(void **state)
{
    (void)state;
    OK("5;foo\r\nhello\r\n0\r\n\r\n", "hello");
    OK("5;foo=bar\r\nhello\r\n0\r\n\r\n", "hello");
    OK("5 ; foo = bar\r\nhello\r\n0\r\n\r\n", "hello");
    OK("5\t;\tfoo\t=\tbar\r\nhello\r\n0\r\n\r\n", "hello");
    OK("5;a;b=c ;d\r\nhello\r\n0;last=\"yes\"\r\n\r\n", "hello");
    OK("5;foo=\"a b\\\"c\\\\\"\r\nhello\r\n0\r\n\r\n", "hello");
    OK("5;foo=\"\"\r\nhello\r\n0\r\n\r\n", "hello");
    OK("5;foo=\"caf\xc3\xa9\"\r\nhello\r\n0\r\n\r\n", "hello");
    OK("5;foo=\"x\" ;bar\r\nhello\r\n0\r\n\r\n", "hello");

    BAD("5;\r\nhello\r\n0\r\n\r\n");
    BAD("5;=x\r\nhello\r\n0\r\n\r\n");
    BAD("5;foo=\r\nhello\r\n0\r\n\r\n");
    BAD("5;foo bar\r\nhello\r\n0\r\n\r\n");
    BAD("5;foo=bar baz\r\nhello\r\n0\r\n\r\n");
    BAD("5;foo=bar \r\nhello\r\n0\r\n\r\n"); /* BWS must lead to ';' */
    BAD("5;foo \r\nhello\r\n0\r\n\r\n");
    BAD("5;foo==bar\r\nhello\r\n0\r\n\r\n");
    BAD("5;foo=\"unterminated\r\nhello\r\n0\r\n\r\n");
    BAD("5;foo=\"a\"b\r\nhello\r\n0\r\n\r\n");
    BAD("5;foo=\"a\\\r\nhello\r\n0\r\n\r\n"); /* escaped CR */
    BAD("5;fo@o\r\nhello\r\n0\r\n\r\n");
    BAD("5;foo=b@r\r\nhello\r\n0\r\n\r\n");
    BAD("5;foo\nhello\r\n0\r\n\r\n");
    static const char nul[] = "5;foo=\"a\0\"\r\nhello\r\n0\r\n\r\n";
    decode_one_bad(nul, sizeof(nul) - 1);
    BAD("5;foo=\"\x01\"\r\nhello\r\n0\r\n\r\n");
    BAD("5;foo=\"\x7f\"\r\nhello\r\n0\r\n\r\n");
}

static void test_extension_limit(void **state)
{
    static char s[4096];
    size_t n;

    (void)state;
    /* exactly WASP_CHUNKED_MAX_EXT_BYTES of extension (";" + name): fine */
    n = put(s, "5;");
    memset(s + n, 'x', WASP_CHUNKED_MAX_EXT_BYTES - 1);
    n += WASP_CHUNKED_MAX_EXT_BYTES - 1;
    strcpy(s + n, "\r\nhello\r\n0\r\n\r\n");
    OK(s, "hello");
    /* one more: refused at that byte */
    n = put(s, "5;");
    memset(s + n, 'x', WASP_CHUNKED_MAX_EXT_BYTES);
    n += WASP_CHUNKED_MAX_EXT_BYTES;
    strcpy(s + n, "\r\nhello\r\n0\r\n\r\n");
    BAD_AT(s, WASP_CHUNKED_MAX_EXT_BYTES + 1);
    /* the limit is per chunk line: many lines each under it are fine */
    n = 0;
    for (int i = 0; i < 3; i++) {
        n += put(s + n, "1;");
        memset(s + n, 'y', 1000);
        n += 1000;
        n += put(s + n, "\r\nz\r\n");
    }
    strcpy(s + n, "0\r\n\r\n");
    OK(s, "zzz");
    /* many short extensions add up */
    n = put(s, "5");
    while (n < 1100) {
        n += put(s + n, ";a=b");
    }
    strcpy(s + n, "\r\nhello\r\n0\r\n\r\n");
    BAD(s);
}

static void test_trailers(void **state)
{
    (void)state;
    OK("5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n", "hello");
    OK("0\r\nA: 1\r\nB:\r\nC: \t x \xff\r\n\r\n", "");
    BAD("0\r\nX-A: 1\r\n folded\r\n\r\n"); /* obs-fold */
    BAD("0\r\n X-A: 1\r\n\r\n");
    BAD("0\r\nX A: 1\r\n\r\n");
    BAD("0\r\nX-A : 1\r\n\r\n");
    BAD("0\r\n: 1\r\n\r\n");
    BAD("0\r\nNoColon\r\n\r\n");
    BAD("0\r\nX-A: 1\n\r\n");
    BAD("0\r\nX-A: 1\r\r\n");
    BAD("0\r\nX-A: a\x01" "b\r\n\r\n");
    BAD("0\r\nX-A: a\x7f\r\n\r\n");
    MORE("0\r\nX-A: 1\r\n");
    MORE("0\r\nX-A: 1\r\n\r");
}

static void test_trailer_limit(void **state)
{
    static char s[WASP_CHUNKED_MAX_TRAILER_BYTES + 256];
    size_t n;

    (void)state;
    /* exactly the limit (trailer lines + final CRLF) is fine */
    n = put(s, "0\r\n");
    size_t body = WASP_CHUNKED_MAX_TRAILER_BYTES - 2; /* minus the final CRLF */
    size_t line = body - 2;                           /* minus the line's CRLF */
    n += put(s + n, "X: ");
    memset(s + n, 'v', line - 3);
    n += line - 3;
    strcpy(s + n, "\r\n\r\n");
    OK(s, "");
    /* one byte more */
    n = put(s, "0\r\nX: ");
    memset(s + n, 'v', line - 2);
    n += line - 2;
    strcpy(s + n, "\r\n\r\n");
    BAD(s);
}

static void test_after_end(void **state)
{
    wasp_chunked_t c;
    char buf[] = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    size_t used, wrote;

    (void)state;
    wasp_chunked_init(&c);
    assert_int_equal(wasp_chunked_decode(&c, buf, strlen(buf), &used, buf, &wrote), 1);
    assert_int_equal(used, strlen("3\r\nabc\r\n0\r\n\r\n"));
    assert_int_equal(wrote, 3);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(c.total, 3);
    /* done stays done and consumes nothing */
    assert_int_equal(wasp_chunked_decode(&c, buf + used, 5, &used, buf, &wrote), 1);
    assert_int_equal(used, 0);
    assert_int_equal(wrote, 0);
}

static void test_error_sticky(void **state)
{
    wasp_chunked_t c;
    size_t used, wrote;
    char out[64];

    (void)state;
    wasp_chunked_init(&c);
    assert_int_equal(wasp_chunked_decode(&c, "5\n", 2, &used, out, &wrote), -1);
    assert_int_equal(used, 1);
    assert_int_equal(wasp_chunked_decode(&c, "\r\nhello", 7, &used, out, &wrote), -1);
    assert_int_equal(used, 0);
    assert_int_equal(wrote, 0);
    /* empty input: nothing happens */
    wasp_chunked_init(&c);
    assert_int_equal(wasp_chunked_decode(&c, "", 0, &used, out, &wrote), 0);
    assert_int_equal(used, 0);
}

static void test_large_random(void **state)
{
    /* Many chunks of random sizes and extensions, fed in random pieces. */
    static char enc[200000];
    static char plain[100000];
    size_t n = 0, p = 0;

    (void)state;
    rng_state = 777;
    while (p < 90000) {
        size_t k;

        rng_state = rng_state * 1103515245u + 12345u;
        k = 1 + (rng_state >> 8) % 3000;
        if (p + k > 90000) {
            k = 90000 - p;
        }
        n += put(enc + n, (rng_state & 1) ? "%zx\r\n" : "%06zX;n=\"v\"\r\n", k);
        for (size_t i = 0; i < k; i++) {
            plain[p + i] = (char)((p + i) * 131 >> 3);
        }
        memcpy(enc + n, plain + p, k);
        n += k;
        p += k;
        enc[n++] = '\r';
        enc[n++] = '\n';
    }
    n += put(enc + n, "0\r\nT: x\r\n\r\n");
    for (int rep = 0; rep < 3; rep++) {
        feed(enc, n, rep == 0 ? piece_all : piece_random, rep != 1);
        assert_int_equal(res.rc, 1);
        assert_int_equal(res.consumed, n);
        assert_int_equal(res.out_len, p);
        assert_memory_equal(res.out, plain, p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_bad_sizes),
        cmocka_unit_test(test_crlf_strict),
        cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_extension_limit),
        cmocka_unit_test(test_trailers),
        cmocka_unit_test(test_trailer_limit),
        cmocka_unit_test(test_after_end),
        cmocka_unit_test(test_error_sticky),
        cmocka_unit_test(test_large_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
