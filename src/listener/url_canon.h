/*
 * URL canonicalisation before routing, the HTTP.sys way: the path of the
 * request-target is percent-decoded exactly once (and %uNNNN when
 * PercentUAllowed), '\' is taken as '/', dot-segments are resolved, and a
 * path that climbs above the root, or that decodes to NUL or control
 * characters (unless AllowRestrictedChars), or whose segments exceed
 * UrlSegmentMaxLength / UrlSegmentMaxCount, is refused with 400 Invalid URL.
 * A decoded path that is not UTF-8 is taken as Windows-1252 (HTTP.sys'
 * "ANSI code page" of an en-US server) and converted to UTF-8 when
 * EnableNonUTF8 allows it, else refused; FavorUTF8 = 0 takes every path as
 * Windows-1252 first.  The query string is returned raw.
 */
#ifndef WASP_URL_CANON_H
#define WASP_URL_CANON_H

#include <stdbool.h>
#include <stddef.h>

#include "httpsys_error.h"

typedef struct wasp_url_limits {
    size_t max_url_length;     /* MaxFieldLength bounds the URL: longer → 414 */
    size_t segment_max_length; /* UrlSegmentMaxLength, default 260, 0 = unlimited */
    size_t segment_max_count;  /* UrlSegmentMaxCount, default 255, 0 = unlimited */
    bool allow_restricted_chars; /* AllowRestrictedChars, default false */
    bool percent_u_allowed;      /* PercentUAllowed, default true */
    bool enable_non_utf8;        /* EnableNonUTF8, default true */
    bool favor_utf8;             /* FavorUTF8, default true */
} wasp_url_limits_t;

void wasp_url_limits_default(wasp_url_limits_t *lim);

typedef struct wasp_url {
    /* absolute-form only: the authority (host[:port]) as sent, else NULL */
    const char *authority;
    size_t authority_len;
    const char *query; /* points into the target, after '?'; NULL if no '?' */
    size_t query_len;
    size_t path_len;   /* bytes written to the caller's path buffer (no NUL counted) */
    bool asterisk;     /* the request-target was "*" (OPTIONS) */
} wasp_url_t;

/* Canonicalise target[0..len) into path (NUL-terminated, at most path_size
 * bytes including the NUL).  Returns WASP_HTTPSYS_NONE or the refusal. */
wasp_httpsys_error_t wasp_url_canon(const char *target, size_t len, const wasp_url_limits_t *lim,
                                    char *path, size_t path_size, wasp_url_t *out);

#endif
