/*
 * Attribute values as the schema types them (iis-hosting.md 6.4) and the
 * validators that narrow them (6.5), with IIS' own messages where they are
 * known ("Integer value must be between 10 and 65535 inclusive", "Enum must
 * be one of Integrated, Classic", "Invalid application pool name", ...).
 * The messages for text that is not of the type at all are wasp's, in the
 * same style: IIS' wording for them is not documented.
 *
 * Leniency follows .NET's parsers, which IIS' tools use: white space around
 * a number, bool, enum or timeSpan is ignored, enum and flag names compare
 * case-insensitively, an enum may be given by its number and flags by the
 * number of their bits.
 *
 * The regex validator uses PCRE2 (already linked for URL Rewrite), with a
 * match limit so that a pattern and a value cannot stall the reader.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pcre2.h>

#include "config/schema.h"

extern char **environ;

/* ---- types ------------------------------------------------------------------- */

static const char *const cfg_type_names[CFG_T_COUNT] = {
    [CFG_T_BOOL] = "bool",   [CFG_T_ENUM] = "enum",   [CFG_T_FLAGS] = "flags",
    [CFG_T_UINT] = "uint",   [CFG_T_INT] = "int",     [CFG_T_INT64] = "int64",
    [CFG_T_STRING] = "string", [CFG_T_TIMESPAN] = "timeSpan",
};

const char *cfg_type_name(cfg_type_t t)
{
    return (unsigned)t < CFG_T_COUNT ? cfg_type_names[t] : "?";
}

bool cfg_type_from_name(const char *name, cfg_type_t *t)
{
    for (int i = 0; name && i < CFG_T_COUNT; i++) {
        if (strcmp(name, cfg_type_names[i]) == 0) {
            *t = (cfg_type_t)i;
            return true;
        }
    }
    return false;
}

static bool cfg_is_integer_type(cfg_type_t t)
{
    return t == CFG_T_UINT || t == CFG_T_INT || t == CFG_T_INT64;
}

static void cfg_type_range(cfg_type_t t, int64_t *lo, int64_t *hi)
{
    switch (t) {
    case CFG_T_UINT:
        *lo = 0;
        *hi = UINT32_MAX;
        break;
    case CFG_T_INT:
        *lo = INT32_MIN;
        *hi = INT32_MAX;
        break;
    default:
        *lo = INT64_MIN;
        *hi = INT64_MAX;
        break;
    }
}

static void cfg_msg(char *msg, size_t size, const char *fmt, ...) WASP_PRINTF(3, 4);
static void cfg_msg(char *msg, size_t size, const char *fmt, ...)
{
    if (!msg || !size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
}

static bool cfg_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* [p, e) without the white space around it. */
static void cfg_trim(const char **p, const char **e)
{
    while (*p < *e && cfg_space(**p))
        (*p)++;
    while (*e > *p && cfg_space((*e)[-1]))
        (*e)--;
}

static bool cfg_span_is(const char *p, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(e - p) == n && strncasecmp(p, word, n) == 0;
}

/* An integer in [p, e): optional sign, decimal digits (or 0x and hex digits
 * when hex is allowed).  *mag saturates; *big says it did. */
static bool cfg_int_span(const char *p, const char *e, bool hex, bool *neg, uint64_t *mag,
                         bool *big)
{
    *neg = false;
    *mag = 0;
    *big = false;
    if (p < e && (*p == '+' || *p == '-')) {
        *neg = *p == '-';
        p++;
    }
    unsigned base = 10;
    if (hex && !*neg && e - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    if (p == e)
        return false;
    for (; p < e; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (base == 16 && *p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else if (base == 16 && *p >= 'A' && *p <= 'F')
            d = (unsigned)(*p - 'A' + 10);
        else
            return false;
        if (*mag > (UINT64_MAX - d) / base)
            *big = true;
        else
            *mag = *mag * base + d;
    }
    return true;
}

/* A whole text as a decimal int64 (validator parameters, enum and flag
 * numbers). */
static bool cfg_int64_text(const char *s, const char *e, int64_t *out)
{
    bool neg, big;
    uint64_t mag;
    cfg_trim(&s, &e);
    if (!cfg_int_span(s, e, false, &neg, &mag, &big) || big)
        return false;
    if (neg ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return true;
}

/* ---- validators ---------------------------------------------------------------- */

/* TimeSpan.MaxValue in whole seconds (the bounds of a timeSpanRange) and
 * in milliseconds (the bounds of any timeSpan value). */
#define CFG_TS_MAX_SECONDS INT64_C(922337203685)
#define CFG_TS_MAX_MS INT64_C(922337203685477)

typedef struct cfg_check_name {
    const char *name;
    cfg_check_t kind;
} cfg_check_name_t;

static const cfg_check_name_t cfg_check_names[] = {
    { "integerRange", CFG_V_INTEGER_RANGE },
    { "timeSpanRange", CFG_V_TIMESPAN_RANGE },
    { "nonEmptyString", CFG_V_NON_EMPTY },
    { "requireTrimmedString", CFG_V_TRIMMED },
    /* The documentation's names for requireTrimmedString. */
    { "trimWhiteSpaceString", CFG_V_TRIMMED },
    { "trimWhiteSpace", CFG_V_TRIMMED },
    { "siteName", CFG_V_SITE_NAME },
    { "applicationPoolName", CFG_V_POOL_NAME },
    { "applicationPath", CFG_V_APP_PATH },
    { "virtualDirectoryPath", CFG_V_VDIR_PATH },
    { "regex", CFG_V_REGEX },
};
#define CFG_CHECK_COUNT (sizeof(cfg_check_names) / sizeof(cfg_check_names[0]))

/* Split a validation parameter at commas into at most max fields. */
static size_t cfg_split_param(const char *param, const char **f, const char **fe, size_t max)
{
    size_t n = 0;
    const char *p = param;
    for (;;) {
        const char *c = strchr(p, ',');
        const char *end = c ? c : p + strlen(p);
        if (n == max)
            return max + 1;
        f[n] = p;
        fe[n] = end;
        cfg_trim(&f[n], &fe[n]);
        n++;
        if (!c)
            return n;
        p = c + 1;
    }
}

static int cfg_range_param(cfg_validator_t *v, const char *param, bool timespan, char *err,
                           size_t err_size)
{
    const char *f[4], *fe[4];
    size_t want = timespan ? 3 : 2;
    size_t n = cfg_split_param(param ? param : "", f, fe, 4);
    bool ok = n == want || (n == want + 1 && cfg_span_is(f[want], fe[want], "exclude"));
    ok = ok && cfg_int64_text(f[0], fe[0], &v->min) && cfg_int64_text(f[1], fe[1], &v->max) &&
         v->min <= v->max;
    if (ok && timespan) {
        ok = cfg_int64_text(f[2], fe[2], &v->granularity) && v->granularity >= 1 &&
             v->min >= -CFG_TS_MAX_SECONDS && v->max <= CFG_TS_MAX_SECONDS &&
             v->granularity <= CFG_TS_MAX_SECONDS;
    }
    if (!ok) {
        if (timespan)
            cfg_msg(err, err_size,
                    "validationParameter=\"%s\" of timeSpanRange must be "
                    "\"min,max,granularity\" or \"min,max,granularity,exclude\" in whole "
                    "seconds, with min <= max and a granularity of at least 1",
                    param ? param : "");
        else
            cfg_msg(err, err_size,
                    "validationParameter=\"%s\" of integerRange must be \"min,max\" or "
                    "\"min,max,exclude\" with integers min <= max",
                    param ? param : "");
        return -1;
    }
    v->exclude = n == want + 1;
    return 0;
}

static int cfg_regex_init(cfg_validator_t *v, const char *param, char *err, size_t err_size)
{
    if (!param || !*param) {
        cfg_msg(err, err_size,
                "validationType=\"regex\" needs the pattern in validationParameter");
        return -1;
    }
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)param, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR text[160];
        pcre2_get_error_message(code, text, sizeof(text));
        cfg_msg(err, err_size,
                "validationParameter=\"%s\" is not a valid regular expression: %s (at offset "
                "%zu)",
                param, (const char *)text, (size_t)off);
        return -1;
    }
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    if (!mc) {
        pcre2_code_free(re);
        cfg_msg(err, err_size, "out of memory compiling the regular expression");
        return -1;
    }
    /* Bounded work per value: a catastrophic pattern fails instead of
     * stalling waspd on a web.config. */
    pcre2_set_match_limit(mc, 100000);
    pcre2_set_depth_limit(mc, 10000);
    v->re = re;
    v->mctx = mc;
    v->pattern = param;
    return 0;
}

int cfg_validator_init(cfg_validator_t *v, cfg_type_t type, const char *vtype, const char *param,
                       char *err, size_t err_size)
{
    memset(v, 0, sizeof(*v));
    if (!vtype || !*vtype)
        return 0;
    size_t i = 0;
    while (i < CFG_CHECK_COUNT && strcasecmp(vtype, cfg_check_names[i].name) != 0)
        i++;
    if (i == CFG_CHECK_COUNT) {
        cfg_msg(err, err_size,
                "validationType=\"%s\" is not a validator IIS knows; use integerRange, "
                "timeSpanRange, nonEmptyString, requireTrimmedString, siteName, "
                "applicationPoolName, applicationPath, virtualDirectoryPath or regex",
                vtype);
        return -1;
    }
    cfg_check_t kind = cfg_check_names[i].kind;
    const char *need = NULL;
    if (kind == CFG_V_INTEGER_RANGE && !cfg_is_integer_type(type))
        need = "an integer attribute (type uint, int or int64)";
    else if (kind == CFG_V_TIMESPAN_RANGE && type != CFG_T_TIMESPAN)
        need = "a timeSpan attribute";
    else if (kind != CFG_V_INTEGER_RANGE && kind != CFG_V_TIMESPAN_RANGE && type != CFG_T_STRING)
        need = "a string attribute";
    if (need) {
        cfg_msg(err, err_size, "validationType=\"%s\" needs %s, not type %s", vtype, need,
                cfg_type_name(type));
        return -1;
    }
    v->kind = kind;
    if (kind == CFG_V_INTEGER_RANGE || kind == CFG_V_TIMESPAN_RANGE)
        return cfg_range_param(v, param, kind == CFG_V_TIMESPAN_RANGE, err, err_size);
    if (kind == CFG_V_REGEX)
        return cfg_regex_init(v, param, err, err_size);
    return 0;
}

void cfg_validator_release(cfg_validator_t *v)
{
    if (!v)
        return;
    pcre2_code_free(v->re);
    pcre2_match_context_free(v->mctx);
    v->re = NULL;
    v->mctx = NULL;
}

/* Validator applicationPoolName: the characters IIS' schema comment and
 * Microsoft.Web.Administration refuse, and no blank name. */
static bool cfg_pool_name_valid(const char *s)
{
    bool blank = true;
    for (; *s; s++) {
        if (strchr("|<>&\"/[]+=;:,?*@\\", *s))
            return false;
        blank = blank && cfg_space(*s);
    }
    return !blank;
}

/* Validator siteName: IIS' schema comment names '/' and '?' (the apphost
 * model checks the same), and no blank name. */
static bool cfg_site_name_valid(const char *s)
{
    bool blank = true;
    for (; *s; s++) {
        if (*s == '/' || *s == '?')
            return false;
        blank = blank && cfg_space(*s);
    }
    return !blank;
}

/* Validators applicationPath / virtualDirectoryPath: "/" or "/a/b", no
 * trailing '/', no "." or ".." segment. */
static bool cfg_vpath_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || s[0] != '/' || (n > 1 && s[n - 1] == '/'))
        return false;
    for (const char *p = s + 1; *p;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += len;
        if (*p == '/')
            p++;
    }
    return true;
}

static int cfg_regex_check(const cfg_validator_t *v, const char *s, char *msg, size_t size)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) {
        cfg_msg(msg, size, "out of memory checking the value");
        return -1;
    }
    int rc = pcre2_match(v->re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, v->mctx);
    pcre2_match_data_free(md);
    if (rc >= 0)
        return 0;
    if (rc == PCRE2_ERROR_NOMATCH)
        cfg_msg(msg, size, "The value does not conform to the validation regex string '%s'.",
                v->pattern);
    else
        cfg_msg(msg, size,
                "The value could not be checked against the validation regex string '%s': the "
                "match needs too much work",
                v->pattern);
    return -1;
}

static int cfg_validate(const cfg_validator_t *v, const cfg_value_t *val, char *msg, size_t size)
{
    if (val->infinite)
        return 0;
    switch (v->kind) {
    case CFG_V_NONE:
        return 0;
    case CFG_V_INTEGER_RANGE: {
        bool in = val->i >= v->min && val->i <= v->max;
        if (in == v->exclude) {
            cfg_msg(msg, size, "Integer value must %sbe between %" PRId64 " and %" PRId64
                    " inclusive", v->exclude ? "not " : "", v->min, v->max);
            return -1;
        }
        return 0;
    }
    case CFG_V_TIMESPAN_RANGE: {
        int64_t lo = v->min * 1000, hi = v->max * 1000, g = v->granularity * 1000;
        bool in = val->i >= lo && val->i <= hi;
        /* On the grid of the granularity from zero or from the minimum:
         * "1,...,60" ranges (ASP.NET's) accept whole minutes.  Only asked
         * inside the range, where val - lo cannot overflow. */
        bool grid = in && (val->i % g == 0 || (val->i - lo) % g == 0);
        if (v->exclude ? in : !(in && grid)) {
            char a[48], b[48];
            cfg_format_timespan(lo, a, sizeof(a));
            cfg_format_timespan(hi, b, sizeof(b));
            cfg_msg(msg, size,
                    "Timespan value must %sbe between %s and %s seconds inclusive, with a "
                    "granularity of %" PRId64 " seconds",
                    v->exclude ? "not " : "", a, b, v->granularity);
            return -1;
        }
        return 0;
    }
    case CFG_V_NON_EMPTY:
        if (!*val->s) {
            cfg_msg(msg, size, "String must not be empty");
            return -1;
        }
        return 0;
    case CFG_V_TRIMMED: {
        size_t n = strlen(val->s);
        if (n && (cfg_space(val->s[0]) || cfg_space(val->s[n - 1]))) {
            cfg_msg(msg, size, "String must not begin or end with white space");
            return -1;
        }
        return 0;
    }
    case CFG_V_SITE_NAME:
        if (!cfg_site_name_valid(val->s)) {
            cfg_msg(msg, size, "Invalid site name");
            return -1;
        }
        return 0;
    case CFG_V_POOL_NAME:
        if (!cfg_pool_name_valid(val->s)) {
            cfg_msg(msg, size, "Invalid application pool name");
            return -1;
        }
        return 0;
    case CFG_V_APP_PATH:
    case CFG_V_VDIR_PATH:
        if (!cfg_vpath_valid(val->s)) {
            cfg_msg(msg, size, v->kind == CFG_V_APP_PATH ? "Invalid application path"
                                                         : "Invalid virtual directory path");
            return -1;
        }
        return 0;
    case CFG_V_REGEX:
        return cfg_regex_check(v, val->s, msg, size);
    }
    return 0;
}

/* ---- parsing by type ------------------------------------------------------------ */

/* "Enum must be one of A, B" / "Flags must be some combination of A, B". */
static void cfg_names_msg(const cfg_attr_schema_t *a, const char *lead, char *msg, size_t size)
{
    if (!msg || !size)
        return;
    int n = snprintf(msg, size, "%s", lead);
    for (size_t i = 0; i < a->value_count && n >= 0 && (size_t)n < size; i++)
        n += snprintf(msg + n, size - (size_t)n, "%s%s", i ? ", " : "", a->values[i].name);
}

static const cfg_enum_value_t *cfg_find_name(const cfg_attr_schema_t *a, const char *p,
                                             const char *e)
{
    for (size_t i = 0; i < a->value_count; i++)
        if (cfg_span_is(p, e, a->values[i].name))
            return &a->values[i];
    return NULL;
}

static int cfg_parse_enum_value(const cfg_attr_schema_t *a, const char *p, const char *e,
                                cfg_value_t *out, char *msg, size_t size)
{
    const cfg_enum_value_t *ev = cfg_find_name(a, p, e);
    int64_t num;
    if (!ev && cfg_int64_text(p, e, &num)) {
        for (size_t i = 0; i < a->value_count && !ev; i++)
            if (a->values[i].value == num)
                ev = &a->values[i];
    }
    if (!ev) {
        cfg_names_msg(a, "Enum must be one of ", msg, size);
        return -1;
    }
    out->i = ev->value;
    return 0;
}

static int cfg_parse_flags_value(const cfg_attr_schema_t *a, const char *p, const char *e,
                                 cfg_value_t *out, char *msg, size_t size)
{
    uint64_t all = 0, acc = 0;
    for (size_t i = 0; i < a->value_count; i++)
        all |= (uint64_t)a->values[i].value;
    out->i = 0;
    if (p == e) /* no flag at all */
        return 0;
    for (;;) {
        const char *c = memchr(p, ',', (size_t)(e - p));
        const char *te = c ? c : e, *tp = p;
        cfg_trim(&tp, &te);
        const cfg_enum_value_t *fv = tp < te ? cfg_find_name(a, tp, te) : NULL;
        int64_t num;
        if (fv)
            acc |= (uint64_t)fv->value;
        else if (tp < te && cfg_int64_text(tp, te, &num) && num >= 0 &&
                 ((uint64_t)num & ~all) == 0)
            acc |= (uint64_t)num;
        else {
            /* an unknown name, or an empty one ("Time,,Memory", "Time,") */
            cfg_names_msg(a, "Flags must be some combination of ", msg, size);
            return -1;
        }
        if (!c)
            break;
        p = c + 1;
    }
    out->i = (int64_t)acc;
    return 0;
}

static int cfg_parse_integer(const cfg_attr_schema_t *a, const char *p, const char *e,
                             cfg_value_t *out, char *msg, size_t size)
{
    int64_t lo, hi;
    cfg_type_range(a->type, &lo, &hi);
    bool neg, big;
    uint64_t mag;
    if (!cfg_int_span(p, e, a->display_hex, &neg, &mag, &big)) {
        cfg_msg(msg, size, "Integer value must be a whole number between %" PRId64 " and %" PRId64
                " inclusive", lo, hi);
        return -1;
    }
    bool ok;
    if (neg)
        ok = !big && mag <= (uint64_t)0 - (uint64_t)lo; /* |lo| as unsigned */
    else
        ok = !big && mag <= (uint64_t)hi;
    if (!ok) {
        cfg_msg(msg, size, "Integer value must be between %" PRId64 " and %" PRId64 " inclusive",
                lo, hi);
        return -1;
    }
    out->i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

static int cfg_parse_ts(const cfg_attr_schema_t *a, const char *p, const char *e,
                        cfg_value_t *out, char *msg, size_t size)
{
    char buf[64];
    size_t n = (size_t)(e - p);
    bool ok = n < sizeof(buf);
    if (ok) {
        memcpy(buf, p, n);
        buf[n] = '\0';
        ok = wasp_config_parse_timespan(buf, a->timespan_format, &out->i);
    }
    if (ok && (out->i > CFG_TS_MAX_MS || out->i < -CFG_TS_MAX_MS)) {
        /* Beyond .NET's TimeSpan, which IIS' values are. */
        char hi[48];
        cfg_format_timespan(CFG_TS_MAX_MS, hi, sizeof(hi));
        cfg_msg(msg, size, "Timespan value must be between -%s and %s", hi, hi);
        return -1;
    }
    if (!ok) {
        if (a->timespan_format == WASP_TIMESPAN_SECONDS)
            cfg_msg(msg, size, "Timespan value must be a whole number of seconds");
        else if (a->timespan_format == WASP_TIMESPAN_MINUTES)
            cfg_msg(msg, size, "Timespan value must be a whole number of minutes");
        else
            cfg_msg(msg, size, "Timespan value must be written [d.]hh:mm:ss[.fffffff]");
        return -1;
    }
    return 0;
}

int cfg_value_parse(const cfg_attr_schema_t *a, const char *text, cfg_value_t *out, char *msg,
                    size_t msg_size)
{
    memset(out, 0, sizeof(*out));
    out->type = a->type;
    if (msg && msg_size)
        msg[0] = '\0';
    if (!text)
        text = "";
    const char *p = text, *e = text + strlen(text);
    cfg_trim(&p, &e);
    int rc = 0;
    bool numeric = cfg_is_integer_type(a->type) || a->type == CFG_T_TIMESPAN;
    if (a->allow_infinite && numeric && cfg_span_is(p, e, "Infinite")) {
        int64_t lo;
        out->infinite = true;
        cfg_type_range(a->type == CFG_T_TIMESPAN ? CFG_T_INT64 : a->type, &lo, &out->i);
        return 0;
    }
    switch (a->type) {
    case CFG_T_BOOL:
        if (cfg_span_is(p, e, "true"))
            out->b = true;
        else if (!cfg_span_is(p, e, "false")) {
            cfg_msg(msg, msg_size, "Boolean value must be true or false");
            rc = -1;
        }
        out->i = out->b;
        break;
    case CFG_T_ENUM:
        rc = cfg_parse_enum_value(a, p, e, out, msg, msg_size);
        break;
    case CFG_T_FLAGS:
        rc = cfg_parse_flags_value(a, p, e, out, msg, msg_size);
        break;
    case CFG_T_UINT:
    case CFG_T_INT:
    case CFG_T_INT64:
        rc = cfg_parse_integer(a, p, e, out, msg, msg_size);
        break;
    case CFG_T_STRING:
        out->s = text;
        break;
    case CFG_T_TIMESPAN:
        rc = cfg_parse_ts(a, p, e, out, msg, msg_size);
        break;
    }
    if (rc != 0)
        return -1;
    return cfg_validate(&a->validator, out, msg, msg_size);
}

/* ---- %VAR% expansion ------------------------------------------------------------ */

static const char *cfg_env_lookup(const char *name, size_t len)
{
    char buf[256];
    if (len >= sizeof(buf))
        return NULL;
    memcpy(buf, name, len);
    buf[len] = '\0';
    if (memchr(buf, '=', len))
        return NULL;
    const char *v = getenv(buf);
    if (v)
        return v;
    for (char **ep = environ; ep && *ep; ep++)
        if (strncasecmp(*ep, buf, len) == 0 && (*ep)[len] == '=')
            return *ep + len + 1;
    return NULL;
}

/* Append n bytes to out (bounded), counting the full length in *len. */
static void cfg_put(char *out, size_t size, size_t *len, const char *s, size_t n)
{
    if (*len < size) {
        size_t room = size - *len - 1;
        memcpy(out + *len, s, n < room ? n : room);
    }
    *len += n;
}

size_t cfg_expand_env(const char *in, char *out, size_t out_size)
{
    size_t len = 0;
    const char *p = in ? in : "";
    while (*p) {
        const char *pct = strchr(p, '%');
        if (!pct) {
            cfg_put(out, out_size, &len, p, strlen(p));
            break;
        }
        cfg_put(out, out_size, &len, p, (size_t)(pct - p));
        const char *end = strchr(pct + 1, '%');
        if (!end) {
            cfg_put(out, out_size, &len, pct, strlen(pct));
            break;
        }
        const char *v = end > pct + 1 ? cfg_env_lookup(pct + 1, (size_t)(end - pct - 1)) : NULL;
        if (v) {
            cfg_put(out, out_size, &len, v, strlen(v));
            p = end + 1;
        } else if (end == pct + 1) {
            /* "%%": the first is plain text, the second may open a name */
            cfg_put(out, out_size, &len, pct, 1);
            p = end;
        } else {
            cfg_put(out, out_size, &len, pct, (size_t)(end - pct + 1));
            p = end + 1;
        }
    }
    if (out && out_size)
        out[len < out_size ? len : out_size - 1] = '\0';
    return len;
}

/* ---- timeSpan text ---------------------------------------------------------------- */

const char *cfg_format_timespan(int64_t ms, char *buf, size_t size)
{
    uint64_t t = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    uint64_t frac = t % 1000, s = t / 1000;
    uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
    char day[32] = "", fr[16] = "";
    if (d)
        snprintf(day, sizeof(day), "%" PRIu64 ".", d);
    if (frac)
        snprintf(fr, sizeof(fr), ".%03" PRIu64 "0000", frac);
    snprintf(buf, size, "%s%s%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 "%s", ms < 0 ? "-" : "", day,
             h, m, sec, fr);
    return buf;
}
