/*
 * URL canonicalisation before routing (url_canon.h), the way HTTP.sys
 * "cooks" a URL (shared/reference/iis-hosting.md 4.1): decode the path once,
 * take '\' as '/', resolve dot-segments on the decoded path, refuse what
 * climbs above the root or decodes to control characters.
 *
 * Decoding and dot-segment removal happen in the same forward pass: decoded
 * bytes are appended to the output, and whenever a segment ends it is looked
 * at once, so "." is dropped and ".." pops the previous segment.  Because it
 * runs on decoded bytes, "%2e%2e", "%2f" and "%5c" take part in the
 * resolution exactly like their literal forms: a file-system path is built
 * from the result, so no encoded traversal may survive.
 *
 * Choices:
 *  - segment length is counted in decoded bytes (HTTP.sys counts UTF-16
 *    characters; bytes is stricter for non-ASCII);
 *  - segment count is the number of '/' in the canonical path, counted after
 *    resolution ("/a/b/" has 3 segments, the last one empty);
 *  - repeated slashes are kept;
 *  - with allow_restricted_chars false, U+0080-U+009F (C1 controls, as
 *    %uNNNN or as UTF-8 C2 80-C2 9F) are refused along with 0x01-0x1F and
 *    0x7F, which is what AllowRestrictedChars covers; NUL is always refused;
 *  - %uNNNN surrogate pairs are joined into one 4-byte UTF-8 sequence, a lone
 *    surrogate is refused; "%U" is accepted like "%u";
 *  - raw bytes outside VCHAR are refused (the h1 parser already does);
 *  - the path buffer being too small is reported as 414 URL_TOO_LONG
 *    (len + 1 bytes always suffice);
 *  - "*" yields the path "*" with asterisk set; every other result starts
 *    with '/'.
 */
#include "listener/url_canon.h"

#include <stdint.h>
#include <string.h>

void wasp_url_limits_default(wasp_url_limits_t *lim)
{
    lim->max_url_length = 16384;
    lim->segment_max_length = 260;
    lim->segment_max_count = 255;
    lim->allow_restricted_chars = false;
    lim->percent_u_allowed = true;
    lim->enable_non_utf8 = true;
    lim->favor_utf8 = true;
}

/* Whether p[0..n) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
static bool url_utf8_valid(const unsigned char *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = p[i];
        size_t k;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= k) {
            return false;
        }
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += k + 1;
    }
    return true;
}

/* Windows-1252 bytes 0x80-0x9F as code points; the five bytes the code page
 * leaves undefined map to the C1 control of the same value, as Windows'
 * conversion does. */
static const uint16_t cp1252_high[32] = {
    0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
    0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
    0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
    0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

static uint32_t cp1252_code_point(unsigned char c)
{
    return c >= 0x80 && c <= 0x9f ? cp1252_high[c - 0x80] : c;
}

/* Re-encode path[0..*len) from Windows-1252 to UTF-8, in place (the buffer
 * holds size bytes, NUL included).  Works from the end so nothing is
 * overwritten before it is read. */
static wasp_httpsys_error_t url_from_cp1252(char *path, size_t *len, size_t size,
                                            bool allow_restricted)
{
    unsigned char *p = (unsigned char *)path;
    size_t n = *len, out = 0, w;

    for (size_t i = 0; i < n; i++) {
        uint32_t cp = cp1252_code_point(p[i]);

        if (cp >= 0x80 && cp <= 0x9f && !allow_restricted) {
            return WASP_HTTPSYS_INVALID_URL; /* an undefined byte: a C1 control */
        }
        out += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
    }
    if (out + 1 > size) {
        return WASP_HTTPSYS_URL_TOO_LONG;
    }
    w = out;
    p[w] = '\0';
    for (size_t i = n; i-- > 0;) {
        uint32_t cp = cp1252_code_point(p[i]);

        if (cp < 0x80) {
            p[--w] = (unsigned char)cp;
        } else if (cp < 0x800) {
            p[--w] = (unsigned char)(0x80 | (cp & 0x3f));
            p[--w] = (unsigned char)(0xc0 | (cp >> 6));
        } else {
            p[--w] = (unsigned char)(0x80 | (cp & 0x3f));
            p[--w] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
            p[--w] = (unsigned char)(0xe0 | (cp >> 12));
        }
    }
    *len = out;
    return WASP_HTTPSYS_NONE;
}

static inline int url_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Two hex digits at s (bounds checked by the caller), or -1. */
static inline int url_hex2(const unsigned char *s)
{
    int h = url_hex(s[0]), l = url_hex(s[1]);

    return (h < 0 || l < 0) ? -1 : (h << 4) | l;
}

/* Four hex digits, or -1. */
static inline long url_hex4(const unsigned char *s)
{
    int a = url_hex2(s), b = url_hex2(s + 2);

    return (a < 0 || b < 0) ? -1 : ((long)a << 8) | b;
}

static inline bool url_ieq(const char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }
        if (c != (unsigned char)lit[i]) {
            return false;
        }
    }
    return true;
}

typedef struct url_out {
    char *buf;
    size_t size; /* capacity without the NUL */
    size_t w;
    size_t seg;  /* index of the first byte of the current segment */
    size_t seg_max;
    unsigned char prev; /* previous decoded byte, for the C1 check on UTF-8 */
} url_out_t;

/*
 * The segment buf[seg..w) has ended (at a '/' or at the end).  Resolves it
 * per RFC 3986 5.2.4.  Returns 1 if a '/' must be appended to continue, 0 if
 * the output already ends in '/', -1 if ".." climbs above the root.
 */
static int url_end_segment(url_out_t *o)
{
    size_t n = o->w - o->seg;
    const char *s = o->buf + o->seg;

    if (n == 1 && s[0] == '.') {
        o->w = o->seg;
        return 0;
    }
    if (n == 2 && s[0] == '.' && s[1] == '.') {
        size_t k = o->seg - 1; /* the '/' before ".." */

        if (k == 0) {
            return -1; /* above the root: HTTP.sys refuses, RFC 3986 would clamp */
        }
        do {
            k--;
        } while (o->buf[k] != '/');
        o->w = k + 1;
        o->seg = o->w;
        return 0;
    }
    return 1;
}

wasp_httpsys_error_t wasp_url_canon(const char *target, size_t len, const wasp_url_limits_t *lim,
                                    char *path, size_t path_size, wasp_url_t *out)
{
    const unsigned char *t = (const unsigned char *)target, *p, *end, *q;
    wasp_url_limits_t defaults;
    url_out_t o;
    size_t i, segs;
    bool percent_u_seen = false; /* a %uNNNN escape: Unicode, never code page bytes */

    memset(out, 0, sizeof(*out));
    if (lim == NULL) {
        wasp_url_limits_default(&defaults);
        lim = &defaults;
    }
    if (lim->max_url_length != 0 && len > lim->max_url_length) {
        return WASP_HTTPSYS_URL_TOO_LONG;
    }
    if (len == 0) {
        return WASP_HTTPSYS_INVALID_URL;
    }
    /* The whole target: VCHAR only, and no fragment (RFC 9112 3.2: the
     * request-target never carries one). */
    for (i = 0; i < len; i++) {
        if (t[i] < 0x21 || t[i] > 0x7e || t[i] == '#') {
            return WASP_HTTPSYS_INVALID_URL;
        }
    }
    if (path_size < 2) {
        return WASP_HTTPSYS_URL_TOO_LONG;
    }

    if (len == 1 && t[0] == '*') {
        out->asterisk = true;
        path[0] = '*';
        path[1] = '\0';
        out->path_len = 1;
        return WASP_HTTPSYS_NONE;
    }

    p = t;
    end = t + len;
    if (t[0] != '/') {
        size_t skip;

        if (len >= 7 && url_ieq(target, "http://", 7)) {
            skip = 7;
        } else if (len >= 8 && url_ieq(target, "https://", 8)) {
            skip = 8;
        } else {
            return WASP_HTTPSYS_INVALID_URL;
        }
        q = t + skip;
        p = q;
        while (p < end && *p != '/' && *p != '?') {
            if (*p == '@') {
                return WASP_HTTPSYS_INVALID_URL; /* userinfo: RFC 9110 4.2.4 */
            }
            p++;
        }
        if (p == q) {
            return WASP_HTTPSYS_INVALID_URL; /* empty host: RFC 9110 4.2.1 */
        }
        out->authority = (const char *)q;
        out->authority_len = (size_t)(p - q);
    }

    /* Query: raw, from the first '?'. */
    q = memchr(p, '?', (size_t)(end - p));
    if (q != NULL) {
        out->query = (const char *)q + 1;
        out->query_len = (size_t)(end - q - 1);
        end = q;
    }

    o.buf = path;
    o.size = path_size - 1;
    o.seg_max = lim->segment_max_length;
    o.prev = 0;
    path[0] = '/';
    o.w = 1;
    o.seg = 1;
    /* origin-form starts with '/', absolute-form with "" (RFC 9110 4.2.3:
     * an empty path is "/") or '/'. */
    if (p < end && *p == '/') {
        p++;
    }

    while (p < end) {
        unsigned char dec[4];
        size_t n = 1;
        bool escaped = false;

        dec[0] = *p;
        if (*p == '%') {
            escaped = true;
            if (end - p >= 6 && (p[1] == 'u' || p[1] == 'U') && lim->percent_u_allowed) {
                long cp = url_hex4(p + 2);

                percent_u_seen = true;
                if (cp < 0) {
                    return WASP_HTTPSYS_INVALID_URL;
                }
                p += 6;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    long lo;

                    if (end - p < 6 || p[0] != '%' || (p[1] != 'u' && p[1] != 'U') ||
                        (lo = url_hex4(p + 2)) < 0xdc00 || lo > 0xdfff) {
                        return WASP_HTTPSYS_INVALID_URL; /* lone high surrogate */
                    }
                    p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    return WASP_HTTPSYS_INVALID_URL; /* lone low surrogate */
                }
                if (cp >= 0x80 && cp <= 0x9f && !lim->allow_restricted_chars) {
                    return WASP_HTTPSYS_INVALID_URL;
                }
                if (cp < 0x80) {
                    dec[0] = (unsigned char)cp;
                } else if (cp < 0x800) {
                    dec[0] = (unsigned char)(0xc0 | (cp >> 6));
                    dec[1] = (unsigned char)(0x80 | (cp & 0x3f));
                    n = 2;
                } else if (cp < 0x10000) {
                    dec[0] = (unsigned char)(0xe0 | (cp >> 12));
                    dec[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                    dec[2] = (unsigned char)(0x80 | (cp & 0x3f));
                    n = 3;
                } else {
                    dec[0] = (unsigned char)(0xf0 | (cp >> 18));
                    dec[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
                    dec[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                    dec[3] = (unsigned char)(0x80 | (cp & 0x3f));
                    n = 4;
                }
            } else {
                int v;

                if (end - p < 3 || (v = url_hex2(p + 1)) < 0) {
                    return WASP_HTTPSYS_INVALID_URL;
                }
                dec[0] = (unsigned char)v;
                p += 3;
            }
        } else {
            p++;
        }

        if (n == 1) {
            unsigned char c = dec[0];

            if (c == '/' || c == '\\') {
                int r = url_end_segment(&o);

                if (r < 0) {
                    return WASP_HTTPSYS_INVALID_URL;
                }
                if (r > 0) {
                    if (o.w >= o.size) {
                        return WASP_HTTPSYS_URL_TOO_LONG;
                    }
                    path[o.w++] = '/';
                    o.seg = o.w;
                }
                o.prev = '/';
                continue;
            }
            if (escaped) {
                /* Raw bytes are VCHAR already; only escapes can produce
                 * these.  NUL never passes (it would cut C strings). */
                if (c == 0) {
                    return WASP_HTTPSYS_INVALID_URL;
                }
                if (!lim->allow_restricted_chars &&
                    (c < 0x20 || c == 0x7f || (o.prev == 0xc2 && c >= 0x80 && c <= 0x9f))) {
                    return WASP_HTTPSYS_INVALID_URL;
                }
            }
        }
        if (o.w + n > o.size) {
            return WASP_HTTPSYS_URL_TOO_LONG;
        }
        memcpy(path + o.w, dec, n);
        o.w += n;
        o.prev = dec[n - 1];
        if (o.seg_max != 0 && o.w - o.seg > o.seg_max) {
            return WASP_HTTPSYS_INVALID_URL;
        }
    }
    if (url_end_segment(&o) < 0) {
        return WASP_HTTPSYS_INVALID_URL;
    }
    path[o.w] = '\0';

    /* EnableNonUTF8 / FavorUTF8: which encoding the decoded bytes are in. */
    for (i = 0; i < o.w && !((unsigned char)path[i] & 0x80); i++) {
    }
    if (i < o.w) {
        bool utf8 = url_utf8_valid((const unsigned char *)path, o.w);

        if (!lim->enable_non_utf8 || percent_u_seen) {
            /* %uNNNN names Unicode characters: a path that has them is
             * Unicode, and reading its bytes as a code page would garble
             * them.  Only %XX bytes may be code-page text, so the result
             * is never longer than the request-target (3 bytes at most
             * for each 3-character escape). */
            if (!utf8) {
                return WASP_HTTPSYS_INVALID_URL;
            }
        } else if (!utf8 || !lim->favor_utf8) {
            wasp_httpsys_error_t e = url_from_cp1252(path, &o.w, path_size,
                                                     lim->allow_restricted_chars);
            size_t seg = 0;

            if (e != WASP_HTTPSYS_NONE) {
                return e;
            }
            /* Re-encoding lengthened the segments: UrlSegmentMaxLength
             * again, on what the rest of the server will see. */
            for (i = 1; i <= o.w && o.seg_max != 0; i++) {
                if (i == o.w || path[i] == '/') {
                    if (i - seg - 1 > o.seg_max) {
                        return WASP_HTTPSYS_INVALID_URL;
                    }
                    seg = i;
                }
            }
        }
    }

    if (lim->segment_max_count != 0) {
        segs = 0;
        for (i = 0; i < o.w; i++) {
            segs += path[i] == '/';
        }
        if (segs > lim->segment_max_count) {
            return WASP_HTTPSYS_INVALID_URL;
        }
    }
    out->path_len = o.w;
    return WASP_HTTPSYS_NONE;
}
