/*
 * The pure half of RewriteModule (url_rewrite.c): patterns (PCRE2 for
 * ECMAScript, Wildcard converted to a regex, ExactMatch), expansion of
 * {VAR}, {R:N}, {C:N}, {Function:...} and {Map:key} strings, and the test of
 * one rule (match, then conditions).  Nothing here touches a request: server
 * variables, rewrite maps and file checks come in through callbacks, so the
 * unit tests (tests/unit/test_url_rewrite.c) drive it without a worker.
 *
 * IIS facts: shared/reference/iis-modules.md §3.2-3.8.
 */
#ifndef WASP_MODULES_REWRITE_EXPR_H
#define WASP_MODULES_REWRITE_EXPR_H

#include <stdbool.h>
#include <stddef.h>

/* {R:N} / {C:N} for N >= this expand to "" (the IIS docs promise 0-9). */
#define RW_MAX_CAPTURES 32
/* Bound of one expanded string: a rule cannot make the worker build
 * megabytes out of a short request. */
#define RW_MAX_EXPANSION (64 * 1024)
/* Bound of {F:{G:{...}}} nesting. */
#define RW_MAX_DEPTH 16

/* ---- growable string (always NUL-terminated once anything was added) ------ */
typedef struct rw_buf {
    char *ptr;
    size_t len, cap;
    bool oom; /* an allocation failed or RW_MAX_EXPANSION was passed */
} rw_buf_t;

void rw_buf_append(rw_buf_t *b, const void *data, size_t len);
void rw_buf_puts(rw_buf_t *b, const char *s);
void rw_buf_putc(rw_buf_t *b, char c);
void rw_buf_reset(rw_buf_t *b);
void rw_buf_free(rw_buf_t *b);
/* ptr, or "" when nothing was ever appended. */
const char *rw_buf_str(const rw_buf_t *b);

/* ---- patterns -------------------------------------------------------------- */
typedef enum rw_syntax { RW_SYNTAX_ECMASCRIPT = 0, RW_SYNTAX_WILDCARD, RW_SYNTAX_EXACT } rw_syntax_t;

typedef struct rw_pattern {
    rw_syntax_t syntax;
    bool ignore_case;
    char *text;  /* as configured (ExactMatch compares with it) */
    void *code;  /* pcre2_code_8 for ECMAScript and Wildcard */
} rw_pattern_t;

/* Wildcard to an anchored regex: '*' → "(.*)" (a capture), '?' → "." (not a
 * capture), every other character literal.  0, or -1 when out of memory. */
int rw_wildcard_to_regex(const char *wildcard, rw_buf_t *out);

/* Compile.  0, or -1 with a sentence in err naming what is wrong and where
 * in the pattern. */
int rw_pattern_compile(rw_pattern_t *p, rw_syntax_t syntax, const char *text, bool ignore_case,
                       char *err, size_t err_size);
void rw_pattern_free(rw_pattern_t *p);

/* Captures of one match (or of several conditions, trackAllCaptures).  The
 * strings are copied into pool, so the subject may go away. */
typedef struct rw_captures {
    rw_buf_t pool;
    size_t n;
    size_t off[RW_MAX_CAPTURES], len[RW_MAX_CAPTURES];
} rw_captures_t;

void rw_captures_clear(rw_captures_t *c);
void rw_captures_free(rw_captures_t *c);
/* Capture i, or an empty string when there is none. */
const char *rw_capture(const rw_captures_t *c, size_t i, size_t *len);
/* Replace dst by src (first == 0), or append src's captures from index
 * first on (trackAllCaptures appends groups 1.. of later conditions). */
void rw_captures_take(rw_captures_t *dst, const rw_captures_t *src, size_t first);

/* 1 match (captures filled when caps is not NULL), 0 no match, -1 the
 * regex engine gave up (match limit: a pattern that backtracks without
 * end); err says why. */
int rw_pattern_match(const rw_pattern_t *p, const char *s, size_t len, rw_captures_t *caps,
                     char *err, size_t err_size);

/* ---- expansion ------------------------------------------------------------- */
typedef struct rw_expand_ctx {
    const rw_captures_t *rule; /* {R:N}; NULL = none */
    const rw_captures_t *cond; /* {C:N}; NULL = none */
    /* {NAME}: append the server variable's value; unknown names append
     * nothing (IIS: an unset variable is empty). */
    void (*variable)(void *data, const char *name, rw_buf_t *out);
    /* {Map:key}: 0 after appending the value (or the map's defaultValue),
     * -1 when there is no rewrite map of that name. */
    int (*map)(void *data, const char *name, const char *key, size_t key_len, rw_buf_t *out);
    /* Conditions' IsFile / IsDirectory: 1 regular file, 2 directory, 0 other
     * or missing. */
    int (*file_type)(void *data, const char *path);
    void *data;
    char err[512]; /* filled when a function returns -1 */
} rw_expand_ctx_t;

/*
 * Append the expansion of tmpl[0..len) to out.  {NAME} is a server
 * variable, {R:N} / {C:N} a back-reference, {ToLower:x} {ToUpper:x}
 * {UrlEncode:x} {UrlDecode:x} {HtmlEncode:x} a function of the expanded x,
 * {Map:key} a rewrite map lookup of the expanded key.  A '{' without its
 * '}', or braces around something that is not a name ("{ }", "{a b}"), is
 * literal text.  0, or -1 (ctx->err): unknown map, nesting deeper than
 * RW_MAX_DEPTH, result longer than RW_MAX_EXPANSION, out of memory.
 */
int rw_expand(rw_expand_ctx_t *ctx, const char *tmpl, size_t len, rw_buf_t *out);

/* The functions, for the unit tests. */
void rw_fn_lower(const char *s, size_t len, rw_buf_t *out);
void rw_fn_upper(const char *s, size_t len, rw_buf_t *out);
/* Everything but ALPHA DIGIT - _ . ~ becomes %XX (upper-case hex). */
void rw_fn_url_encode(const char *s, size_t len, rw_buf_t *out);
/* %XX → byte; a '%' not followed by two hex digits stays as it is. */
void rw_fn_url_decode(const char *s, size_t len, rw_buf_t *out);
void rw_fn_html_encode(const char *s, size_t len, rw_buf_t *out);

/* ---- rules ----------------------------------------------------------------- */
typedef enum rw_match_type {
    RW_MATCH_PATTERN = 0,
    RW_MATCH_IS_FILE,
    RW_MATCH_IS_DIRECTORY
} rw_match_type_t;

typedef struct rw_condition {
    char *input;             /* expanded per request */
    rw_match_type_t type;
    rw_pattern_t pattern;    /* RW_MATCH_PATTERN only */
    bool negate;
    const char *file;        /* where it is configured, for messages */
    int line;
} rw_condition_t;

typedef enum rw_action_type {
    RW_ACTION_NONE = 0,
    RW_ACTION_REWRITE,
    RW_ACTION_REDIRECT,
    RW_ACTION_CUSTOM_RESPONSE,
    RW_ACTION_ABORT
} rw_action_type_t;

typedef struct rw_rule {
    char *name;
    bool enabled, stop_processing;
    rw_pattern_t match;
    bool match_negate;
    rw_condition_t *conds;
    size_t cond_count;
    bool match_any;          /* conditions logicalGrouping="MatchAny" */
    bool track_all;          /* conditions trackAllCaptures="true" */
    rw_action_type_t action;
    char *url;               /* Rewrite / Redirect target, unexpanded */
    bool append_query;
    int redirect_status;     /* 301 / 302 / 303 / 307 */
    int status, substatus;   /* CustomResponse */
    char *reason, *description;
    bool sets_variables;     /* has <serverVariables><set>: not applied (yet) */
    char *base;              /* URL of the level that defines the rule: "" or "/dir" */
    const char *file;
    int line;
} rw_rule_t;

void rw_rule_free(rw_rule_t *r);

/* Evaluate the conditions against ctx (whose cond captures must point at
 * caps).  1 pass, 0 fail, -1 error (ctx->err).  With no conditions: pass. */
int rw_conditions_eval(const rw_condition_t *conds, size_t count, bool match_any, bool track_all,
                       rw_expand_ctx_t *ctx, rw_captures_t *caps);

/* The match of a rule against url (the path the rule sees: no leading '/',
 * relative to its base), then its conditions.  rcaps / ccaps receive the
 * back-references for the action.  1 the rule applies, 0 not, -1 error. */
int rw_rule_test(const rw_rule_t *r, const char *url, size_t len, rw_expand_ctx_t *ctx,
                 rw_captures_t *rcaps, rw_captures_t *ccaps);

/* Free the matcher's process-wide state (match data, JIT stack). */
void rw_expr_cleanup(void);

#endif
