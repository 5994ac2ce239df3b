/*
 * HTTP-date formatting and parsing (RFC 9110 5.6.7).
 *
 * Dates are converted with our own civil-calendar arithmetic instead of
 * gmtime_r()/timegm(): no time-zone or locale state is touched, every year
 * 0..9999 works on every libc, and invalid dates (Feb 30, hour 24) are
 * rejected instead of being normalised into another valid time.
 */
#include "modules/http_date.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static const char http_date_days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const http_date_long_days[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                   "Thursday", "Friday", "Saturday"};
static const char http_date_months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static bool http_date_is_leap(long long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned http_date_month_days(long long y, unsigned m)
{
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && http_date_is_leap(y) ? 29 : mdays[m - 1];
}

/* Days since 1970-01-01.  Years are shifted to start in March so that the
 * leap day is the last day of the shifted year; a 400-year era has exactly
 * 146097 days. */
long long wasp_http_date_days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);                         /* [0, 399]     */
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;   /* [0, 365]     */
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;             /* [0, 146096]  */
    return era * 146097 + (long long)doe - 719468;
}

/* The inverse of wasp_http_date_days_from_civil(). */
static void http_date_civil_from_days(long long z, long long *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (long long)yoe + era * 400 + (*m <= 2);
}

static void http_date_put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

char *wasp_http_date_format(time_t t, char *buf)
{
    /* Clamp to 0000-01-01 .. 9999-12-31 23:59:59: four year digits. */
    const long long min_t = -62167219200LL, max_t = 253402300799LL;
    long long s = (long long)t;
    if (s < min_t)
        s = min_t;
    if (s > max_t)
        s = max_t;

    long long days = s / 86400, secs = s % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    long long y;
    unsigned m, d;
    http_date_civil_from_days(days, &y, &m, &d);
    /* 1970-01-01 was a Thursday (index 4). */
    unsigned wday = (unsigned)(((days % 7) + 11) % 7);

    /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    memcpy(buf, http_date_days[wday], 3);
    buf[3] = ',';
    buf[4] = ' ';
    http_date_put2(buf + 5, d);
    buf[7] = ' ';
    memcpy(buf + 8, http_date_months[m - 1], 3);
    buf[11] = ' ';
    http_date_put2(buf + 12, (unsigned)(y / 100));
    http_date_put2(buf + 14, (unsigned)(y % 100));
    buf[16] = ' ';
    http_date_put2(buf + 17, (unsigned)(secs / 3600));
    buf[19] = ':';
    http_date_put2(buf + 20, (unsigned)(secs / 60 % 60));
    buf[22] = ':';
    http_date_put2(buf + 23, (unsigned)(secs % 60));
    memcpy(buf + 25, " GMT", 5); /* includes the NUL */
    return buf;
}

/* ---- parsing ------------------------------------------------------------- */

typedef struct http_date_cur {
    const char *p;
    const char *end;
} http_date_cur_t;

static bool http_date_lit(http_date_cur_t *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return false;
    c->p += n;
    return true;
}

static int http_date_lower(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

/* Match one name of a table, case-insensitively (RFC 9110 spells them with
 * exact case, but lenient reading costs nothing and old clients vary). */
static int http_date_name(http_date_cur_t *c, const char *const *names, size_t count,
                          size_t stride_len)
{
    for (size_t i = 0; i < count; i++) {
        size_t n = stride_len ? stride_len : strlen(names[i]);
        if ((size_t)(c->end - c->p) < n)
            continue;
        size_t k = 0;
        while (k < n && http_date_lower((unsigned char)c->p[k]) ==
                            http_date_lower((unsigned char)names[i][k]))
            k++;
        if (k == n) {
            c->p += n;
            return (int)i;
        }
    }
    return -1;
}

static int http_date_short_name(http_date_cur_t *c, const char (*names)[4], size_t count)
{
    const char *ptrs[12];
    for (size_t i = 0; i < count; i++)
        ptrs[i] = names[i];
    return http_date_name(c, ptrs, count, 3);
}

/* Exactly n digits. */
static bool http_date_digits(http_date_cur_t *c, int n, unsigned *out)
{
    unsigned v = 0;
    if (c->end - c->p < n)
        return false;
    for (int i = 0; i < n; i++) {
        char ch = c->p[i];
        if (ch < '0' || ch > '9')
            return false;
        v = v * 10 + (unsigned)(ch - '0');
    }
    c->p += n;
    *out = v;
    return true;
}

/* time-of-day = hour ":" minute ":" second; second may be 60 (leap second). */
static bool http_date_time(http_date_cur_t *c, unsigned *hh, unsigned *mm, unsigned *ss)
{
    return http_date_digits(c, 2, hh) && http_date_lit(c, ":") && http_date_digits(c, 2, mm) &&
           http_date_lit(c, ":") && http_date_digits(c, 2, ss) && *hh <= 23 && *mm <= 59 &&
           *ss <= 60;
}

static int http_date_build(long long y, unsigned mon, unsigned d, unsigned hh, unsigned mm,
                           unsigned ss, time_t *out)
{
    if (mon < 1 || mon > 12 || d < 1 || d > http_date_month_days(y, mon))
        return -1;
    long long days = wasp_http_date_days_from_civil(y, mon, d);
    long long t = days * 86400 + (long long)hh * 3600 + mm * 60 + ss;
    if (sizeof(time_t) < 8 && (t > INT32_MAX || t < INT32_MIN))
        return -1;
    *out = (time_t)t;
    return 0;
}

/* IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT
 * date1 = day SP month SP year  (e.g. "Sun, 06 Nov 1994 08:49:37 GMT") */
static int http_date_parse_imf(http_date_cur_t c, time_t *out)
{
    unsigned d, y, hh, mm, ss;
    int mon;
    if (http_date_short_name(&c, http_date_days, 7) < 0 || !http_date_lit(&c, ", ") ||
        !http_date_digits(&c, 2, &d) || !http_date_lit(&c, " ") ||
        (mon = http_date_short_name(&c, http_date_months, 12)) < 0 || !http_date_lit(&c, " ") ||
        !http_date_digits(&c, 4, &y) || !http_date_lit(&c, " ") ||
        !http_date_time(&c, &hh, &mm, &ss) || !http_date_lit(&c, " GMT") || c.p != c.end)
        return -1;
    return http_date_build(y, (unsigned)mon + 1, d, hh, mm, ss, out);
}

/* rfc850-date = day-name-l "," SP date2 SP time-of-day SP GMT
 * date2 = day "-" month "-" 2DIGIT  (e.g. "Sunday, 06-Nov-94 08:49:37 GMT") */
static int http_date_parse_rfc850(http_date_cur_t c, time_t *out)
{
    unsigned d, yy, hh, mm, ss;
    int mon;
    if (http_date_name(&c, http_date_long_days, 7, 0) < 0 || !http_date_lit(&c, ", ") ||
        !http_date_digits(&c, 2, &d) || !http_date_lit(&c, "-") ||
        (mon = http_date_short_name(&c, http_date_months, 12)) < 0 || !http_date_lit(&c, "-") ||
        !http_date_digits(&c, 2, &yy) || !http_date_lit(&c, " ") ||
        !http_date_time(&c, &hh, &mm, &ss) || !http_date_lit(&c, " GMT") || c.p != c.end)
        return -1;

    /* RFC 9110 5.6.7: a two-digit year more than 50 years in the future is
     * the most recent past year with the same last two digits. */
    long long now_year = 1970 + (long long)time(NULL) / 31556952; /* mean Gregorian year */
    long long y = now_year - now_year % 100 + yy;
    if (y > now_year + 50)
        y -= 100;
    return http_date_build(y, (unsigned)mon + 1, d, hh, mm, ss, out);
}

/* asctime-date = day-name SP date3 SP time-of-day SP year
 * date3 = month SP ( 2DIGIT / ( SP DIGIT ))  (e.g. "Sun Nov  6 08:49:37 1994") */
static int http_date_parse_asctime(http_date_cur_t c, time_t *out)
{
    unsigned d, y, hh, mm, ss;
    int mon;
    if (http_date_short_name(&c, http_date_days, 7) < 0 || !http_date_lit(&c, " ") ||
        (mon = http_date_short_name(&c, http_date_months, 12)) < 0 || !http_date_lit(&c, " "))
        return -1;
    if (http_date_lit(&c, " ")) {
        if (!http_date_digits(&c, 1, &d))
            return -1;
    } else if (!http_date_digits(&c, 2, &d)) {
        return -1;
    }
    if (!http_date_lit(&c, " ") || !http_date_time(&c, &hh, &mm, &ss) || !http_date_lit(&c, " ") ||
        !http_date_digits(&c, 4, &y) || c.p != c.end)
        return -1;
    return http_date_build(y, (unsigned)mon + 1, d, hh, mm, ss, out);
}

int wasp_http_date_parse(const char *s, size_t len, time_t *out)
{
    if (s == NULL)
        return -1;
    http_date_cur_t c = {s, s + len};
    while (c.p < c.end && (*c.p == ' ' || *c.p == '\t'))
        c.p++;
    while (c.end > c.p && (c.end[-1] == ' ' || c.end[-1] == '\t'))
        c.end--;
    if (c.end - c.p < 24)
        return -1;

    /* The three forms differ at the fourth byte: ',' (IMF), ' ' (asctime),
     * a letter (RFC 850 long day name). */
    switch (c.p[3]) {
    case ',':
        return http_date_parse_imf(c, out);
    case ' ':
        return http_date_parse_asctime(c, out);
    default:
        return http_date_parse_rfc850(c, out);
    }
}
