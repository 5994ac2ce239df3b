/*
 * Validators, preconditions and byte ranges for static responses: the IIS
 * ETag format, entity-tag list matching (RFC 9110 8.8.3, 13.1.1, 13.1.2),
 * If-Range (13.1.5) and Range parsing (14.1, 14.2).  Pure functions, no
 * allocation; StaticFileModule applies them in the order of RFC 9110 13.2.2.
 */
#ifndef WASP_MODULES_HTTP_COND_H
#define WASP_MODULES_HTTP_COND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* '"' + 16 hex digits + ":0" + '"' + NUL */
#define WASP_HTTP_COND_ETAG_SIZE 22

/* IIS' ETag of a file: "<hex FILETIME of the last write>:<change number>" in
 * quotes, the change number always 0 on IIS 7+ (iis-modules.md 2.3).  FILETIME
 * counts 100 ns ticks since 1601-01-01 UTC; lower-case hex, no leading zeros,
 * e.g. "1d4a2c5f3b2e8c0:0".  Writes into buf (WASP_HTTP_COND_ETAG_SIZE) and
 * returns the length. */
size_t wasp_http_cond_etag_iis(const struct timespec *mtime, char *buf);

/* Does an If-Match / If-None-Match field value (a '*' or a comma-separated
 * list of entity-tags) match etag, our current tag (with quotes, optionally
 * W/-prefixed; NULL when the resource has none)?  '*' matches any existing
 * representation.  weak selects weak comparison (If-None-Match), otherwise
 * strong (If-Match): a W/ tag on either side never matches strongly.  A
 * malformed list matches nothing from the malformed element on. */
bool wasp_http_cond_etag_match(const char *field, size_t len, const char *etag, bool weak);

/* If-Range (RFC 9110 13.1.5): true when the Range header may be honoured.
 * An entity-tag is compared strongly with etag; an HTTP-date must equal the
 * Last-Modified time (mtime, whole seconds) exactly; anything else (weak tag,
 * invalid date) is false, i.e. the whole representation is sent. */
bool wasp_http_cond_if_range(const char *field, size_t len, const char *etag, time_t mtime);

/* Ranges beyond this count make the server ignore Range and answer 200
 * (RFC 9110 14.2 allows ignoring; many tiny ranges are a known DoS shape). */
#define WASP_HTTP_COND_RANGE_MAX 16

typedef struct wasp_http_cond_range {
    uint64_t first; /* inclusive */
    uint64_t last;  /* inclusive */
} wasp_http_cond_range_t;

typedef enum wasp_http_cond_range_result {
    WASP_HTTP_COND_RANGE_IGNORE,        /* send 200 with the whole representation */
    WASP_HTTP_COND_RANGE_PARTIAL,       /* send 206 with out[0..*count)          */
    WASP_HTTP_COND_RANGE_UNSATISFIABLE  /* send 416, Content-Range: bytes * /size  */
} wasp_http_cond_range_result_t;

/* Parse a Range field value for a representation of size bytes; out must
 * hold WASP_HTTP_COND_RANGE_MAX ranges.
 *
 * IGNORE when: the unit is not "bytes" (case-insensitive), the syntax is
 * invalid (including last-pos < first-pos), there are more than
 * WASP_HTTP_COND_RANGE_MAX ranges, the satisfiable ranges add up to more
 * than size (overlap abuse such as "0-,0-,0-"), or size is 0 (no byte range
 * of an empty file can be expressed in a Content-Range).
 * UNSATISFIABLE when no range-spec has first-pos < size and no suffix-range
 * has a non-zero length.
 * PARTIAL otherwise: unsatisfiable specs are dropped, last-pos is clipped to
 * size - 1, a suffix longer than size means the whole representation.  When
 * the ranges are not already ascending and apart they are sorted and
 * overlapping or adjacent ones merged (RFC 9110 14.2 allows coalescing), so
 * out[] is always ascending and disjoint. */
wasp_http_cond_range_result_t wasp_http_cond_range_parse(const char *field, size_t len,
                                                         uint64_t size,
                                                         wasp_http_cond_range_t *out,
                                                         size_t *count);

#endif
