/*
 * XML reader: one configuration file → a tree of cfg_node_t that remembers
 * the file and line of every element and attribute.
 *
 * libxml2 does the parsing, with the network and DTDs off (XML_PARSE_NONET,
 * no DTD loading, no entity substitution; a document with a DOCTYPE is
 * refused), so a configuration file can neither reach out nor expand into
 * something huge.  libxml2 keeps no line numbers for attributes and gives an
 * element the line where its start tag ENDS, so a small lexer walks the same
 * bytes in parallel and finds the line of each start tag's '<' and of each
 * attribute: "queueLength is out of range" then points at the line that says
 * queueLength, even in a start tag written over several lines.  If the two
 * ever disagree (say, a UTF-16 file), the lexer steps aside and libxml2's
 * element lines are used.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "config/cfg_internal.h"

#define CFG_MAX_FILE_SIZE (64u * 1024u * 1024u)
#define CFG_LEX_MAX_ATTRS 64

/* ---- start-tag lexer ------------------------------------------------------ */

typedef struct cfg_lex_attr {
    const char *name;
    size_t len;
    int line;
} cfg_lex_attr_t;

typedef struct cfg_lex {
    const char *p, *end;
    int line;
    bool ok;
    /* the current start tag */
    const char *name;
    size_t name_len;
    int tag_line;
    cfg_lex_attr_t attrs[CFG_LEX_MAX_ATTRS];
    size_t attr_count;
} cfg_lex_t;

static bool cfg_lex_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Advance to just after the first occurrence of term, counting lines. */
static bool cfg_lex_skip_past(cfg_lex_t *lx, const char *term)
{
    size_t tl = strlen(term);
    while (lx->p < lx->end) {
        if ((size_t)(lx->end - lx->p) >= tl && memcmp(lx->p, term, tl) == 0) {
            lx->p += tl;
            return true;
        }
        if (*lx->p == '\n')
            lx->line++;
        lx->p++;
    }
    return false;
}

static bool cfg_lex_starts(const cfg_lex_t *lx, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(lx->end - lx->p) >= n && memcmp(lx->p, s, n) == 0;
}

/* Find the next start tag in document order; false at the end or on
 * anything the lexer does not understand. */
static bool cfg_lex_next(cfg_lex_t *lx)
{
    for (;;) {
        while (lx->p < lx->end && *lx->p != '<') {
            if (*lx->p == '\n')
                lx->line++;
            lx->p++;
        }
        if (lx->p >= lx->end)
            return false;
        if (cfg_lex_starts(lx, "<!--")) {
            if (!cfg_lex_skip_past(lx, "-->"))
                return false;
        } else if (cfg_lex_starts(lx, "<![CDATA[")) {
            if (!cfg_lex_skip_past(lx, "]]>"))
                return false;
        } else if (cfg_lex_starts(lx, "<?")) {
            if (!cfg_lex_skip_past(lx, "?>"))
                return false;
        } else if (cfg_lex_starts(lx, "<!") || cfg_lex_starts(lx, "</")) {
            if (!cfg_lex_skip_past(lx, ">"))
                return false;
        } else {
            break;
        }
    }
    lx->tag_line = lx->line;
    lx->p++;
    lx->name = lx->p;
    while (lx->p < lx->end && !cfg_lex_space(*lx->p) && *lx->p != '/' && *lx->p != '>')
        lx->p++;
    lx->name_len = (size_t)(lx->p - lx->name);
    lx->attr_count = 0;
    for (;;) {
        while (lx->p < lx->end && cfg_lex_space(*lx->p)) {
            if (*lx->p == '\n')
                lx->line++;
            lx->p++;
        }
        if (lx->p >= lx->end)
            return false;
        if (*lx->p == '>') {
            lx->p++;
            return true;
        }
        if (*lx->p == '/') {
            lx->p++;
            continue;
        }
        const char *an = lx->p;
        int aline = lx->line;
        while (lx->p < lx->end && !cfg_lex_space(*lx->p) && *lx->p != '=' && *lx->p != '>')
            lx->p++;
        size_t alen = (size_t)(lx->p - an);
        while (lx->p < lx->end && cfg_lex_space(*lx->p)) {
            if (*lx->p == '\n')
                lx->line++;
            lx->p++;
        }
        if (lx->p >= lx->end || *lx->p != '=')
            return false;
        lx->p++;
        while (lx->p < lx->end && cfg_lex_space(*lx->p)) {
            if (*lx->p == '\n')
                lx->line++;
            lx->p++;
        }
        if (lx->p >= lx->end || (*lx->p != '"' && *lx->p != '\''))
            return false;
        char q = *lx->p++;
        while (lx->p < lx->end && *lx->p != q) {
            if (*lx->p == '\n')
                lx->line++;
            lx->p++;
        }
        if (lx->p >= lx->end)
            return false;
        lx->p++;
        if (lx->attr_count < CFG_LEX_MAX_ATTRS)
            lx->attrs[lx->attr_count++] = (cfg_lex_attr_t){ an, alen, aline };
    }
}

/* ---- libxml2 tree → cfg_node_t tree ---------------------------------------- */

typedef struct cfg_xml_ctx {
    cfg_arena_t *arena;
    const char *file;
    cfg_lex_t lex;
} cfg_xml_ctx_t;

static const char *cfg_qname(cfg_arena_t *a, const xmlNs *ns, const xmlChar *name)
{
    if (ns && ns->prefix)
        return cfg_arena_printf(a, "%s:%s", (const char *)ns->prefix, (const char *)name);
    return cfg_arena_strdup(a, (const char *)name);
}

static cfg_node_t *cfg_xml_convert(cfg_xml_ctx_t *x, xmlNode *el)
{
    cfg_arena_t *a = x->arena;
    cfg_node_t *n = cfg_arena_alloc(a, sizeof(*n));
    wasp_section_t *s = &n->pub;
    s->name = (char *)cfg_qname(a, el->ns, el->name);
    s->file = x->file;
    s->line = (int)xmlGetLineNo(el);

    if (x->lex.ok) {
        if (cfg_lex_next(&x->lex) && x->lex.name_len == strlen(s->name) &&
            memcmp(x->lex.name, s->name, x->lex.name_len) == 0)
            s->line = x->lex.tag_line;
        else
            x->lex.ok = false;
    }

    size_t na = 0;
    for (xmlAttr *at = el->properties; at; at = at->next)
        na++;
    if (na) {
        s->attrs = cfg_arena_alloc(a, na * sizeof(*s->attrs));
        for (xmlAttr *at = el->properties; at; at = at->next) {
            wasp_attr_t *wa = &s->attrs[s->attr_count++];
            wa->name = (char *)cfg_qname(a, at->ns, at->name);
            xmlChar *v = xmlNodeGetContent((xmlNode *)at);
            wa->value = cfg_arena_strdup(a, v ? (const char *)v : "");
            xmlFree(v);
            wa->line = s->line;
            if (x->lex.ok) {
                size_t len = strlen(wa->name);
                for (size_t i = 0; i < x->lex.attr_count; i++) {
                    if (x->lex.attrs[i].len == len &&
                        memcmp(x->lex.attrs[i].name, wa->name, len) == 0) {
                        wa->line = x->lex.attrs[i].line;
                        break;
                    }
                }
            }
        }
    }

    size_t nc = 0;
    for (xmlNode *c = el->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            nc++;
    if (nc) {
        s->children = cfg_arena_alloc(a, nc * sizeof(*s->children));
        for (xmlNode *c = el->children; c; c = c->next)
            if (c->type == XML_ELEMENT_NODE)
                s->children[s->child_count++] = &cfg_xml_convert(x, c)->pub;
    }
    return n;
}

/* ---- libxml2 error capture ------------------------------------------------- */

typedef struct cfg_xml_err {
    bool have;
    int line, column;
    char message[512];
} cfg_xml_err_t;

static void cfg_xml_error_cb(void *ctx, xmlErrorPtr e)
{
    cfg_xml_err_t *err = ctx;
    /* Keep the first real error: later ones are usually consequences, and
     * namespace complaints (an undeclared prefix) do not stop wasp. */
    if (err->have || !e || e->level < XML_ERR_ERROR || e->domain == XML_FROM_NAMESPACE)
        return;
    err->have = true;
    err->line = e->line;
    err->column = e->int2;
    snprintf(err->message, sizeof(err->message), "%s", e->message ? e->message : "error");
    size_t n = strlen(err->message);
    while (n && (err->message[n - 1] == '\n' || err->message[n - 1] == ' '))
        err->message[--n] = '\0';
}

int cfg_read_file(const char *path, char **buf, size_t *len, wasp_diag_t *diag)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cfg_diag(diag, path, 0, "cannot open the configuration file: %s; check the path and that "
                 "the user wasp runs as may read it", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cfg_diag(diag, path, 0, "not a regular file; give the path of applicationHost.config");
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > CFG_MAX_FILE_SIZE) {
        cfg_diag(diag, path, 0, "the file is %lld bytes, more than the %u bytes a configuration "
                 "file may have", (long long)st.st_size, CFG_MAX_FILE_SIZE);
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    char *b = malloc(size + 1);
    if (!b) {
        cfg_diag(diag, path, 0, "out of memory reading the file");
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, b + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            cfg_diag(diag, path, 0, "cannot read the configuration file: %s",
                     r < 0 ? strerror(errno) : "it shrank while being read");
            free(b);
            close(fd);
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    b[size] = '\0';
    *buf = b;
    *len = size;
    return 0;
}

cfg_node_t *cfg_xml_parse_mem(cfg_arena_t *arena, const char *file, const char *buf, size_t len,
                              const char *what, wasp_diag_t *diag)
{
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        cfg_diag(diag, file, 0, "out of memory creating the XML parser");
        return NULL;
    }
    cfg_xml_err_t err = { 0 };
    xmlSetStructuredErrorFunc(&err, cfg_xml_error_cb);
    /* No XML_PARSE_NOENT / DTDLOAD / DTDATTR: entities stay unexpanded and
     * nothing outside the file is ever read. */
    int opts = XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOCDATA;
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, buf, (int)len, file, NULL, opts);
    xmlSetStructuredErrorFunc(NULL, NULL);

    cfg_node_t *root = NULL;
    if (!doc || !ctxt->wellFormed) {
        if (err.have)
            cfg_diag(diag, file, err.line,
                     "%s: %s (column %d). Fix the XML syntax at this line or just before it: "
                     "every element closed, attribute values quoted, '<' and '&' in values "
                     "written as &lt; and &amp;",
                     what, err.message, err.column);
        else
            cfg_diag(diag, file, 0, "%s; the file could not be parsed", what);
        goto out;
    }
    if (doc->intSubset || doc->extSubset) {
        xmlDtdPtr dtd = doc->intSubset ? doc->intSubset : doc->extSubset;
        cfg_diag(diag, file, (int)xmlGetLineNo((xmlNode *)dtd),
                 "a <!DOCTYPE> declaration is not allowed in a configuration file (entities and "
                 "DTDs are refused for safety); remove it");
        goto out;
    }
    xmlNode *el = xmlDocGetRootElement(doc);
    if (!el) {
        cfg_diag(diag, file, 0, "%s: the file has no root element", what);
        goto out;
    }
    cfg_xml_ctx_t x = { .arena = arena, .file = file };
    x.lex.p = buf;
    x.lex.end = buf + len;
    x.lex.line = 1;
    x.lex.ok = true;
    root = cfg_xml_convert(&x, el);
out:
    if (doc)
        xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return root;
}

int cfg_xml_read(wasp_config_t *cfg, const char *path, wasp_diag_t *diag)
{
    char *buf;
    size_t len;
    if (cfg_read_file(path, &buf, &len, diag) != 0)
        return -1;
    cfg_node_t *root = cfg_xml_parse_mem(&cfg->arena, cfg->path, buf, len, "malformed XML", diag);
    free(buf);
    if (!root) {
        /* Messages name the file as given; the display path is put back by
         * the caller when it differs. */
        snprintf(diag->file, sizeof(diag->file), "%s", path);
        return -1;
    }
    if (strcmp(root->pub.name, "configuration") != 0) {
        cfg_diag(diag, path, root->pub.line,
                 "the root element is <%s>, but a configuration file must have <configuration> "
                 "as its root element",
                 root->pub.name);
        return -1;
    }
    cfg->root = root;
    return 0;
}

int cfg_xml_parse_buf(cfg_arena_t *arena, const char *buf, size_t len, const char *path,
                      const char *file, const char *root_name, const char *what,
                      cfg_node_t **root_out, wasp_diag_t *diag)
{
    cfg_node_t *root = cfg_xml_parse_mem(arena, file, buf, len, "malformed XML", diag);
    if (!root) {
        snprintf(diag->file, sizeof(diag->file), "%s", path);
        return -1;
    }
    if (strcmp(root->pub.name, root_name) != 0) {
        cfg_diag(diag, path, root->pub.line,
                 "the root element is <%s>, but %s must have <%s> as its root element",
                 root->pub.name, what, root_name);
        return -1;
    }
    *root_out = root;
    return 0;
}

int cfg_xml_parse(cfg_arena_t *arena, const char *path, const char *file, const char *root_name,
                  const char *what, cfg_node_t **root_out, wasp_diag_t *diag)
{
    char *buf;
    size_t len;
    if (cfg_read_file(path, &buf, &len, diag) != 0)
        return -1;
    int rc = cfg_xml_parse_buf(arena, buf, len, path, file, root_name, what, root_out, diag);
    free(buf);
    return rc;
}
