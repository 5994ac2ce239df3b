/*
 * The header part of a CGI response (RFC 3875 section 6), read
 * incrementally from the bytes a CGI script or FastCGI application writes
 * (FCGI_STDOUT): header lines up to an empty line, with LF or CRLF line
 * ends, then the body.  Shared by CgiModule and FastCgiModule.
 *
 *   Status: 404 Not Found      → the response status and reason
 *   Location: /local/path      → local redirect (no Status, no body wanted:
 *                                the server serves that URL instead)
 *   Location: http://host/...  → client redirect: 302 unless Status says
 *                                otherwise
 *   any other header           → a response header, in order, repeated
 *                                names kept (several Set-Cookie)
 * A response without Status and Location is 200 (document response).
 * Malformed input (a line without ':', a header block over the limit, an
 * end of stream before the empty line) is an error: IIS answers 502.2
 * ("Bad Gateway: the CGI application returned an invalid set of headers")
 * for CGI and 500 for FastCGI; the caller decides.
 */
#ifndef WASP_CGI_RESPONSE_H
#define WASP_CGI_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#define CGI_RESPONSE_MAX_HEAD (64 * 1024)
#define CGI_RESPONSE_MAX_HEADERS 100

typedef enum cgi_head_result {
    CGI_HEAD_MORE = 0,    /* need more bytes */
    CGI_HEAD_DONE = 1,    /* headers complete; *used bytes were the head */
    CGI_HEAD_ERROR = 2    /* invalid; error says why */
} cgi_head_result_t;

typedef struct cgi_header {
    char *name;           /* malloc'd, NUL-terminated, as sent */
    char *value;          /* malloc'd, trimmed */
} cgi_header_t;

typedef struct cgi_head {
    /* filled as headers arrive; valid after CGI_HEAD_DONE */
    int status;            /* 200 when the script gave none */
    char reason[128];      /* "" = the standard phrase */
    char *location;        /* malloc'd or NULL */
    bool local_redirect;   /* Location is a local path and there is no Status */
    cgi_header_t headers[CGI_RESPONSE_MAX_HEADERS]; /* everything but Status and Location */
    size_t header_count;
    /* parser state */
    char *buf;             /* a partial header line kept between calls */
    size_t buf_len, buf_cap;
    size_t head_bytes;
    const char *error;     /* CGI_HEAD_ERROR: a static sentence for logs and pages */
} cgi_head_t;

void cgi_head_init(cgi_head_t *h);
void cgi_head_free(cgi_head_t *h);

/* Feed data[0..len).  On CGI_HEAD_DONE, *used is the number of bytes of
 * data that belonged to the head: the rest (data + *used) is body. */
cgi_head_result_t cgi_head_parse(cgi_head_t *h, const char *data, size_t len, size_t *used);

/* The stream ended: CGI_HEAD_ERROR unless the head was complete. */
cgi_head_result_t cgi_head_finish(cgi_head_t *h);

/* The complete head becomes the response's status and headers (cgi_apply.c,
 * the one policy of CgiModule and FastCgiModule; script names the program
 * in log lines).  A local redirect (Location: /path without Status) is
 * answered 302: true is returned, and the script's body must be dropped. */
struct wasp_request;
bool cgi_head_apply(cgi_head_t *h, struct wasp_request *req, const char *script);

#endif
