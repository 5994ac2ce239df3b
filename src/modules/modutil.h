/*
 * Small helpers shared by the built-in static-site modules: a growable text
 * buffer for generated pages, HTML and URL escaping, and readers for the
 * schema types (enum, timeSpan) that module.h hands out as strings.
 * Internal to src/modules; not part of the public module API.
 */
#ifndef WASP_MODULES_MODUTIL_H
#define WASP_MODULES_MODUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wasp/module.h"

/* Growable byte buffer on the C heap (free with wasp_modutil_buf_free).
 * After an allocation failure every append is a no-op and oom stays true, so
 * callers check once at the end. */
typedef struct wasp_modutil_buf {
    char *ptr;
    size_t len;
    size_t cap;
    bool oom;
} wasp_modutil_buf_t;

void wasp_modutil_buf_append(wasp_modutil_buf_t *b, const void *data, size_t len);
void wasp_modutil_buf_puts(wasp_modutil_buf_t *b, const char *s);
void wasp_modutil_buf_printf(wasp_modutil_buf_t *b, const char *fmt, ...) WASP_PRINTF(2, 3);
/* Append text HTML-escaped for element content and quoted attribute values
 * (& < > " ' are replaced). */
void wasp_modutil_buf_html(wasp_modutil_buf_t *b, const char *s, size_t len);
/* Append a decoded URL path percent-encoded for use in an href or Location:
 * unreserved characters, '/' and the sub-delims that are safe in a path stay,
 * everything else (space, '%', '?', '#', '"', '<', non-ASCII bytes) is %XX. */
void wasp_modutil_buf_url_path(wasp_modutil_buf_t *b, const char *s, size_t len);
void wasp_modutil_buf_free(wasp_modutil_buf_t *b);

/* Copy s into request memory, NUL-terminated (NULL on allocation failure). */
char *wasp_modutil_strdup(wasp_request_t *req, const char *s, size_t len);
/* printf into request memory. */
char *wasp_modutil_printf(wasp_request_t *req, const char *fmt, ...) WASP_PRINTF(2, 3);

/* Case-insensitive comparison of a (ptr, len) string with a C string. */
bool wasp_modutil_str_ieq(wasp_str_t s, const char *lit);

/* Read a schema enum attribute: its value is one of names[] (ASCII
 * case-insensitive) or the index as a decimal number, as the IIS schema
 * allows.  Absent or unrecognised values give dflt. */
int wasp_modutil_enum(const wasp_section_t *s, const char *attr, const char *const *names,
                      size_t count, int dflt);

/* Parse a schema timeSpan into whole seconds: "[d.]hh:mm[:ss[.fffffff]]",
 * "d:hh:mm:ss[.f]" or a lone number (days, as .NET reads it); hours may
 * exceed 23.  Returns 0, or -1 when the text is not a non-negative timeSpan
 * (negative values make no sense for the cache lifetimes it is used for). */
int wasp_modutil_timespan(const char *text, uint64_t *seconds);

/* True when the request method is exactly method (methods are case-sensitive,
 * RFC 9110 9.1). */
bool wasp_modutil_method_is(const wasp_request_t *req, const char *method);

/* Format a header value into request memory and set it (replacing); on
 * allocation failure the header is left out.  Header values set by these
 * modules always live in request memory, so the worker may keep pointers. */
void wasp_modutil_set_headerf(wasp_request_t *req, const char *name, const char *fmt, ...)
    WASP_PRINTF(3, 4);

/* Set an explicit Content-Length (the worker keeps it; used for HEAD). */
void wasp_modutil_set_content_length(wasp_request_t *req, uint64_t length);

#endif
