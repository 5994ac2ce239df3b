/*
 * HTTP-date (RFC 9110 5.6.7): format IMF-fixdate, parse IMF-fixdate and the
 * two obsolete forms (RFC 850 and asctime) that recipients must still accept.
 * Pure functions: no time zone, no locale, no allocation.
 */
#ifndef WASP_MODULES_HTTP_DATE_H
#define WASP_MODULES_HTTP_DATE_H

#include <stddef.h>
#include <time.h>

/* "Sun, 06 Nov 1994 08:49:37 GMT" is 29 characters; the buffer adds the NUL. */
#define WASP_HTTP_DATE_LEN 29
#define WASP_HTTP_DATE_SIZE (WASP_HTTP_DATE_LEN + 1)

/* Format t (seconds since the epoch, UTC) as IMF-fixdate into buf, which must
 * hold WASP_HTTP_DATE_SIZE bytes.  Years outside 0..9999 are clamped (the
 * format has four year digits).  Returns buf. */
char *wasp_http_date_format(time_t t, char *buf);

/* Parse an HTTP-date of len bytes (surrounding spaces and tabs allowed).
 * Accepts IMF-fixdate, RFC 850 (two-digit year, read with the 50-year rule of
 * RFC 9110 5.6.7) and asctime.  Returns 0 and stores the time, or -1 when s is
 * not a valid HTTP-date (callers then ignore the header field, RFC 9110
 * 13.1.3/13.1.4). */
int wasp_http_date_parse(const char *s, size_t len, time_t *out);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12); exposed
 * for the date arithmetic of other modules and for tests. */
long long wasp_http_date_days_from_civil(long long y, unsigned m, unsigned d);

#endif
