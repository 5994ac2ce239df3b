/*
 * libFuzzer target for schema values (src/config/schema_value.c): an
 * attribute of any type with any validator, fed any text.
 *
 * Input: byte 0 picks the type; byte 1 the options (bit 0 allowInfinite,
 * bit 1 displayHex, bits 2-3 timeSpanFormat, bits 4-7 the validator); the
 * rest is "validationParameter\0value" (no NUL: an empty parameter).
 *
 * Invariants: a validator that does not fit the type, or a bad parameter,
 * is refused with a message; a failed parse always leaves a message; a
 * parsed value lies in its type's range and passes its validator's rule
 * (checked here independently); integers and timeSpans written back as
 * text parse to the same value; %VAR% expansion of the text is bounded and
 * NUL-terminated like snprintf.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                  \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);            \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static const char *const validators[] = {
    NULL,         "integerRange",        "timeSpanRange",       "nonEmptyString",
    "requireTrimmedString", "siteName", "applicationPoolName", "applicationPath",
    "virtualDirectoryPath", "regex",
};
#define VALIDATOR_COUNT (sizeof(validators) / sizeof(validators[0]))

static const cfg_enum_value_t values[] = {
    { "None", 0 }, { "Low", 1 }, { "High", 2 }, { "Big", 4 }, { "Huge", 0x40000000 },
};

static bool has_char(const char *s, const char *set)
{
    return strpbrk(s, set) != NULL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* The validator's rule, checked apart from the code under test. */
static void check_rule(const cfg_attr_schema_t *a, const cfg_value_t *v)
{
    const cfg_validator_t *val = &a->validator;
    if (v->infinite)
        return;
    switch (val->kind) {
    case CFG_V_INTEGER_RANGE:
        CHECK((v->i >= val->min && v->i <= val->max) != val->exclude);
        break;
    case CFG_V_TIMESPAN_RANGE: {
        bool in = v->i >= val->min * 1000 && v->i <= val->max * 1000;
        CHECK(in != val->exclude);
        if (!val->exclude)
            CHECK(v->i % (val->granularity * 1000) == 0 ||
                  (v->i - val->min * 1000) % (val->granularity * 1000) == 0);
        break;
    }
    case CFG_V_NON_EMPTY:
        CHECK(v->s[0] != '\0');
        break;
    case CFG_V_TRIMMED: {
        size_t n = strlen(v->s);
        CHECK(n == 0 || (!is_space(v->s[0]) && !is_space(v->s[n - 1])));
        break;
    }
    case CFG_V_SITE_NAME:
        CHECK(v->s[0] && !has_char(v->s, "/?"));
        break;
    case CFG_V_POOL_NAME:
        CHECK(v->s[0] && !has_char(v->s, "|<>&\"/[]+=;:,?*@\\"));
        break;
    case CFG_V_APP_PATH:
    case CFG_V_VDIR_PATH: {
        size_t n = strlen(v->s);
        CHECK(v->s[0] == '/' && (n == 1 || v->s[n - 1] != '/'));
        CHECK(!strstr(v->s, "/../") && !strstr(v->s, "/./"));
        break;
    }
    default:
        break;
    }
}

static void check_range(const cfg_attr_schema_t *a, const cfg_value_t *v)
{
    CHECK(v->type == a->type);
    CHECK(!v->infinite || (a->allow_infinite && (a->type == CFG_T_UINT || a->type == CFG_T_INT ||
                                                  a->type == CFG_T_INT64 ||
                                                  a->type == CFG_T_TIMESPAN)));
    switch (a->type) {
    case CFG_T_BOOL:
        CHECK(v->i == v->b);
        break;
    case CFG_T_UINT:
        CHECK(v->i >= 0 && v->i <= UINT32_MAX);
        break;
    case CFG_T_INT:
        CHECK(v->i >= INT32_MIN && v->i <= INT32_MAX);
        break;
    case CFG_T_ENUM: {
        bool found = false;
        for (size_t i = 0; i < a->value_count; i++)
            found = found || a->values[i].value == v->i;
        CHECK(found);
        break;
    }
    case CFG_T_FLAGS:
        CHECK(v->i >= 0 && (v->i & ~(int64_t)0x40000007) == 0);
        break;
    case CFG_T_STRING:
        CHECK(v->s != NULL);
        break;
    default:
        break;
    }
}

/* Integers and timeSpans written back as text parse to the same value. */
static void check_round_trip(const cfg_attr_schema_t *a, const cfg_value_t *v)
{
    char text[64];
    if (v->infinite)
        return;
    if (a->type == CFG_T_UINT || a->type == CFG_T_INT || a->type == CFG_T_INT64)
        snprintf(text, sizeof(text), "%" PRId64, v->i);
    else if (a->type == CFG_T_TIMESPAN && a->timespan_format == WASP_TIMESPAN_STRING)
        cfg_format_timespan(v->i, text, sizeof(text));
    else if (a->type == CFG_T_TIMESPAN) {
        /* seconds / minutes: a whole count, as the value always is */
        int64_t unit = a->timespan_format == WASP_TIMESPAN_SECONDS ? 1000 : 60000;
        CHECK(v->i % unit == 0);
        snprintf(text, sizeof(text), "%" PRId64, v->i / unit);
    } else
        return;
    cfg_value_t again;
    char msg[512];
    CHECK(cfg_value_parse(a, text, &again, msg, sizeof(msg)) == 0);
    CHECK(again.i == v->i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    char *buf = malloc(size - 1);
    CHECK(buf != NULL);
    memcpy(buf, data + 2, size - 2);
    buf[size - 2] = '\0';
    const char *param = "", *text = buf;
    size_t nul = strlen(buf);
    if (nul < size - 2) {
        param = buf;
        text = buf + nul + 1;
    }

    cfg_attr_schema_t a = { .name = "fuzz" };
    a.type = (cfg_type_t)(data[0] % CFG_T_COUNT);
    a.allow_infinite = data[1] & 1;
    a.display_hex = (data[1] & 2) != 0;
    a.timespan_format = (wasp_timespan_format_t)((data[1] >> 2) & 3) % 3;
    a.values = values;
    a.value_count = sizeof(values) / sizeof(values[0]);
    const char *vtype = validators[(data[1] >> 4) % VALIDATOR_COUNT];
    char err[512] = "";
    if (cfg_validator_init(&a.validator, a.type, vtype, param, err, sizeof(err)) != 0) {
        CHECK(err[0] != '\0');
        CHECK(a.validator.re == NULL);
        memset(&a.validator, 0, sizeof(a.validator));
    }

    cfg_value_t v;
    char msg[512] = "";
    if (cfg_value_parse(&a, text, &v, msg, sizeof(msg)) == 0) {
        check_range(&a, &v);
        check_rule(&a, &v);
        check_round_trip(&a, &v);
    } else {
        CHECK(msg[0] != '\0' && strlen(msg) < sizeof(msg));
    }
    cfg_validator_release(&a.validator);

    char small[16], big[4096];
    size_t n = cfg_expand_env(text, small, sizeof(small));
    CHECK(strlen(small) == (n < sizeof(small) ? n : sizeof(small) - 1));
    if (n < sizeof(big)) {
        CHECK(cfg_expand_env(text, big, sizeof(big)) == n && strlen(big) == n);
        CHECK(strncmp(small, big, strlen(small)) == 0);
    }
    free(buf);
    return 0;
}
