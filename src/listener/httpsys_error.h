/*
 * The answers HTTP.sys gives by itself (shared/reference/iis-hosting.md 4.5
 * and 4.6): each refusal has a status line, an error page built from one
 * byte-exact template, and an HTTPERR reason.  The listener refuses bad
 * requests with these and closes the connection.
 */
#ifndef WASP_HTTPSYS_ERROR_H
#define WASP_HTTPSYS_ERROR_H

#include <stddef.h>

typedef enum wasp_httpsys_error {
    WASP_HTTPSYS_NONE = 0,
    WASP_HTTPSYS_BAD_REQUEST,          /* 400 Bad Request                       BadRequest     */
    WASP_HTTPSYS_INVALID_HOSTNAME,     /* 400 Bad Request - Invalid Hostname    Hostname       */
    WASP_HTTPSYS_INVALID_URL,          /* 400 Bad Request - Invalid URL         URL            */
    WASP_HTTPSYS_INVALID_HEADER,       /* 400 Bad Request - Invalid Header      Header         */
    WASP_HTTPSYS_INVALID_VERB,         /* 400 Bad Request - Invalid Verb        Verb           */
    WASP_HTTPSYS_REQUEST_TOO_LONG,     /* 400 Bad Request - Request Too Long    RequestLength  */
    WASP_HTTPSYS_FIELD_TOO_LONG,       /* 400 Bad Request - Header Field Too Long FieldLength  */
    WASP_HTTPSYS_LENGTH_REQUIRED,      /* 411 Length Required                   LengthRequired */
    WASP_HTTPSYS_ENTITY_TOO_LARGE,     /* 413 Request Entity Too Large          EntityTooLarge */
    WASP_HTTPSYS_URL_TOO_LONG,         /* 414 Request URL Too Long              URL_Length     */
    WASP_HTTPSYS_NOT_IMPLEMENTED,      /* 501 Not Implemented                   N/I            */
    WASP_HTTPSYS_VERSION_NOT_SUPPORTED,/* 505 HTTP Version Not Supported        Version_N/S    */
    WASP_HTTPSYS_NOT_FOUND,            /* 404 Not Found (stopped site)          NotFound       */
    WASP_HTTPSYS_SERVICE_UNAVAILABLE,  /* 503 Service Unavailable               (caller's reason) */
    WASP_HTTPSYS_ERROR_COUNT
} wasp_httpsys_error_t;

typedef struct wasp_httpsys_info {
    int status;
    const char *reason_phrase; /* status line text, e.g. "Bad Request" */
    const char *title;         /* {TITLE} */
    const char *heading;       /* {HEADING}, e.g. "Bad Request - Invalid Header" */
    const char *sentence;      /* {SENTENCE} */
    const char *httperr_reason;/* HTTPERR s-reason, e.g. "Header" */
} wasp_httpsys_info_t;

const wasp_httpsys_info_t *wasp_httpsys_info(wasp_httpsys_error_t e);

/* Write the complete response (status line, Content-Type, Server, Date,
 * Connection: close, Content-Length, body) into buf.  Returns its length, or 0
 * if buf is too small (1024 bytes always suffice).  date_rfc1123 is the
 * 29-byte IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".  head_only
 * omits the body (HEAD request) but keeps Content-Length. */
size_t wasp_httpsys_render(wasp_httpsys_error_t e, const char *date_rfc1123, int head_only,
                           char *buf, size_t size);
/* The same page with one more paragraph (detail: HTML-safe text), for what
 * wasp tells local clients that HTTP.sys does not (which pool is stopped and
 * why).  Remote clients get the plain page. */
size_t wasp_httpsys_render_detail(wasp_httpsys_error_t e, const char *date_rfc1123,
                                  int head_only, const char *detail, char *buf, size_t size);

#endif
