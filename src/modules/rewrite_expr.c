/*
 * Patterns, expansion and rule tests of RewriteModule (rewrite_expr.h).
 *
 * Regexes are PCRE2.  IIS' "ECMAScript" syntax is close to PCRE with a few
 * JavaScript rules, which PCRE2 has options for: \u and \x as in JavaScript
 * (ALT_BSUX) and '$' only at the very end (DOLLAR_ENDONLY).  Subjects are
 * decoded URL bytes, which need not be valid UTF-8 (%FF decodes to 0xFF).
 * A pattern written in ASCII — nearly every rule — is therefore matched on
 * bytes, where '.' takes any byte and nothing can make the match fail; only
 * a pattern with non-ASCII characters is compiled in UTF mode, so that '.'
 * and classes take whole characters and ignoreCase folds beyond ASCII; an
 * invalid sequence in the subject then matches no pattern item
 * (MATCH_INVALID_UTF) instead of being an error.
 *
 * Matching shares one match-data block and one match context (with a match
 * limit, so a pattern that backtracks without end costs a bounded time): the
 * worker runs requests on one thread.
 */
#include "modules/rewrite_expr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Enough for any sane rule; (a+)+b-style patterns stop here instead of
 * holding the worker for seconds. */
#define RW_MATCH_LIMIT 1000000u

/* ---- rw_buf ---------------------------------------------------------------- */

void rw_buf_append(rw_buf_t *b, const void *data, size_t len)
{
    if (b->oom) {
        return;
    }
    if (len > RW_MAX_EXPANSION || b->len + len > RW_MAX_EXPANSION) {
        b->oom = true;
        return;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        char *p;

        while (cap < b->len + len + 1) {
            cap *= 2;
        }
        p = realloc(b->ptr, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->ptr = p;
        b->cap = cap;
    }
    if (len > 0) {
        memcpy(b->ptr + b->len, data, len);
    }
    b->len += len;
    b->ptr[b->len] = '\0';
}

void rw_buf_puts(rw_buf_t *b, const char *s)
{
    rw_buf_append(b, s, strlen(s));
}

void rw_buf_putc(rw_buf_t *b, char c)
{
    rw_buf_append(b, &c, 1);
}

void rw_buf_reset(rw_buf_t *b)
{
    b->len = 0;
    b->oom = false;
    if (b->ptr != NULL) {
        b->ptr[0] = '\0';
    }
}

void rw_buf_free(rw_buf_t *b)
{
    free(b->ptr);
    *b = (rw_buf_t){0};
}

const char *rw_buf_str(const rw_buf_t *b)
{
    return b->ptr != NULL ? b->ptr : "";
}

/* ---- captures -------------------------------------------------------------- */

void rw_captures_clear(rw_captures_t *c)
{
    rw_buf_reset(&c->pool);
    c->n = 0;
}

void rw_captures_free(rw_captures_t *c)
{
    rw_buf_free(&c->pool);
    c->n = 0;
}

const char *rw_capture(const rw_captures_t *c, size_t i, size_t *len)
{
    if (c == NULL || i >= c->n || c->pool.ptr == NULL) {
        *len = 0;
        return "";
    }
    *len = c->len[i];
    return c->pool.ptr + c->off[i];
}

static void captures_add(rw_captures_t *c, const char *s, size_t len)
{
    if (c->n >= RW_MAX_CAPTURES) {
        return;
    }
    c->off[c->n] = c->pool.len;
    c->len[c->n] = len;
    rw_buf_append(&c->pool, s, len);
    if (c->pool.oom) {
        c->len[c->n] = 0; /* keep every (off, len) inside the pool */
        c->off[c->n] = 0;
    }
    c->n++;
}

void rw_captures_take(rw_captures_t *dst, const rw_captures_t *src, size_t first)
{
    if (first == 0) {
        rw_captures_clear(dst);
    }
    for (size_t i = first; i < src->n; i++) {
        size_t len;
        const char *s = rw_capture(src, i, &len);

        captures_add(dst, s, len);
    }
}

/* ---- patterns -------------------------------------------------------------- */

static pcre2_match_data *rw_md;
static pcre2_match_context *rw_mctx;

int rw_wildcard_to_regex(const char *wildcard, rw_buf_t *out)
{
    rw_buf_putc(out, '^');
    for (const char *p = wildcard; *p; p++) {
        if (*p == '*') {
            rw_buf_puts(out, "(.*)");
        } else if (*p == '?') {
            rw_buf_putc(out, '.');
        } else {
            if (strchr("\\^$.|+()[]{}", *p) != NULL) {
                rw_buf_putc(out, '\\');
            }
            rw_buf_putc(out, *p);
        }
    }
    rw_buf_putc(out, '$');
    return out->oom ? -1 : 0;
}

int rw_pattern_compile(rw_pattern_t *p, rw_syntax_t syntax, const char *text, bool ignore_case,
                       char *err, size_t err_size)
{
    rw_buf_t rx = {0};
    const char *source = text;
    int code;
    PCRE2_SIZE at;
    uint32_t opts = PCRE2_ALT_BSUX | PCRE2_DOLLAR_ENDONLY;

    *p = (rw_pattern_t){.syntax = syntax, .ignore_case = ignore_case};
    p->text = strdup(text);
    if (p->text == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    if (syntax == RW_SYNTAX_EXACT) {
        return 0;
    }
    if (syntax == RW_SYNTAX_WILDCARD) {
        if (rw_wildcard_to_regex(text, &rx) != 0) {
            rw_buf_free(&rx);
            snprintf(err, err_size, "wildcard pattern \"%s\" is too long", text);
            rw_pattern_free(p);
            return -1;
        }
        source = rw_buf_str(&rx);
    }
    if (ignore_case) {
        opts |= PCRE2_CASELESS;
    }
    for (const char *c = source; *c; c++) {
        if ((unsigned char)*c >= 0x80) {
            opts |= PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
            break;
        }
    }
    p->code = pcre2_compile((PCRE2_SPTR)source, PCRE2_ZERO_TERMINATED, opts, &code, &at, NULL);
    if (p->code == NULL) {
        PCRE2_UCHAR msg[256];

        pcre2_get_error_message(code, msg, sizeof(msg));
        snprintf(err, err_size, "%s pattern \"%s\" is not valid: %s at offset %zu",
                 syntax == RW_SYNTAX_WILDCARD ? "wildcard" : "regular expression", text,
                 (const char *)msg, (size_t)at);
        rw_buf_free(&rx);
        rw_pattern_free(p);
        return -1;
    }
    rw_buf_free(&rx);
    /* JIT is an optimisation: where it is unavailable the interpreter runs. */
    (void)pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE);
    return 0;
}

void rw_pattern_free(rw_pattern_t *p)
{
    if (p->code != NULL) {
        pcre2_code_free(p->code);
    }
    free(p->text);
    p->code = NULL;
    p->text = NULL;
}

static bool exact_equal(const rw_pattern_t *p, const char *s, size_t len)
{
    size_t n = strlen(p->text);

    if (n != len) {
        return false;
    }
    return p->ignore_case ? strncasecmp(p->text, s, len) == 0 : memcmp(p->text, s, len) == 0;
}

static int matcher_init(void)
{
    if (rw_md == NULL) {
        rw_md = pcre2_match_data_create(RW_MAX_CAPTURES, NULL);
    }
    if (rw_mctx == NULL) {
        rw_mctx = pcre2_match_context_create(NULL);
        if (rw_mctx != NULL) {
            pcre2_set_match_limit(rw_mctx, RW_MATCH_LIMIT);
        }
    }
    return rw_md != NULL && rw_mctx != NULL ? 0 : -1;
}

int rw_pattern_match(const rw_pattern_t *p, const char *s, size_t len, rw_captures_t *caps,
                     char *err, size_t err_size)
{
    int rc;
    PCRE2_SIZE *ov;

    if (caps != NULL) {
        rw_captures_clear(caps);
    }
    if (p->syntax == RW_SYNTAX_EXACT) {
        if (!exact_equal(p, s, len)) {
            return 0;
        }
        if (caps != NULL) {
            captures_add(caps, s, len);
        }
        return 1;
    }
    if (matcher_init() != 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    rc = pcre2_match(p->code, (PCRE2_SPTR)s, len, 0, 0, rw_md, rw_mctx);
    if (rc == PCRE2_ERROR_NOMATCH) {
        return 0;
    }
    if (rc < 0) {
        PCRE2_UCHAR msg[256];

        pcre2_get_error_message(rc, msg, sizeof(msg));
        snprintf(err, err_size, "pattern \"%s\" could not be evaluated: %s", p->text,
                 (const char *)msg);
        return -1;
    }
    if (caps == NULL) {
        return 1;
    }
    if (rc == 0) {
        rc = (int)pcre2_get_ovector_count(rw_md); /* more groups than we keep */
    }
    ov = pcre2_get_ovector_pointer(rw_md);
    for (int i = 0; i < rc && i < RW_MAX_CAPTURES; i++) {
        if (ov[2 * i] == PCRE2_UNSET || ov[2 * i + 1] < ov[2 * i]) {
            captures_add(caps, "", 0); /* a group that took no part */
        } else {
            captures_add(caps, s + ov[2 * i], ov[2 * i + 1] - ov[2 * i]);
        }
    }
    return 1;
}

void rw_expr_cleanup(void)
{
    pcre2_match_data_free(rw_md);
    pcre2_match_context_free(rw_mctx);
    rw_md = NULL;
    rw_mctx = NULL;
}

/* ---- functions ------------------------------------------------------------- */

void rw_fn_lower(const char *s, size_t len, rw_buf_t *out)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        rw_buf_putc(out, (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c);
    }
}

void rw_fn_upper(const char *s, size_t len, rw_buf_t *out)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        rw_buf_putc(out, (c >= 'a' && c <= 'z') ? (char)(c - 32) : c);
    }
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

void rw_fn_url_encode(const char *s, size_t len, rw_buf_t *out)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (unreserved(c)) {
            rw_buf_putc(out, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};

            rw_buf_append(out, e, 3);
        }
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

void rw_fn_url_decode(const char *s, size_t len, rw_buf_t *out)
{
    for (size_t i = 0; i < len; i++) {
        int h, l;

        if (s[i] == '%' && i + 2 < len && (h = hexval(s[i + 1])) >= 0 &&
            (l = hexval(s[i + 2])) >= 0) {
            rw_buf_putc(out, (char)(h << 4 | l));
            i += 2;
        } else {
            rw_buf_putc(out, s[i]);
        }
    }
}

void rw_fn_html_encode(const char *s, size_t len, rw_buf_t *out)
{
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '&':
            rw_buf_puts(out, "&amp;");
            break;
        case '<':
            rw_buf_puts(out, "&lt;");
            break;
        case '>':
            rw_buf_puts(out, "&gt;");
            break;
        case '"':
            rw_buf_puts(out, "&quot;");
            break;
        case '\'':
            rw_buf_puts(out, "&#39;");
            break;
        default:
            rw_buf_putc(out, s[i]);
        }
    }
}

/* ---- expansion ------------------------------------------------------------- */

typedef void (*rw_fn_t)(const char *s, size_t len, rw_buf_t *out);

static const struct {
    const char *name;
    rw_fn_t fn;
} rw_functions[] = {
    {"ToLower", rw_fn_lower},     {"ToUpper", rw_fn_upper},       {"UrlEncode", rw_fn_url_encode},
    {"UrlDecode", rw_fn_url_decode}, {"HtmlEncode", rw_fn_html_encode},
};

static int expand(rw_expand_ctx_t *ctx, const char *s, size_t len, rw_buf_t *out, int depth);

/* Index of the '}' that closes the '{' at open, or len when unbalanced. */
static size_t find_close(const char *s, size_t open, size_t len)
{
    int level = 0;

    for (size_t i = open; i < len; i++) {
        if (s[i] == '{') {
            level++;
        } else if (s[i] == '}' && --level == 0) {
            return i;
        }
    }
    return len;
}

/* Names of variables, functions and maps: letters, digits, '_', '-', '.'. */
static bool is_name(const char *s, size_t len)
{
    if (len == 0 || len > 255) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.')) {
            return false;
        }
    }
    return true;
}

static bool all_digits(const char *s, size_t len)
{
    if (len == 0 || len > 3) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

static int expand_backref(rw_expand_ctx_t *ctx, char kind, const char *num, size_t num_len,
                          rw_buf_t *out)
{
    size_t idx = 0, len;
    const char *v;

    for (size_t i = 0; i < num_len; i++) {
        idx = idx * 10 + (size_t)(num[i] - '0');
    }
    v = rw_capture(kind == 'R' ? ctx->rule : ctx->cond, idx, &len);
    rw_buf_append(out, v, len);
    return 0;
}

/* name:arg, the colon at nesting level 0.  Returns 1 when it is not a
 * reference after all (the caller copies it literally). */
static int expand_call(rw_expand_ctx_t *ctx, const char *name, size_t name_len, const char *arg,
                       size_t arg_len, rw_buf_t *out, int depth)
{
    rw_buf_t tmp = {0};
    char cname[256];
    int rc = 0;

    if (!is_name(name, name_len)) {
        return 1;
    }
    if (name_len == 1 && (name[0] == 'R' || name[0] == 'r' || name[0] == 'C' || name[0] == 'c') &&
        all_digits(arg, arg_len)) {
        return expand_backref(ctx, (char)(name[0] & ~0x20), arg, arg_len, out);
    }
    if (expand(ctx, arg, arg_len, &tmp, depth + 1) != 0) {
        rw_buf_free(&tmp);
        return -1;
    }
    memcpy(cname, name, name_len);
    cname[name_len] = '\0';
    for (size_t i = 0; i < sizeof(rw_functions) / sizeof(rw_functions[0]); i++) {
        if (strcasecmp(cname, rw_functions[i].name) == 0) {
            rw_functions[i].fn(rw_buf_str(&tmp), tmp.len, out);
            rw_buf_free(&tmp);
            return 0;
        }
    }
    if (ctx->map == NULL || ctx->map(ctx->data, cname, rw_buf_str(&tmp), tmp.len, out) != 0) {
        snprintf(ctx->err, sizeof(ctx->err),
                 "{%s:...} names no function and no rewrite map (the functions are ToLower, "
                 "ToUpper, UrlEncode, UrlDecode, HtmlEncode; maps are <rewriteMap name>)",
                 cname);
        rc = -1;
    }
    rw_buf_free(&tmp);
    return rc;
}

/* The text between a '{' and its '}'.  1 = not a reference: literal. */
static int expand_ref(rw_expand_ctx_t *ctx, const char *in, size_t len, rw_buf_t *out, int depth)
{
    int level = 0;

    for (size_t i = 0; i < len; i++) {
        if (in[i] == '{') {
            level++;
        } else if (in[i] == '}') {
            level--;
        } else if (in[i] == ':' && level == 0) {
            return expand_call(ctx, in, i, in + i + 1, len - i - 1, out, depth);
        }
    }
    if (!is_name(in, len)) {
        return 1;
    }
    if (ctx->variable != NULL) {
        char name[256];

        memcpy(name, in, len);
        name[len] = '\0';
        ctx->variable(ctx->data, name, out);
    }
    return 0;
}

static int expand(rw_expand_ctx_t *ctx, const char *s, size_t len, rw_buf_t *out, int depth)
{
    size_t i = 0;

    if (depth > RW_MAX_DEPTH) {
        snprintf(ctx->err, sizeof(ctx->err), "expansions are nested deeper than %d levels",
                 RW_MAX_DEPTH);
        return -1;
    }
    while (i < len && !out->oom) {
        size_t run = i, close;
        int rc;

        while (run < len && s[run] != '{') {
            run++;
        }
        rw_buf_append(out, s + i, run - i);
        i = run;
        if (i == len) {
            break;
        }
        close = find_close(s, i, len);
        if (close == len) {
            rw_buf_putc(out, '{'); /* unbalanced: literal */
            i++;
            continue;
        }
        rc = expand_ref(ctx, s + i + 1, close - i - 1, out, depth);
        if (rc < 0) {
            return -1;
        }
        if (rc > 0) {
            rw_buf_putc(out, '{'); /* not a reference: literal, look inside */
            i++;
            continue;
        }
        i = close + 1;
    }
    if (out->oom) {
        snprintf(ctx->err, sizeof(ctx->err),
                 "the expanded string is longer than %d bytes (or memory ran out)",
                 RW_MAX_EXPANSION);
        return -1;
    }
    return 0;
}

int rw_expand(rw_expand_ctx_t *ctx, const char *tmpl, size_t len, rw_buf_t *out)
{
    ctx->err[0] = '\0';
    return expand(ctx, tmpl, len, out, 0);
}

/* ---- rules ----------------------------------------------------------------- */

void rw_rule_free(rw_rule_t *r)
{
    rw_pattern_free(&r->match);
    for (size_t i = 0; i < r->cond_count; i++) {
        free(r->conds[i].input);
        rw_pattern_free(&r->conds[i].pattern);
    }
    free(r->conds);
    free(r->name);
    free(r->url);
    free(r->reason);
    free(r->description);
    free(r->base);
    *r = (rw_rule_t){0};
}

static int condition_test(const rw_condition_t *c, const rw_buf_t *input, rw_expand_ctx_t *ctx,
                          rw_captures_t *cur)
{
    int ft;

    if (c->type == RW_MATCH_PATTERN) {
        return rw_pattern_match(&c->pattern, rw_buf_str(input), input->len, cur, ctx->err,
                                sizeof(ctx->err));
    }
    rw_captures_clear(cur);
    ft = ctx->file_type != NULL ? ctx->file_type(ctx->data, rw_buf_str(input)) : 0;
    return c->type == RW_MATCH_IS_FILE ? ft == 1 : ft == 2;
}

int rw_conditions_eval(const rw_condition_t *conds, size_t count, bool match_any, bool track_all,
                       rw_expand_ctx_t *ctx, rw_captures_t *caps)
{
    rw_captures_t cur = {0};
    rw_buf_t input = {0};
    bool tracked = false;
    int result = match_any ? 0 : 1;

    rw_captures_clear(caps);
    if (count == 0) {
        return 1;
    }
    for (size_t i = 0; i < count; i++) {
        const rw_condition_t *c = &conds[i];
        int m;
        bool ok;

        rw_buf_reset(&input);
        if (rw_expand(ctx, c->input, strlen(c->input), &input) != 0) {
            result = -1;
            break;
        }
        m = condition_test(c, &input, ctx, &cur);
        if (m < 0) {
            result = -1;
            break;
        }
        ok = c->negate ? !m : m;
        /* Only a pattern that matched has captures; IsFile, IsDirectory and
         * negated conditions leave the previous ones in place. */
        if (ok && m && c->type == RW_MATCH_PATTERN) {
            rw_captures_take(caps, &cur, track_all && tracked ? 1 : 0);
            tracked = true;
        }
        if (match_any && ok) {
            result = 1;
            break;
        }
        if (!match_any && !ok) {
            result = 0;
            break;
        }
    }
    rw_captures_free(&cur);
    rw_buf_free(&input);
    return result;
}

int rw_rule_test(const rw_rule_t *r, const char *url, size_t len, rw_expand_ctx_t *ctx,
                 rw_captures_t *rcaps, rw_captures_t *ccaps)
{
    int m;

    ctx->err[0] = '\0';
    m = rw_pattern_match(&r->match, url, len, rcaps, ctx->err, sizeof(ctx->err));
    if (m < 0) {
        return -1;
    }
    if (r->match_negate) {
        m = !m;
        rw_captures_clear(rcaps); /* a pattern that did not match captured nothing */
    }
    if (!m) {
        return 0;
    }
    ctx->rule = rcaps;
    ctx->cond = ccaps;
    return rw_conditions_eval(r->conds, r->cond_count, r->match_any, r->track_all, ctx, ccaps);
}
