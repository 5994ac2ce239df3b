/*
 * libFuzzer target for the request-head parser (src/listener/h1_parse.c).
 *
 * Invariants, checked with abort() so they hold in release builds too:
 *  - DONE: head_len <= size and <= MaxRequestBytes, the head ends in CRLF
 *    CRLF, every pointer lies inside the head, framing fields are coherent,
 *    re-parsing exactly the head gives the same answer and the head minus one
 *    byte is INCOMPLETE;
 *  - INCOMPLETE: the input is not over MaxRequestBytes;
 *  - REFUSED: a real error, and a shorter input is INCOMPLETE or the same
 *    refusal (a refusal never depends on bytes not yet received);
 *  - nothing after the first MaxRequestBytes + 1 bytes changes the answer;
 *  - the error page renders;
 *  - a DONE head's target goes through url_canon, and a chunked body after
 *    the head through the chunked decoder, so the pipeline is fuzzed too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listener/h1_parse.h"
#include "listener/httpsys_error.h"
#include "listener/url_canon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                  \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);            \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static wasp_h1_request_t req, req2;

static int inside(const char *p, size_t n, const char *base, size_t len)
{
    return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

static void check_one(const char *buf, size_t size, const wasp_h1_limits_t *lim, size_t max_req)
{
    wasp_httpsys_error_t err = WASP_HTTPSYS_NONE, err2;
    wasp_h1_result_t r = wasp_h1_parse_request(buf, size, lim, &req, &err);
    char page[1024];

    if (size > max_req + 1) {
        /* only the first max_req + 1 bytes may matter */
        wasp_h1_result_t r3 = wasp_h1_parse_request(buf, max_req + 1, lim, &req2, &err2);

        CHECK(r3 == r && err2 == err);
    }
    if (r == WASP_H1_INCOMPLETE) {
        CHECK(err == WASP_HTTPSYS_NONE);
        CHECK(size <= max_req);
        return;
    }
    if (r == WASP_H1_REFUSED) {
        CHECK(err > WASP_HTTPSYS_NONE && err < WASP_HTTPSYS_ERROR_COUNT);
        CHECK(wasp_httpsys_render(err, "Sun, 06 Nov 1994 08:49:37 GMT", 0, page, sizeof(page)) >
              0);
        if (req.method != NULL) {
            CHECK(inside(req.method, req.method_len, buf, size));
        }
        if (req.target != NULL) {
            CHECK(inside(req.target, req.target_len, buf, size));
        }
        if (size > 0) {
            wasp_h1_result_t r2 = wasp_h1_parse_request(buf, size - 1, lim, &req2, &err2);

            CHECK(r2 == WASP_H1_INCOMPLETE || (r2 == WASP_H1_REFUSED && err2 == err));
        }
        return;
    }

    CHECK(r == WASP_H1_DONE);
    CHECK(err == WASP_HTTPSYS_NONE);
    size_t h = req.head_len;
    CHECK(h >= 16 && h <= size && h <= max_req); /* "M / HTTP/1.0\r\n\r\n" */
    CHECK(memcmp(buf + h - 4, "\r\n\r\n", 4) == 0);
    CHECK(inside(req.method, req.method_len, buf, h) && req.method_len > 0);
    CHECK(inside(req.target, req.target_len, buf, h) && req.target_len > 0);
    CHECK(req.version_major == 1 && (req.version_minor == 0 || req.version_minor == 1));
    CHECK(req.header_count <= WASP_H1_MAX_HEADERS);
    for (size_t i = 0; i < req.header_count; i++) {
        const wasp_h1_header_t *hd = &req.headers[i];

        CHECK(inside(hd->name, hd->name_len, buf, h) && hd->name_len > 0);
        CHECK(inside(hd->value, hd->value_len, buf, h));
        CHECK(memchr(hd->value, '\r', hd->value_len) == NULL);
        CHECK(memchr(hd->value, '\n', hd->value_len) == NULL);
        CHECK(memchr(hd->value, '\0', hd->value_len) == NULL);
        CHECK(hd->name[hd->name_len] == ':');
    }
    if (req.host != NULL) {
        CHECK(inside(req.host, req.host_len, buf, h));
    } else {
        CHECK(req.version_minor == 0);
    }
    CHECK(req.content_length >= -1);
    CHECK(!req.chunked || req.content_length == -1);
    CHECK(!req.chunked || req.version_minor == 1);
    CHECK(!req.expect_continue || req.version_minor == 1);

    /* exactly the head parses the same; one byte less is INCOMPLETE */
    CHECK(wasp_h1_parse_request(buf, h, lim, &req2, &err2) == WASP_H1_DONE);
    CHECK(req2.head_len == h && req2.header_count == req.header_count);
    CHECK(wasp_h1_parse_request(buf, h - 1, lim, &req2, &err2) == WASP_H1_INCOMPLETE);
    CHECK(wasp_h1_parse_request(buf, h / 2, lim, &req2, &err2) == WASP_H1_INCOMPLETE);

    /* the rest of the pipeline */
    {
        char *path = malloc(req.target_len + 1);
        wasp_url_t url;

        CHECK(path != NULL);
        (void)wasp_url_canon(req.target, req.target_len, NULL, path, req.target_len + 1, &url);
        free(path);
    }
    if (req.chunked && size > h) {
        char *body = malloc(size - h);
        wasp_chunked_t c;
        size_t used, wrote;
        int rc;

        CHECK(body != NULL);
        memcpy(body, buf + h, size - h);
        wasp_chunked_init(&c);
        rc = wasp_chunked_decode(&c, body, size - h, &used, body, &wrote);
        CHECK(rc >= -1 && rc <= 1 && used <= size - h && wrote <= used);
        free(body);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    wasp_h1_limits_t small = {.max_request_bytes = 300, .max_field_length = 80};

    check_one(buf, size, NULL, 16384);
    check_one(buf, size, &small, 300);
    return 0;
}
