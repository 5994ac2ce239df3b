/*
 * The error responses HTTP.sys sends by itself (shared/reference/iis-hosting.md
 * 4.5, reasons from 4.6).  Every page comes from one template that captures of
 * real servers show byte for byte; clients and monitoring tools compare the
 * Content-Length values, so the template must not drift by a single byte.
 */
#include "listener/httpsys_error.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * 505, 501 and 413 sentences are not in any capture we have (unconfirmed in
 * the reference); they are written in the same style as the confirmed ones.
 */
static const wasp_httpsys_info_t httpsys_table[WASP_HTTPSYS_ERROR_COUNT] = {
    [WASP_HTTPSYS_NONE] = {0, "", "", "", "", "-"},
    [WASP_HTTPSYS_BAD_REQUEST] = {400, "Bad Request", "Bad Request", "Bad Request",
                                  "The request is badly formed.", "BadRequest"},
    [WASP_HTTPSYS_INVALID_HOSTNAME] = {400, "Bad Request", "Bad Request",
                                       "Bad Request - Invalid Hostname",
                                       "The request hostname is invalid.", "Hostname"},
    [WASP_HTTPSYS_INVALID_URL] = {400, "Bad Request", "Bad Request", "Bad Request - Invalid URL",
                                  "The request URL is invalid.", "URL"},
    [WASP_HTTPSYS_INVALID_HEADER] = {400, "Bad Request", "Bad Request",
                                     "Bad Request - Invalid Header",
                                     "The request has an invalid header name.", "Header"},
    [WASP_HTTPSYS_INVALID_VERB] = {400, "Bad Request", "Bad Request", "Bad Request - Invalid Verb",
                                   "The request verb is invalid.", "Verb"},
    [WASP_HTTPSYS_REQUEST_TOO_LONG] = {400, "Bad Request", "Bad Request",
                                       "Bad Request - Request Too Long",
                                       "The size of the request headers is too long.",
                                       "RequestLength"},
    [WASP_HTTPSYS_FIELD_TOO_LONG] = {400, "Bad Request", "Bad Request",
                                     "Bad Request - Header Field Too Long",
                                     "A request header field is too long.", "FieldLength"},
    [WASP_HTTPSYS_LENGTH_REQUIRED] = {411, "Length Required", "Length Required",
                                      "Length Required",
                                      "The request must be chunked or have a content length.",
                                      "LengthRequired"},
    [WASP_HTTPSYS_ENTITY_TOO_LARGE] = {413, "Request Entity Too Large",
                                       "Request Entity Too Large", "Request Entity Too Large",
                                       "The request entity is too large.", "EntityTooLarge"},
    [WASP_HTTPSYS_URL_TOO_LONG] = {414, "Request URL Too Long", "Request URL Too Long",
                                   "Request URL Too Long", "The request URL is too long.",
                                   "URL_Length"},
    [WASP_HTTPSYS_NOT_IMPLEMENTED] = {501, "Not Implemented", "Not Implemented",
                                      "Not Implemented",
                                      "The request uses a feature that is not implemented.",
                                      "N/I"},
    [WASP_HTTPSYS_VERSION_NOT_SUPPORTED] = {505, "HTTP Version Not Supported",
                                            "HTTP Version Not Supported",
                                            "HTTP Version Not Supported",
                                            "The HTTP version of the request is not supported.",
                                            "Version_N/S"},
    [WASP_HTTPSYS_NOT_FOUND] = {404, "Not Found", "Not Found", "Not Found",
                                "The requested resource is not found.", "NotFound"},
    /* The 503 reason depends on why the queue refused (QueueFull, Disabled,
     * AppOffline ...); the caller logs its own, "N/A" is the generic one. */
    [WASP_HTTPSYS_SERVICE_UNAVAILABLE] = {503, "Service Unavailable", "Service Unavailable",
                                          "Service Unavailable", "The service is unavailable.",
                                          "N/A"},
};

const wasp_httpsys_info_t *wasp_httpsys_info(wasp_httpsys_error_t e)
{
    if ((unsigned)e >= WASP_HTTPSYS_ERROR_COUNT) {
        e = WASP_HTTPSYS_BAD_REQUEST;
    }
    return &httpsys_table[e];
}

/* The page; every line ends CRLF, the last one too (iis-hosting.md 4.5). */
static const char httpsys_body_fmt[] =
    "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\""
    "\"http://www.w3.org/TR/html4/strict.dtd\">\r\n"
    "<HTML><HEAD><TITLE>%s</TITLE>\r\n"
    "<META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; charset=us-ascii\"></HEAD>\r\n"
    "<BODY><h2>%s</h2>\r\n"
    "<hr><p>HTTP Error %d. %s</p>\r\n"
    "</BODY></HTML>\r\n";

static const char httpsys_head_fmt[] = "HTTP/1.1 %d %s\r\n"
                                       "Content-Type: text/html; charset=us-ascii\r\n"
                                       "Server: Microsoft-HTTPAPI/2.0\r\n"
                                       "Date: %s\r\n"
                                       "Connection: close\r\n"
                                       "Content-Length: %d\r\n"
                                       "\r\n";

size_t wasp_httpsys_render(wasp_httpsys_error_t e, const char *date_rfc1123, int head_only,
                           char *buf, size_t size)
{
    return wasp_httpsys_render_detail(e, date_rfc1123, head_only, NULL, buf, size);
}

size_t wasp_httpsys_render_detail(wasp_httpsys_error_t e, const char *date_rfc1123,
                                  int head_only, const char *detail, char *buf, size_t size)
{
    char sentence[640];
    const wasp_httpsys_info_t *info;
    char body[1400];
    char date[128];
    int body_len, head_len;

    if (e == WASP_HTTPSYS_NONE || (unsigned)e >= WASP_HTTPSYS_ERROR_COUNT) {
        e = WASP_HTTPSYS_BAD_REQUEST;
    }
    info = &httpsys_table[e];

    if (date_rfc1123 == NULL) {
        /* Convenience for callers without a cached clock string; names are
         * spelled here because strftime's %a / %b follow the locale. */
        static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        time_t now = time(NULL);
        struct tm tm;

        gmtime_r(&now, &tm);
        snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
                 tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
        date_rfc1123 = date;
    }

    /* The detail is one more paragraph after HTTP.sys' sentence. */
    snprintf(sentence, sizeof(sentence), "%s%s%s", info->sentence,
             detail ? "</p>\r\n<p>" : "", detail ? detail : "");
    body_len = snprintf(body, sizeof(body), httpsys_body_fmt, info->title, info->heading,
                        info->status, sentence);
    if (body_len < 0 || (size_t)body_len >= sizeof(body)) {
        return 0;
    }
    head_len = snprintf(buf, size, httpsys_head_fmt, info->status, info->reason_phrase,
                        date_rfc1123, body_len);
    if (head_len < 0 || (size_t)head_len >= size) {
        return 0;
    }
    if (head_only) {
        return (size_t)head_len;
    }
    if ((size_t)head_len + (size_t)body_len > size) {
        return 0;
    }
    memcpy(buf + head_len, body, (size_t)body_len);
    return (size_t)head_len + (size_t)body_len;
}
