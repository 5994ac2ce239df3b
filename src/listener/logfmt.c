/* Log lines and file names as IIS and HTTP.sys write them (see logfmt.h). */
#include "listener/logfmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* An output line being built: appends past lim are dropped, so a line is
 * cut where its limit falls, never overrun. */
typedef struct lf_out {
    char *p;
    size_t len, lim;
} lf_out_t;

static void lf_raw(lf_out_t *o, const char *s, size_t n)
{
    if (o->len >= o->lim) {
        return;
    }
    if (n > o->lim - o->len) {
        n = o->lim - o->len;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void lf_cstr(lf_out_t *o, const char *s)
{
    lf_raw(o, s, strlen(s));
}

static void lf_fmt(lf_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void lf_fmt(lf_out_t *o, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0) {
        lf_raw(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
    }
}

/* A value, at most max bytes of it: "-" when empty; spaces, control
 * characters (and, in quoted NCSA fields, '"') become '+'. */
static void lf_val(lf_out_t *o, wasp_logstr_t v, size_t max, bool quoted)
{
    size_t n = v.p != NULL ? v.len : 0;

    if (n == 0) {
        lf_raw(o, "-", 1);
        return;
    }
    if (n > max) {
        n = max;
    }
    for (size_t i = 0; i < n && o->len < o->lim; i++) {
        unsigned char ch = (unsigned char)v.p[i];

        o->p[o->len++] = (ch <= 0x20 || ch == 0x7f || (quoted && ch == '"')) ? '+' : (char)ch;
    }
}

static wasp_logstr_t lf_s(const char *s)
{
    return (wasp_logstr_t){s, s != NULL ? strlen(s) : 0};
}

/* IIS' fixed column order (iis-hosting.md 5.2). */
static const struct {
    uint32_t flag;
    const char *name;
} lf_columns[] = {
    {WASP_LOGF_DATE, "date"},
    {WASP_LOGF_TIME, "time"},
    {WASP_LOGF_SITE_NAME, "s-sitename"},
    {WASP_LOGF_COMPUTER_NAME, "s-computername"},
    {WASP_LOGF_SERVER_IP, "s-ip"},
    {WASP_LOGF_METHOD, "cs-method"},
    {WASP_LOGF_URI_STEM, "cs-uri-stem"},
    {WASP_LOGF_URI_QUERY, "cs-uri-query"},
    {WASP_LOGF_SERVER_PORT, "s-port"},
    {WASP_LOGF_USER_NAME, "cs-username"},
    {WASP_LOGF_CLIENT_IP, "c-ip"},
    {WASP_LOGF_PROTOCOL_VERSION, "cs-version"},
    {WASP_LOGF_USER_AGENT, "cs(User-Agent)"},
    {WASP_LOGF_COOKIE, "cs(Cookie)"},
    {WASP_LOGF_REFERER, "cs(Referer)"},
    {WASP_LOGF_HOST, "cs-host"},
    {WASP_LOGF_HTTP_STATUS, "sc-status"},
    {WASP_LOGF_HTTP_SUB_STATUS, "sc-substatus"},
    {WASP_LOGF_WIN32_STATUS, "sc-win32-status"},
    {WASP_LOGF_BYTES_SENT, "sc-bytes"},
    {WASP_LOGF_BYTES_RECV, "cs-bytes"},
    {WASP_LOGF_TIME_TAKEN, "time-taken"},
};

size_t wasp_logfmt_w3c_fields(uint32_t flags, const char *const *custom_names,
                              size_t custom_count, char *out, size_t size)
{
    lf_out_t o = {out, 0, size};

    lf_cstr(&o, "#Fields:");
    for (size_t i = 0; i < sizeof(lf_columns) / sizeof(lf_columns[0]); i++) {
        if (flags & lf_columns[i].flag) {
            lf_cstr(&o, " ");
            lf_cstr(&o, lf_columns[i].name);
        }
    }
    for (size_t i = 0; i < custom_count; i++) {
        lf_cstr(&o, " ");
        lf_cstr(&o, custom_names[i]);
    }
    lf_cstr(&o, "\r\n");
    return o.len < size ? o.len : 0;
}

size_t wasp_logfmt_w3c(const wasp_log_rec_t *r, uint32_t flags, uint32_t max_line,
                       uint32_t max_custom, char *out, size_t size)
{
    lf_out_t o = {out, 0, size < 2 ? 0 : size - 2};
    struct tm tm;
    bool sep = false;

    if (o.lim > max_line) {
        o.lim = max_line;
    }
    gmtime_r(&r->when, &tm);
    for (size_t i = 0; i < sizeof(lf_columns) / sizeof(lf_columns[0]); i++) {
        uint32_t f = lf_columns[i].flag;

        if (!(flags & f)) {
            continue;
        }
        if (sep) {
            lf_raw(&o, " ", 1);
        }
        sep = true;
        switch (f) {
        case WASP_LOGF_DATE:
            lf_fmt(&o, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
            break;
        case WASP_LOGF_TIME:
            lf_fmt(&o, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
            break;
        case WASP_LOGF_SITE_NAME: lf_val(&o, r->site_name, SIZE_MAX, false); break;
        case WASP_LOGF_COMPUTER_NAME: lf_val(&o, r->computer, SIZE_MAX, false); break;
        case WASP_LOGF_SERVER_IP: lf_val(&o, r->s_ip, SIZE_MAX, false); break;
        case WASP_LOGF_METHOD: lf_val(&o, r->method, SIZE_MAX, false); break;
        case WASP_LOGF_URI_STEM: lf_val(&o, r->stem, SIZE_MAX, false); break;
        case WASP_LOGF_URI_QUERY: lf_val(&o, r->query, SIZE_MAX, false); break;
        case WASP_LOGF_SERVER_PORT: lf_fmt(&o, "%u", r->s_port); break;
        case WASP_LOGF_USER_NAME: lf_val(&o, r->username, SIZE_MAX, false); break;
        case WASP_LOGF_CLIENT_IP: lf_val(&o, r->c_ip, SIZE_MAX, false); break;
        case WASP_LOGF_PROTOCOL_VERSION: lf_val(&o, r->version, SIZE_MAX, false); break;
        case WASP_LOGF_USER_AGENT: lf_val(&o, r->user_agent, SIZE_MAX, false); break;
        case WASP_LOGF_COOKIE: lf_val(&o, r->cookie, SIZE_MAX, false); break;
        case WASP_LOGF_REFERER: lf_val(&o, r->referer, SIZE_MAX, false); break;
        case WASP_LOGF_HOST: lf_val(&o, r->host, SIZE_MAX, false); break;
        case WASP_LOGF_HTTP_STATUS: lf_fmt(&o, "%d", r->status); break;
        case WASP_LOGF_HTTP_SUB_STATUS: lf_fmt(&o, "%d", r->substatus); break;
        case WASP_LOGF_WIN32_STATUS: lf_fmt(&o, "%u", r->win32); break;
        case WASP_LOGF_BYTES_SENT: lf_fmt(&o, "%llu", (unsigned long long)r->sc_bytes); break;
        case WASP_LOGF_BYTES_RECV: lf_fmt(&o, "%llu", (unsigned long long)r->cs_bytes); break;
        case WASP_LOGF_TIME_TAKEN:
            lf_fmt(&o, "%llu", (unsigned long long)r->time_taken_ms);
            break;
        }
    }
    /* (IIS also caps all custom values of a line at 64 KiB together; with
     * maxLogLineLength at most 64 KiB, the line's own cap comes first.) */
    for (size_t i = 0; i < r->custom_count; i++) {
        if (sep) {
            lf_raw(&o, " ", 1);
        }
        sep = true;
        lf_val(&o, r->custom[i], max_custom, false);
    }
    memcpy(out + o.len, "\r\n", 2);
    return o.len + 2;
}

size_t wasp_logfmt_iis(const wasp_log_rec_t *r, const struct tm *local, char *out, size_t size)
{
    lf_out_t o = {out, 0, size < 2 ? 0 : size - 2};

    lf_val(&o, r->c_ip, SIZE_MAX, false);
    lf_cstr(&o, ", ");
    lf_val(&o, r->username, SIZE_MAX, false);
    lf_fmt(&o, ", %02d/%02d/%02d, %d:%02d:%02d, ", local->tm_mon + 1, local->tm_mday,
           local->tm_year % 100, local->tm_hour, local->tm_min, local->tm_sec);
    lf_val(&o, r->site_name, SIZE_MAX, false);
    lf_cstr(&o, ", ");
    lf_val(&o, r->computer, SIZE_MAX, false);
    lf_cstr(&o, ", ");
    lf_val(&o, r->s_ip, SIZE_MAX, false);
    lf_fmt(&o, ", %llu, %llu, %llu, %d, %u, ", (unsigned long long)r->time_taken_ms,
           (unsigned long long)r->cs_bytes, (unsigned long long)r->sc_bytes, r->status,
           r->win32);
    lf_val(&o, r->method, SIZE_MAX, false);
    lf_cstr(&o, ", ");
    lf_val(&o, r->stem, SIZE_MAX, false);
    lf_cstr(&o, ", ");
    lf_val(&o, r->query, SIZE_MAX, false);
    lf_cstr(&o, ",");
    memcpy(out + o.len, "\r\n", 2);
    return o.len + 2;
}

size_t wasp_logfmt_ncsa(const wasp_log_rec_t *r, const struct tm *local, char *out,
                        size_t size)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    lf_out_t o = {out, 0, size < 2 ? 0 : size - 2};
    long off = local->tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';

    if (off < 0) {
        off = -off;
    }
    lf_val(&o, r->c_ip, SIZE_MAX, false);
    lf_cstr(&o, " - ");
    lf_val(&o, r->username, SIZE_MAX, false);
    lf_fmt(&o, " [%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld] \"", local->tm_mday,
           months[local->tm_mon % 12], local->tm_year + 1900, local->tm_hour, local->tm_min,
           local->tm_sec, sign, off / 60, off % 60);
    lf_val(&o, r->method, SIZE_MAX, true);
    lf_cstr(&o, " ");
    lf_val(&o, r->stem, SIZE_MAX, true);
    if (r->query.p != NULL && r->query.len > 0) {
        lf_cstr(&o, "?");
        lf_val(&o, r->query, SIZE_MAX, true);
    }
    lf_cstr(&o, " ");
    lf_val(&o, r->version, SIZE_MAX, true);
    lf_fmt(&o, "\" %d %llu", r->status, (unsigned long long)r->sc_bytes);
    memcpy(out + o.len, "\r\n", 2);
    return o.len + 2;
}

/* HTTPERR prints IPv6 addresses with their scope id ("::1%0"). */
static void lf_httperr_ip(lf_out_t *o, const char *ip)
{
    lf_val(o, lf_s(ip), SIZE_MAX, false);
    if (ip != NULL && strchr(ip, ':') != NULL && strchr(ip, '%') == NULL) {
        lf_cstr(o, "%0");
    }
}

size_t wasp_logfmt_httperr(const wasp_httperr_rec_t *e, char *out, size_t size)
{
    lf_out_t o = {out, 0, size < 2 ? 0 : size - 2};
    struct tm tm;

    gmtime_r(&e->when, &tm);
    lf_fmt(&o, "%04d-%02d-%02d %02d:%02d:%02d ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec);
    lf_httperr_ip(&o, e->c_ip);
    lf_fmt(&o, " %u ", e->c_port);
    lf_httperr_ip(&o, e->s_ip);
    lf_fmt(&o, " %u ", e->s_port);
    if (e->version_major < 0) {
        lf_cstr(&o, "-");
    } else if (e->version_major > 9 || e->version_minor > 9 || e->version_minor < 0) {
        lf_cstr(&o, "HTTP/?.?"); /* a part with more than one digit */
    } else {
        lf_fmt(&o, "HTTP/%d.%d", e->version_major, e->version_minor);
    }
    lf_cstr(&o, " ");
    lf_val(&o, e->method, 255, false);
    lf_cstr(&o, " ");
    lf_val(&o, e->uri, 4096, false);
    if (e->stream_id != 0) { /* streamid: HTTP/2 only */
        lf_fmt(&o, " %u ", e->stream_id);
    } else {
        lf_cstr(&o, " - ");
    }
    if (e->status > 0 && e->status <= 999) {
        lf_fmt(&o, "%d ", e->status);
    } else {
        lf_cstr(&o, "- ");
    }
    if (e->site_id != 0) {
        lf_fmt(&o, "%u ", e->site_id);
    } else {
        lf_cstr(&o, "- ");
    }
    lf_val(&o, lf_s(e->reason), SIZE_MAX, false);
    lf_cstr(&o, " ");
    lf_val(&o, lf_s(e->queue), SIZE_MAX, false);
    memcpy(out + o.len, "\r\n", 2);
    return o.len + 2;
}

int wasp_logfmt_week_of_month(const struct tm *tm)
{
    /* Weekday of the 1st, then count Sunday-started weeks from it. */
    int first = ((tm->tm_wday - (tm->tm_mday - 1)) % 7 + 7) % 7;

    return (tm->tm_mday - 1 + first) / 7 + 1;
}

size_t wasp_logfmt_file_name(wasp_log_format_t format, wasp_log_period_t period, bool utf8,
                             bool custom, const struct tm *tm, unsigned seq, char *out,
                             size_t size)
{
    static const char *const prefix[] = {"in", "nc", "ex"};
    static const char *const size_prefix[] = {"inetsv", "ncsa", "extend"};
    int f = format == WASP_LOG_IIS || format == WASP_LOG_NCSA ? (int)format : 2;
    int yy = tm != NULL ? tm->tm_year % 100 : 0, mm = tm != NULL ? tm->tm_mon + 1 : 0;
    char date[16];
    int n;

    if (tm == NULL && period != WASP_LOG_MAXSIZE) {
        return 0;
    }
    switch (period) {
    case WASP_LOG_MAXSIZE:
        snprintf(date, sizeof(date), "%u", seq);
        break;
    case WASP_LOG_HOURLY:
        snprintf(date, sizeof(date), "%02d%02d%02d%02d", yy, mm, tm->tm_mday, tm->tm_hour);
        break;
    case WASP_LOG_WEEKLY:
        snprintf(date, sizeof(date), "%02d%02d%02d", yy, mm, wasp_logfmt_week_of_month(tm));
        break;
    case WASP_LOG_MONTHLY:
        snprintf(date, sizeof(date), "%02d%02d", yy, mm);
        break;
    case WASP_LOG_DAILY:
    default:
        snprintf(date, sizeof(date), "%02d%02d%02d", yy, mm, tm->tm_mday);
        break;
    }
    n = snprintf(out, size, "%s%s%s%s.log", utf8 ? "u_" : "",
                 period == WASP_LOG_MAXSIZE ? size_prefix[f] : prefix[f], date,
                 custom ? "_x" : "");
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}
