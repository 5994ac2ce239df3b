/*
 * Strict HTTP/1.1 request-head parser (RFC 9110, RFC 9112), our own.
 *
 * Stateless and zero-copy: it is handed the whole buffer received so far and
 * either needs more bytes, or returns a parsed head whose strings point into
 * that buffer, or refuses the request with the HTTP.sys answer that fits
 * (httpsys_error.h).  The caller re-parses from the start when more bytes
 * arrive; heads are small (MaxRequestBytes, 16 KiB by default), so this costs
 * little and keeps no state to get wrong.
 *
 * Refused (never "repaired"): obs-fold, whitespace between a field name and
 * its colon, bare CR, bare LF as a line end, invalid tokens in method or field
 * names, invalid field-value bytes, Content-Length together with
 * Transfer-Encoding, differing or invalid Content-Length values, a
 * Transfer-Encoding whose final coding is not chunked (or chunked twice / not
 * last), missing Host on HTTP/1.1, several Host fields, an invalid Host value,
 * absolute-form whose authority differs from Host, HTTP versions other than
 * 1.0 and 1.1.
 */
#ifndef WASP_H1_PARSE_H
#define WASP_H1_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "httpsys_error.h"

#define WASP_H1_MAX_HEADERS 100

typedef struct wasp_h1_header {
    const char *name;
    size_t name_len;
    const char *value; /* OWS trimmed */
    size_t value_len;
} wasp_h1_header_t;

typedef struct wasp_h1_limits {
    size_t max_request_bytes; /* MaxRequestBytes: request line + headers, default 16384 */
    size_t max_field_length;  /* MaxFieldLength: one header line / the URL, default 16384 */
} wasp_h1_limits_t;

typedef struct wasp_h1_request {
    const char *method;
    size_t method_len;
    const char *target; /* request-target as sent */
    size_t target_len;
    int version_minor;  /* 0 or 1 (major is always 1) */
    /* HTTP-version major digit as sent (1 on DONE); with version_minor it is
     * also set on VERSION_NOT_SUPPORTED so the HTTPERR cs-version can say
     * "HTTP/2.0".  Both are -1 while the version was not parsed. */
    int version_major;
    wasp_h1_header_t headers[WASP_H1_MAX_HEADERS];
    size_t header_count;

    /* derived from the headers */
    const char *host;   /* Host value (or authority of absolute-form), NULL if none */
    size_t host_len;
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding: chunked */
    bool expect_continue;   /* Expect: 100-continue */
    bool keep_alive;        /* from version and Connection */
    size_t head_len;        /* bytes of the head, including the final CRLF CRLF */
} wasp_h1_request_t;

typedef enum wasp_h1_result {
    WASP_H1_DONE = 0,        /* out is filled, out->head_len bytes consumed */
    WASP_H1_INCOMPLETE = 1,  /* need more bytes (and the limits are not exceeded yet) */
    WASP_H1_REFUSED = 2      /* *err says which HTTP.sys answer to give */
} wasp_h1_result_t;

/* lim may be NULL, and a 0 limit means the default (16384 each).  On REFUSED,
 * method / target / version are filled as far as they were parsed (NULL /
 * -1 otherwise) for the HTTPERR cs-method, cs-uri and cs-version fields; the
 * other fields are unspecified.  A head is never longer than
 * max_request_bytes, so a caller may stop reading at that size. */
wasp_h1_result_t wasp_h1_parse_request(const char *buf, size_t len, const wasp_h1_limits_t *lim,
                                       wasp_h1_request_t *out, wasp_httpsys_error_t *err);

/* Case-insensitive lookup of the first header with this name, NULL if none. */
const wasp_h1_header_t *wasp_h1_find_header(const wasp_h1_request_t *req, const char *name);

/*
 * Chunked transfer-coding decoder (RFC 9112 7.1), incremental and in place.
 * Chunk sizes are hex without overflow (at most 16 digits after leading
 * zeros are skipped), chunk extensions are parsed as tokens / quoted strings
 * and limited in total length, trailer fields are parsed and discarded,
 * bare CR / LF are refused.
 */

/* Chunked decoder limits (framing bytes, not data); over them is -1. */
#define WASP_CHUNKED_MAX_EXT_BYTES 1024      /* chunk-ext bytes on one chunk-size line */
#define WASP_CHUNKED_MAX_SIZE_DIGITS 64      /* hex digits on a line, leading zeros included */
#define WASP_CHUNKED_MAX_TRAILER_BYTES 16384 /* the whole trailer section */

typedef struct wasp_chunked {
    int state;
    uint64_t remaining;   /* bytes left in the current chunk */
    size_t ext_bytes;     /* extension bytes seen in this chunk line */
    size_t line_bytes;    /* bytes in the current size / trailer line */
    size_t trailer_bytes; /* all trailer bytes seen */
    uint64_t total;       /* decoded bytes so far */
    int digits;
} wasp_chunked_t;

void wasp_chunked_init(wasp_chunked_t *c);
/* Decode from in[0..in_len): decoded data is written to out (out may equal in:
 * it never gets ahead of the input).  *consumed = input bytes used,
 * *out_len = bytes written.  Returns 1 when the last chunk and trailers are
 * complete (bytes after them are not consumed), 0 when more input is needed,
 * -1 on a framing error (answer 400 Bad Request and close). */
int wasp_chunked_decode(wasp_chunked_t *c, const char *in, size_t in_len, size_t *consumed,
                        char *out, size_t *out_len);

#endif
