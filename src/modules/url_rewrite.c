/*
 * RewriteModule (IIS rewrite.dll, URL Rewrite 2.x): inbound rules of
 * system.webServer/rewrite/globalRules and .../rules, with rewriteMaps
 * (shared/reference/iis-modules.md §3).
 *
 * At BeginRequest (priority FIRST): the global rules, then the distributed
 * rules of the URL that the global rules produced (§3.4; IIS runs the
 * global ones at PreBeginRequest, which wasp does not have — nothing runs
 * between the two in wasp anyway).  Per rule: enabled? match (with negate)
 * against the URL path the rule sees, conditions (MatchAll / MatchAny,
 * trackAllCaptures), then the action:
 *   None           go on with the next rule;
 *   Rewrite        wasp_request_rewrite_url(), then the next rule sees the
 *                  new URL (and its REQUEST_FILENAME);
 *   Redirect       301/302/303/307 with an absolute Location, end;
 *   CustomResponse statusCode.subStatusCode with statusReason; the
 *                  statusDescription is the error description (IIS:
 *                  IHttpResponse::SetErrorDescription) that the detailed
 *                  error page shows; end;
 *   AbortRequest   IIS drops the connection without answering.  A module
 *                  cannot close the client connection in wasp yet (the
 *                  worker-to-listener protocol has no "reset" frame), so the
 *                  request is answered 400 and the log says why; end.
 * stopProcessing ends the rule list after the action.
 *
 * What a pattern sees (§3.3): the decoded path without its leading '/' and
 * without the query; global rules see the whole path, distributed rules the
 * path relative to the level (<location path>) that defines them.  The
 * level of each rule is found once, by looking at the effective rules of
 * every ancestor of the URL (wasp_request_section_at) for the first one
 * that has the rule.  A relative Rewrite / Redirect target is relative to
 * that level too.
 *
 * Rules are compiled (PCRE2) once per effective section: the worker's
 * configuration does not change while it runs, so a section pointer is a
 * stable cache key.  A rule that does not compile — bad regex, unknown enum
 * value, missing url — makes every request under that section fail with
 * IIS' status for a URL Rewrite error, 500.50 (500.51 for globalRules, which
 * IIS evaluates at PreBeginRequest), and the log names the file, the line
 * and the pattern, once.
 *
 * Not applied yet, and said so in the log rather than pretended:
 * outboundRules (a warning once per worker when some exist),
 * <serverVariables> of a rule (a warning when the rule set is compiled),
 * reverse-proxy rewrites to http(s):// URLs (500.50: IIS needs ARR for them).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "modules/builtin.h"
#include "modules/modutil.h"
#include "modules/rewrite_expr.h"

#define RW_SECTION_RULES "system.webServer/rewrite/rules"
#define RW_SECTION_GLOBAL "system.webServer/rewrite/globalRules"
#define RW_SECTION_MAPS "system.webServer/rewrite/rewriteMaps"
#define RW_SECTION_OUTBOUND "system.webServer/rewrite/outboundRules"

/* The compiled rules of one effective rules section. */
typedef struct rw_set {
    const wasp_section_t *key;
    rw_rule_t *rules;
    size_t count;
    char *error;            /* configuration error: the whole set fails */
    struct rw_set *next;
} rw_set_t;

typedef struct rw_map_entry {
    const char *key, *value; /* configuration strings: they outlive the worker's requests */
    size_t order;
} rw_map_entry_t;

typedef struct rw_map {
    const char *name, *dflt;
    bool icase;
    rw_map_entry_t *entries; /* sorted by key (case-folded when icase) */
    size_t count;
} rw_map_t;

typedef struct rw_mapset {
    const wasp_section_t *key;
    rw_map_t *maps;
    size_t count;
    struct rw_mapset *next;
} rw_mapset_t;

static rw_set_t *rw_sets;
static rw_mapset_t *rw_mapsets;
static bool rw_outbound_warned;

/* ---- compiling rules ------------------------------------------------------ */

/* An enum attribute: a name of names[] (case-insensitive) or its number;
 * absent → dflt; anything else → -1. */
static int rw_enum(const wasp_section_t *s, const char *attr, const char *const *names,
                   size_t count, int dflt)
{
    const char *v = wasp_section_attr(s, attr);
    char *end;
    unsigned long n;

    if (v == NULL) {
        return dflt;
    }
    for (size_t i = 0; i < count; i++) {
        if (strcasecmp(v, names[i]) == 0) {
            return (int)i;
        }
    }
    n = strtoul(v, &end, 10);
    return (*v >= '0' && *v <= '9' && *end == '\0' && n < count) ? (int)n : -1;
}

static char *rw_strdup_attr(const wasp_section_t *s, const char *attr)
{
    const char *v = wasp_section_attr(s, attr);

    return v != NULL ? strdup(v) : NULL;
}

/* "file:line: rule "name": " + the message, into err. */
static void rw_rule_error(char *err, size_t size, const wasp_section_t *at, const char *rule,
                          const char *fmt, ...) WASP_PRINTF(5, 6);

static void rw_rule_error(char *err, size_t size, const wasp_section_t *at, const char *rule,
                          const char *fmt, ...)
{
    int line;
    const char *file = wasp_section_file(at, &line);
    size_t n;
    va_list ap;

    snprintf(err, size, "%s:%d: rewrite rule \"%s\": ", file, line, rule ? rule : "");
    n = strlen(err);
    va_start(ap, fmt);
    vsnprintf(err + n, size - n, fmt, ap);
    va_end(ap);
}

static int rw_redirect_status(const wasp_section_t *action)
{
    static const char *const names[] = {"Permanent", "Found", "SeeOther", "Temporary"};
    static const int codes[] = {301, 302, 303, 307};
    const char *v = wasp_section_attr(action, "redirectType");

    if (v == NULL) {
        return 301;
    }
    for (size_t i = 0; i < 4; i++) {
        /* The schema's enum values are the status codes themselves. */
        if (strcasecmp(v, names[i]) == 0 || atoi(v) == codes[i]) {
            return codes[i];
        }
    }
    return -1;
}

static int rw_compile_conditions(const wasp_section_t *item, rw_rule_t *r, rw_syntax_t syntax,
                                 char *err, size_t size)
{
    static const char *const groupings[] = {"MatchAll", "MatchAny"};
    static const char *const types[] = {"Pattern", "IsFile", "IsDirectory"};
    const wasp_section_t *conds = wasp_section_child(item, "conditions");
    size_t count = wasp_section_item_count(conds);
    int grouping;

    if (conds == NULL) {
        return 0;
    }
    grouping = rw_enum(conds, "logicalGrouping", groupings, 2, 0);
    if (grouping < 0) {
        rw_rule_error(err, size, conds, r->name, "logicalGrouping=\"%s\" is not MatchAll or "
                      "MatchAny", wasp_section_attr(conds, "logicalGrouping"));
        return -1;
    }
    r->match_any = grouping == 1;
    r->track_all = wasp_section_bool(conds, "trackAllCaptures", false);
    r->conds = calloc(count ? count : 1, sizeof(*r->conds));
    if (r->conds == NULL) {
        snprintf(err, size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const wasp_section_t *add = wasp_section_item(conds, i);
        rw_condition_t *c = &r->conds[r->cond_count];
        const char *input = wasp_section_attr(add, "input");
        const char *pattern = wasp_section_attr(add, "pattern");
        int type = rw_enum(add, "matchType", types, 3, 0);
        char why[512];

        if (type < 0) {
            rw_rule_error(err, size, add, r->name, "matchType=\"%s\" is not Pattern, IsFile or "
                          "IsDirectory", wasp_section_attr(add, "matchType"));
            return -1;
        }
        if (input == NULL && type == RW_MATCH_PATTERN) {
            rw_rule_error(err, size, add, r->name, "a condition has no input");
            return -1;
        }
        if (pattern == NULL && type == RW_MATCH_PATTERN) {
            rw_rule_error(err, size, add, r->name, "condition on \"%s\" has no pattern", input);
            return -1;
        }
        c->type = (rw_match_type_t)type;
        c->negate = wasp_section_bool(add, "negate", false);
        c->file = wasp_section_file(add, &c->line);
        c->input = strdup(input ? input : "{REQUEST_FILENAME}");
        if (c->input == NULL) {
            snprintf(err, size, "out of memory");
            return -1;
        }
        r->cond_count++;
        if (type == RW_MATCH_PATTERN &&
            rw_pattern_compile(&c->pattern, syntax, pattern,
                               wasp_section_bool(add, "ignoreCase", true), why,
                               sizeof(why)) != 0) {
            rw_rule_error(err, size, add, r->name, "condition on \"%s\": %s", input, why);
            return -1;
        }
    }
    return 0;
}

static int rw_compile_action(const wasp_section_t *item, rw_rule_t *r, char *err, size_t size)
{
    static const char *const types[] = {"None", "Rewrite", "Redirect", "CustomResponse",
                                        "AbortRequest"};
    const wasp_section_t *action = wasp_section_child(item, "action");
    int type = rw_enum(action, "type", types, 5, RW_ACTION_NONE);

    if (type < 0) {
        rw_rule_error(err, size, action, r->name, "action type=\"%s\" is not None, Rewrite, "
                      "Redirect, CustomResponse or AbortRequest", wasp_section_attr(action, "type"));
        return -1;
    }
    r->action = (rw_action_type_t)type;
    r->url = rw_strdup_attr(action, "url");
    r->append_query = wasp_section_bool(action, "appendQueryString", true);
    r->reason = rw_strdup_attr(action, "statusReason");
    r->description = rw_strdup_attr(action, "statusDescription");
    if ((r->action == RW_ACTION_REWRITE || r->action == RW_ACTION_REDIRECT) && r->url == NULL) {
        rw_rule_error(err, size, action, r->name, "a %s action needs a url",
                      types[r->action]);
        return -1;
    }
    if (r->action == RW_ACTION_REDIRECT) {
        r->redirect_status = rw_redirect_status(action);
        if (r->redirect_status < 0) {
            rw_rule_error(err, size, action, r->name, "redirectType=\"%s\" is not Permanent, "
                          "Found, SeeOther or Temporary", wasp_section_attr(action,
                                                                             "redirectType"));
            return -1;
        }
    }
    if (r->action == RW_ACTION_CUSTOM_RESPONSE) {
        uint64_t st = wasp_section_uint(action, "statusCode", 0);
        uint64_t sub = wasp_section_uint(action, "subStatusCode", 0);

        /* The schema's validation: not a redirect (that is the Redirect
         * action's job); wasp also refuses 1xx, which would be taken for an
         * interim response. */
        if (st < 200 || st > 999 || (st >= 300 && st <= 307) || sub > 999) {
            rw_rule_error(err, size, action, r->name, "CustomResponse statusCode=\"%s\" "
                          "subStatusCode=\"%s\" is not a valid status (200-999, not 300-307; "
                          "substatus 0-999)",
                          wasp_section_attr(action, "statusCode") ?: "",
                          wasp_section_attr(action, "subStatusCode") ?: "0");
            return -1;
        }
        r->status = (int)st;
        r->substatus = (int)sub;
    }
    return 0;
}

static int rw_compile_rule(const wasp_section_t *item, rw_rule_t *r, char *err, size_t size)
{
    static const char *const syntaxes[] = {"ECMAScript", "Wildcard", "ExactMatch"};
    const wasp_section_t *match = wasp_section_child(item, "match");
    const wasp_section_t *vars = wasp_section_child(item, "serverVariables");
    const char *url = wasp_section_attr(match, "url");
    int syntax = rw_enum(item, "patternSyntax", syntaxes, 3, RW_SYNTAX_ECMASCRIPT);
    char why[512];

    r->name = strdup(wasp_section_attr(item, "name") ?: "");
    r->file = wasp_section_file(item, &r->line);
    r->enabled = wasp_section_bool(item, "enabled", true);
    r->stop_processing = wasp_section_bool(item, "stopProcessing", false);
    r->sets_variables = wasp_section_item_count(vars) > 0;
    if (r->name == NULL) {
        snprintf(err, size, "out of memory");
        return -1;
    }
    if (syntax < 0) {
        rw_rule_error(err, size, item, r->name, "patternSyntax=\"%s\" is not ECMAScript, "
                      "Wildcard or ExactMatch", wasp_section_attr(item, "patternSyntax"));
        return -1;
    }
    if (url == NULL) {
        rw_rule_error(err, size, match ? match : item, r->name, "no <match url=\"...\">");
        return -1;
    }
    r->match_negate = wasp_section_bool(match, "negate", false);
    if (rw_pattern_compile(&r->match, (rw_syntax_t)syntax, url,
                           wasp_section_bool(match, "ignoreCase", true), why, sizeof(why)) != 0) {
        rw_rule_error(err, size, match, r->name, "%s", why);
        return -1;
    }
    if (rw_compile_conditions(item, r, (rw_syntax_t)syntax, err, size) != 0) {
        return -1;
    }
    return rw_compile_action(item, r, err, size);
}

/* The level of every distributed rule: the shortest ancestor of the URL
 * whose effective rules already have it. */
static void rw_find_bases(wasp_request_t *req, rw_set_t *set, const wasp_section_t **nodes)
{
    wasp_str_t path = wasp_request_path(req);
    char *prefix = malloc(path.len + 2);
    size_t at = 0;

    if (prefix == NULL) {
        return;
    }
    for (;;) {
        const wasp_section_t *sec;

        /* prefix = "/" then "/a", "/a/b", ... up to the whole path */
        if (at == 0) {
            strcpy(prefix, "/");
        } else {
            memcpy(prefix, path.ptr, at);
            prefix[at] = '\0';
        }
        sec = wasp_request_section_at(req, prefix, RW_SECTION_RULES);
        for (size_t i = 0; i < set->count; i++) {
            if (set->rules[i].base != NULL) {
                continue;
            }
            for (size_t k = 0; k < wasp_section_item_count(sec); k++) {
                if (wasp_section_item(sec, k) == nodes[i]) {
                    set->rules[i].base = strdup(at == 0 ? "" : prefix);
                    break;
                }
            }
        }
        if (at >= path.len) {
            break;
        }
        at++;
        while (at < path.len && path.ptr[at] != '/') {
            at++;
        }
    }
    free(prefix);
}

static void rw_set_free(rw_set_t *set)
{
    for (size_t i = 0; i < set->count; i++) {
        rw_rule_free(&set->rules[i]);
    }
    free(set->rules);
    free(set->error);
    free(set);
}

static rw_set_t *rw_set_compile(wasp_request_t *req, const wasp_section_t *sec, bool global)
{
    size_t count = wasp_section_item_count(sec);
    rw_set_t *set = calloc(1, sizeof(*set));
    const wasp_section_t **nodes = calloc(count ? count : 1, sizeof(*nodes));
    char err[1024];

    if (set == NULL || nodes == NULL || (set->rules = calloc(count, sizeof(*set->rules))) == NULL) {
        free(nodes);
        if (set != NULL) {
            rw_set_free(set);
        }
        return NULL;
    }
    set->key = sec;
    for (size_t i = 0; i < count && set->error == NULL; i++) {
        nodes[i] = wasp_section_item(sec, i);
        set->count++;
        if (rw_compile_rule(nodes[i], &set->rules[i], err, sizeof(err)) != 0) {
            set->error = strdup(err);
            wasp_log(req, WASP_LOG_ERROR, "%s; requests under this configuration are answered "
                     "500.%d until it is fixed", err, global ? 51 : 50);
        } else if (set->rules[i].sets_variables) {
            wasp_log(req, WASP_LOG_WARN, "%s:%d: rewrite rule \"%s\": <serverVariables> is not "
                     "applied yet (wasp cannot set server variables); the rule runs without it",
                     set->rules[i].file, set->rules[i].line, set->rules[i].name);
        }
    }
    if (set->error == NULL && !global) {
        rw_find_bases(req, set, nodes);
    }
    for (size_t i = 0; i < set->count; i++) {
        if (set->rules[i].base == NULL) {
            set->rules[i].base = strdup(""); /* global rules see the whole path */
        }
    }
    free(nodes);
    set->next = rw_sets;
    rw_sets = set;
    return set;
}

/* The compiled rules for this request's effective section, or NULL. */
static const rw_set_t *rw_set_for(wasp_request_t *req, const char *section_path, bool global)
{
    const wasp_section_t *sec = wasp_request_section(req, section_path);

    if (sec == NULL || wasp_section_item_count(sec) == 0) {
        return NULL;
    }
    for (rw_set_t *s = rw_sets; s != NULL; s = s->next) {
        if (s->key == sec) {
            return s;
        }
    }
    return rw_set_compile(req, sec, global);
}

/* ---- rewrite maps --------------------------------------------------------- */

static bool rw_map_icase;

static int rw_entry_cmp(const void *a, const void *b)
{
    const rw_map_entry_t *x = a, *y = b;
    int c = rw_map_icase ? strcasecmp(x->key, y->key) : strcmp(x->key, y->key);

    if (c != 0) {
        return c;
    }
    return x->order < y->order ? -1 : x->order > y->order; /* first one wins */
}

static int rw_map_build(const wasp_section_t *node, rw_map_t *m)
{
    size_t count = wasp_section_item_count(node);

    m->name = wasp_section_attr(node, "name") ?: "";
    m->dflt = wasp_section_attr(node, "defaultValue") ?: "";
    m->icase = wasp_section_bool(node, "ignoreCase", true);
    m->entries = calloc(count ? count : 1, sizeof(*m->entries));
    if (m->entries == NULL) {
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const wasp_section_t *add = wasp_section_item(node, i);
        const char *key = wasp_section_attr(add, "key");

        if (key != NULL) {
            m->entries[m->count++] =
                (rw_map_entry_t){key, wasp_section_attr(add, "value") ?: "", i};
        }
    }
    rw_map_icase = m->icase;
    qsort(m->entries, m->count, sizeof(*m->entries), rw_entry_cmp);
    return 0;
}

static void rw_mapset_free(rw_mapset_t *ms)
{
    for (size_t i = 0; i < ms->count; i++) {
        free(ms->maps[i].entries);
    }
    free(ms->maps);
    free(ms);
}

static const rw_mapset_t *rw_mapset_for(wasp_request_t *req)
{
    const wasp_section_t *sec = wasp_request_section(req, RW_SECTION_MAPS);
    size_t count = wasp_section_item_count(sec);
    rw_mapset_t *ms;

    if (sec == NULL) {
        return NULL;
    }
    for (ms = rw_mapsets; ms != NULL; ms = ms->next) {
        if (ms->key == sec) {
            return ms;
        }
    }
    ms = calloc(1, sizeof(*ms));
    if (ms == NULL || (ms->maps = calloc(count ? count : 1, sizeof(*ms->maps))) == NULL) {
        free(ms);
        return NULL;
    }
    ms->key = sec;
    for (size_t i = 0; i < count; i++) {
        if (rw_map_build(wasp_section_item(sec, i), &ms->maps[ms->count]) != 0) {
            rw_mapset_free(ms);
            return NULL;
        }
        ms->count++;
    }
    ms->next = rw_mapsets;
    rw_mapsets = ms;
    return ms;
}

/* The value of key, or NULL.  Binary search for the first equal key. */
static const char *rw_map_find(const rw_map_t *m, const char *key)
{
    size_t lo = 0, hi = m->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *k = m->entries[mid].key;
        int c = m->icase ? strcasecmp(k, key) : strcmp(k, key);

        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < m->count) {
        const char *k = m->entries[lo].key;

        if ((m->icase ? strcasecmp(k, key) : strcmp(k, key)) == 0) {
            return m->entries[lo].value;
        }
    }
    return NULL;
}

/* ---- expansion callbacks -------------------------------------------------- */

typedef struct rw_run {
    wasp_request_t *req;
    const rw_mapset_t *maps;
    bool maps_loaded;
} rw_run_t;

static void rw_cb_variable(void *data, const char *name, rw_buf_t *out)
{
    rw_run_t *run = data;
    wasp_str_t v = wasp_request_server_variable(run->req, name);

    if (v.ptr != NULL) {
        rw_buf_append(out, v.ptr, v.len);
    }
}

static int rw_cb_map(void *data, const char *name, const char *key, size_t key_len,
                     rw_buf_t *out)
{
    rw_run_t *run = data;
    char *k;

    if (!run->maps_loaded) {
        run->maps = rw_mapset_for(run->req);
        run->maps_loaded = true;
    }
    for (size_t i = 0; run->maps != NULL && i < run->maps->count; i++) {
        const rw_map_t *m = &run->maps->maps[i];
        const char *v;

        if (strcasecmp(m->name, name) != 0) {
            continue;
        }
        k = strndup(key, key_len);
        if (k == NULL) {
            return -1;
        }
        v = rw_map_find(m, k);
        free(k);
        rw_buf_puts(out, v != NULL ? v : m->dflt);
        return 0;
    }
    return -1;
}

static int rw_cb_file_type(void *data, const char *path)
{
    struct stat st;

    (void)data;
    if (path[0] == '\0' || stat(path, &st) != 0) {
        return 0;
    }
    return S_ISREG(st.st_mode) ? 1 : S_ISDIR(st.st_mode) ? 2 : 0;
}

/* ---- actions -------------------------------------------------------------- */

static wasp_status_t rw_fail(wasp_request_t *req, bool global, const rw_rule_t *r,
                             const char *what)
{
    char why[1024];

    snprintf(why, sizeof(why), "%s:%d: rewrite rule \"%s\": %s", r->file, r->line, r->name,
             what);
    wasp_log(req, WASP_LOG_ERROR, "%s", why);
    return wasp_request_fail(req, 500, global ? 51 : 50, why);
}

/* The expanded action url made into a path of the site: a relative target
 * is relative to the rule's level. */
static void rw_target_path(const rw_rule_t *r, const rw_buf_t *url, rw_buf_t *out)
{
    if (url->len == 0 || url->ptr[0] != '/') {
        rw_buf_puts(out, r->base);
        rw_buf_putc(out, '/');
    }
    rw_buf_append(out, rw_buf_str(url), url->len);
}

static bool rw_has_scheme(const char *s)
{
    size_t i = 1;

    if (!isalpha((unsigned char)s[0])) {
        return false;
    }
    while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.') {
        i++;
    }
    return strncmp(s + i, "://", 3) == 0;
}

static void rw_append_query(const rw_rule_t *r, wasp_request_t *req, rw_buf_t *url)
{
    wasp_str_t q = wasp_request_query(req);

    if (r->append_query && q.len > 0) {
        rw_buf_putc(url, memchr(rw_buf_str(url), '?', url->len) != NULL ? '&' : '?');
        rw_buf_append(url, q.ptr, q.len);
    }
}

static wasp_status_t rw_do_rewrite(wasp_request_t *req, bool global, const rw_rule_t *r,
                                   const rw_buf_t *url)
{
    rw_buf_t target = {0};
    wasp_status_t st;

    if (rw_has_scheme(rw_buf_str(url))) {
        return rw_fail(req, global, r, "rewriting to an absolute URL is a reverse-proxy rewrite, "
                       "which needs Application Request Routing; wasp has no proxy yet");
    }
    rw_target_path(r, url, &target);
    rw_append_query(r, req, &target);
    if (target.oom) {
        rw_buf_free(&target);
        return rw_fail(req, global, r, "the rewritten URL is too long");
    }
    wasp_log(req, WASP_LOG_DEBUG, "rule \"%s\" rewrites the URL to %s", r->name,
             rw_buf_str(&target));
    st = wasp_request_rewrite_url(req, rw_buf_str(&target));
    rw_buf_free(&target);
    return st;
}

/* Location must be one header line of URL characters: what a decoded
 * back-reference may hold (space, quotes, non-ASCII) is percent-encoded. */
static void rw_location_escape(const char *s, size_t len, rw_buf_t *out)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>') {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};

            rw_buf_append(out, e, 3);
        } else {
            rw_buf_putc(out, (char)c);
        }
    }
}

static wasp_status_t rw_do_redirect(wasp_request_t *req, bool global, const rw_rule_t *r,
                                    const rw_buf_t *url)
{
    static const struct {
        int code;
        const char *reason;
    } reasons[] = {{301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"},
                   {307, "Temporary Redirect"}};
    rw_buf_t abs = {0}, loc = {0};
    wasp_modutil_buf_t body = {0};
    const char *reason = "Redirect";

    if (rw_has_scheme(rw_buf_str(url))) {
        rw_buf_append(&abs, rw_buf_str(url), url->len);
    } else {
        /* IIS sends an absolute URL: scheme and Host of this request. */
        wasp_str_t host = wasp_request_server_variable(req, "HTTP_HOST");

        wasp_str_t https = wasp_request_server_variable(req, "HTTPS");

        rw_buf_puts(&abs, https.len == 2 && memcmp(https.ptr, "on", 2) == 0 ? "https://"
                                                                           : "http://");
        if (host.ptr != NULL && host.len > 0) {
            rw_buf_append(&abs, host.ptr, host.len);
        } else {
            wasp_str_t name = wasp_request_server_variable(req, "SERVER_NAME");
            wasp_str_t port = wasp_request_server_variable(req, "SERVER_PORT");

            rw_buf_append(&abs, name.ptr ? name.ptr : "", name.len);
            if (port.ptr != NULL && !(port.len == 2 && memcmp(port.ptr, "80", 2) == 0)) {
                rw_buf_putc(&abs, ':');
                rw_buf_append(&abs, port.ptr, port.len);
            }
        }
        rw_target_path(r, url, &abs);
    }
    rw_append_query(r, req, &abs);
    rw_location_escape(rw_buf_str(&abs), abs.len, &loc);
    rw_buf_free(&abs);
    if (loc.oom) {
        rw_buf_free(&loc);
        return rw_fail(req, global, r, "the redirect URL is too long");
    }
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].code == r->redirect_status) {
            reason = reasons[i].reason;
        }
    }
    wasp_response_clear(req);
    wasp_response_set_status(req, r->redirect_status, 0, reason);
    wasp_response_set_header(req, "Location", rw_buf_str(&loc));
    wasp_response_set_header(req, "Content-Type", "text/html; charset=UTF-8");
    /* The page IIS' IHttpResponse::Redirect writes (observed). */
    wasp_modutil_buf_puts(&body, "<head><title>Document Moved</title></head>\n<body><h1>Object "
                                 "Moved</h1>This document may be found <a HREF=\"");
    wasp_modutil_buf_html(&body, rw_buf_str(&loc), loc.len);
    wasp_modutil_buf_puts(&body, "\">here</a></body>");
    if (!body.oom) {
        wasp_response_write(req, body.ptr, body.len);
    }
    wasp_modutil_buf_free(&body);
    wasp_log(req, WASP_LOG_DEBUG, "rule \"%s\" redirects (%d) to %s", r->name,
             r->redirect_status, rw_buf_str(&loc));
    rw_buf_free(&loc);
    return WASP_FINISH;
}

/* Reason phrases for the non-error statuses a CustomResponse may give
 * without a statusReason. */
static const char *rw_default_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 308:
        return "Permanent Redirect";
    default:
        return status < 300 ? "OK" : "Status";
    }
}

static wasp_status_t rw_do_custom(wasp_request_t *req, bool global, const rw_rule_t *r,
                                  rw_expand_ctx_t *ctx)
{
    rw_buf_t reason = {0}, desc = {0};

    if ((r->reason != NULL && rw_expand(ctx, r->reason, strlen(r->reason), &reason) != 0) ||
        (r->description != NULL &&
         rw_expand(ctx, r->description, strlen(r->description), &desc) != 0)) {
        rw_buf_free(&reason);
        rw_buf_free(&desc);
        return rw_fail(req, global, r, ctx->err);
    }
    if (r->status >= 400) {
        /* An error: the description is what the detailed error page shows
         * and the logs record; custom error pages apply as on IIS. */
        wasp_request_fail(req, r->status, r->substatus,
                          desc.len > 0 ? rw_buf_str(&desc) : "Custom response of a URL Rewrite "
                                                              "rule");
    } else {
        wasp_response_clear(req);
    }
    /* The reason phrase goes on the wire; never CR / LF (the listener would
     * drop the phrase, but it is cheaper to stop it here). */
    for (size_t i = 0; i < reason.len; i++) {
        if (reason.ptr[i] == '\r' || reason.ptr[i] == '\n') {
            reason.ptr[i] = ' ';
        }
    }
    if (reason.len > 0 || r->status < 400) {
        wasp_response_set_status(req, r->status, r->substatus,
                                 reason.len > 0 ? rw_buf_str(&reason) : rw_default_reason(r->status));
    }
    rw_buf_free(&reason);
    rw_buf_free(&desc);
    return WASP_FINISH;
}

static wasp_status_t rw_do_abort(wasp_request_t *req, const rw_rule_t *r)
{
    char why[512];

    snprintf(why, sizeof(why), "URL Rewrite rule \"%s\" (%s:%d) aborts the request; wasp cannot "
             "drop the connection from a module yet, so it answers 400 instead", r->name, r->file,
             r->line);
    wasp_log(req, WASP_LOG_INFO, "%s", why);
    return wasp_request_fail(req, 400, 0, why);
}

/* ---- evaluation ----------------------------------------------------------- */

/* The current URL path as the rule sees it: no leading '/', relative to the
 * rule's level when the URL is still under it. */
static wasp_str_t rw_rule_url(wasp_request_t *req, const rw_rule_t *r)
{
    wasp_str_t p = wasp_request_path(req);
    size_t bl = strlen(r->base);

    if (bl > 0 && p.len >= bl && strncasecmp(p.ptr, r->base, bl) == 0 &&
        (p.len == bl || p.ptr[bl] == '/')) {
        p.ptr += bl;
        p.len -= bl;
    }
    if (p.len > 0 && p.ptr[0] == '/') {
        p.ptr++;
        p.len--;
    }
    return p;
}

static wasp_status_t rw_apply(wasp_request_t *req, bool global, const rw_rule_t *r,
                              rw_expand_ctx_t *ctx)
{
    rw_buf_t url = {0};
    wasp_status_t st;

    switch (r->action) {
    case RW_ACTION_NONE:
        return WASP_CONTINUE;
    case RW_ACTION_CUSTOM_RESPONSE:
        return rw_do_custom(req, global, r, ctx);
    case RW_ACTION_ABORT:
        return rw_do_abort(req, r);
    default:
        break;
    }
    if (rw_expand(ctx, r->url, strlen(r->url), &url) != 0) {
        rw_buf_free(&url);
        return rw_fail(req, global, r, ctx->err);
    }
    st = r->action == RW_ACTION_REWRITE ? rw_do_rewrite(req, global, r, &url)
                                        : rw_do_redirect(req, global, r, &url);
    rw_buf_free(&url);
    return st;
}

static wasp_status_t rw_run_set(wasp_request_t *req, rw_run_t *run, const rw_set_t *set,
                                bool global)
{
    rw_captures_t rcaps = {0}, ccaps = {0};
    rw_expand_ctx_t ctx = {.variable = rw_cb_variable, .map = rw_cb_map,
                           .file_type = rw_cb_file_type, .data = run};
    wasp_status_t st = WASP_CONTINUE;

    if (set->error != NULL) {
        return wasp_request_fail(req, 500, global ? 51 : 50, set->error);
    }
    for (size_t i = 0; i < set->count && st == WASP_CONTINUE; i++) {
        const rw_rule_t *r = &set->rules[i];
        wasp_str_t url;
        int rc;

        if (!r->enabled) {
            continue;
        }
        url = rw_rule_url(req, r);
        rc = rw_rule_test(r, url.ptr, url.len, &ctx, &rcaps, &ccaps);
        if (rc < 0) {
            st = rw_fail(req, global, r, ctx.err);
            break;
        }
        if (rc == 0) {
            continue;
        }
        st = rw_apply(req, global, r, &ctx);
        if (r->stop_processing) {
            break;
        }
    }
    rw_captures_free(&rcaps);
    rw_captures_free(&ccaps);
    return st;
}

static void rw_warn_outbound(wasp_request_t *req)
{
    const wasp_section_t *out;

    if (rw_outbound_warned) {
        return;
    }
    out = wasp_request_section(req, RW_SECTION_OUTBOUND);
    if (out != NULL && wasp_section_item_count(out) > 0) {
        int line;
        const char *file = wasp_section_file(wasp_section_item(out, 0), &line);

        rw_outbound_warned = true;
        wasp_log(req, WASP_LOG_WARN, "%s:%d: rewrite/outboundRules are not applied yet: wasp "
                 "runs inbound rules only, responses leave unchanged", file, line);
    }
}

static wasp_status_t rw_begin_request(wasp_request_t *req, void *state)
{
    rw_run_t run = {.req = req};
    const rw_set_t *set;
    wasp_status_t st;

    (void)state;
    rw_warn_outbound(req);
    set = rw_set_for(req, RW_SECTION_GLOBAL, true);
    if (set != NULL) {
        st = rw_run_set(req, &run, set, true);
        if (st != WASP_CONTINUE) {
            return st;
        }
        run.maps_loaded = false; /* the URL may have changed: its maps too */
    }
    set = rw_set_for(req, RW_SECTION_RULES, false);
    return set != NULL ? rw_run_set(req, &run, set, false) : WASP_CONTINUE;
}

static void rw_process_exit(wasp_module_t *self)
{
    (void)self;
    while (rw_sets != NULL) {
        rw_set_t *s = rw_sets;

        rw_sets = s->next;
        rw_set_free(s);
    }
    while (rw_mapsets != NULL) {
        rw_mapset_t *m = rw_mapsets;

        rw_mapsets = m->next;
        rw_mapset_free(m);
    }
    rw_expr_cleanup();
}

int wasp_url_rewrite_register(wasp_registration_t *reg, uint32_t server_abi)
{
    static const wasp_module_info_t info = {
        .abi = WASP_MODULE_ABI,
        .size = sizeof(info),
        .name = "RewriteModule",
        .process_exit = rw_process_exit,
    };

    (void)server_abi;
    if (wasp_registration_set_info(reg, &info) != 0 ||
        wasp_registration_on(reg, WASP_EVENT_BEGIN_REQUEST, WASP_PRIORITY_FIRST,
                             rw_begin_request) != 0) {
        return -1;
    }
    return 0;
}
