/*
 * libFuzzer target for URL canonicalisation (src/listener/url_canon.c).
 *
 * The first input byte picks the options (restricted chars, %u, small
 * segment limits), the rest is the request-target.  Invariants on success:
 * the path fits in len + 1 bytes, has no NUL inside, starts with '/' (or is
 * "*"), contains no "." / ".." segment and no '\', honours the segment
 * limits and, without AllowRestrictedChars, holds no control character;
 * query and authority point into the input; and canonicalising a result
 * that is again a plain URL (VCHAR, no '%', '?', '#') gives it back
 * unchanged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listener/url_canon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                  \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);            \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static void check_path(const char *path, size_t n, const wasp_url_limits_t *lim)
{
    size_t segs = 0, seg_start = 1;

    CHECK(n > 0 && path[0] == '/');
    CHECK(memchr(path, '\\', n) == NULL);
    for (size_t i = 1; i <= n; i++) {
        if (i == n || path[i] == '/') {
            size_t len = i - seg_start;
            const char *s = path + seg_start;

            CHECK(!(len == 1 && s[0] == '.'));
            CHECK(!(len == 2 && s[0] == '.' && s[1] == '.'));
            CHECK(lim->segment_max_length == 0 || len <= lim->segment_max_length);
            seg_start = i + 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];

        segs += c == '/';
        CHECK(lim->allow_restricted_chars || (c >= 0x20 && c != 0x7f));
    }
    CHECK(lim->segment_max_count == 0 || segs <= lim->segment_max_count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wasp_url_limits_t lim;
    wasp_url_t url, url2;
    wasp_httpsys_error_t e;
    const char *t;
    size_t n, cap;
    char *in, *path, *path2;

    if (size < 1) {
        return 0;
    }
    wasp_url_limits_default(&lim);
    lim.allow_restricted_chars = data[0] & 1;
    lim.percent_u_allowed = (data[0] & 2) != 0;
    if (data[0] & 4) {
        lim.segment_max_length = 8;
        lim.segment_max_count = 6;
    }
    if (data[0] & 8) {
        lim.max_url_length = 64;
    }
    n = size - 1;
    in = malloc(n ? n : 1);
    CHECK(in != NULL);
    memcpy(in, data + 1, n);
    t = in;
    cap = n + 1 >= 2 ? n + 1 : 2;
    path = malloc(cap);
    path2 = malloc(cap);
    CHECK(path != NULL && path2 != NULL);

    e = wasp_url_canon(t, n, &lim, path, cap, &url);
    CHECK(e == WASP_HTTPSYS_NONE || e == WASP_HTTPSYS_INVALID_URL ||
          e == WASP_HTTPSYS_URL_TOO_LONG);
    /* len + 1 bytes always suffice: 414 only from the URL limit */
    CHECK(e != WASP_HTTPSYS_URL_TOO_LONG || (lim.max_url_length && n > lim.max_url_length));
    if (e == WASP_HTTPSYS_NONE) {
        CHECK(url.path_len < cap && strlen(path) == url.path_len);
        if (url.asterisk) {
            CHECK(n == 1 && strcmp(path, "*") == 0);
        } else {
            check_path(path, url.path_len, &lim);
        }
        if (url.query != NULL) {
            CHECK(url.query > t && url.query + url.query_len == t + n && url.query[-1] == '?');
        }
        if (url.authority != NULL) {
            CHECK(url.authority > t && url.authority_len > 0 &&
                  url.authority + url.authority_len <= t + n);
        }
        /* idempotent on plain results */
        bool plain = !url.asterisk;
        for (size_t i = 0; plain && i < url.path_len; i++) {
            unsigned char c = (unsigned char)path[i];

            plain = c > 0x20 && c < 0x7f && c != '%' && c != '?' && c != '#';
        }
        if (plain) {
            e = wasp_url_canon(path, url.path_len, &lim, path2, cap, &url2);
            CHECK(e == WASP_HTTPSYS_NONE);
            CHECK(url2.path_len == url.path_len && memcmp(path, path2, url.path_len) == 0);
        }
    }
    free(in);
    free(path);
    free(path2);
    return 0;
}
