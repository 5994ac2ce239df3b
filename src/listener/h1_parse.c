/*
 * Strict HTTP/1.x request-head parser (RFC 9112 2-7, RFC 9110 5-8); see
 * h1_parse.h for the contract.
 *
 * One forward pass over the bytes, no allocation, one 256-entry class table
 * for every per-byte decision.  The syntax pass stores the fields; the
 * framing rules that need the whole head (Content-Length against
 * Transfer-Encoding, Host, 411) run afterwards over the stored fields, which
 * costs a handful of compares per field, not another pass over the bytes.
 *
 * Choices where the RFC leaves room (all refusals close the connection):
 *  - up to H1_MAX_LEADING_EMPTY empty lines before the request-line are
 *    skipped (RFC 9112 2.2), one more is 400;
 *  - obs-fold is 400 Bad Request (RFC 9112 5.2 allows 400 or unfolding);
 *  - whitespace or any other non-tchar before the colon is 400 Invalid
 *    Header (RFC 9112 5.1 requires 400), a line without colon too;
 *  - CR or LF inside the method or where a SP was due is 400 Bad Request, any
 *    other non-tchar in the method is 400 Invalid Verb;
 *  - request-target bytes must be VCHAR: raw UTF-8, CTLs and HTAB are
 *    400 Invalid URL (HTTP.sys may accept raw UTF-8; we do not guess the
 *    encoding, clients percent-encode);
 *  - an empty Host value is accepted (RFC 9112 3.2 makes it legal when the
 *    target has no authority) and so is an empty port ("host:",
 *    RFC 3986 3.2.3);
 *  - absolute-form with a Host field that differs from its authority is
 *    400 Invalid Hostname; RFC 9112 3.2.2 would have us ignore Host, but a
 *    disagreement is a classic way to make a proxy and us route differently;
 *  - Transfer-Encoding: only "chunked", once, is implemented.  A list whose
 *    final coding is not chunked (including chunked twice, or with
 *    parameters) is 400: the body's length cannot be known (RFC 9112 6.3
 *    item 4).  Another coding before a final chunked is 501 (RFC 9112
 *    6.1); a malformed list (empty element, junk) is 400;
 *  - POST and PUT on HTTP/1.1 with neither Content-Length nor chunked get
 *    411 Length Required, as HTTP.sys does (RFC 9112 6.3 would allow 0);
 *  - MaxFieldLength counts one field line without its CRLF; a URL longer
 *    than it, or one still going when MaxRequestBytes runs out, is 414;
 *    MaxFieldLength is cut down to MaxRequestBytes (KB 820129);
 *  - the 101st field is 400 Request Too Long (HTTP.sys has no field count
 *    limit of its own that we know of; ours bounds the fixed array).
 */
#include "listener/h1_parse.h"

#include <arpa/inet.h>
#include <string.h>

#define H1_DEFAULT_MAX_REQUEST_BYTES 16384
#define H1_DEFAULT_MAX_FIELD_LENGTH 16384
#define H1_MAX_LEADING_EMPTY 4

/* ---- character classes ------------------------------------------------ */

#define H1_TCHAR 0x01 /* token: RFC 9110 5.6.2 */
#define H1_VCHAR 0x02 /* request-target bytes: VCHAR */
#define H1_FVAL 0x04  /* field-value: VCHAR / obs-text / SP / HTAB (RFC 9110 5.5) */
#define H1_HOST 0x08  /* reg-name: unreserved / sub-delims / "%" (RFC 3986 3.2.2) */
#define H1_DIGIT 0x10
#define H1_HEX 0x20

#define H1_IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define H1_IS_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define H1_IS_HEX(c) (H1_IS_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define H1_IS_TCHAR(c)                                                                            \
    (H1_IS_DIGIT(c) || H1_IS_ALPHA(c) || (c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' ||  \
     (c) == '&' || (c) == '\'' || (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' ||         \
     (c) == '^' || (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')
#define H1_IS_VCHAR(c) ((c) >= 0x21 && (c) <= 0x7e)
#define H1_IS_HOST(c)                                                                             \
    (H1_IS_DIGIT(c) || H1_IS_ALPHA(c) || (c) == '-' || (c) == '.' || (c) == '_' || (c) == '~' ||  \
     (c) == '!' || (c) == '$' || (c) == '&' || (c) == '\'' || (c) == '(' || (c) == ')' ||         \
     (c) == '*' || (c) == '+' || (c) == ',' || (c) == ';' || (c) == '=' || (c) == '%')

#define H1_CLASS(c)                                                                               \
    ((H1_IS_TCHAR(c) ? H1_TCHAR : 0) | (H1_IS_VCHAR(c) ? H1_VCHAR : 0) |                          \
     ((H1_IS_VCHAR(c) || (c) >= 0x80 || (c) == ' ' || (c) == '\t') ? H1_FVAL : 0) |               \
     (H1_IS_HOST(c) ? H1_HOST : 0) | (H1_IS_DIGIT(c) ? H1_DIGIT : 0) |                            \
     (H1_IS_HEX(c) ? H1_HEX : 0))
#define H1_C4(c) H1_CLASS(c), H1_CLASS((c) + 1), H1_CLASS((c) + 2), H1_CLASS((c) + 3)
#define H1_C16(c) H1_C4(c), H1_C4((c) + 4), H1_C4((c) + 8), H1_C4((c) + 12)
#define H1_C64(c) H1_C16(c), H1_C16((c) + 16), H1_C16((c) + 32), H1_C16((c) + 48)

static const unsigned char h1_class[256] = {H1_C64(0), H1_C64(64), H1_C64(128), H1_C64(192)};

static inline unsigned char h1_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* First byte in [p, end) outside the class; unrolled, this is the hot loop. */
static inline const unsigned char *h1_span(const unsigned char *p, const unsigned char *end,
                                           unsigned char mask)
{
    while (end - p >= 4) {
        if (!(h1_class[p[0]] & mask)) {
            return p;
        }
        if (!(h1_class[p[1]] & mask)) {
            return p + 1;
        }
        if (!(h1_class[p[2]] & mask)) {
            return p + 2;
        }
        if (!(h1_class[p[3]] & mask)) {
            return p + 3;
        }
        p += 4;
    }
    while (p < end && (h1_class[*p] & mask)) {
        p++;
    }
    return p;
}

/* Case-insensitive compare of s[0..n) with a lower-case literal of length n. */
static inline bool h1_ieq(const char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (h1_lower((unsigned char)s[i]) != (unsigned char)lit[i]) {
            return false;
        }
    }
    return true;
}

static bool h1_ieq2(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn) {
        return false;
    }
    for (size_t i = 0; i < an; i++) {
        if (h1_lower((unsigned char)a[i]) != h1_lower((unsigned char)b[i])) {
            return false;
        }
    }
    return true;
}

static inline bool h1_is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* ---- host ------------------------------------------------------------- */

/*
 * uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2-3.2.3): IP-literal
 * holding an IPv6 address (no zone id, no IPvFuture) or a reg-name, which
 * also covers IPv4 dotted quads.  Port: at most 5 digits, <= 65535.
 */
static bool h1_valid_host(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n, *q;

    if (n == 0) {
        return true;
    }
    if (*p == '[') {
        char addr[INET6_ADDRSTRLEN + 1];
        unsigned char bin[16];
        size_t alen;

        q = memchr(p, ']', n);
        if (q == NULL) {
            return false;
        }
        alen = (size_t)(q - p - 1);
        if (alen == 0 || alen >= sizeof(addr)) {
            return false;
        }
        for (size_t i = 0; i < alen; i++) {
            unsigned char c = p[1 + i];

            if (!(h1_class[c] & H1_HEX) && c != ':' && c != '.') {
                return false;
            }
        }
        memcpy(addr, p + 1, alen);
        addr[alen] = '\0';
        if (inet_pton(AF_INET6, addr, bin) != 1) {
            return false;
        }
        p = q + 1;
    } else {
        q = p;
        while (p < end && *p != ':') {
            if (!(h1_class[*p] & H1_HOST)) {
                return false;
            }
            if (*p == '%') {
                /* pct-encoded */
                if (end - p < 3 || !(h1_class[p[1]] & H1_HEX) || !(h1_class[p[2]] & H1_HEX)) {
                    return false;
                }
                p += 2;
            }
            p++;
        }
        if (p == q) {
            return false; /* ":80" */
        }
    }
    if (p == end) {
        return true;
    }
    if (*p != ':') {
        return false;
    }
    p++;
    if (end - p > 5) {
        return false;
    }
    unsigned port = 0;
    for (; p < end; p++) {
        if (!(h1_class[*p] & H1_DIGIT)) {
            return false;
        }
        port = port * 10 + (unsigned)(*p - '0');
    }
    return port <= 65535;
}

/* ---- request-target --------------------------------------------------- */

/*
 * RFC 9112 3.2: origin-form, absolute-form, authority-form (CONNECT only,
 * which we do not implement), asterisk-form (OPTIONS only).  For absolute-form
 * the authority is returned through auth/auth_len.
 */
static wasp_httpsys_error_t h1_check_target(const wasp_h1_request_t *r, const char **auth,
                                            size_t *auth_len)
{
    const char *t = r->target;
    size_t n = r->target_len, skip, a;

    *auth = NULL;
    *auth_len = 0;
    if (r->method_len == 7 && memcmp(r->method, "CONNECT", 7) == 0) {
        return WASP_HTTPSYS_NOT_IMPLEMENTED;
    }
    if (t[0] == '/') {
        return WASP_HTTPSYS_NONE;
    }
    if (t[0] == '*') {
        if (n == 1 && r->method_len == 7 && memcmp(r->method, "OPTIONS", 7) == 0) {
            return WASP_HTTPSYS_NONE;
        }
        return WASP_HTTPSYS_INVALID_URL;
    }
    if (n >= 7 && h1_ieq(t, "http://", 7)) {
        skip = 7;
    } else if (n >= 8 && h1_ieq(t, "https://", 8)) {
        skip = 8;
    } else {
        return WASP_HTTPSYS_INVALID_URL;
    }
    for (a = skip; a < n && t[a] != '/' && t[a] != '?' && t[a] != '#'; a++) {
    }
    /* RFC 9110 4.2.1: an http(s) URI has a non-empty host; userinfo is not
     * a reg-name character, so "user@host" fails here too (RFC 9110 4.2.4). */
    if (a == skip || !h1_valid_host(t + skip, a - skip)) {
        return WASP_HTTPSYS_INVALID_URL;
    }
    *auth = t + skip;
    *auth_len = a - skip;
    return WASP_HTTPSYS_NONE;
}

/* ---- field values ----------------------------------------------------- */

/* Content-Length (RFC 9110 8.6): 1*DIGIT, or a list of identical values.
 * Anything else (sign, hex, empty element, overflow) is refused. */
static bool h1_parse_content_length(const char *s, size_t n, int64_t *val)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    int64_t first = -1;

    for (;;) {
        int64_t v = 0;
        const unsigned char *d = p;

        while (p < end && (h1_class[*p] & H1_DIGIT)) {
            int dig = *p - '0';

            if (v > (INT64_MAX - dig) / 10) {
                return false;
            }
            v = v * 10 + dig;
            p++;
        }
        if (p == d) {
            return false;
        }
        if (first >= 0 && v != first) {
            return false;
        }
        first = v;
        while (p < end && h1_is_ows(*p)) {
            p++;
        }
        if (p == end) {
            break;
        }
        if (*p != ',') {
            return false;
        }
        p++;
        while (p < end && h1_is_ows(*p)) {
            p++;
        }
    }
    *val = first;
    return true;
}

enum h1_te_state {
    H1_TE_NONE = 0,    /* no coding yet */
    H1_TE_CHUNKED,     /* chunked is the last coding so far */
    H1_TE_UNKNOWN,     /* some coding we do not implement, chunked not after it */
    H1_TE_BAD          /* malformed, or chunked not last */
};

/*
 * Fold one Transfer-Encoding field value into the running state; several
 * fields form one list in order (RFC 9110 5.3).  transfer-coding =
 * token *( OWS ";" OWS transfer-parameter ) (RFC 9112 7).
 */
static enum h1_te_state h1_fold_te(enum h1_te_state st, bool *seen_unknown, const char *s,
                                   size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;

    for (;;) {
        const unsigned char *tok = p, *q;

        p = h1_span(p, end, H1_TCHAR);
        if (p == tok) {
            return H1_TE_BAD; /* empty element or junk */
        }
        q = p;
        while (q < end && h1_is_ows(*q)) {
            q++;
        }
        if (q < end && *q == ';') {
            /* parameters: no coding we implement takes any */
            *seen_unknown = true;
            if (st == H1_TE_CHUNKED) {
                return H1_TE_BAD;
            }
            st = H1_TE_UNKNOWN;
            while (q < end && *q != ',') {
                q++;
            }
        } else if ((size_t)(p - tok) == 7 && h1_ieq((const char *)tok, "chunked", 7)) {
            if (st == H1_TE_CHUNKED) {
                return H1_TE_BAD; /* twice */
            }
            st = H1_TE_CHUNKED;
        } else {
            *seen_unknown = true;
            if (st == H1_TE_CHUNKED) {
                return H1_TE_BAD; /* chunked not last */
            }
            st = H1_TE_UNKNOWN;
        }
        p = q;
        if (p == end) {
            return st;
        }
        if (*p != ',') {
            return H1_TE_BAD;
        }
        p++;
        while (p < end && h1_is_ows(*p)) {
            p++;
        }
    }
}

/* Connection tokens (RFC 9110 7.6.1): returns bit 1 for "close", bit 2 for
 * "keep-alive"; other tokens are ignored here. */
static unsigned h1_connection_tokens(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    unsigned r = 0;

    while (p < end) {
        const unsigned char *tok, *te;

        while (p < end && (*p == ',' || h1_is_ows(*p))) {
            p++;
        }
        tok = p;
        while (p < end && *p != ',') {
            p++;
        }
        te = p;
        while (te > tok && h1_is_ows(te[-1])) {
            te--;
        }
        if (te - tok == 5 && h1_ieq((const char *)tok, "close", 5)) {
            r |= 1;
        } else if (te - tok == 10 && h1_ieq((const char *)tok, "keep-alive", 10)) {
            r |= 2;
        }
    }
    return r;
}

/* ---- the parser ------------------------------------------------------- */

static void h1_reset(wasp_h1_request_t *out)
{
    out->method = NULL;
    out->method_len = 0;
    out->target = NULL;
    out->target_len = 0;
    out->version_minor = -1;
    out->version_major = -1;
    out->header_count = 0;
    out->host = NULL;
    out->host_len = 0;
    out->content_length = -1;
    out->chunked = false;
    out->expect_continue = false;
    out->keep_alive = false;
    out->head_len = 0;
}

/* Framing and routing rules that need the complete head (RFC 9112 6, 3.2). */
static wasp_httpsys_error_t h1_finish(wasp_h1_request_t *r, const char *auth, size_t auth_len)
{
    const wasp_h1_header_t *host = NULL;
    size_t host_count = 0;
    bool cl_seen = false, te_seen = false, seen_unknown = false;
    enum h1_te_state te = H1_TE_NONE;
    unsigned conn = 0;
    int64_t cl = -1;

    for (size_t i = 0; i < r->header_count; i++) {
        const wasp_h1_header_t *h = &r->headers[i];
        unsigned char c0 = h1_lower((unsigned char)h->name[0]);

        switch (h->name_len) {
        case 4:
            if (c0 == 'h' && h1_ieq(h->name, "host", 4)) {
                host_count++;
                host = h;
            }
            break;
        case 6:
            if (c0 == 'e' && h1_ieq(h->name, "expect", 6) && r->version_minor == 1 &&
                h1_ieq2(h->value, h->value_len, "100-continue", 12)) {
                /* RFC 9110 10.1.1: ignored in an HTTP/1.0 request */
                r->expect_continue = true;
            }
            break;
        case 10:
            if (c0 == 'c' && h1_ieq(h->name, "connection", 10)) {
                conn |= h1_connection_tokens(h->value, h->value_len);
            }
            break;
        case 14:
            if (c0 == 'c' && h1_ieq(h->name, "content-length", 14)) {
                int64_t v;

                /* RFC 9112 6.3 item 5: invalid or differing values are
                 * unrecoverable framing errors. */
                if (!h1_parse_content_length(h->value, h->value_len, &v) ||
                    (cl_seen && v != cl)) {
                    return WASP_HTTPSYS_BAD_REQUEST;
                }
                cl_seen = true;
                cl = v;
            }
            break;
        case 17:
            if (c0 == 't' && h1_ieq(h->name, "transfer-encoding", 17)) {
                te_seen = true;
                if (te != H1_TE_BAD) {
                    te = h1_fold_te(te, &seen_unknown, h->value, h->value_len);
                }
            }
            break;
        default:
            break;
        }
    }

    if (te_seen) {
        /* RFC 9112 6.1: TE in HTTP/1.0 means faulty framing; TE with CL is
         * the request-smuggling shape (RFC 9112 6.3 item 3, 11.2). */
        if (r->version_minor == 0 || cl_seen || te != H1_TE_CHUNKED) {
            return WASP_HTTPSYS_BAD_REQUEST; /* chunked is not the final coding */
        }
        if (seen_unknown) {
            return WASP_HTTPSYS_NOT_IMPLEMENTED; /* RFC 9112 6.1 */
        }
        r->chunked = true;
    }
    r->content_length = cl;

    /* RFC 9112 3.2: exactly one Host in HTTP/1.1; at most one in 1.0. */
    if (host_count > 1 || (host_count == 0 && r->version_minor == 1)) {
        return WASP_HTTPSYS_INVALID_HOSTNAME;
    }
    if (host != NULL) {
        if (!h1_valid_host(host->value, host->value_len)) {
            return WASP_HTTPSYS_INVALID_HOSTNAME;
        }
        if (auth != NULL && !h1_ieq2(host->value, host->value_len, auth, auth_len)) {
            return WASP_HTTPSYS_INVALID_HOSTNAME;
        }
    }
    if (auth != NULL) {
        r->host = auth;
        r->host_len = auth_len;
    } else if (host != NULL) {
        r->host = host->value;
        r->host_len = host->value_len;
    }

    if (r->version_minor == 1 && !cl_seen && !r->chunked &&
        ((r->method_len == 4 && memcmp(r->method, "POST", 4) == 0) ||
         (r->method_len == 3 && memcmp(r->method, "PUT", 3) == 0))) {
        return WASP_HTTPSYS_LENGTH_REQUIRED;
    }

    /* RFC 9112 9.3: persistent by default in 1.1, opt-in in 1.0. */
    if (conn & 1) {
        r->keep_alive = false;
    } else if (r->version_minor == 1) {
        r->keep_alive = true;
    } else {
        r->keep_alive = (conn & 2) != 0;
    }
    return WASP_HTTPSYS_NONE;
}

wasp_h1_result_t wasp_h1_parse_request(const char *buf, size_t len, const wasp_h1_limits_t *lim,
                                       wasp_h1_request_t *out, wasp_httpsys_error_t *err)
{
    const unsigned char *start = (const unsigned char *)buf, *p = start, *end;
    const unsigned char *line, *q;
    size_t max_req = H1_DEFAULT_MAX_REQUEST_BYTES, max_field = H1_DEFAULT_MAX_FIELD_LENGTH;
    const char *auth;
    size_t auth_len;
    wasp_httpsys_error_t e = WASP_HTTPSYS_BAD_REQUEST;
    int i;

    h1_reset(out);
    *err = WASP_HTTPSYS_NONE;
    if (lim != NULL) {
        if (lim->max_request_bytes != 0) {
            max_req = lim->max_request_bytes;
        }
        if (lim->max_field_length != 0) {
            max_field = lim->max_field_length;
        }
    }
    /* KB 820129: MaxFieldLength is reduced to MaxRequestBytes. */
    if (max_field > max_req) {
        max_field = max_req;
    }
    /* Only the first max_req bytes may hold the head; running out of them
     * means the head is too long, running out of input means "more".  So
     * every answer depends on the first max_req + 1 bytes only, and never
     * on how they were split into reads. */
    end = start + (len < max_req ? len : max_req);

    /* RFC 9112 2.2: a few empty lines before the request-line are ignored. */
    for (i = 0;; i++) {
        if (p >= end) {
            goto more;
        }
        if (*p != '\r') {
            if (*p == '\n') {
                goto refuse; /* bare LF */
            }
            break;
        }
        if (i == H1_MAX_LEADING_EMPTY) {
            goto refuse;
        }
        if (end - p < 2) {
            goto more;
        }
        if (p[1] != '\n') {
            goto refuse; /* bare CR */
        }
        p += 2;
    }

    /* method = token SP (RFC 9112 3.1) */
    q = p;
    p = h1_span(p, end, H1_TCHAR);
    if (p >= end) {
        goto more;
    }
    out->method = (const char *)q;
    out->method_len = (size_t)(p - q);
    if (*p != ' ') {
        /* CR / LF: a broken line, not a broken verb */
        e = (*p == '\r' || *p == '\n') ? WASP_HTTPSYS_BAD_REQUEST : WASP_HTTPSYS_INVALID_VERB;
        goto refuse;
    }
    if (p == q) {
        e = WASP_HTTPSYS_INVALID_VERB;
        goto refuse;
    }
    p++;

    /* request-target SP: VCHAR only (RFC 9112 3.2, 3: no whitespace inside) */
    q = p;
    p = h1_span(p, end, H1_VCHAR);
    /* Over MaxFieldLength, or still inside the URL when MaxRequestBytes runs
     * out: the URL is what is too long (414, as HTTP.sys answers a URL over
     * 16 KiB with the default limits, where both are 16384). */
    if ((size_t)(p - q) > max_field || (p >= end && len > max_req)) {
        e = WASP_HTTPSYS_URL_TOO_LONG;
        goto refuse;
    }
    if (p >= end) {
        goto more;
    }
    if (*p != ' ') {
        e = (*p == '\r' || *p == '\n') ? WASP_HTTPSYS_BAD_REQUEST : WASP_HTTPSYS_INVALID_URL;
        goto refuse;
    }
    if (p == q) {
        goto refuse; /* two SPs */
    }
    out->target = (const char *)q;
    out->target_len = (size_t)(p - q);
    e = h1_check_target(out, &auth, &auth_len);
    if (e != WASP_HTTPSYS_NONE) {
        goto refuse;
    }
    e = WASP_HTTPSYS_BAD_REQUEST;
    p++;

    /* HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive (RFC 9112 2.3) */
    q = p;
    for (i = 0; i < 8; i++, p++) {
        bool ok;

        if (p >= end) {
            goto more;
        }
        if (i < 5) {
            ok = *p == (unsigned char)"HTTP/"[i];
        } else if (i == 6) {
            ok = *p == '.';
        } else {
            ok = (h1_class[*p] & H1_DIGIT) != 0;
        }
        if (!ok) {
            goto refuse;
        }
    }
    if (p >= end) {
        goto more;
    }
    if (*p != '\r') {
        goto refuse;
    }
    if (end - p < 2) {
        goto more;
    }
    if (p[1] != '\n') {
        goto refuse;
    }
    p += 2;
    out->version_major = q[5] - '0';
    out->version_minor = q[7] - '0';
    if (out->version_major != 1 || out->version_minor > 1) {
        e = WASP_HTTPSYS_VERSION_NOT_SUPPORTED;
        goto refuse;
    }

    /* field-line = field-name ":" OWS field-value OWS CRLF (RFC 9112 5) */
    for (;;) {
        const unsigned char *colon, *val, *ve;
        wasp_h1_header_t *h;

        if (p >= end) {
            goto more;
        }
        line = p;
        if (*p == '\r') {
            if (end - p < 2) {
                goto more;
            }
            if (p[1] != '\n') {
                goto refuse;
            }
            p += 2;
            break;
        }
        if (*p == '\n' || h1_is_ows(*p)) {
            goto refuse; /* bare LF; obs-fold or SP after the start-line (RFC 9112 2.2, 5.2) */
        }

        p = h1_span(p, end, H1_TCHAR); /* field-name */
        if ((size_t)(p - line) > max_field) {
            e = WASP_HTTPSYS_FIELD_TOO_LONG;
            goto refuse;
        }
        if (p >= end) {
            goto more;
        }
        if (*p != ':') {
            if (*p == '\n') {
                goto refuse;
            }
            if (*p == '\r') {
                if (end - p < 2) {
                    goto more;
                }
                if (p[1] != '\n') {
                    goto refuse;
                }
            }
            /* no colon, or whitespace / junk before it (RFC 9112 5.1) */
            e = WASP_HTTPSYS_INVALID_HEADER;
            goto refuse;
        }
        if (p == line) {
            e = WASP_HTTPSYS_INVALID_HEADER;
            goto refuse;
        }
        colon = p++;
        while (p < end && h1_is_ows(*p)) {
            p++;
        }
        val = p;
        p = h1_span(p, end, H1_FVAL);
        if ((size_t)(p - line) > max_field) {
            e = WASP_HTTPSYS_FIELD_TOO_LONG;
            goto refuse;
        }
        if (p >= end) {
            goto more;
        }
        if (*p != '\r') {
            goto refuse; /* bare LF, NUL or another CTL (RFC 9110 5.5) */
        }
        if (end - p < 2) {
            goto more;
        }
        if (p[1] != '\n') {
            goto refuse;
        }
        if (out->header_count == WASP_H1_MAX_HEADERS) {
            e = WASP_HTTPSYS_REQUEST_TOO_LONG;
            goto refuse;
        }
        ve = p;
        while (ve > val && h1_is_ows(ve[-1])) {
            ve--;
        }
        h = &out->headers[out->header_count++];
        h->name = (const char *)line;
        h->name_len = (size_t)(colon - line);
        h->value = (const char *)val;
        h->value_len = (size_t)(ve - val);
        p += 2;
    }

    e = h1_finish(out, auth, auth_len);
    if (e != WASP_HTTPSYS_NONE) {
        goto refuse;
    }
    out->head_len = (size_t)(p - start);
    return WASP_H1_DONE;

more:
    if (len > max_req) {
        e = WASP_HTTPSYS_REQUEST_TOO_LONG;
        goto refuse;
    }
    return WASP_H1_INCOMPLETE;

refuse:
    *err = e;
    return WASP_H1_REFUSED;
}

const wasp_h1_header_t *wasp_h1_find_header(const wasp_h1_request_t *req, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < req->header_count; i++) {
        const wasp_h1_header_t *h = &req->headers[i];

        if (h->name_len == n && h1_ieq2(h->name, n, name, n)) {
            return h;
        }
    }
    return NULL;
}
