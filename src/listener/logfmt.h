/*
 * Log lines and file names as IIS and HTTP.sys write them
 * (shared/reference/iis-hosting.md 4.6 and 5): the W3C extended format with
 * IIS' fixed column order, the IIS and NCSA formats, the HTTPERR line, and
 * the file names of each rollover period.  Pure functions: no clock, no
 * files, no allocation; the listener's log writer (accesslog.c) calls them
 * on its event loop and unit tests call them directly.
 *
 * Every value goes through the same rule: an absent or empty value is "-",
 * and spaces and control characters inside a value become "+" (IIS: "to
 * preserve the log file format").  Lines end with CRLF.
 */
#ifndef WASP_LOGFMT_H
#define WASP_LOGFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"

/* logExtFileFlags bits (IIS' schema values) */
#define WASP_LOGF_DATE 1u
#define WASP_LOGF_TIME 2u
#define WASP_LOGF_CLIENT_IP 4u
#define WASP_LOGF_USER_NAME 8u
#define WASP_LOGF_SITE_NAME 16u
#define WASP_LOGF_COMPUTER_NAME 32u
#define WASP_LOGF_SERVER_IP 64u
#define WASP_LOGF_METHOD 128u
#define WASP_LOGF_URI_STEM 256u
#define WASP_LOGF_URI_QUERY 512u
#define WASP_LOGF_HTTP_STATUS 1024u
#define WASP_LOGF_WIN32_STATUS 2048u
#define WASP_LOGF_BYTES_SENT 4096u
#define WASP_LOGF_BYTES_RECV 8192u
#define WASP_LOGF_TIME_TAKEN 16384u
#define WASP_LOGF_SERVER_PORT 32768u
#define WASP_LOGF_USER_AGENT 65536u
#define WASP_LOGF_COOKIE 131072u
#define WASP_LOGF_REFERER 262144u
#define WASP_LOGF_PROTOCOL_VERSION 524288u
#define WASP_LOGF_HOST 1048576u
#define WASP_LOGF_HTTP_SUB_STATUS 2097152u

/* A value: p NULL (or len 0) is written "-". */
typedef struct wasp_logstr {
    const char *p;
    size_t len;
} wasp_logstr_t;

/* One request, as the access log formats see it. */
typedef struct wasp_log_rec {
    time_t when;               /* completion, UTC: date and time columns */
    wasp_logstr_t site_name;   /* s-sitename, as written (W3SVC1 or the name) */
    wasp_logstr_t computer;    /* s-computername */
    wasp_logstr_t s_ip, c_ip;
    uint16_t s_port, c_port;
    wasp_logstr_t method;
    wasp_logstr_t stem;        /* cs-uri-stem: the decoded path */
    wasp_logstr_t query;       /* cs-uri-query: without '?' */
    wasp_logstr_t username;    /* cs-username: absent for anonymous */
    wasp_logstr_t version;     /* cs-version: "HTTP/1.1" */
    wasp_logstr_t user_agent, cookie, referer, host;
    int status, substatus;
    uint32_t win32;
    uint64_t sc_bytes, cs_bytes, time_taken_ms;
    const wasp_logstr_t *custom; /* the values of the custom fields, in order */
    size_t custom_count;
} wasp_log_rec_t;

/* One HTTPERR entry (iis-hosting.md 4.6). */
typedef struct wasp_httperr_rec {
    time_t when;
    const char *c_ip, *s_ip;    /* "" = unknown */
    uint16_t c_port, s_port;
    int version_major, version_minor; /* major < 0: not parsed ("-") */
    wasp_logstr_t method;
    wasp_logstr_t uri;          /* path and query joined by '?' */
    int status;                 /* 0 = "-" */
    uint32_t site_id;           /* 0 = "-" */
    const char *reason;         /* never empty */
    const char *queue;          /* the pool; NULL or "" = "-" */
    uint32_t stream_id;         /* streamid: the HTTP/2 stream, 0 = "-" */
} wasp_httperr_rec_t;

/* "#Fields: ...\r\n" for these flags, in IIS' fixed order, then the custom
 * field names.  Returns the length (0 if it does not fit in size). */
size_t wasp_logfmt_w3c_fields(uint32_t flags, const char *const *custom_names,
                              size_t custom_count, char *out, size_t size);

/* One W3C line with CRLF.  The line before CRLF is cut at max_line bytes
 * (maxLogLineLength), each custom value at max_custom bytes
 * (maxCustomFieldLength).  size must be at least max_line + 2 (a smaller
 * buffer cuts the line earlier).  Returns the
 * length written. */
size_t wasp_logfmt_w3c(const wasp_log_rec_t *r, uint32_t flags, uint32_t max_line,
                       uint32_t max_custom, char *out, size_t size);

/* IIS log format: comma-separated, local time (local = r->when as local
 * time, given by the caller), every field followed by ','. */
size_t wasp_logfmt_iis(const wasp_log_rec_t *r, const struct tm *local, char *out, size_t size);

/* NCSA common log format, local time with its UTC offset (tm_gmtoff). */
size_t wasp_logfmt_ncsa(const wasp_log_rec_t *r, const struct tm *local, char *out,
                        size_t size);

/* The HTTPERR field list (Windows Server 2016's, with streamid) and line. */
#define WASP_HTTPERR_FIELDS                                                                 \
    "#Fields: date time c-ip c-port s-ip s-port cs-version cs-method cs-uri streamid "     \
    "sc-status s-siteid s-reason s-queuename\r\n"
size_t wasp_logfmt_httperr(const wasp_httperr_rec_t *e, char *out, size_t size);

/* Week of the month for weekly files: weeks start on Sunday, the week of the
 * 1st is week 1. */
int wasp_logfmt_week_of_month(const struct tm *tm);

/* A log file's name (iis-hosting.md 5.3): "u_" when utf8, the format's
 * prefix (ex/in/nc; extend/inetsv/ncsa for MaxSize), the period's date part
 * from tm (or seq for MaxSize, where tm may be NULL), "_x" when custom
 * fields are configured, ".log".  0 when it does not fit. */
size_t wasp_logfmt_file_name(wasp_log_format_t format, wasp_log_period_t period, bool utf8,
                             bool custom, const struct tm *tm, unsigned seq, char *out,
                             size_t size);

#endif
