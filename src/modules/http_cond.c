/*
 * Validators, preconditions and byte ranges (RFC 9110 8.8, 13.1, 14).
 * See http_cond.h for the decisions; this file keeps to the grammar.
 */
#include "modules/http_cond.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "modules/http_date.h"

/* Seconds between 1601-01-01 and 1970-01-01 (FILETIME epoch vs Unix epoch). */
#define HTTP_COND_FILETIME_EPOCH_DIFF 11644473600ULL

size_t wasp_http_cond_etag_iis(const struct timespec *mtime, char *buf)
{
    /* Times before 1601 cannot be a FILETIME; clamp to its epoch. */
    uint64_t ticks = 0;
    if ((long long)mtime->tv_sec >= -(long long)HTTP_COND_FILETIME_EPOCH_DIFF)
        ticks = ((uint64_t)((long long)mtime->tv_sec + (long long)HTTP_COND_FILETIME_EPOCH_DIFF)) *
                    10000000ULL +
                (uint64_t)mtime->tv_nsec / 100;
    int n = snprintf(buf, WASP_HTTP_COND_ETAG_SIZE, "\"%" PRIx64 ":0\"", ticks);
    return n > 0 ? (size_t)n : 0;
}

static bool http_cond_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* One entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE at *p.  On success *p moves
 * past it and tag/tag_len/weak describe the opaque-tag including quotes. */
static bool http_cond_next_tag(const char **p, const char *end, const char **tag,
                               size_t *tag_len, bool *weak)
{
    const char *s = *p;
    *weak = false;
    if (end - s >= 2 && s[0] == 'W' && s[1] == '/') {
        *weak = true;
        s += 2;
    }
    if (s >= end || *s != '"')
        return false;
    const char *q = memchr(s + 1, '"', (size_t)(end - s - 1));
    if (q == NULL)
        return false;
    *tag = s;
    *tag_len = (size_t)(q + 1 - s);
    *p = q + 1;
    return true;
}

bool wasp_http_cond_etag_match(const char *field, size_t len, const char *etag, bool weak)
{
    if (field == NULL)
        return false;
    const char *p = field, *end = field + len;
    while (p < end && http_cond_ows(*p))
        p++;
    while (end > p && http_cond_ows(end[-1]))
        end--;
    if (end - p == 1 && *p == '*')
        return true; /* the representation exists: the caller only asks then */
    if (etag == NULL)
        return false;

    bool our_weak = etag[0] == 'W' && etag[1] == '/';
    const char *our = our_weak ? etag + 2 : etag;
    size_t our_len = strlen(our);
    if (!weak && our_weak)
        return false;

    while (p < end) {
        /* #list: empty elements and OWS around commas are allowed. */
        while (p < end && (http_cond_ows(*p) || *p == ','))
            p++;
        if (p >= end)
            break;
        const char *tag;
        size_t tag_len;
        bool tag_weak;
        if (!http_cond_next_tag(&p, end, &tag, &tag_len, &tag_weak))
            return false;
        if ((weak || !tag_weak) && tag_len == our_len && memcmp(tag, our, our_len) == 0)
            return true;
        while (p < end && http_cond_ows(*p))
            p++;
        if (p < end && *p != ',')
            return false;
    }
    return false;
}

bool wasp_http_cond_if_range(const char *field, size_t len, const char *etag, time_t mtime)
{
    if (field == NULL)
        return false;
    while (len > 0 && http_cond_ows(*field)) {
        field++;
        len--;
    }
    /* RFC 9110 13.1.5: an entity-tag starts with DQUOTE or W/. */
    if (len >= 1 && (field[0] == '"' || (len >= 2 && field[0] == 'W' && field[1] == '/'))) {
        if (field[0] == 'W')
            return false; /* weak tags never match for If-Range */
        while (len > 0 && http_cond_ows(field[len - 1]))
            len--;
        return etag != NULL && etag[0] == '"' && strlen(etag) == len &&
               memcmp(field, etag, len) == 0;
    }
    time_t t;
    return wasp_http_date_parse(field, len, &t) == 0 && t == mtime;
}

/* 1*DIGIT, saturating at UINT64_MAX (a huge first-pos is then simply
 * unsatisfiable, a huge last-pos is clipped). */
static bool http_cond_num(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s >= end || *s < '0' || *s > '9')
        return false;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    *p = s;
    *out = v;
    return true;
}

static int http_cond_range_cmp(const void *a, const void *b)
{
    const wasp_http_cond_range_t *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

wasp_http_cond_range_result_t wasp_http_cond_range_parse(const char *field, size_t len,
                                                         uint64_t size,
                                                         wasp_http_cond_range_t *out,
                                                         size_t *count)
{
    *count = 0;
    if (field == NULL)
        return WASP_HTTP_COND_RANGE_IGNORE;
    const char *p = field, *end = field + len;
    while (p < end && http_cond_ows(*p))
        p++;
    /* ranges-specifier = range-unit "=" range-set; unit case-insensitive. */
    if (end - p < 6 || strncasecmp(p, "bytes=", 6) != 0)
        return WASP_HTTP_COND_RANGE_IGNORE;
    p += 6;

    size_t n = 0, specs = 0;
    uint64_t total = 0;
    while (p < end) {
        while (p < end && (http_cond_ows(*p) || *p == ','))
            p++;
        if (p >= end)
            break;
        if (++specs > WASP_HTTP_COND_RANGE_MAX)
            return WASP_HTTP_COND_RANGE_IGNORE;

        uint64_t first, last;
        bool satisfiable;
        if (*p == '-') {
            /* suffix-range = "-" suffix-length */
            uint64_t suffix;
            p++;
            if (!http_cond_num(&p, end, &suffix))
                return WASP_HTTP_COND_RANGE_IGNORE;
            satisfiable = suffix > 0 && size > 0;
            first = suffix >= size ? 0 : size - suffix;
            last = size ? size - 1 : 0;
        } else {
            /* int-range = first-pos "-" [ last-pos ] */
            if (!http_cond_num(&p, end, &first) || p >= end || *p != '-')
                return WASP_HTTP_COND_RANGE_IGNORE;
            p++;
            last = UINT64_MAX;
            if (p < end && *p >= '0' && *p <= '9') {
                http_cond_num(&p, end, &last);
                if (last < first)
                    return WASP_HTTP_COND_RANGE_IGNORE; /* invalid range-spec, 14.1.1 */
            }
            satisfiable = first < size;
            if (satisfiable && last > size - 1)
                last = size - 1;
        }
        while (p < end && http_cond_ows(*p))
            p++;
        if (p < end && *p != ',')
            return WASP_HTTP_COND_RANGE_IGNORE;

        if (!satisfiable)
            continue;
        /* total <= size before the addition and each range <= size, so this
         * cannot wrap for any size an off_t can describe. */
        total += last - first + 1;
        if (total > size)
            return WASP_HTTP_COND_RANGE_IGNORE;
        out[n++] = (wasp_http_cond_range_t){first, last};
    }
    if (specs == 0)
        return WASP_HTTP_COND_RANGE_IGNORE; /* "bytes=" alone is not a range-set */
    if (size == 0)
        return WASP_HTTP_COND_RANGE_IGNORE;
    if (n == 0)
        return WASP_HTTP_COND_RANGE_UNSATISFIABLE;

    /* Keep the client's order when it is already ascending and apart (RFC
     * 9110 14.6 asks for request order); otherwise sort and merge. */
    bool ordered = true;
    for (size_t i = 1; i < n && ordered; i++)
        ordered = out[i].first > out[i - 1].last + 1;
    if (!ordered) {
        qsort(out, n, sizeof(*out), http_cond_range_cmp);
        size_t w = 0;
        for (size_t i = 1; i < n; i++) {
            if (out[i].first <= out[w].last + 1) {
                if (out[i].last > out[w].last)
                    out[w].last = out[i].last;
            } else {
                out[++w] = out[i];
            }
        }
        n = w + 1;
    }
    *count = n;
    return WASP_HTTP_COND_RANGE_PARTIAL;
}
