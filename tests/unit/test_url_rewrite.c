/*
 * RewriteModule's pure parts (src/modules/rewrite_expr.c): wildcard
 * conversion, PCRE2 patterns, back-references, functions, rewrite-map and
 * server-variable expansion, condition logic (MatchAll / MatchAny, negate,
 * IsFile / IsDirectory, trackAllCaptures), rule tests, and odd inputs fed
 * to the expansion code in bulk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "modules/rewrite_expr.h"

/* ---- helpers -------------------------------------------------------------- */

static void fake_variable(void *data, const char *name, rw_buf_t *out)
{
    (void)data;
    if (strcasecmp(name, "HTTP_HOST") == 0) {
        rw_buf_puts(out, "www.Example.com");
    } else if (strcmp(name, "QUERY_STRING") == 0) {
        rw_buf_puts(out, "p1=x&p2=abc");
    } else if (strcmp(name, "REQUEST_URI") == 0) {
        rw_buf_puts(out, "/article/23/title?p2=abc");
    } else if (strcmp(name, "REQUEST_FILENAME") == 0) {
        rw_buf_puts(out, "/srv/www/file.txt");
    } else if (strcmp(name, "DIRNAME") == 0) {
        rw_buf_puts(out, "/srv/www/dir");
    } else if (strcmp(name, "BRACE") == 0) {
        rw_buf_puts(out, "{R:1}"); /* values are never expanded again */
    }
}

static int fake_map(void *data, const char *name, const char *key, size_t key_len, rw_buf_t *out)
{
    (void)data;
    if (strcasecmp(name, "Static") != 0) {
        return -1;
    }
    if (key_len == 11 && memcmp(key, "/diagnostic", 11) == 0) {
        rw_buf_puts(out, "/default.aspx?tabid=2");
    } else {
        rw_buf_puts(out, "DEFAULT");
    }
    return 0;
}

static int fake_file_type(void *data, const char *path)
{
    (void)data;
    if (strcmp(path, "/srv/www/file.txt") == 0) {
        return 1;
    }
    if (strcmp(path, "/srv/www/dir") == 0) {
        return 2;
    }
    return 0;
}

static rw_expand_ctx_t make_ctx(const rw_captures_t *rule, const rw_captures_t *cond)
{
    rw_expand_ctx_t ctx = {.rule = rule, .cond = cond, .variable = fake_variable,
                           .map = fake_map, .file_type = fake_file_type};
    return ctx;
}

/* Expand tmpl; return a static copy of the result ("<error>" on error). */
static const char *expand(rw_expand_ctx_t *ctx, const char *tmpl)
{
    static char result[1024];
    rw_buf_t out = {0};

    if (rw_expand(ctx, tmpl, strlen(tmpl), &out) != 0) {
        rw_buf_free(&out);
        return "<error>";
    }
    snprintf(result, sizeof(result), "%s", rw_buf_str(&out));
    rw_buf_free(&out);
    return result;
}

static void compile_ok(rw_pattern_t *p, rw_syntax_t syntax, const char *text, bool icase)
{
    char err[512];

    if (rw_pattern_compile(p, syntax, text, icase, err, sizeof(err)) != 0) {
        fail_msg("pattern %s: %s", text, err);
    }
}

static int match(const rw_pattern_t *p, const char *s, rw_captures_t *caps)
{
    char err[512];

    return rw_pattern_match(p, s, strlen(s), caps, err, sizeof(err));
}

static void assert_capture(const rw_captures_t *c, size_t i, const char *want)
{
    size_t len;
    const char *v = rw_capture(c, i, &len);

    assert_int_equal(len, strlen(want));
    assert_memory_equal(v, want, len);
}

static void cond_init(rw_condition_t *c, const char *input, rw_match_type_t type,
                      const char *pattern, bool negate)
{
    *c = (rw_condition_t){.type = type, .negate = negate};
    c->input = strdup(input);
    if (type == RW_MATCH_PATTERN) {
        compile_ok(&c->pattern, RW_SYNTAX_ECMASCRIPT, pattern, true);
    }
}

static void conds_free(rw_condition_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].input);
        rw_pattern_free(&c[i].pattern);
    }
}

static int teardown_matcher(void **state)
{
    (void)state;
    rw_expr_cleanup();
    return 0;
}

/* ---- wildcard ------------------------------------------------------------- */

static void test_wildcard_to_regex(void **state)
{
    rw_buf_t b = {0};

    (void)state;
    assert_int_equal(rw_wildcard_to_regex("*.aspx", &b), 0);
    assert_string_equal(rw_buf_str(&b), "^(.*)\\.aspx$");
    rw_buf_reset(&b);
    rw_wildcard_to_regex("a?b*", &b);
    assert_string_equal(rw_buf_str(&b), "^a.b(.*)$");
    rw_buf_reset(&b);
    rw_wildcard_to_regex("x+(y)[z]{1}|^$\\", &b);
    assert_string_equal(rw_buf_str(&b), "^x\\+\\(y\\)\\[z\\]\\{1\\}\\|\\^\\$\\\\$");
    rw_buf_reset(&b);
    rw_wildcard_to_regex("", &b);
    assert_string_equal(rw_buf_str(&b), "^$");
    rw_buf_free(&b);
}

static void test_wildcard_match_captures(void **state)
{
    rw_pattern_t p;
    rw_captures_t c = {0};

    (void)state;
    compile_ok(&p, RW_SYNTAX_WILDCARD, "wild/*/?.htm", true);
    assert_int_equal(match(&p, "WILD/dir/a.htm", &c), 1);
    assert_int_equal(c.n, 2); /* '*' captures, '?' does not */
    assert_capture(&c, 0, "WILD/dir/a.htm");
    assert_capture(&c, 1, "dir");
    assert_int_equal(match(&p, "wild/dir/ab.htm", &c), 0);
    assert_int_equal(match(&p, "xwild/dir/a.htm", &c), 0); /* anchored */
    rw_pattern_free(&p);
    /* regex characters are literal in a wildcard */
    compile_ok(&p, RW_SYNTAX_WILDCARD, "a.b(c)", false);
    assert_int_equal(match(&p, "a.b(c)", &c), 1);
    assert_int_equal(match(&p, "aXb(c)", &c), 0);
    rw_pattern_free(&p);
    rw_captures_free(&c);
}

/* ---- ECMAScript and ExactMatch ---------------------------------------- */

static void test_regex_match_and_case(void **state)
{
    rw_pattern_t p;
    rw_captures_t c = {0};

    (void)state;
    compile_ok(&p, RW_SYNTAX_ECMASCRIPT, "^article/(\\d+)/(\\w+)?", true);
    assert_int_equal(match(&p, "ARTICLE/23/", &c), 1);
    assert_capture(&c, 0, "ARTICLE/23/");
    assert_capture(&c, 1, "23");
    assert_capture(&c, 2, "");  /* optional group that did not take part */
    assert_capture(&c, 9, "");  /* beyond the groups */
    assert_capture(&c, 99, "");
    rw_pattern_free(&p);
    compile_ok(&p, RW_SYNTAX_ECMASCRIPT, "^abc$", false);
    assert_int_equal(match(&p, "ABC", NULL), 0);
    assert_int_equal(match(&p, "abc", NULL), 1);
    assert_int_equal(match(&p, "abc\n", NULL), 0); /* '$' only at the end, as in JS */
    rw_pattern_free(&p);
    /* unanchored search, as IIS does */
    compile_ok(&p, RW_SYNTAX_ECMASCRIPT, "b+", false);
    assert_int_equal(match(&p, "abbbc", &c), 1);
    assert_capture(&c, 0, "bbb");
    rw_pattern_free(&p);
    /* \u escapes are JavaScript's */
    compile_ok(&p, RW_SYNTAX_ECMASCRIPT, "^\\u0041$", false);
    assert_int_equal(match(&p, "A", NULL), 1);
    rw_pattern_free(&p);
    rw_captures_free(&c);
}

/* Decoded URLs are bytes (%FF decodes to 0xFF): an ASCII pattern matches
 * them whatever they are; a pattern with non-ASCII characters matches
 * characters, and invalid sequences only as themselves. */
static void test_regex_utf8_and_bytes(void **state)
{
    rw_pattern_t p;
    rw_captures_t c = {0};
    const char s[] = "caf\xe9/\xff\xfe/x";

    (void)state;
    compile_ok(&p, RW_SYNTAX_ECMASCRIPT, "^(.*)/x$", true);
    assert_int_equal(rw_pattern_match(&p, s, sizeof(s) - 1, &c, (char[64]){0}, 64), 1);
    assert_capture(&c, 1, "caf\xe9/\xff\xfe");
    rw_pattern_free(&p);
    compile_ok(&p, RW_SYNTAX_ECMASCRIPT, "^stra\xc3\x9f(.)$", true);
    assert_int_equal(match(&p, "STRA\xc3\x9f\xc3\xa4", &c), 1);
    assert_capture(&c, 1, "\xc3\xa4"); /* '.' is one character */
    assert_int_equal(match(&p, "stra\xc3\x9f\xff", &c), 0);
    rw_pattern_free(&p);
    compile_ok(&p, RW_SYNTAX_ECMASCRIPT, "^\xc3\xa4$", true);
    assert_int_equal(match(&p, "\xc3\x84", &c), 1); /* caseless beyond ASCII */
    rw_pattern_free(&p);
    rw_captures_free(&c);
}

static void test_regex_invalid_reports_offset(void **state)
{
    rw_pattern_t p;
    char err[512];

    (void)state;
    assert_int_equal(rw_pattern_compile(&p, RW_SYNTAX_ECMASCRIPT, "(unclosed", true, err,
                                        sizeof(err)), -1);
    assert_non_null(strstr(err, "\"(unclosed\""));
    assert_non_null(strstr(err, "offset"));
    assert_null(p.text);
    assert_int_equal(rw_pattern_compile(&p, RW_SYNTAX_WILDCARD, "ok*", true, err, sizeof(err)),
                     0);
    rw_pattern_free(&p);
}

static void test_regex_match_limit(void **state)
{
    rw_pattern_t p;
    char err[512] = "";
    char subject[64];

    (void)state;
    memset(subject, 'a', 40);
    strcpy(subject + 40, "!");
    /* Nested quantifiers: exponential backtracking, stopped by the limit. */
    compile_ok(&p, RW_SYNTAX_ECMASCRIPT, "^(a|aa)+(a|aa)+$", false);
    assert_int_equal(rw_pattern_match(&p, subject, strlen(subject), NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "could not be evaluated"));
    rw_pattern_free(&p);
}

static void test_exact_match(void **state)
{
    rw_pattern_t p;
    rw_captures_t c = {0};

    (void)state;
    compile_ok(&p, RW_SYNTAX_EXACT, "Index.HTML", true);
    assert_int_equal(match(&p, "index.html", &c), 1);
    assert_capture(&c, 0, "index.html");
    assert_int_equal(match(&p, "index.html2", &c), 0);
    assert_int_equal(match(&p, "index.htm", &c), 0);
    rw_pattern_free(&p);
    compile_ok(&p, RW_SYNTAX_EXACT, "Index.HTML", false);
    assert_int_equal(match(&p, "index.html", &c), 0);
    assert_int_equal(match(&p, "Index.HTML", &c), 1);
    rw_pattern_free(&p);
    rw_captures_free(&c);
}

/* ---- expansion ------------------------------------------------------------ */

static void test_expand_back_references(void **state)
{
    rw_captures_t r = {0}, c = {0};
    rw_pattern_t p;

    (void)state;
    compile_ok(&p, RW_SYNTAX_ECMASCRIPT, "^(\\w+)/(\\d+)$", true);
    assert_int_equal(match(&p, "Shop/42", &r), 1);
    rw_pattern_free(&p);
    compile_ok(&p, RW_SYNTAX_ECMASCRIPT, "^www\\.(.+)$", true);
    assert_int_equal(match(&p, "www.example.com", &c), 1);
    rw_pattern_free(&p);
    rw_expand_ctx_t ctx = make_ctx(&r, &c);

    assert_string_equal(expand(&ctx, "/{R:2}/{R:1}"), "/42/Shop");
    assert_string_equal(expand(&ctx, "{R:0}|{C:0}|{C:1}"), "Shop/42|www.example.com|example.com");
    assert_string_equal(expand(&ctx, "{r:1}{c:1}"), "Shopexample.com"); /* case-insensitive */
    assert_string_equal(expand(&ctx, "[{R:7}][{R:31}][{R:999}]"), "[][][]");
    assert_string_equal(expand(&ctx, "no refs at all"), "no refs at all");
    assert_string_equal(expand(&ctx, ""), "");
    rw_captures_free(&r);
    rw_captures_free(&c);
}

static void test_expand_variables_and_literals(void **state)
{
    rw_expand_ctx_t ctx = make_ctx(NULL, NULL);

    (void)state;
    assert_string_equal(expand(&ctx, "http://{HTTP_HOST}/x"), "http://www.Example.com/x");
    assert_string_equal(expand(&ctx, "{UNKNOWN_VAR}!"), "!");
    assert_string_equal(expand(&ctx, "{BRACE}"), "{R:1}"); /* values are not re-expanded */
    /* braces around something that is not a reference stay literal */
    assert_string_equal(expand(&ctx, "a{b"), "a{b");
    assert_string_equal(expand(&ctx, "a}b"), "a}b");
    assert_string_equal(expand(&ctx, "{ }"), "{ }");
    assert_string_equal(expand(&ctx, "{a b}"), "{a b}");
    assert_string_equal(expand(&ctx, "{}"), "{}");
    assert_string_equal(expand(&ctx, "{{HTTP_HOST}}"), "{www.Example.com}");
    assert_string_equal(expand(&ctx, "{{{"), "{{{");
    assert_string_equal(expand(&ctx, "x{R:1"), "x{R:1");
    /* no callbacks at all: variables are empty */
    rw_expand_ctx_t bare = {0};
    assert_string_equal(expand(&bare, "[{HTTP_HOST}]"), "[]");
}

static void test_expand_functions(void **state)
{
    rw_captures_t r = {0};
    rw_pattern_t p;

    (void)state;
    compile_ok(&p, RW_SYNTAX_ECMASCRIPT, "^(.*)$", true);
    assert_int_equal(match(&p, "MiXeD Case/ä", &r), 1);
    rw_pattern_free(&p);
    rw_expand_ctx_t ctx = make_ctx(&r, NULL);

    assert_string_equal(expand(&ctx, "{ToLower:{R:1}}"), "mixed case/ä");
    assert_string_equal(expand(&ctx, "{ToUpper:{R:1}}"), "MIXED CASE/ä");
    assert_string_equal(expand(&ctx, "{tolower:ABC}"), "abc");
    assert_string_equal(expand(&ctx, "{UrlEncode:{R:1}}"), "MiXeD%20Case%2F%C3%A4");
    assert_string_equal(expand(&ctx, "{UrlDecode:%7B}"), "{");
    assert_string_equal(expand(&ctx, "{UrlDecode:a%2Fb%zz%4}"), "a/b%zz%4");
    assert_string_equal(expand(&ctx, "{HtmlEncode:<a href=\"x\">&'}"),
                        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    assert_string_equal(expand(&ctx, "{ToLower:{ToUpper:{HTTP_HOST}}}"), "www.example.com");
    assert_string_equal(expand(&ctx, "{ToLower:}"), "");
    rw_captures_free(&r);
}

static void test_expand_maps(void **state)
{
    rw_captures_t r = {0};
    rw_pattern_t p;

    (void)state;
    compile_ok(&p, RW_SYNTAX_ECMASCRIPT, "^(.*)$", true);
    assert_int_equal(match(&p, "/diagnostic", &r), 1);
    rw_pattern_free(&p);
    rw_expand_ctx_t ctx = make_ctx(&r, NULL);

    assert_string_equal(expand(&ctx, "{Static:{R:1}}"), "/default.aspx?tabid=2");
    assert_string_equal(expand(&ctx, "{static:/other}"), "DEFAULT");
    assert_string_equal(expand(&ctx, "{NoSuchMap:{R:1}}"), "<error>");
    assert_non_null(strstr(ctx.err, "NoSuchMap"));
    /* {R:x} with a non-number is a map named R, which does not exist */
    assert_string_equal(expand(&ctx, "{R:x}"), "<error>");
    rw_captures_free(&r);
}

static void test_expand_limits(void **state)
{
    rw_expand_ctx_t ctx = make_ctx(NULL, NULL);
    rw_buf_t out = {0};
    char *deep;
    size_t n = 0;

    (void)state;
    /* nesting deeper than RW_MAX_DEPTH */
    deep = malloc(64 * 10 + 16);
    for (int i = 0; i < 40; i++) {
        n += (size_t)sprintf(deep + n, "{ToLower:");
    }
    n += (size_t)sprintf(deep + n, "x");
    for (int i = 0; i < 40; i++) {
        deep[n++] = '}';
    }
    deep[n] = '\0';
    assert_int_equal(rw_expand(&ctx, deep, n, &out), -1);
    assert_non_null(strstr(ctx.err, "nested"));
    free(deep);
    rw_buf_free(&out);
    /* output longer than RW_MAX_EXPANSION */
    {
        size_t len = RW_MAX_EXPANSION / 8 + 16;
        char *t = malloc(len * 11 + 1);

        for (size_t i = 0; i < len; i++) {
            memcpy(t + i * 11, "{HTTP_HOST}", 11);
        }
        t[len * 11] = '\0';
        assert_int_equal(rw_expand(&ctx, t, len * 11, &out), -1);
        assert_non_null(strstr(ctx.err, "longer"));
        free(t);
        rw_buf_free(&out);
    }
}

static void test_captures_take(void **state)
{
    rw_captures_t a = {0}, b = {0};
    rw_pattern_t p;

    (void)state;
    compile_ok(&p, RW_SYNTAX_ECMASCRIPT, "^(x)(y)$", true);
    assert_int_equal(match(&p, "xy", &a), 1);
    assert_int_equal(match(&p, "XY", &b), 1);
    rw_captures_take(&a, &b, 1);
    assert_int_equal(a.n, 5);
    assert_capture(&a, 3, "X");
    assert_capture(&a, 4, "Y");
    rw_captures_take(&a, &b, 0);
    assert_int_equal(a.n, 3);
    assert_capture(&a, 0, "XY");
    /* never more than RW_MAX_CAPTURES */
    for (int i = 0; i < 40; i++) {
        rw_captures_take(&a, &b, 1);
    }
    assert_int_equal(a.n, RW_MAX_CAPTURES);
    rw_pattern_free(&p);
    rw_captures_free(&a);
    rw_captures_free(&b);
}

/* ---- conditions ----------------------------------------------------------- */

static void test_conditions_match_all_any(void **state)
{
    rw_condition_t c[2];
    rw_captures_t caps = {0};
    rw_expand_ctx_t ctx = make_ctx(NULL, &caps);

    (void)state;
    cond_init(&c[0], "{HTTP_HOST}", RW_MATCH_PATTERN, "^www\\.", false);
    cond_init(&c[1], "{QUERY_STRING}", RW_MATCH_PATTERN, "nomatch", false);
    assert_int_equal(rw_conditions_eval(c, 2, false, false, &ctx, &caps), 0);
    assert_int_equal(rw_conditions_eval(c, 2, true, false, &ctx, &caps), 1);
    assert_int_equal(rw_conditions_eval(c, 1, false, false, &ctx, &caps), 1);
    assert_int_equal(rw_conditions_eval(c + 1, 1, true, false, &ctx, &caps), 0);
    /* no conditions: the rule applies */
    assert_int_equal(rw_conditions_eval(c, 0, false, false, &ctx, &caps), 1);
    assert_int_equal(rw_conditions_eval(c, 0, true, false, &ctx, &caps), 1);
    c[1].negate = true;
    assert_int_equal(rw_conditions_eval(c, 2, false, false, &ctx, &caps), 1);
    conds_free(c, 2);
    rw_captures_free(&caps);
}

static void test_conditions_is_file_is_directory(void **state)
{
    rw_condition_t c[2];
    rw_captures_t caps = {0};
    rw_expand_ctx_t ctx = make_ctx(NULL, &caps);

    (void)state;
    /* the front-controller rule: not a file, not a directory */
    cond_init(&c[0], "{REQUEST_FILENAME}", RW_MATCH_IS_FILE, NULL, true);
    cond_init(&c[1], "{REQUEST_FILENAME}", RW_MATCH_IS_DIRECTORY, NULL, true);
    assert_int_equal(rw_conditions_eval(c, 2, false, false, &ctx, &caps), 0); /* it is a file */
    free(c[0].input);
    free(c[1].input);
    c[0].input = strdup("{DIRNAME}");
    c[1].input = strdup("{DIRNAME}");
    assert_int_equal(rw_conditions_eval(c, 2, false, false, &ctx, &caps), 0); /* a directory */
    free(c[0].input);
    free(c[1].input);
    c[0].input = strdup("/srv/www/missing");
    c[1].input = strdup("/srv/www/missing");
    assert_int_equal(rw_conditions_eval(c, 2, false, false, &ctx, &caps), 1);
    c[0].negate = c[1].negate = false;
    assert_int_equal(rw_conditions_eval(c, 2, true, false, &ctx, &caps), 0);
    conds_free(c, 2);
    rw_captures_free(&caps);
}

/* The URL Rewrite documentation's example of trackAllCaptures. */
static void test_conditions_track_all_captures(void **state)
{
    rw_condition_t c[2];
    rw_captures_t caps = {0};
    rw_expand_ctx_t ctx = make_ctx(NULL, &caps);

    (void)state;
    cond_init(&c[0], "{REQUEST_URI}", RW_MATCH_PATTERN, "^/(article)/(\\d+)/", false);
    cond_init(&c[1], "{QUERY_STRING}", RW_MATCH_PATTERN, "p2=([a-z]+)", false);
    assert_int_equal(rw_conditions_eval(c, 2, false, true, &ctx, &caps), 1);
    assert_int_equal(caps.n, 4);
    assert_capture(&caps, 0, "/article/23/");
    assert_capture(&caps, 1, "article");
    assert_capture(&caps, 2, "23");
    assert_capture(&caps, 3, "abc");
    /* default: the captures of the last matched condition */
    assert_int_equal(rw_conditions_eval(c, 2, false, false, &ctx, &caps), 1);
    assert_int_equal(caps.n, 2);
    assert_capture(&caps, 0, "p2=abc");
    assert_capture(&caps, 1, "abc");
    conds_free(c, 2);
    rw_captures_free(&caps);
}

static void test_conditions_see_previous_captures(void **state)
{
    rw_condition_t c[3];
    rw_captures_t caps = {0};
    rw_expand_ctx_t ctx = make_ctx(NULL, &caps);

    (void)state;
    cond_init(&c[0], "{HTTP_HOST}", RW_MATCH_PATTERN, "^www\\.(\\w+)", false);
    /* an IsFile condition leaves the previous captures in place */
    cond_init(&c[1], "{REQUEST_FILENAME}", RW_MATCH_IS_FILE, NULL, false);
    cond_init(&c[2], "{C:1}", RW_MATCH_PATTERN, "^example$", false);
    assert_int_equal(rw_conditions_eval(c, 3, false, false, &ctx, &caps), 1);
    assert_capture(&caps, 0, "Example"); /* the last condition's own match */
    /* a negated pattern that "matches" (did not match) has no captures */
    c[2].negate = true;
    rw_pattern_free(&c[2].pattern);
    compile_ok(&c[2].pattern, RW_SYNTAX_ECMASCRIPT, "^zzz$", true);
    assert_int_equal(rw_conditions_eval(c, 3, false, false, &ctx, &caps), 1);
    assert_capture(&caps, 1, "Example");
    conds_free(c, 3);
    rw_captures_free(&caps);
}

static void test_conditions_expansion_error(void **state)
{
    rw_condition_t c[1];
    rw_captures_t caps = {0};
    rw_expand_ctx_t ctx = make_ctx(NULL, &caps);

    (void)state;
    cond_init(&c[0], "{Missing:{HTTP_HOST}}", RW_MATCH_PATTERN, ".*", false);
    assert_int_equal(rw_conditions_eval(c, 1, false, false, &ctx, &caps), -1);
    assert_non_null(strstr(ctx.err, "Missing"));
    conds_free(c, 1);
    rw_captures_free(&caps);
}

/* ---- rules ---------------------------------------------------------------- */

static void test_rule_test_match_negate_conditions(void **state)
{
    rw_rule_t r = {0};
    rw_captures_t rc = {0}, cc = {0};
    rw_expand_ctx_t ctx = make_ctx(NULL, NULL);

    (void)state;
    compile_ok(&r.match, RW_SYNTAX_ECMASCRIPT, "^old/(.*)$", true);
    r.conds = calloc(1, sizeof(*r.conds));
    cond_init(&r.conds[0], "{HTTP_HOST}", RW_MATCH_PATTERN, "^www\\.(.*)$", false);
    r.cond_count = 1;
    assert_int_equal(rw_rule_test(&r, "old/page", 8, &ctx, &rc, &cc), 1);
    assert_string_equal(expand(&ctx, "http://{C:1}/new/{R:1}"), "http://Example.com/new/page");
    assert_int_equal(rw_rule_test(&r, "new/page", 8, &ctx, &rc, &cc), 0);
    /* negate: applies when the pattern does not match, with no captures */
    r.match_negate = true;
    assert_int_equal(rw_rule_test(&r, "new/page", 8, &ctx, &rc, &cc), 1);
    assert_int_equal(rc.n, 0);
    assert_string_equal(expand(&ctx, "[{R:0}]"), "[]");
    assert_int_equal(rw_rule_test(&r, "old/page", 8, &ctx, &rc, &cc), 0);
    r.conds[0].negate = true;
    r.match_negate = false;
    assert_int_equal(rw_rule_test(&r, "old/page", 8, &ctx, &rc, &cc), 0);
    rw_rule_free(&r);
    rw_captures_free(&rc);
    rw_captures_free(&cc);
}

/* ---- odd inputs, in bulk ---------------------------------------------------- */

static uint32_t rng_state = 0x2545f491u;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void test_fuzz_expansion(void **state)
{
    static const char *const pieces[] = {
        "{", "}", ":", "R", "C", "0", "1", "9", "31", "{R:", "{C:", "{R:1}", "{C:2}",
        "{ToLower:", "{UrlEncode:", "{UrlDecode:", "{ToUpper:", "{HtmlEncode:", "{Static:",
        "{Nope:", "{HTTP_HOST}", "{QUERY_STRING}", "%", "%7B", "%7d", "%zz", "%", "/", "?",
        "&", "a", "Z", " ", "\xff", "\xc3\xa4", "\x01", "{{", "}}", "{:}", "{a b}", "{:x}",
    };
    rw_captures_t r = {0}, c = {0};
    rw_pattern_t p;
    char tmpl[512];

    (void)state;
    compile_ok(&p, RW_SYNTAX_ECMASCRIPT, "^(\\w*)(.*)$", true);
    assert_int_equal(match(&p, "Abc{R:1}%7B", &r), 1);
    assert_int_equal(match(&p, "x", &c), 1);
    rw_pattern_free(&p);
    rw_expand_ctx_t ctx = make_ctx(&r, &c);

    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 0, count = rng() % 40;
        rw_buf_t out = {0};
        int rc;

        for (size_t i = 0; i < count; i++) {
            const char *piece = pieces[rng() % (sizeof(pieces) / sizeof(pieces[0]))];
            size_t pl = strlen(piece);

            if (n + pl >= sizeof(tmpl)) {
                break;
            }
            memcpy(tmpl + n, piece, pl);
            n += pl;
        }
        rc = rw_expand(&ctx, tmpl, n, &out);
        assert_true(rc == 0 || rc == -1);
        if (rc == 0) {
            assert_true(out.len <= RW_MAX_EXPANSION);
            assert_int_equal(strlen(rw_buf_str(&out)) <= out.len, 1);
        } else {
            assert_true(ctx.err[0] != '\0');
        }
        rw_buf_free(&out);
    }
    /* random bytes, NULs included (length-delimited input) */
    for (int iter = 0; iter < 5000; iter++) {
        size_t n = rng() % sizeof(tmpl);
        rw_buf_t out = {0};

        for (size_t i = 0; i < n; i++) {
            tmpl[i] = (char)(rng() & 0xff);
        }
        assert_true(rw_expand(&ctx, tmpl, n, &out) >= -1);
        rw_buf_free(&out);
    }
    rw_captures_free(&r);
    rw_captures_free(&c);
}

static void test_fuzz_patterns(void **state)
{
    static const char alphabet[] = "ab.*?+()[]{}|^$\\/:-1dw";
    char pat[24], subj[64], err[512];
    rw_captures_t caps = {0};

    (void)state;
    for (int iter = 0; iter < 3000; iter++) {
        size_t pn = rng() % (sizeof(pat) - 1), sn = rng() % sizeof(subj);
        rw_pattern_t p;
        rw_syntax_t syntax = (rw_syntax_t)(rng() % 3);

        for (size_t i = 0; i < pn; i++) {
            pat[i] = alphabet[rng() % (sizeof(alphabet) - 1)];
        }
        pat[pn] = '\0';
        for (size_t i = 0; i < sn; i++) {
            subj[i] = "ab/.x\xff"[rng() % 6];
        }
        if (rw_pattern_compile(&p, syntax, pat, rng() & 1, err, sizeof(err)) != 0) {
            assert_true(err[0] != '\0');
            continue;
        }
        assert_true(rw_pattern_match(&p, subj, sn, &caps, err, sizeof(err)) >= -1);
        assert_true(caps.n <= RW_MAX_CAPTURES);
        rw_pattern_free(&p);
    }
    rw_captures_free(&caps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wildcard_to_regex),
        cmocka_unit_test(test_wildcard_match_captures),
        cmocka_unit_test(test_regex_match_and_case),
        cmocka_unit_test(test_regex_utf8_and_bytes),
        cmocka_unit_test(test_regex_invalid_reports_offset),
        cmocka_unit_test(test_regex_match_limit),
        cmocka_unit_test(test_exact_match),
        cmocka_unit_test(test_expand_back_references),
        cmocka_unit_test(test_expand_variables_and_literals),
        cmocka_unit_test(test_expand_functions),
        cmocka_unit_test(test_expand_maps),
        cmocka_unit_test(test_expand_limits),
        cmocka_unit_test(test_captures_take),
        cmocka_unit_test(test_conditions_match_all_any),
        cmocka_unit_test(test_conditions_is_file_is_directory),
        cmocka_unit_test(test_conditions_track_all_captures),
        cmocka_unit_test(test_conditions_see_previous_captures),
        cmocka_unit_test(test_conditions_expansion_error),
        cmocka_unit_test(test_rule_test_match_negate_conditions),
        cmocka_unit_test(test_fuzz_expansion),
        cmocka_unit_test(test_fuzz_patterns),
    };

    return cmocka_run_group_tests(tests, NULL, teardown_matcher);
}
