/*
 * Helpers shared by the built-in static-site modules (see modutil.h).
 */
#include "modules/modutil.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool modutil_buf_reserve(wasp_modutil_buf_t *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->cap - b->len > extra)
        return true; /* keep one byte for the NUL that printf writes */
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= extra) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->ptr, cap);
    if (p == NULL) {
        b->oom = true;
        return false;
    }
    b->ptr = p;
    b->cap = cap;
    return true;
}

void wasp_modutil_buf_append(wasp_modutil_buf_t *b, const void *data, size_t len)
{
    if (len == 0 || !modutil_buf_reserve(b, len))
        return;
    memcpy(b->ptr + b->len, data, len);
    b->len += len;
}

void wasp_modutil_buf_puts(wasp_modutil_buf_t *b, const char *s)
{
    wasp_modutil_buf_append(b, s, strlen(s));
}

void wasp_modutil_buf_printf(wasp_modutil_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0 || !modutil_buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void wasp_modutil_buf_html(wasp_modutil_buf_t *b, const char *s, size_t len)
{
    size_t run = 0; /* bytes since the last escaped one, appended in one go */
    for (size_t i = 0; i < len; i++) {
        const char *rep;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: continue;
        }
        wasp_modutil_buf_append(b, s + run, i - run);
        wasp_modutil_buf_puts(b, rep);
        run = i + 1;
    }
    wasp_modutil_buf_append(b, s + run, len - run);
}

static bool modutil_path_safe(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    /* RFC 3986 unreserved, '/', and the sub-delims / pchar extras that mean
     * nothing to HTML either ('&' and '\'' are encoded so that the result can
     * go into an HTML attribute unchanged). */
    return c != '\0' && strchr("-._~/!$()*+,;=:@", c) != NULL;
}

void wasp_modutil_buf_url_path(wasp_modutil_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (modutil_path_safe(c))
            continue;
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        wasp_modutil_buf_append(b, s + run, i - run);
        wasp_modutil_buf_append(b, esc, 3);
        run = i + 1;
    }
    wasp_modutil_buf_append(b, s + run, len - run);
}

void wasp_modutil_buf_free(wasp_modutil_buf_t *b)
{
    free(b->ptr);
    *b = (wasp_modutil_buf_t){0};
}

char *wasp_modutil_strdup(wasp_request_t *req, const char *s, size_t len)
{
    char *p = wasp_request_alloc(req, len + 1);
    if (p != NULL) {
        if (len)
            memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

char *wasp_modutil_printf(wasp_request_t *req, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = wasp_request_alloc(req, (size_t)n + 1);
    if (p == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

bool wasp_modutil_str_ieq(wasp_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.ptr != NULL && s.len == n && strncasecmp(s.ptr, lit, n) == 0;
}

int wasp_modutil_enum(const wasp_section_t *s, const char *attr, const char *const *names,
                      size_t count, int dflt)
{
    const char *v = s ? wasp_section_attr(s, attr) : NULL;
    if (v == NULL)
        return dflt;
    for (size_t i = 0; i < count; i++)
        if (strcasecmp(v, names[i]) == 0)
            return (int)i;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (end != v && *end == '\0' && n < count)
        return (int)n;
    return dflt;
}

/* Decimal digits; false when there are none or the value overflows. */
static bool modutil_num(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s++ - '0');
    }
    *p = s;
    *out = v;
    return true;
}

int wasp_modutil_timespan(const char *text, uint64_t *seconds)
{
    if (text == NULL)
        return -1;
    const char *p = text;
    while (*p == ' ' || *p == '\t')
        p++;
    uint64_t part[4], days = 0, hh = 0, mm = 0, ss = 0;
    size_t n = 0;
    bool dotted = false;
    if (!modutil_num(&p, &part[n++]))
        return -1;
    if (*p == '.') {
        /* "d.hh:mm[:ss[.f]]" */
        dotted = true;
        days = part[0];
        p++;
        n = 0;
        if (!modutil_num(&p, &part[n++]))
            return -1;
        if (*p != ':')
            return -1;
    }
    while (*p == ':' && n < 4) {
        p++;
        if (!modutil_num(&p, &part[n++]))
            return -1;
    }
    if (n >= 3 && *p == '.') { /* fraction of a second: dropped */
        uint64_t frac;
        p++;
        if (!modutil_num(&p, &frac))
            return -1;
    }
    switch (n) {
    case 1: /* .NET TimeSpan: a lone number is days */
        if (dotted)
            return -1;
        days = part[0];
        break;
    case 2:
        hh = part[0], mm = part[1];
        break;
    case 3:
        hh = part[0], mm = part[1], ss = part[2];
        break;
    default: /* "d:hh:mm:ss" */
        if (dotted)
            return -1;
        days = part[0], hh = part[1], mm = part[2], ss = part[3];
        break;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    /* Hours may exceed 23 ("29:00:00"), as the configuration system allows. */
    if (*p != '\0' || mm > 59 || ss > 59 || days > 100000000 || hh > 100000000 * 24ULL)
        return -1;
    *seconds = days * 86400 + hh * 3600 + mm * 60 + ss;
    return 0;
}

bool wasp_modutil_method_is(const wasp_request_t *req, const char *method)
{
    wasp_str_t m = wasp_request_method(req);
    size_t n = strlen(method);
    return m.ptr != NULL && m.len == n && memcmp(m.ptr, method, n) == 0;
}

void wasp_modutil_set_headerf(wasp_request_t *req, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *p = wasp_request_alloc(req, (size_t)n + 1);
    if (p == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    wasp_response_set_header(req, name, p);
}

void wasp_modutil_set_content_length(wasp_request_t *req, uint64_t length)
{
    wasp_modutil_set_headerf(req, "Content-Length", "%" PRIu64, length);
}
