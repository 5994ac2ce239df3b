/*
 * config_edit: appcmd-style changes to applicationHost.config (see
 * config_edit.h for the why).
 *
 * The editor keeps the file's bytes (buf) as the truth.  After every change
 * the bytes are parsed again with libxml2, and a small lexer walks the same
 * bytes to find, for every element in document order, where its start tag,
 * attributes and end tag are (ce_span_t, hung on the libxml2 node's
 * _private).  An edit is then a splice: replace [at, at+del) with new text.
 * Because the tree is rebuilt after every splice, no xmlNode pointer
 * survives a splice: code that splices looks its nodes up again.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlstring.h>

#include "config/config.h"
#include "config/config_edit.h"

#define CE_MAX_FILE_SIZE (64u * 1024u * 1024u)

/* ---- schema: the attributes appcmd may set ------------------------------------ */

static const wasp_edit_attr_t ce_pool_attrs[] = {
    { "", "name", "" },
    { "", "queueLength", "1000" },
    { "", "autoStart", "true" },
    { "", "enable32BitAppOnWin64", "false" },
    { "", "managedRuntimeVersion", "" },
    { "", "managedRuntimeLoader", "webengine4.dll" },
    { "", "enableConfigurationOverride", "true" },
    { "", "managedPipelineMode", "Integrated" },
    { "", "CLRConfigFile", "" },
    { "", "passAnonymousToken", "true" },
    { "", "startMode", "OnDemand" },
    { "processModel", "identityType", "ApplicationPoolIdentity" },
    { "processModel", "userName", "" },
    { "processModel", "password", "" },
    { "processModel", "loadUserProfile", "false" },
    { "processModel", "setProfileEnvironment", "true" },
    { "processModel", "logonType", "LogonBatch" },
    { "processModel", "manualGroupMembership", "false" },
    { "processModel", "idleTimeout", "00:20:00" },
    { "processModel", "idleTimeoutAction", "Terminate" },
    { "processModel", "maxProcesses", "1" },
    { "processModel", "shutdownTimeLimit", "00:01:30" },
    { "processModel", "startupTimeLimit", "00:01:30" },
    { "processModel", "pingingEnabled", "true" },
    { "processModel", "pingInterval", "00:00:30" },
    { "processModel", "pingResponseTime", "00:01:30" },
    { "processModel", "logEventOnProcessModel", "IdleTimeout" },
    { "recycling", "disallowOverlappingRotation", "false" },
    { "recycling", "disallowRotationOnConfigChange", "false" },
    { "recycling", "logEventOnRecycle",
      "Time, Requests, Schedule, Memory, IsapiUnhealthy, OnDemand, ConfigChange, PrivateMemory" },
    { "recycling.periodicRestart", "memory", "0" },
    { "recycling.periodicRestart", "privateMemory", "0" },
    { "recycling.periodicRestart", "requests", "0" },
    { "recycling.periodicRestart", "time", "1.05:00:00" },
    { "failure", "loadBalancerCapabilities", "HttpLevel" },
    { "failure", "orphanWorkerProcess", "false" },
    { "failure", "orphanActionExe", "" },
    { "failure", "orphanActionParams", "" },
    { "failure", "rapidFailProtection", "true" },
    { "failure", "rapidFailProtectionInterval", "00:05:00" },
    { "failure", "rapidFailProtectionMaxCrashes", "5" },
    { "failure", "autoShutdownExe", "" },
    { "failure", "autoShutdownParams", "" },
    { "cpu", "limit", "0" },
    { "cpu", "action", "NoAction" },
    { "cpu", "resetInterval", "00:05:00" },
    { "cpu", "smpAffinitized", "false" },
    { "cpu", "smpProcessorAffinityMask", "4294967295" },
    { "cpu", "smpProcessorAffinityMask2", "4294967295" },
    { "cpu", "processorGroup", "0" },
    { "cpu", "numaNodeAssignment", "MostAvailableMemory" },
    { "cpu", "numaNodeAffinityMode", "Soft" },
};

static const wasp_edit_attr_t ce_site_attrs[] = {
    { "", "name", "" },
    { "", "id", "" },
    { "", "serverAutoStart", "true" },
    { "limits", "maxBandwidth", "4294967295" },
    { "limits", "maxConnections", "4294967295" },
    { "limits", "connectionTimeout", "00:02:00" },
    { "limits", "maxUrlSegments", "32" },
};

/* Schema order of child elements: a new child goes before the first
 * sibling that comes later in its list, so a file written by IIS keeps
 * IIS' order. */
static const char *const ce_root_order[] = { "configSections", "configProtectedData",
                                             "system.applicationHost", "system.webServer",
                                             "location", NULL };
static const char *const ce_apphost_order[] = { "applicationPools", "configHistory",
                                                "customMetadata", "listenerAdapters", "log",
                                                "serviceAutoStartProviders", "sites", "webLimits",
                                                NULL };
static const char *const ce_pool_order[] = { "processModel", "recycling", "periodicRestart",
                                             "failure", "cpu", "environmentVariables", NULL };
static const char *const ce_site_order[] = { "application", "bindings", "limits", "logFile",
                                             "traceFailedRequestsLogging", "hsts", "ftpServer",
                                             NULL };

const wasp_edit_attr_t *wasp_edit_pool_attrs(size_t *count)
{
    if (count) {
        *count = sizeof(ce_pool_attrs) / sizeof(ce_pool_attrs[0]);
    }
    return ce_pool_attrs;
}

/* "element.name" (or "name") equals dotted, ignoring case. */
static bool ce_attr_matches(const wasp_edit_attr_t *a, const char *dotted)
{
    size_t el = strlen(a->element);

    if (el == 0) {
        return strcasecmp(a->name, dotted) == 0;
    }
    return strncasecmp(a->element, dotted, el) == 0 && dotted[el] == '.' &&
           strcasecmp(a->name, dotted + el + 1) == 0;
}

static const wasp_edit_attr_t *ce_attr_find(const wasp_edit_attr_t *tab, size_t n,
                                            const char *dotted)
{
    for (size_t i = 0; dotted && i < n; i++) {
        if (ce_attr_matches(&tab[i], dotted)) {
            return &tab[i];
        }
    }
    return NULL;
}

const wasp_edit_attr_t *wasp_edit_pool_attr_find(const char *dotted)
{
    return ce_attr_find(ce_pool_attrs, sizeof(ce_pool_attrs) / sizeof(ce_pool_attrs[0]), dotted);
}

const wasp_edit_attr_t *wasp_edit_site_attr_find(const char *dotted)
{
    return ce_attr_find(ce_site_attrs, sizeof(ce_site_attrs) / sizeof(ce_site_attrs[0]), dotted);
}

/* ---- small helpers -------------------------------------------------------------- */

typedef struct ce_str {
    char *p;
    size_t n, cap;
} ce_str_t;

static void ce_add(ce_str_t *s, const char *t, size_t n)
{
    if (s->n + n + 1 > s->cap) {
        size_t cap = (s->n + n + 1) * 2;
        char *p = realloc(s->p, cap);

        if (p == NULL) {
            fputs("wasp: out of memory while editing the configuration\n", stderr);
            abort();
        }
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->n, t, n);
    s->n += n;
    s->p[s->n] = '\0';
}

static void ce_adds(ce_str_t *s, const char *t)
{
    ce_add(s, t, strlen(t));
}

static int ce_fail(char *err, size_t errsz, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int ce_fail(char *err, size_t errsz, int code, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errsz > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return code;
}

static void ce_clear(char *buf, size_t size)
{
    if (buf != NULL && size > 0) {
        buf[0] = '\0';
    }
}

/* ---- the editor --------------------------------------------------------------- */

/* Where one element's pieces are in buf. */
typedef struct ce_span {
    size_t start;      /* its '<' */
    size_t name_end;   /* just past the element name */
    size_t attr_end;   /* just past the last attribute: where a new one goes */
    size_t stag_end;   /* just past the start tag's '>' */
    size_t etag_start; /* the end tag's '<' (stag_end for <x />) */
    size_t end;        /* just past the element */
    bool empty;        /* written <x ... /> */
} ce_span_t;

struct wasp_config_edit {
    char *path;    /* as given: used in messages */
    char *real;    /* the file replaced on commit (symlinks resolved) */
    int lock_fd;   /* flock'ed from open to free */
    struct stat st; /* mode and owner the new file keeps */
    char *buf;
    size_t len;
    const char *nl; /* the file's line ending */
    char unit[16];  /* the file's indentation step */
    xmlDocPtr doc;
    ce_span_t *spans;
    size_t span_count;
    bool changed;
    bool unchecked; /* commit without wasp_config_load (a web.config) */
};

static ce_span_t *ce_sp(const xmlNode *n)
{
    return n->_private;
}

static bool ce_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool ce_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool ce_name_char(char c)
{
    return !ce_space(c) && c != '/' && c != '>' && c != '=' && c != '\0';
}

/* ---- lexing: element byte ranges ------------------------------------------------ */

typedef struct ce_lex {
    const char *b;
    size_t len;
    ce_span_t *spans;
    size_t count, cap;
    size_t *stack;
    size_t depth, stack_cap;
} ce_lex_t;

static size_t ce_find(const ce_lex_t *lx, size_t from, const char *needle)
{
    size_t n = strlen(needle);
    const char *hit;

    if (from > lx->len) {
        return SIZE_MAX;
    }
    hit = memmem(lx->b + from, lx->len - from, needle, n);
    return hit != NULL ? (size_t)(hit - lx->b) + n : SIZE_MAX;
}

static bool ce_starts(const ce_lex_t *lx, size_t at, const char *s)
{
    size_t n = strlen(s);

    return lx->len - at >= n && memcmp(lx->b + at, s, n) == 0;
}

static size_t ce_lex_push_span(ce_lex_t *lx)
{
    if (lx->count == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 256;
        ce_span_t *s = realloc(lx->spans, cap * sizeof(*s));

        if (s == NULL) {
            fputs("wasp: out of memory while editing the configuration\n", stderr);
            abort();
        }
        lx->spans = s;
        lx->cap = cap;
    }
    memset(&lx->spans[lx->count], 0, sizeof(lx->spans[0]));
    return lx->count++;
}

static void ce_lex_open(ce_lex_t *lx, size_t idx)
{
    if (lx->depth == lx->stack_cap) {
        size_t cap = lx->stack_cap ? lx->stack_cap * 2 : 64;
        size_t *s = realloc(lx->stack, cap * sizeof(*s));

        if (s == NULL) {
            fputs("wasp: out of memory while editing the configuration\n", stderr);
            abort();
        }
        lx->stack = s;
        lx->stack_cap = cap;
    }
    lx->stack[lx->depth++] = idx;
}

static size_t ce_skip_space(const ce_lex_t *lx, size_t p)
{
    while (p < lx->len && ce_space(lx->b[p])) {
        p++;
    }
    return p;
}

/* One start tag at lx->b[at] == '<'; returns the offset after it, or
 * SIZE_MAX.  The text was accepted by libxml2, so it is well-formed. */
static size_t ce_lex_start_tag(ce_lex_t *lx, size_t at)
{
    size_t idx = ce_lex_push_span(lx);
    ce_span_t *sp = &lx->spans[idx];
    size_t p = at + 1;

    sp->start = at;
    while (p < lx->len && ce_name_char(lx->b[p])) {
        p++;
    }
    sp->name_end = sp->attr_end = p;
    for (;;) {
        const char *q;

        p = ce_skip_space(lx, p);
        if (p >= lx->len) {
            return SIZE_MAX;
        }
        if (lx->b[p] == '>') {
            sp->stag_end = p + 1;
            ce_lex_open(lx, idx);
            return p + 1;
        }
        if (lx->b[p] == '/') {
            if (p + 1 >= lx->len || lx->b[p + 1] != '>') {
                return SIZE_MAX;
            }
            sp->empty = true;
            sp->stag_end = sp->etag_start = sp->end = p + 2;
            return p + 2;
        }
        while (p < lx->len && ce_name_char(lx->b[p])) {
            p++;
        }
        p = ce_skip_space(lx, p);
        if (p >= lx->len || lx->b[p] != '=') {
            return SIZE_MAX;
        }
        p = ce_skip_space(lx, p + 1);
        if (p >= lx->len || (lx->b[p] != '"' && lx->b[p] != '\'')) {
            return SIZE_MAX;
        }
        q = memchr(lx->b + p + 1, lx->b[p], lx->len - p - 1);
        if (q == NULL) {
            return SIZE_MAX;
        }
        p = (size_t)(q - lx->b) + 1;
        sp->attr_end = p;
    }
}

/* Every element's span, in document order.  0, or -1 with a reason. */
static int ce_lex(ce_lex_t *lx, const char **why)
{
    size_t i = 0;

    while (i < lx->len) {
        const char *lt = memchr(lx->b + i, '<', lx->len - i);

        if (lt == NULL) {
            break;
        }
        i = (size_t)(lt - lx->b);
        if (ce_starts(lx, i, "<!--")) {
            i = ce_find(lx, i + 4, "-->");
        } else if (ce_starts(lx, i, "<![CDATA[")) {
            i = ce_find(lx, i + 9, "]]>");
        } else if (ce_starts(lx, i, "<?")) {
            i = ce_find(lx, i + 2, "?>");
        } else if (ce_starts(lx, i, "<!")) {
            *why = "it has a <!DOCTYPE> declaration, which a configuration file may not have";
            return -1;
        } else if (ce_starts(lx, i, "</")) {
            size_t gt = ce_find(lx, i, ">");

            if (lx->depth == 0 || gt == SIZE_MAX) {
                break;
            }
            lx->depth--;
            lx->spans[lx->stack[lx->depth]].etag_start = i;
            lx->spans[lx->stack[lx->depth]].end = gt;
            i = gt;
        } else {
            i = ce_lex_start_tag(lx, i);
        }
        if (i == SIZE_MAX) {
            break;
        }
    }
    if (i != SIZE_MAX && lx->depth == 0) {
        return 0;
    }
    *why = "its markup could not be followed byte by byte";
    return -1;
}

/* ---- parsing: libxml2 tree + spans ---------------------------------------------- */

/* Give each element node its span (document order on both sides); false
 * when the two walks disagree. */
static bool ce_pair(xmlNode *n, const char *buf, const ce_span_t *spans, size_t count, size_t *k)
{
    for (; n != NULL; n = n->next) {
        const ce_span_t *sp;
        char qname[512];
        size_t len;

        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        if (*k >= count) {
            return false;
        }
        sp = &spans[*k];
        if (n->ns != NULL && n->ns->prefix != NULL) {
            snprintf(qname, sizeof(qname), "%s:%s", (const char *)n->ns->prefix,
                     (const char *)n->name);
        } else {
            snprintf(qname, sizeof(qname), "%s", (const char *)n->name);
        }
        len = sp->name_end - sp->start - 1;
        if (len != strlen(qname) || memcmp(buf + sp->start + 1, qname, len) != 0) {
            return false;
        }
        n->_private = (void *)sp;
        (*k)++;
        if (!ce_pair(n->children, buf, spans, count, k)) {
            return false;
        }
    }
    return true;
}

/* Line start of the element at `at` when only blanks precede it there. */
static bool ce_line_start(const char *buf, size_t at, size_t *ls)
{
    size_t p = at;

    while (p > 0 && ce_blank(buf[p - 1])) {
        p--;
    }
    if (p > 0 && buf[p - 1] != '\n') {
        return false;
    }
    *ls = p;
    return true;
}

/* The file's indentation step: the first child indented deeper than its
 * parent shows it; IIS writes four spaces. */
static void ce_find_unit(struct wasp_config_edit *ed, xmlNode *n)
{
    for (; n != NULL && ed->unit[0] == '\0'; n = n->next) {
        size_t pl, cl;

        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        if (n->parent != NULL && n->parent->type == XML_ELEMENT_NODE &&
            ce_line_start(ed->buf, ce_sp(n->parent)->start, &pl) &&
            ce_line_start(ed->buf, ce_sp(n)->start, &cl)) {
            size_t pi = ce_sp(n->parent)->start - pl, ci = ce_sp(n)->start - cl;

            if (ci > pi && ci - pi < sizeof(ed->unit) &&
                memcmp(ed->buf + pl, ed->buf + cl, pi) == 0) {
                memcpy(ed->unit, ed->buf + cl + pi, ci - pi);
                ed->unit[ci - pi] = '\0';
                return;
            }
        }
        ce_find_unit(ed, n->children);
    }
}

static bool ce_utf8_encoding(const xmlChar *enc)
{
    return enc == NULL || strcasecmp((const char *)enc, "UTF-8") == 0 ||
           strcasecmp((const char *)enc, "UTF8") == 0;
}

/* Parse text (taken over on success) into the editor's tree and spans. */
static int ce_parse(struct wasp_config_edit *ed, char *text, size_t len, char *err,
                    size_t errsz)
{
    ce_lex_t lx = { .b = text, .len = len };
    const char *why = NULL;
    xmlDocPtr doc;
    size_t k = 0;

    doc = xmlReadMemory(text, (int)len, ed->real, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                            XML_PARSE_BIG_LINES);
    if (doc == NULL) {
        return ce_fail(err, errsz, WASP_EDIT_ERROR, "%s is not well-formed XML", ed->path);
    }
    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        why = "it has a <!DOCTYPE> declaration, which a configuration file may not have";
    } else if (!ce_utf8_encoding(doc->encoding)) {
        why = "it is not encoded in UTF-8 (waspctl edits UTF-8 files only; convert it with "
              "iconv -t UTF-8 and change the encoding in the <?xml?> declaration)";
    } else if (ce_lex(&lx, &why) == 0 &&
               (!ce_pair(doc->children, text, lx.spans, lx.count, &k) || k != lx.count)) {
        why = "its markup could not be followed byte by byte";
    }
    free(lx.stack);
    if (why != NULL) {
        xmlFreeDoc(doc);
        free(lx.spans);
        return ce_fail(err, errsz, WASP_EDIT_ERROR, "cannot edit %s: %s", ed->path, why);
    }
    if (ed->doc != NULL) {
        xmlFreeDoc(ed->doc);
    }
    free(ed->spans);
    free(ed->buf);
    ed->doc = doc;
    ed->spans = lx.spans;
    ed->span_count = lx.count;
    ed->buf = text;
    ed->len = len;
    return WASP_EDIT_OK;
}

/* Replace [at, at + del) by ins; the tree is rebuilt, so every xmlNode
 * pointer taken before is stale afterwards. */
static int ce_splice(struct wasp_config_edit *ed, size_t at, size_t del, const char *ins,
                     size_t n, char *err, size_t errsz)
{
    size_t len = ed->len - del + n;
    char *text = malloc(len + 1);
    char why[512];

    if (text == NULL) {
        return ce_fail(err, errsz, WASP_EDIT_ERROR, "out of memory editing %s", ed->path);
    }
    memcpy(text, ed->buf, at);
    memcpy(text + at, ins, n);
    memcpy(text + at + n, ed->buf + at + del, ed->len - at - del);
    text[len] = '\0';
    if (ce_parse(ed, text, len, why, sizeof(why)) != WASP_EDIT_OK) {
        free(text);
        return ce_fail(err, errsz, WASP_EDIT_ERROR,
                       "internal error: the edit would have broken the XML of %s (%s); nothing "
                       "was changed, please report this",
                       ed->path, why);
    }
    ed->changed = true;
    return WASP_EDIT_OK;
}

/* ---- tree lookups ----------------------------------------------------------------- */

/* An element without a prefix (a default xmlns="..." on <configuration>,
 * as Visual Studio writes, is as good as none: the loader ignores it). */
static bool ce_plain(const xmlNode *n)
{
    return n->type == XML_ELEMENT_NODE && (n->ns == NULL || n->ns->prefix == NULL);
}

static bool ce_is(const xmlNode *n, const char *name)
{
    return n != NULL && ce_plain(n) && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *ce_child(const xmlNode *parent, const char *name)
{
    for (xmlNode *c = parent != NULL ? parent->children : NULL; c != NULL; c = c->next) {
        if (ce_is(c, name)) {
            return c;
        }
    }
    return NULL;
}

static xmlNode *ce_last_child(const xmlNode *parent, const char *name)
{
    xmlNode *last = NULL;

    for (xmlNode *c = parent != NULL ? parent->children : NULL; c != NULL; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && (name == NULL || ce_is(c, name))) {
            last = c;
        }
    }
    return last;
}

/* The attribute's value (xmlFree it), NULL when absent. */
static char *ce_attr(const xmlNode *n, const char *name)
{
    return n != NULL ? (char *)xmlGetNoNsProp(n, (const xmlChar *)name) : NULL;
}

static bool ce_attr_is(const xmlNode *n, const char *name, const char *value)
{
    char *v = ce_attr(n, name);
    bool same = v != NULL && strcasecmp(v, value) == 0;

    xmlFree(v);
    return same;
}

static xmlNode *ce_root(const struct wasp_config_edit *ed)
{
    return xmlDocGetRootElement(ed->doc);
}

/* configuration/system.applicationHost/<name> */
static xmlNode *ce_section(const struct wasp_config_edit *ed, const char *name)
{
    for (xmlNode *g = ce_root(ed)->children; g != NULL; g = g->next) {
        xmlNode *s = ce_is(g, "system.applicationHost") ? ce_child(g, name) : NULL;

        if (s != NULL) {
            return s;
        }
    }
    return NULL;
}

static xmlNode *ce_find_keyed(const struct wasp_config_edit *ed, const char *section,
                              const char *element, const char *name)
{
    xmlNode *sec = ce_section(ed, section);

    for (xmlNode *c = sec != NULL ? sec->children : NULL; c != NULL; c = c->next) {
        if (ce_is(c, element) && ce_attr_is(c, "name", name)) {
            return c;
        }
    }
    return NULL;
}

static xmlNode *ce_find_pool(const struct wasp_config_edit *ed, const char *name)
{
    return ce_find_keyed(ed, "applicationPools", "add", name);
}

static xmlNode *ce_find_site(const struct wasp_config_edit *ed, const char *name)
{
    return ce_find_keyed(ed, "sites", "site", name);
}

/* ---- text edits ------------------------------------------------------------------- */

/* Indentation of the element (NULL when something precedes it on its line). */
static bool ce_indent(const struct wasp_config_edit *ed, const xmlNode *n, ce_str_t *out)
{
    size_t ls;

    if (!ce_line_start(ed->buf, ce_sp(n)->start, &ls)) {
        return false;
    }
    ce_add(out, ed->buf + ls, ce_sp(n)->start - ls);
    return true;
}

/* Append a value as attribute text, escaped for the quote it sits in. */
static int ce_escape(ce_str_t *s, const char *v, char quote, char *err, size_t errsz)
{
    if (!xmlCheckUTF8((const unsigned char *)v)) {
        return ce_fail(err, errsz, WASP_EDIT_INVALID,
                       "the value \"%s\" is not valid UTF-8; write it in UTF-8", v);
    }
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;

        if (c == '&') {
            ce_adds(s, "&amp;");
        } else if (c == '<') {
            ce_adds(s, "&lt;");
        } else if (c == '>') {
            ce_adds(s, "&gt;");
        } else if (c == '"' && quote == '"') {
            ce_adds(s, "&quot;");
        } else if (c == '\'' && quote == '\'') {
            ce_adds(s, "&apos;");
        } else if (c == '\t') {
            ce_adds(s, "&#x9;");
        } else if (c == '\n') {
            ce_adds(s, "&#xA;");
        } else if (c == '\r') {
            ce_adds(s, "&#xD;");
        } else if (c < 0x20) {
            return ce_fail(err, errsz, WASP_EDIT_INVALID,
                           "the value contains the control character 0x%02x, which an XML "
                           "file cannot hold; remove it",
                           c);
        } else {
            ce_add(s, p, 1);
        }
    }
    return WASP_EDIT_OK;
}

/* Set (or add) an attribute in the element's start tag; other bytes of
 * the tag stay as they are, including the quote style of the value. */
static int ce_set_attr(struct wasp_config_edit *ed, const xmlNode *n, const char *name,
                       const char *value, char *err, size_t errsz)
{
    const ce_span_t *sp = ce_sp(n);
    const char *b = ed->buf;
    size_t p = sp->name_end, nl = strlen(name);
    ce_str_t s = { 0 };
    int rc;

    while (p < sp->attr_end) {
        size_t an, alen, vs, ve;

        while (ce_space(b[p])) {
            p++;
        }
        an = p;
        while (ce_name_char(b[p])) {
            p++;
        }
        alen = p - an;
        while (ce_space(b[p]) || b[p] == '=') {
            p++;
        }
        vs = p + 1;
        ve = (size_t)((const char *)memchr(b + vs, b[p], sp->attr_end - vs) - b);
        p = ve + 1;
        if (alen == nl && memcmp(b + an, name, nl) == 0) {
            rc = ce_escape(&s, value, b[vs - 1], err, errsz);
            if (rc == WASP_EDIT_OK && (s.n != ve - vs || memcmp(s.p, b + vs, s.n) != 0)) {
                rc = ce_splice(ed, vs, ve - vs, s.p, s.n, err, errsz);
            }
            free(s.p);
            return rc;
        }
    }
    ce_adds(&s, " ");
    ce_adds(&s, name);
    ce_adds(&s, "=\"");
    rc = ce_escape(&s, value, '"', err, errsz);
    ce_adds(&s, "\"");
    if (rc == WASP_EDIT_OK) {
        rc = ce_splice(ed, sp->attr_end, 0, s.p, s.n, err, errsz);
    }
    free(s.p);
    return rc;
}

/* Insert text (one element) just before sibling b, on its own line with
 * b's indentation when b starts its line. */
static int ce_insert_before(struct wasp_config_edit *ed, const xmlNode *b, const char *text,
                            char *err, size_t errsz)
{
    ce_str_t s = { 0 };
    int rc;

    ce_str_t ind = { 0 };

    ce_adds(&s, text);
    if (ce_indent(ed, b, &ind)) {
        ce_adds(&s, ed->nl);
        ce_add(&s, ind.p, ind.n);
    }
    rc = ce_splice(ed, ce_sp(b)->start, 0, s.p, s.n, err, errsz);
    free(s.p);
    free(ind.p);
    return rc;
}

/* Insert text just after sibling a, on a new line with a's indentation. */
static int ce_insert_after(struct wasp_config_edit *ed, const xmlNode *a, const char *text,
                           char *err, size_t errsz)
{
    ce_str_t s = { 0 };
    ce_str_t ind = { 0 };
    int rc;

    if (ce_indent(ed, a, &ind)) {
        ce_adds(&s, ed->nl);
        ce_add(&s, ind.p, ind.n);
    }
    ce_adds(&s, text);
    rc = ce_splice(ed, ce_sp(a)->end, 0, s.p, s.n, err, errsz);
    free(s.p);
    free(ind.p);
    return rc;
}

/* Insert text as the last child of parent.  "<p ... />" is opened into
 * "<p ...>", the child, "</p>". */
static int ce_append_child(struct wasp_config_edit *ed, const xmlNode *parent, const char *text,
                           char *err, size_t errsz)
{
    const ce_span_t *sp = ce_sp(parent);
    const xmlNode *last = ce_last_child(parent, NULL);
    ce_str_t pi = { 0 }, ci = { 0 }, s = { 0 };
    bool has_pi = ce_indent(ed, parent, &pi);
    bool has_ci = last != NULL ? ce_indent(ed, last, &ci) : false;
    size_t at, del = 0;
    int rc;

    if (!has_ci && has_pi) {
        ce_add(&ci, pi.p, pi.n);
        ce_adds(&ci, ed->unit);
        has_ci = true;
    }
    if (sp->empty) {
        /* "<p a="1" />": replace " />" by ">" child "</p>" */
        at = sp->stag_end - 2;
        while (at > sp->attr_end && ce_space(ed->buf[at - 1])) {
            at--;
        }
        del = sp->stag_end - at;
        ce_adds(&s, ">");
    } else {
        /* after the last thing inside the parent (child, comment, text) */
        at = sp->etag_start;
        while (at > sp->stag_end && ce_space(ed->buf[at - 1])) {
            at--;
        }
    }
    if (has_ci) {
        ce_adds(&s, ed->nl);
        ce_add(&s, ci.p, ci.n);
    }
    ce_adds(&s, text);
    if (sp->empty || memchr(ed->buf + at, '\n', sp->etag_start - at) == NULL) {
        if (has_pi) {
            ce_adds(&s, ed->nl);
            ce_add(&s, pi.p, pi.n);
        }
    }
    if (sp->empty) {
        ce_adds(&s, "</");
        ce_add(&s, ed->buf + sp->start + 1, sp->name_end - sp->start - 1);
        ce_adds(&s, ">");
    }
    rc = ce_splice(ed, at, del, s.p, s.n, err, errsz);
    free(pi.p);
    free(ci.p);
    free(s.p);
    return rc;
}

static int ce_rank(const char *const *order, const char *name)
{
    for (int i = 0; order != NULL && order[i] != NULL; i++) {
        if (strcmp(order[i], name) == 0) {
            return i;
        }
    }
    return -1;
}

/* Add <name /> to parent, in schema order when the order knows it. */
static int ce_add_child(struct wasp_config_edit *ed, const xmlNode *parent, const char *name,
                        const char *const *order, char *err, size_t errsz)
{
    int rank = ce_rank(order, name);
    char text[128];

    snprintf(text, sizeof(text), "<%s />", name);
    for (xmlNode *c = parent->children; rank >= 0 && c != NULL; c = c->next) {
        if (ce_plain(c) && ce_rank(order, (const char *)c->name) > rank) {
            return ce_insert_before(ed, c, text, err, errsz);
        }
    }
    return ce_append_child(ed, parent, text, err, errsz);
}

/* Remove the element, and its line when it stands alone on it. */
static int ce_delete(struct wasp_config_edit *ed, const xmlNode *n, char *err, size_t errsz)
{
    const ce_span_t *sp = ce_sp(n);
    size_t a = sp->start, b = sp->end, ls, e = sp->end;

    if (ce_line_start(ed->buf, a, &ls)) {
        while (e < ed->len && ce_blank(ed->buf[e])) {
            e++;
        }
        if (e == ed->len || ed->buf[e] == '\n') {
            a = ls;
            b = e < ed->len ? e + 1 : e;
        } else if (ed->buf[e] == '\r' && e + 1 < ed->len && ed->buf[e + 1] == '\n') {
            a = ls;
            b = e + 2;
        }
    }
    return ce_splice(ed, a, b - a, "", 0, err, errsz);
}

/* The element an object is, looked up again after every splice. */
typedef xmlNode *(*ce_locate_fn)(const struct wasp_config_edit *ed, const char *id);

/* Set element.attr (element dotted, "" = the object itself) on the object,
 * creating the child elements that are missing. */
static int ce_set_path(struct wasp_config_edit *ed, ce_locate_fn locate, const char *id,
                       const char *element, const char *attr, const char *value,
                       const char *const *order, char *err, size_t errsz)
{
    for (int round = 0; round < 8; round++) {
        xmlNode *n = locate(ed, id);
        const char *seg = element;
        bool created = false;

        while (n != NULL && *seg) {
            const char *dot = strchrnul(seg, '.');
            char name[64];
            xmlNode *c;
            int rc;

            snprintf(name, sizeof(name), "%.*s", (int)(dot - seg), seg);
            c = ce_child(n, name);
            if (c == NULL) {
                rc = ce_add_child(ed, n, name, order, err, errsz);
                if (rc != WASP_EDIT_OK) {
                    return rc;
                }
                created = true;
                break;
            }
            n = c;
            seg = *dot ? dot + 1 : dot;
        }
        if (n == NULL) {
            break;
        }
        if (!created) {
            return ce_set_attr(ed, n, attr, value, err, errsz);
        }
    }
    return ce_fail(err, errsz, WASP_EDIT_ERROR,
                   "internal error: could not reach <%s> of \"%s\" in %s; nothing was changed",
                   element, id, ed->path);
}

/* Make sure configuration/system.applicationHost/applicationPools exists. */
static int ce_ensure_pools_section(struct wasp_config_edit *ed, char *err, size_t errsz)
{
    for (int round = 0; round < 3; round++) {
        xmlNode *g;
        int rc;

        if (ce_section(ed, "applicationPools") != NULL) {
            return WASP_EDIT_OK;
        }
        g = ce_child(ce_root(ed), "system.applicationHost");
        if (g == NULL) {
            rc = ce_add_child(ed, ce_root(ed), "system.applicationHost", ce_root_order, err,
                              errsz);
        } else {
            rc = ce_add_child(ed, g, "applicationPools", ce_apphost_order, err, errsz);
        }
        if (rc != WASP_EDIT_OK) {
            return rc;
        }
    }
    return ce_section(ed, "applicationPools") != NULL
               ? WASP_EDIT_OK
               : ce_fail(err, errsz, WASP_EDIT_ERROR,
                         "internal error: could not create <applicationPools> in %s", ed->path);
}

/* ---- public API -------------------------------------------------------------------- */

static int ce_read_all(int fd, const char *path, char **out, size_t *len, char *err,
                       size_t errsz)
{
    struct stat st;
    char *b;
    size_t got = 0;

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        return ce_fail(err, errsz, WASP_EDIT_ERROR,
                       "%s is not a regular file; give the path of applicationHost.config", path);
    }
    if ((uint64_t)st.st_size > CE_MAX_FILE_SIZE) {
        return ce_fail(err, errsz, WASP_EDIT_ERROR,
                       "%s is %lld bytes, more than the %u bytes a configuration file may have",
                       path, (long long)st.st_size, CE_MAX_FILE_SIZE);
    }
    b = malloc((size_t)st.st_size + 1);
    if (b == NULL) {
        return ce_fail(err, errsz, WASP_EDIT_ERROR, "out of memory reading %s", path);
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, b + got, (size_t)st.st_size - got);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            free(b);
            return ce_fail(err, errsz, WASP_EDIT_ERROR, "cannot read %s: %s", path,
                           r < 0 ? strerror(errno) : "it shrank while being read");
        }
        got += (size_t)r;
    }
    b[got] = '\0';
    *out = b;
    *len = got;
    return WASP_EDIT_OK;
}

/* Open and flock the file; if it was replaced while we waited for the lock
 * (another editor committed), lock the new one instead. */
static int ce_lock(struct wasp_config_edit *ed, char *err, size_t errsz)
{
    for (int tries = 0; tries < 100; tries++) {
        struct stat now;
        int fd = open(ed->real, O_RDONLY | O_CLOEXEC);

        if (fd < 0) {
            return ce_fail(err, errsz, WASP_EDIT_ERROR,
                           "cannot open %s: %s; check the path (--config or WASP_CONFIG) and "
                           "that you may read it",
                           ed->path, strerror(errno));
        }
        while (flock(fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                close(fd);
                return ce_fail(err, errsz, WASP_EDIT_ERROR, "cannot lock %s: %s", ed->path,
                               strerror(errno));
            }
        }
        if (fstat(fd, &ed->st) == 0 && stat(ed->real, &now) == 0 &&
            now.st_ino == ed->st.st_ino && now.st_dev == ed->st.st_dev) {
            ed->lock_fd = fd;
            return WASP_EDIT_OK;
        }
        close(fd);
    }
    return ce_fail(err, errsz, WASP_EDIT_ERROR,
                   "cannot lock %s: it keeps being replaced by another program", ed->path);
}

/* A file libxml2 refuses: the loader says where and what, in the words
 * waspd would use. */
static void ce_report_parse_error(const char *path, const char *why, char *err, size_t errsz)
{
    wasp_diag_t d;
    wasp_config_t *cfg = NULL;
    char buf[2048];

    if (strstr(why, "not well-formed") != NULL) {
        cfg = wasp_config_load(path, &d);
        if (cfg == NULL) {
            ce_fail(err, errsz, 0, "%s", wasp_diag_format(&d, buf, sizeof(buf)));
            return;
        }
        wasp_config_free(cfg);
    }
    ce_fail(err, errsz, 0, "%s", why);
}

int wasp_config_edit_open(const char *path, wasp_config_edit_t **out, char *err, size_t errsz)
{
    struct wasp_config_edit *ed;
    char real[PATH_MAX], why[1024];
    char *text = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    ce_clear(err, errsz);
    if (path == NULL || !*path) {
        return ce_fail(err, errsz, WASP_EDIT_ERROR, "no configuration file given");
    }
    if (realpath(path, real) == NULL) {
        return ce_fail(err, errsz, WASP_EDIT_ERROR,
                       "cannot open %s: %s; check the path (--config or WASP_CONFIG)", path,
                       strerror(errno));
    }
    ed = calloc(1, sizeof(*ed));
    if (ed == NULL) {
        return ce_fail(err, errsz, WASP_EDIT_ERROR, "out of memory");
    }
    ed->lock_fd = -1;
    ed->path = strdup(path);
    ed->real = strdup(real);
    if (ed->path == NULL || ed->real == NULL) {
        wasp_config_edit_free(ed);
        return ce_fail(err, errsz, WASP_EDIT_ERROR, "out of memory");
    }
    rc = ce_lock(ed, err, errsz);
    if (rc == WASP_EDIT_OK) {
        rc = ce_read_all(ed->lock_fd, path, &text, &len, err, errsz);
    }
    if (rc == WASP_EDIT_OK && len >= 2 &&
        ((text[0] == '\xff' && text[1] == '\xfe') || (text[0] == '\xfe' && text[1] == '\xff'))) {
        rc = ce_fail(err, errsz, WASP_EDIT_ERROR,
                     "cannot edit %s: it is encoded in UTF-16; waspctl edits UTF-8 files only "
                     "(convert it with iconv -f UTF-16 -t UTF-8 and change the encoding in the "
                     "<?xml?> declaration)",
                     path);
    }
    if (rc == WASP_EDIT_OK) {
        ed->nl = memmem(text, len, "\r\n", 2) != NULL ? "\r\n" : "\n";
        rc = ce_parse(ed, text, len, why, sizeof(why));
        if (rc == WASP_EDIT_OK) {
            text = NULL;
        } else {
            ce_report_parse_error(path, why, err, errsz);
        }
    }
    free(text);
    if (rc != WASP_EDIT_OK) {
        wasp_config_edit_free(ed);
        return rc;
    }
    ce_find_unit(ed, ed->doc->children);
    if (ed->unit[0] == '\0') {
        strcpy(ed->unit, "    ");
    }
    *out = ed;
    return WASP_EDIT_OK;
}

int wasp_config_edit_pool_add(wasp_config_edit_t *ed, const char *name, char *err, size_t errsz)
{
    ce_str_t s = { 0 };
    xmlNode *sec, *last, *defaults;
    int rc;

    ce_clear(err, errsz);
    if (name == NULL || !*name) {
        return ce_fail(err, errsz, WASP_EDIT_INVALID,
                       "an application pool needs a name: give /name:<pool name>");
    }
    if (ce_find_pool(ed, name) != NULL) {
        return ce_fail(err, errsz, WASP_EDIT_DUPLICATE,
                       "Failed to add duplicate collection element \"%s\".", name);
    }
    rc = ce_ensure_pools_section(ed, err, errsz);
    if (rc != WASP_EDIT_OK) {
        return rc;
    }
    ce_adds(&s, "<add name=\"");
    rc = ce_escape(&s, name, '"', err, errsz);
    ce_adds(&s, "\" />");
    if (rc == WASP_EDIT_OK) {
        sec = ce_section(ed, "applicationPools");
        last = ce_last_child(sec, "add");
        defaults = ce_child(sec, "applicationPoolDefaults");
        if (last != NULL) {
            rc = ce_insert_after(ed, last, s.p, err, errsz);
        } else if (defaults != NULL) {
            rc = ce_insert_before(ed, defaults, s.p, err, errsz);
        } else {
            rc = ce_append_child(ed, sec, s.p, err, errsz);
        }
    }
    free(s.p);
    return rc;
}

static int ce_unknown_attr(char *err, size_t errsz, const char *attr, const char *what)
{
    return ce_fail(err, errsz, WASP_EDIT_INVALID,
                   "Unknown attribute \"%s\".  Replace with -? for help; %s.", attr, what);
}

int wasp_config_edit_pool_set(wasp_config_edit_t *ed, const char *name, const char *attr,
                              const char *value, char *err, size_t errsz)
{
    const wasp_edit_attr_t *a = wasp_edit_pool_attr_find(attr);
    xmlNode *pool, *other;

    ce_clear(err, errsz);
    if (a == NULL) {
        return ce_unknown_attr(err, errsz, attr ? attr : "",
                               "waspctl list apppool NAME /text:* shows every attribute of a "
                               "pool");
    }
    pool = ce_find_pool(ed, name);
    if (pool == NULL) {
        return ce_fail(err, errsz, WASP_EDIT_NOT_FOUND,
                       "Cannot find APPPOOL object with identifier \"%s\".", name);
    }
    if (value == NULL) {
        value = "";
    }
    if (strcmp(a->name, "name") == 0) {
        other = ce_find_pool(ed, value);
        if (other != NULL && other != pool) {
            return ce_fail(err, errsz, WASP_EDIT_DUPLICATE,
                           "Failed to add duplicate collection element \"%s\".", value);
        }
    }
    return ce_set_path(ed, ce_find_pool, name, a->element, a->name, value, ce_pool_order, err,
                       errsz);
}

/* "Site/path" of every application whose pool (own attribute, else the
 * site's then <sites>' applicationDefaults) is the given one. */
static void ce_site_pool_users(const xmlNode *st, const char *d0, const char *pool,
                               ce_str_t *out, size_t *count)
{
    char *sname = ce_attr(st, "name");
    char *d1 = ce_attr(ce_child(st, "applicationDefaults"), "applicationPool");

    for (xmlNode *ap = st->children; ap != NULL; ap = ap->next) {
        char *own, *path;
        const char *eff;

        if (!ce_is(ap, "application")) {
            continue;
        }
        own = ce_attr(ap, "applicationPool");
        path = ce_attr(ap, "path");
        eff = own != NULL ? own : d1 != NULL ? d1 : d0;
        if (eff != NULL && strcasecmp(eff, pool) == 0) {
            ce_adds(out, *count ? ", \"" : "\"");
            ce_adds(out, sname != NULL ? sname : "");
            ce_adds(out, path != NULL ? path : "");
            ce_adds(out, "\"");
            (*count)++;
        }
        xmlFree(own);
        xmlFree(path);
    }
    xmlFree(sname);
    xmlFree(d1);
}

static size_t ce_pool_users(const struct wasp_config_edit *ed, const char *pool, ce_str_t *out)
{
    xmlNode *sites = ce_section(ed, "sites");
    char *d0 = ce_attr(ce_child(sites, "applicationDefaults"), "applicationPool");
    size_t count = 0;

    for (xmlNode *st = sites != NULL ? sites->children : NULL; st != NULL; st = st->next) {
        if (ce_is(st, "site")) {
            ce_site_pool_users(st, d0, pool, out, &count);
        }
    }
    xmlFree(d0);
    return count;
}

int wasp_config_edit_pool_delete(wasp_config_edit_t *ed, const char *name, char *warn,
                                 size_t warnsz, char *err, size_t errsz)
{
    xmlNode *pool;
    ce_str_t users = { 0 };
    size_t count;
    bool one;

    ce_clear(err, errsz);
    ce_clear(warn, warnsz);
    pool = ce_find_pool(ed, name);
    if (pool == NULL) {
        return ce_fail(err, errsz, WASP_EDIT_NOT_FOUND,
                       "Cannot find APPPOOL object with identifier \"%s\".", name);
    }
    /* IIS deletes a pool that is in use; say what that breaks. */
    count = ce_pool_users(ed, name, &users);
    one = count == 1;
    if (count > 0) {
        ce_fail(warn, warnsz, 0,
                "application pool \"%s\" is deleted, but %s %s still %s it; waspd ignores %s "
                "(a site whose root application is ignored is not started) until %s "
                "applicationPool names an existing pool: add the pool again, or change "
                "applicationPool in %s",
                name, one ? "application" : "applications", users.p, one ? "uses" : "use",
                one ? "that application" : "those applications", one ? "its" : "their",
                ed->path);
    }
    free(users.p);
    return ce_delete(ed, pool, err, errsz);
}

int wasp_config_edit_site_set(wasp_config_edit_t *ed, const char *site, const char *attr,
                              const char *value, char *err, size_t errsz)
{
    const wasp_edit_attr_t *a = wasp_edit_site_attr_find(attr);

    ce_clear(err, errsz);
    if (a == NULL) {
        return ce_unknown_attr(err, errsz, attr ? attr : "",
                               "a site has name, id, serverAutoStart and limits.*");
    }
    if (ce_find_site(ed, site) == NULL) {
        return ce_fail(err, errsz, WASP_EDIT_NOT_FOUND,
                       "Cannot find SITE object with identifier \"%s\".", site);
    }
    return ce_set_path(ed, ce_find_site, site, a->element, a->name, value ? value : "",
                       ce_site_order, err, errsz);
}

/* ---- any section (set config) ----------------------------------------------------- */

void wasp_config_edit_set_unchecked(wasp_config_edit_t *ed, bool unchecked)
{
    ed->unchecked = unchecked;
}

/* The first <location path="loc"> under <configuration>. */
static xmlNode *ce_location(const struct wasp_config_edit *ed, const char *loc)
{
    for (xmlNode *c = ce_root(ed)->children; c != NULL; c = c->next) {
        char *p = ce_is(c, "location") ? ce_attr(c, "path") : NULL;
        bool same = p != NULL && strcasecmp(p, loc) == 0;

        xmlFree(p);
        if (same) {
            return c;
        }
    }
    return NULL;
}

/* Walk location, then section, then element ('/'-separated paths) and
 * create the first missing piece.  *done is set when everything exists;
 * the node is then returned. */
static xmlNode *ce_walk(struct wasp_config_edit *ed, const char *loc, const char *section,
                        const char *element, bool *done, int *rc, char *err, size_t errsz)
{
    xmlNode *n = ce_root(ed);
    const char *paths[2] = { section, element };

    *done = false;
    *rc = WASP_EDIT_OK;
    if (loc != NULL) {
        xmlNode *l = ce_location(ed, loc);

        if (l == NULL) {
            ce_str_t t = { 0 };

            ce_adds(&t, "<location path=\"");
            *rc = ce_escape(&t, loc, '"', err, errsz);
            ce_adds(&t, "\" />");
            if (*rc == WASP_EDIT_OK) {
                *rc = ce_append_child(ed, n, t.p, err, errsz);
            }
            free(t.p);
            return NULL;
        }
        n = l;
    }
    for (int k = 0; k < 2; k++) {
        for (const char *seg = paths[k]; *seg;) {
            const char *end = strchrnul(seg, '/');
            char name[256];
            xmlNode *c;

            snprintf(name, sizeof(name), "%.*s", (int)(end - seg), seg);
            c = ce_child(n, name);
            if (c == NULL) {
                *rc = ce_add_child(ed, n, name, k == 0 && n == ce_root(ed) ? ce_root_order : NULL,
                                   err, errsz);
                return NULL;
            }
            n = c;
            seg = *end ? end + 1 : end;
        }
    }
    *done = true;
    return n;
}

/* The element, created when missing (the tree is re-read after each splice,
 * so the walk restarts after each creation). */
static xmlNode *ce_ensure(struct wasp_config_edit *ed, const char *loc, const char *section,
                          const char *element, int *rc, char *err, size_t errsz)
{
    for (int round = 0; round < 32; round++) {
        bool done;
        xmlNode *n = ce_walk(ed, loc, section, element, &done, rc, err, errsz);

        if (*rc != WASP_EDIT_OK || done) {
            return n;
        }
    }
    *rc = ce_fail(err, errsz, WASP_EDIT_ERROR,
                  "internal error: could not create <%s> in %s; nothing was changed", section,
                  ed->path);
    return NULL;
}

int wasp_config_edit_section_set(wasp_config_edit_t *ed, const char *location,
                                 const char *section, const char *element, const char *attr,
                                 const char *value, char *err, size_t errsz)
{
    int rc;
    xmlNode *n = ce_ensure(ed, location, section, element, &rc, err, errsz);

    return n == NULL ? rc : ce_set_attr(ed, n, attr, value, err, errsz);
}

/* <name a="v" ... /> as text. */
static int ce_item_text(ce_str_t *t, const char *name, const char *const *names,
                        const char *const *values, size_t n, char *err, size_t errsz)
{
    ce_adds(t, "<");
    ce_adds(t, name);
    for (size_t i = 0; i < n; i++) {
        int rc;

        ce_adds(t, " ");
        ce_adds(t, names[i]);
        ce_adds(t, "=\"");
        rc = ce_escape(t, values[i], '"', err, errsz);
        if (rc != WASP_EDIT_OK) {
            return rc;
        }
        ce_adds(t, "\"");
    }
    ce_adds(t, " />");
    return WASP_EDIT_OK;
}

int wasp_config_edit_section_add(wasp_config_edit_t *ed, const char *location,
                                 const char *section, const char *element, const char *item_name,
                                 const char *const *names, const char *const *values, size_t n,
                                 char *err, size_t errsz)
{
    int rc;
    xmlNode *coll = ce_ensure(ed, location, section, element, &rc, err, errsz);
    ce_str_t t = { 0 };

    if (coll == NULL) {
        return rc;
    }
    rc = ce_item_text(&t, item_name, names, values, n, err, errsz);
    if (rc == WASP_EDIT_OK) {
        rc = ce_append_child(ed, coll, t.p, err, errsz);
    }
    free(t.p);
    return rc;
}

static bool ce_item_matches(const xmlNode *c, const char *const *names,
                            const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!ce_attr_is(c, names[i], values[i])) {
            return false;
        }
    }
    return true;
}

int wasp_config_edit_section_remove(wasp_config_edit_t *ed, const char *location,
                                    const char *section, const char *element,
                                    const char *remove_name, const char *const *names,
                                    const char *const *values, size_t n, char *err,
                                    size_t errsz)
{
    int rc;
    xmlNode *coll = ce_ensure(ed, location, section, element, &rc, err, errsz);
    ce_str_t t = { 0 };

    if (coll == NULL) {
        return rc;
    }
    for (xmlNode *c = coll->children; c != NULL; c = c->next) {
        if (ce_plain(c) && !ce_is(c, remove_name) && !ce_is(c, "clear") &&
            ce_item_matches(c, names, values, n)) {
            return ce_delete(ed, c, err, errsz);
        }
    }
    rc = ce_item_text(&t, remove_name, names, values, n, err, errsz);
    if (rc == WASP_EDIT_OK) {
        rc = ce_append_child(ed, coll, t.p, err, errsz);
    }
    free(t.p);
    return rc;
}

int wasp_config_edit_section_item_set(wasp_config_edit_t *ed, const char *location,
                                      const char *section, const char *element,
                                      const char *item_name, const char *const *names,
                                      const char *const *values, size_t n, const char *attr,
                                      const char *value, char *err, size_t errsz)
{
    int rc;
    xmlNode *coll = ce_ensure(ed, location, section, element, &rc, err, errsz);

    if (coll == NULL) {
        return rc;
    }
    for (xmlNode *c = coll->children; c != NULL; c = c->next) {
        if (ce_plain(c) && ce_is(c, item_name) && ce_item_matches(c, names, values, n)) {
            return ce_set_attr(ed, c, attr, value, err, errsz);
        }
    }
    return ce_fail(err, errsz, WASP_EDIT_NOT_FOUND, "Cannot find requested collection element.");
}

bool wasp_config_edit_changed(const wasp_config_edit_t *ed)
{
    return ed != NULL && ed->changed;
}

const char *wasp_config_edit_text(const wasp_config_edit_t *ed, size_t *len)
{
    if (len != NULL) {
        *len = ed->len;
    }
    return ed->buf;
}

static int ce_write_all(int fd, const char *b, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, b, len);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        b += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Write the text to fd with the original's mode and owner, durably. */
static int ce_write_tmp(struct wasp_config_edit *ed, int fd, const char *tmp, char *err,
                        size_t errsz)
{
    struct stat ts;

    if (ce_write_all(fd, ed->buf, ed->len) != 0) {
        return ce_fail(err, errsz, WASP_EDIT_ERROR,
                       "cannot save %s: writing %s failed: %s; %s is unchanged", ed->path, tmp,
                       strerror(errno), ed->path);
    }
    if (fchmod(fd, ed->st.st_mode & 07777) != 0 || fstat(fd, &ts) != 0) {
        return ce_fail(err, errsz, WASP_EDIT_ERROR, "cannot save %s: fchmod: %s", ed->path,
                       strerror(errno));
    }
    if ((ts.st_uid != ed->st.st_uid || ts.st_gid != ed->st.st_gid) &&
        fchown(fd, ed->st.st_uid, ed->st.st_gid) != 0) {
        return ce_fail(err, errsz, WASP_EDIT_ERROR,
                       "cannot save %s with its owner %u:%u (%s); run waspctl as root or as "
                       "the owner of the file. %s is unchanged",
                       ed->path, (unsigned)ed->st.st_uid, (unsigned)ed->st.st_gid,
                       strerror(errno), ed->path);
    }
    if (fsync(fd) != 0) {
        return ce_fail(err, errsz, WASP_EDIT_ERROR, "cannot save %s: fsync: %s", ed->path,
                       strerror(errno));
    }
    return WASP_EDIT_OK;
}

/* The loader's verdict on the temporary file, told about the real one. */
static int ce_validate(struct wasp_config_edit *ed, const char *tmp, char *err, size_t errsz)
{
    wasp_diag_t d;
    /* Messages name the real file, also inside the sentence.  Encrypted
     * values are checked as far as the key is not needed: a Windows
     * provider's value, which waspd would refuse, is refused here. */
    wasp_config_t *cfg = wasp_config_load_as(tmp, ed->path, WASP_CONFIG_CHECK_ENCRYPTED, &d);
    char buf[2048];

    if (cfg != NULL) {
        wasp_config_free(cfg);
        return WASP_EDIT_OK;
    }
    if (strcmp(d.file, tmp) == 0) {
        snprintf(d.file, sizeof(d.file), "%s", ed->path);
    }
    return ce_fail(err, errsz, WASP_EDIT_ERROR,
                   "the change was refused because waspd could not load the result: %s. %s is "
                   "unchanged",
                   wasp_diag_format(&d, buf, sizeof(buf)), ed->path);
}

static void ce_sync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
}

int wasp_config_edit_commit(wasp_config_edit_t *ed, char *err, size_t errsz)
{
    char dirbuf[PATH_MAX], basebuf[PATH_MAX], tmp[PATH_MAX + 64];
    const char *dir, *base;
    int fd, rc;

    ce_clear(err, errsz);
    if (!ed->changed) {
        return WASP_EDIT_OK;
    }
    snprintf(dirbuf, sizeof(dirbuf), "%s", ed->real);
    snprintf(basebuf, sizeof(basebuf), "%s", ed->real);
    dir = dirname(dirbuf);
    base = basename(basebuf);
    /* Same directory: rename() is atomic only within a file system, and
     * relative paths in the file resolve the same way during the check. */
    snprintf(tmp, sizeof(tmp), "%s/.%s.waspctl-XXXXXX", dir, base);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        return ce_fail(err, errsz, WASP_EDIT_ERROR,
                       "cannot save %s: creating a temporary file in %s failed: %s; waspctl "
                       "needs write access to that directory (run it as root or as the owner "
                       "of %s)",
                       ed->path, dir, strerror(errno), ed->path);
    }
    rc = ce_write_tmp(ed, fd, tmp, err, errsz);
    if (rc == WASP_EDIT_OK && !ed->unchecked) {
        rc = ce_validate(ed, tmp, err, errsz);
    }
    /* Lock the new file before it gets the name, so the next editor waits
     * for us on it (see ce_lock). */
    if (rc == WASP_EDIT_OK && flock(fd, LOCK_EX) != 0) {
        rc = ce_fail(err, errsz, WASP_EDIT_ERROR, "cannot lock %s: %s", tmp, strerror(errno));
    }
    if (rc == WASP_EDIT_OK && rename(tmp, ed->real) != 0) {
        rc = ce_fail(err, errsz, WASP_EDIT_ERROR,
                     "cannot save %s: renaming %s over it failed: %s; %s is unchanged", ed->path,
                     tmp, strerror(errno), ed->path);
    }
    if (rc != WASP_EDIT_OK) {
        unlink(tmp);
        close(fd);
        return rc;
    }
    ce_sync_dir(dir);
    close(ed->lock_fd);
    ed->lock_fd = fd;
    ed->changed = false;
    return WASP_EDIT_OK;
}

void wasp_config_edit_free(wasp_config_edit_t *ed)
{
    if (ed == NULL) {
        return;
    }
    if (ed->lock_fd >= 0) {
        close(ed->lock_fd);
    }
    if (ed->doc != NULL) {
        xmlFreeDoc(ed->doc);
    }
    free(ed->spans);
    free(ed->buf);
    free(ed->path);
    free(ed->real);
    free(ed);
}
