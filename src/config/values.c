/*
 * Attribute values: the IIS value syntax (iis-hosting.md 6.4) — bool, uint,
 * enum, timeSpan — and the public wasp_section_* accessors modules use to
 * read a section (include/wasp/module.h).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/cfg_internal.h"

bool cfg_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool cfg_parse_bool(const char *s, bool *out)
{
    if (!s)
        return false;
    if (strcasecmp(s, "true") == 0) {
        *out = true;
        return true;
    }
    if (strcasecmp(s, "false") == 0) {
        *out = false;
        return true;
    }
    return false;
}

int cfg_parse_enum(const char *s, const char *const *names)
{
    if (!s)
        return -1;
    int n = 0;
    for (; names[n]; n++)
        if (strcasecmp(s, names[n]) == 0)
            return n;
    uint64_t v;
    if (cfg_parse_uint(s, 1000, &v) && v < (uint64_t)n)
        return (int)v;
    return -1;
}

const char *cfg_node_attr_line(const wasp_section_t *s, const char *name, int *line)
{
    if (line)
        *line = s ? s->line : 0;
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->attr_count; i++) {
        if (strcmp(s->attrs[i].name, name) == 0) {
            if (line)
                *line = s->attrs[i].line;
            return s->attrs[i].value;
        }
    }
    return NULL;
}

bool cfg_path_prefix(const char *prefix, const char *path, const char **rest)
{
    if (strcmp(prefix, "/") == 0) {
        if (rest)
            *rest = path;
        return true;
    }
    size_t n = strlen(prefix);
    if (strncasecmp(prefix, path, n) != 0 || (path[n] != '\0' && path[n] != '/'))
        return false;
    if (rest)
        *rest = path + n;
    return true;
}

/* ---- timeSpan ------------------------------------------------------------- */

/* Digits only, into *v (bounded); returns the end or NULL. */
static const char *cfg_ts_num(const char *p, const char *end, int64_t max, int64_t *v)
{
    if (p >= end || !isdigit((unsigned char)*p))
        return NULL;
    int64_t x = 0;
    for (; p < end && isdigit((unsigned char)*p); p++) {
        x = x * 10 + (*p - '0');
        if (x > max)
            return NULL;
    }
    *v = x;
    return p;
}

#define CFG_TS_MAX_DAYS 10675199 /* what fits a .NET TimeSpan */

bool wasp_config_parse_timespan(const char *text, wasp_timespan_format_t format, int64_t *ms)
{
    if (!text || !ms)
        return false;
    const char *p = text, *end = text + strlen(text);
    bool neg = false;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    int64_t v;
    if (format == WASP_TIMESPAN_SECONDS || format == WASP_TIMESPAN_MINUTES) {
        const char *e = cfg_ts_num(p, end, INT64_MAX / 60000, &v);
        if (!e || e != end)
            return false;
        v *= format == WASP_TIMESPAN_SECONDS ? 1000 : 60000;
        *ms = neg ? -v : v;
        return true;
    }

    /* Split on ':' (at most 4 parts). */
    const char *part[4], *pend[4];
    int np = 0;
    const char *s = p;
    for (const char *q = p;; q++) {
        if (q == end || *q == ':') {
            if (np == 4)
                return false;
            part[np] = s;
            pend[np++] = q;
            s = q + 1;
            if (q == end)
                break;
        }
    }
    int64_t days = 0, h = 0, m = 0, sec = 0, frac_ms = 0;
    const char *e;
    if (np == 1) {
        /* A bare number is a count of days, as .NET reads "[-]d". */
        e = cfg_ts_num(part[0], pend[0], CFG_TS_MAX_DAYS, &days);
        if (!e || e != pend[0])
            return false;
    } else {
        int i = 0;
        if (np == 4) {
            e = cfg_ts_num(part[0], pend[0], CFG_TS_MAX_DAYS, &days);
            if (!e || e != pend[0])
                return false;
            i = 1;
        } else {
            /* "d.hh" in the first part */
            const char *dot = memchr(part[0], '.', (size_t)(pend[0] - part[0]));
            if (dot) {
                e = cfg_ts_num(part[0], dot, CFG_TS_MAX_DAYS, &days);
                if (!e || e != dot)
                    return false;
                part[0] = dot + 1;
            }
        }
        /* hours may exceed 23 without a day part ("29:00:00", IIS' own default) */
        e = cfg_ts_num(part[i], pend[i], (int64_t)CFG_TS_MAX_DAYS * 24, &h);
        if (!e || e != pend[i] || (np == 4 && h > 23))
            return false;
        i++;
        e = cfg_ts_num(part[i], pend[i], 59, &m);
        if (!e || e != pend[i])
            return false;
        i++;
        if (i < np) {
            e = cfg_ts_num(part[i], pend[i], 59, &sec);
            if (!e)
                return false;
            if (e < pend[i]) {
                /* .fffffff: up to seven digits of fraction */
                if (*e != '.' || pend[i] - e < 2 || pend[i] - e > 8)
                    return false;
                int64_t f = 0;
                int digits = 0;
                for (const char *q = e + 1; q < pend[i]; q++, digits++) {
                    if (!isdigit((unsigned char)*q))
                        return false;
                    f = f * 10 + (*q - '0');
                }
                while (digits < 3) {
                    f *= 10;
                    digits++;
                }
                while (digits > 3) {
                    f /= 10;
                    digits--;
                }
                frac_ms = f;
            }
        }
    }
    v = (((days * 24 + h) * 60 + m) * 60 + sec) * 1000 + frac_ms;
    *ms = neg ? -v : v;
    return true;
}

/* ---- public section accessors (wasp/module.h) ------------------------------ */

const char *wasp_section_attr(const wasp_section_t *s, const char *name)
{
    if (!s || !name)
        return NULL;
    for (size_t i = 0; i < s->attr_count; i++)
        if (strcmp(s->attrs[i].name, name) == 0)
            return s->attrs[i].value;
    return NULL;
}

bool wasp_section_bool(const wasp_section_t *s, const char *name, bool dflt)
{
    bool v;
    return cfg_parse_bool(wasp_section_attr(s, name), &v) ? v : dflt;
}

uint64_t wasp_section_uint(const wasp_section_t *s, const char *name, uint64_t dflt)
{
    uint64_t v;
    return cfg_parse_uint(wasp_section_attr(s, name), UINT64_MAX, &v) ? v : dflt;
}

const wasp_section_t *wasp_section_child(const wasp_section_t *s, const char *name)
{
    if (!s || !name)
        return NULL;
    for (size_t i = 0; i < s->child_count; i++)
        if (strcmp(s->children[i]->name, name) == 0)
            return s->children[i];
    return NULL;
}

size_t wasp_section_item_count(const wasp_section_t *s)
{
    return s ? s->item_count : 0;
}

const wasp_section_t *wasp_section_item(const wasp_section_t *s, size_t i)
{
    return s && i < s->item_count ? s->items[i] : NULL;
}
