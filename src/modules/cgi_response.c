/*
 * The header part of a CGI response, parsed incrementally (see
 * cgi_response.h).  Bytes are gathered line by line into h->buf, so a line
 * split over any number of reads parses exactly as if it came at once; the
 * body starts right after the empty line and is never copied.
 *
 * The rules are those of RFC 3875 section 6.3 with the strictness of an HTTP
 * server that must not forward what it cannot frame: a header name is an
 * HTTP token (RFC 9110 5.1) directly followed by ':', a value has no control
 * character but HT (what the listener would drop anyway), a line starting
 * with whitespace (obs-fold, RFC 9112 5.2) is refused rather than unfolded,
 * and Status and Location may appear once.
 */
#include "modules/cgi_response.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* While the head is read, status 0 means "no Status header yet"; the
 * default (200, or 302 for a client redirect) is set when the head ends. */
void cgi_head_init(cgi_head_t *h)
{
    memset(h, 0, sizeof(*h));
}

void cgi_head_free(cgi_head_t *h)
{
    for (size_t i = 0; i < h->header_count; i++) {
        free(h->headers[i].name);
        free(h->headers[i].value);
    }
    free(h->location);
    free(h->buf);
    cgi_head_init(h);
}

static bool cgi_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool cgi_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static char *cgi_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static cgi_head_result_t cgi_fail(cgi_head_t *h, const char *why)
{
    h->error = why;
    return CGI_HEAD_ERROR;
}

/* "NNN" or "NNN reason": a final status the server can send. */
static cgi_head_result_t cgi_status(cgi_head_t *h, const char *v, size_t n)
{
    int code = 0;

    if (n < 3 || (n > 3 && v[3] != ' ' && v[3] != '\t')) {
        return cgi_fail(h, "The Status header is not a three-digit code and a reason.");
    }
    for (size_t i = 0; i < 3; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return cgi_fail(h, "The Status header is not a three-digit code and a reason.");
        }
        code = code * 10 + (v[i] - '0');
    }
    if (code < 200 || code > 599) {
        return cgi_fail(h, "The Status header gives a code outside 200-599.");
    }
    size_t r = 3;
    while (r < n && (v[r] == ' ' || v[r] == '\t')) {
        r++;
    }
    size_t rlen = n - r;
    if (rlen >= sizeof(h->reason)) {
        rlen = sizeof(h->reason) - 1; /* a phrase is informative only */
    }
    memcpy(h->reason, v + r, rlen);
    h->reason[rlen] = '\0';
    h->status = code;
    return CGI_HEAD_MORE;
}

/* One header line without its line end. */
static cgi_head_result_t cgi_line(cgi_head_t *h, const char *line, size_t len)
{
    size_t colon = 0;

    if (line[0] == ' ' || line[0] == '\t') {
        return cgi_fail(h, "A header line starts with whitespace (obsolete line folding).");
    }
    while (colon < len && cgi_tchar((unsigned char)line[colon])) {
        colon++;
    }
    if (colon == len || line[colon] != ':') {
        return cgi_fail(h, "A header line is not a token name followed by ':'.");
    }
    if (colon == 0) {
        return cgi_fail(h, "A header line has an empty name.");
    }
    size_t vs = colon + 1, ve = len;
    while (vs < ve && (line[vs] == ' ' || line[vs] == '\t')) {
        vs++;
    }
    while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t')) {
        ve--;
    }
    for (size_t i = vs; i < ve; i++) {
        if (!cgi_value_char((unsigned char)line[i])) {
            return cgi_fail(h, "A header value contains a control character (CR, NUL, ...).");
        }
    }
    const char *v = line + vs;
    size_t vn = ve - vs;

    if (colon == 6 && strncasecmp(line, "Status", 6) == 0) {
        if (h->status != 0) {
            return cgi_fail(h, "The Status header appears more than once.");
        }
        return cgi_status(h, v, vn);
    }
    if (colon == 8 && strncasecmp(line, "Location", 8) == 0) {
        if (h->location != NULL) {
            return cgi_fail(h, "The Location header appears more than once.");
        }
        if (vn == 0) {
            return cgi_fail(h, "The Location header is empty.");
        }
        h->location = cgi_strndup(v, vn);
        return h->location ? CGI_HEAD_MORE : cgi_fail(h, "Out of memory.");
    }
    if (h->header_count == CGI_RESPONSE_MAX_HEADERS) {
        return cgi_fail(h, "The response has too many header lines.");
    }
    cgi_header_t *hd = &h->headers[h->header_count];
    hd->name = cgi_strndup(line, colon);
    hd->value = cgi_strndup(v, vn);
    if (hd->name == NULL || hd->value == NULL) {
        free(hd->name);
        free(hd->value);
        hd->name = hd->value = NULL;
        return cgi_fail(h, "Out of memory.");
    }
    h->header_count++;
    return CGI_HEAD_MORE;
}

/* The empty line: decide what kind of response this is (RFC 3875 6.2). */
static cgi_head_result_t cgi_complete(cgi_head_t *h)
{
    if (h->status == 0 && h->location == NULL && h->header_count == 0) {
        return cgi_fail(h, "The CGI application sent no header before the empty line.");
    }
    if (h->status == 0) {
        h->status = 200;
        if (h->location != NULL) {
            /* "/path" is a local URI; "//host/..." is a network-path
             * reference, i.e. another server: a client redirect. */
            h->local_redirect = h->location[0] == '/' && h->location[1] != '/';
            h->status = h->local_redirect ? 200 : 302;
        }
    }
    free(h->buf);
    h->buf = NULL;
    h->buf_len = h->buf_cap = 0;
    return CGI_HEAD_DONE;
}

static bool cgi_buf_add(cgi_head_t *h, const char *data, size_t n)
{
    if (h->buf_len + n > h->buf_cap) {
        size_t cap = h->buf_cap ? h->buf_cap : 256;

        while (cap < h->buf_len + n) {
            cap *= 2;
        }
        char *p = realloc(h->buf, cap);
        if (p == NULL) {
            return false;
        }
        h->buf = p;
        h->buf_cap = cap;
    }
    memcpy(h->buf + h->buf_len, data, n);
    h->buf_len += n;
    return true;
}

/* A finished head has released its line buffer: every byte taken before
 * went through buf, so head_bytes > 0 with no buf means "done". */
static bool cgi_done(const cgi_head_t *h)
{
    return h->error == NULL && h->head_bytes > 0 && h->buf == NULL;
}

cgi_head_result_t cgi_head_parse(cgi_head_t *h, const char *data, size_t len, size_t *used)
{
    size_t i = 0;

    *used = 0;
    if (h->error != NULL) {
        return CGI_HEAD_ERROR;
    }
    if (cgi_done(h)) {
        return CGI_HEAD_DONE;
    }
    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t take = nl ? (size_t)(nl - (data + i)) + 1 : len - i;

        if (h->head_bytes + take > CGI_RESPONSE_MAX_HEAD) {
            *used = i;
            return cgi_fail(h, "The response headers are larger than 64 KiB.");
        }
        if (!cgi_buf_add(h, data + i, take)) {
            *used = i;
            return cgi_fail(h, "Out of memory.");
        }
        h->head_bytes += take;
        i += take;
        if (nl == NULL) {
            break;
        }
        size_t ll = h->buf_len - 1;
        if (ll > 0 && h->buf[ll - 1] == '\r') {
            ll--;
        }
        h->buf_len = 0;
        *used = i;
        cgi_head_result_t r = ll == 0 ? cgi_complete(h) : cgi_line(h, h->buf, ll);
        if (r != CGI_HEAD_MORE) {
            return r;
        }
    }
    *used = len;
    return CGI_HEAD_MORE;
}

cgi_head_result_t cgi_head_finish(cgi_head_t *h)
{
    if (h->error != NULL) {
        return CGI_HEAD_ERROR;
    }
    if (cgi_done(h)) {
        return CGI_HEAD_DONE;
    }
    return cgi_fail(h, h->head_bytes == 0
                           ? "The CGI application ended without writing anything."
                           : "The CGI application's output ended before the end of its headers.");
}
