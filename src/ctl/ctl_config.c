/*
 * list config / set config: any configuration section at any config path
 * (iis-hosting.md 7.2-7.5).
 *
 *   waspctl list config ["Site/path"] -section:NAME [/text:ATTR|/text:*] [/xml]
 *   waspctl set config ["Site/path"] -section:NAME [/attr:v] [/child.attr:v]
 *           [/+"[key='v',attr='v2']"] [/+child.[key='v']] [/-"[key='v']"]
 *           [/"[key='v'].attr:v"] [/commit:apphost|site|app|parent|url|PATH]
 *
 * Both read the files themselves, online or not, as appcmd does: the files
 * are the configuration (iis-hosting.md 6.1: there is no configuration
 * service), and the effective section is computed by the same code the
 * worker uses (wasp_webcfg_*), so what list prints is what a request at
 * that path sees, web.config files and locks included.  A web.config change
 * reaches a running waspd's workers through their inotify watches; an
 * applicationHost.config change is followed by a reload over the control
 * socket, as set apppool does.
 *
 * Writes go through config_edit, so every byte the change does not concern
 * stays as it was.  The default commit level is the path being edited
 * (appcmd's "url"): the web.config of that URL's directory, created when
 * missing; the server level and /commit:apphost write applicationHost.config
 * (inside <location path="Site/path"> below the server level); site and app
 * write the web.config of the site's or application's root, inside a
 * <location path="rest"> when the edited path lies below it.  After the
 * write the edited path is looked up again with the web.config code: a
 * result that does not load there (a lock violation, a bad value, a
 * duplicate item) is refused with the configuration system's message and
 * the file is put back as it was (removed when waspctl created it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_edit.h"
#include "config/schema.h"
#include "ctl/ctl.h"

#define CC_APPHOST "MACHINE/WEBROOT/APPHOST"

/* The config path, split: site NULL = the server level. */
typedef struct cc_path {
    char site[512];
    char url[2048]; /* "/" or "/a/b", no trailing '/' */
    bool server;
} cc_path_t;

static void cc_parse_path(const char *id, cc_path_t *p)
{
    const char *s = id != NULL ? id : "";
    size_t n;

    memset(p, 0, sizeof(*p));
    if (strncasecmp(s, CC_APPHOST, strlen(CC_APPHOST)) == 0 &&
        (s[strlen(CC_APPHOST)] == '\0' || s[strlen(CC_APPHOST)] == '/')) {
        s += strlen(CC_APPHOST);
        s += *s == '/';
    }
    if (*s == '\0') {
        p->server = true;
        strcpy(p->url, "/");
        return;
    }
    n = strcspn(s, "/");
    snprintf(p->site, sizeof(p->site), "%.*s", (int)n, s);
    snprintf(p->url, sizeof(p->url), "/%s", s[n] == '/' ? s + n + 1 : "");
    n = strlen(p->url);
    while (n > 1 && p->url[n - 1] == '/') {
        p->url[--n] = '\0';
    }
}

/* "MACHINE/WEBROOT/APPHOST[/Site[/path]]" as appcmd names a level. */
static void cc_config_path(const cc_path_t *p, char *buf, size_t size)
{
    if (p->server) {
        snprintf(buf, size, CC_APPHOST);
    } else {
        snprintf(buf, size, CC_APPHOST "/%s%s", p->site, strcmp(p->url, "/") == 0 ? "" : p->url);
    }
}

/* The section's full name: exact (any case), else a unique last part
 * ("defaultDocument"); NULL when unknown. */
static const char *cc_section(const cfg_schema_t *schema, wasp_config_t *cfg, const char *name)
{
    const cfg_section_schema_t *s = cfg_schema_section(schema, name), *hit = NULL;
    size_t hits = 0;

    if (s != NULL) {
        return s->name;
    }
    if (cfg != NULL && wasp_config_section_known(cfg, name)) {
        return name;
    }
    for (s = cfg_schema_first_section(schema); s != NULL; s = s->next) {
        const char *slash = strrchr(s->name, '/');

        if (strcasecmp(slash != NULL ? slash + 1 : s->name, name) == 0) {
            hit = s;
            hits++;
        }
    }
    return hits == 1 ? hit->name : NULL;
}

/* Everything both commands start with: the file, the path, the section. */
typedef struct cc_ctx {
    wasp_config_t *cfg;
    const cfg_schema_t *schema;
    const char *section;
    cc_path_t path;
    const wasp_site_cfg_t *site;
} cc_ctx_t;

static int cc_open(ctl_cmd_t *cmd, cc_ctx_t *c)
{
    wasp_diag_t d;
    char buf[2048];
    const char *name = ctl_param_value(cmd, "section");

    memset(c, 0, sizeof(*c));
    c->schema = cfg_schema_builtin(&d);
    if (c->schema == NULL) {
        return ctl_error(CTL_EXIT_FAILED, "%s", wasp_diag_format(&d, buf, sizeof(buf)));
    }
    c->cfg = wasp_config_load(cmd->config, &d);
    if (c->cfg == NULL) {
        return ctl_error(CTL_EXIT_FAILED, "%s", wasp_diag_format(&d, buf, sizeof(buf)));
    }
    if (name == NULL || *name == '\0') {
        return ctl_error(CTL_EXIT_USAGE,
                         "Must specify the section with -section:NAME (e.g. "
                         "-section:system.webServer/defaultDocument).");
    }
    c->section = cc_section(c->schema, c->cfg, name);
    if (c->section == NULL) {
        return ctl_error(CTL_EXIT_NOT_FOUND, "Unknown config section \"%s\".", name);
    }
    cc_parse_path(cmd->id, &c->path);
    if (!c->path.server) {
        c->site = wasp_config_find_site(c->cfg, c->path.site);
        if (c->site == NULL) {
            return ctl_error(CTL_EXIT_NOT_FOUND,
                             "Cannot find SITE object with identifier \"%s\".", c->path.site);
        }
    }
    return CTL_EXIT_OK;
}

static void cc_close(cc_ctx_t *c)
{
    if (c->cfg != NULL) {
        wasp_config_free(c->cfg);
    }
}

/* The configuration error at the path, as the worker would report it. */
static int cc_config_error(const wasp_config_error_t *e)
{
    if (e->line > 0) {
        return ctl_error(CTL_EXIT_FAILED, "%s:%d: %s", e->file, e->line, e->message);
    }
    return ctl_error(CTL_EXIT_FAILED, "%s: %s", e->file, e->message);
}

/* ---- list config -------------------------------------------------------------------- */

static void cc_indent(int depth, int step)
{
    for (int i = 0; i < depth * step; i++) {
        putchar(' ');
    }
}

static void cc_escaped(const char *v)
{
    for (; *v; v++) {
        switch (*v) {
        case '&': fputs("&amp;", stdout); break;
        case '<': fputs("&lt;", stdout); break;
        case '>': fputs("&gt;", stdout); break;
        case '"': fputs("&quot;", stdout); break;
        default: putchar(*v);
        }
    }
}

/* An element with its attributes, collection items and child elements. */
static void cc_print_node(const wasp_section_t *n, const char *name, int depth, int step)
{
    cc_indent(depth, step);
    printf("<%s", name);
    for (size_t i = 0; i < n->attr_count; i++) {
        printf(" %s=\"", n->attrs[i].name);
        cc_escaped(n->attrs[i].value);
        putchar('"');
    }
    if (n->item_count == 0 && n->child_count == 0) {
        puts(" />");
        return;
    }
    puts(">");
    for (size_t i = 0; i < n->item_count; i++) {
        cc_print_node(n->items[i], n->items[i]->name, depth + 1, step);
    }
    for (size_t i = 0; i < n->child_count; i++) {
        cc_print_node(n->children[i], n->children[i]->name, depth + 1, step);
    }
    cc_indent(depth, step);
    printf("</%s>\n", name);
}

/* The section as appcmd's text mode prints it: inside its section groups,
 * two spaces a level. */
static void cc_print_text(const char *section, const wasp_section_t *s)
{
    static const wasp_section_t empty = { 0 };
    const char *p = section;
    int depth = 0;

    for (const char *slash; (slash = strchr(p, '/')) != NULL; p = slash + 1, depth++) {
        cc_indent(depth, 2);
        printf("<%.*s>\n", (int)(slash - p), p);
    }
    cc_print_node(s != NULL ? s : &empty, p, depth, 2);
    while (depth-- > 0) {
        const char *start = section;

        for (int i = 0; i < depth; i++) {
            start = strchr(start, '/') + 1;
        }
        cc_indent(depth, 2);
        printf("</%.*s>\n", (int)strcspn(start, "/"), start);
    }
}

/* /xml: the CONFIG object with the section as an element named after its
 * path ("system.webServer-defaultDocument"). */
static void cc_print_xml(const cc_ctx_t *c, const wasp_section_t *s)
{
    static const wasp_section_t empty = { 0 };
    char path[2600], name[512];

    cc_config_path(&c->path, path, sizeof(path));
    snprintf(name, sizeof(name), "%s", c->section);
    for (char *q = name; *q; q++) {
        *q = *q == '/' ? '-' : *q;
    }
    puts("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<appcmd>");
    printf("    <CONFIG CONFIG.SECTION=\"%s\" path=\"", c->section);
    cc_escaped(path);
    puts("\">");
    cc_print_node(s != NULL ? s : &empty, name, 2, 4);
    puts("    </CONFIG>\n</appcmd>");
}

/* /text:ATTR: the attribute's effective value (the schema default when the
 * section does not set it). */
static int cc_print_attr(const cc_ctx_t *c, const wasp_section_t *s, const char *attr)
{
    const cfg_attr_schema_t *a;

    for (size_t i = 0; s != NULL && i < s->attr_count; i++) {
        if (strcasecmp(s->attrs[i].name, attr) == 0) {
            puts(s->attrs[i].value);
            return CTL_EXIT_OK;
        }
    }
    a = cfg_schema_find_attr(c->schema, c->section, "", attr);
    if (a == NULL) {
        return ctl_error(CTL_EXIT_NOT_FOUND, "Unknown attribute \"%s\" of section \"%s\".", attr,
                         c->section);
    }
    puts(cfg_schema_attr_default(a));
    return CTL_EXIT_OK;
}

/* appcmd's detail view of an element: [name], its attr:"value" lines, then
 * its collection items and child elements, two spaces deeper a level. */
static void cc_print_detail_node(const wasp_section_t *n, const char *name, int indent)
{
    printf("%*s[%s]\n", indent, "", name);
    for (size_t i = 0; i < n->attr_count; i++) {
        printf("%*s%s:\"%s\"\n", indent + 2, "", n->attrs[i].name, n->attrs[i].value);
    }
    for (size_t i = 0; i < n->item_count; i++) {
        cc_print_detail_node(n->items[i], n->items[i]->name, indent + 2);
    }
    for (size_t i = 0; i < n->child_count; i++) {
        cc_print_detail_node(n->children[i], n->children[i]->name, indent + 2);
    }
}

/* /text:*: the CONFIG object as appcmd's detail view shows objects (the
 * identity properties of /xml, then the section's element tree). */
static void cc_print_detail(const cc_ctx_t *c, const wasp_section_t *s)
{
    static const wasp_section_t empty = { 0 };
    const char *slash = strrchr(c->section, '/');
    char path[2600];

    cc_config_path(&c->path, path, sizeof(path));
    printf("CONFIG\n  CONFIG.SECTION:\"%s\"\n  path:\"%s\"\n", c->section, path);
    cc_print_detail_node(s != NULL ? s : &empty, slash != NULL ? slash + 1 : c->section, 2);
}

int ctl_list_config(ctl_cmd_t *cmd)
{
    cc_ctx_t c;
    int rc = cc_open(cmd, &c);
    const char *text = ctl_param_value(cmd, "text");
    wasp_webcfg_t *wc;
    wasp_dircfg_t *dc;
    const wasp_config_error_t *e;
    const wasp_section_t *s;

    if (rc != CTL_EXIT_OK) {
        cc_close(&c);
        return rc;
    }
    wc = wasp_webcfg_new(c.cfg, 4, NULL, NULL);
    dc = wasp_webcfg_lookup(wc, c.site, c.path.url);
    e = wasp_dircfg_error(dc);
    s = wasp_dircfg_section(dc, c.section);
    if (e != NULL) {
        rc = cc_config_error(e);
    } else if (ctl_param(cmd, "xml") != NULL) {
        cc_print_xml(&c, s);
    } else if (text != NULL && strcmp(text, "*") == 0) {
        cc_print_detail(&c, s);
    } else if (text != NULL && *text) {
        rc = cc_print_attr(&c, s, text);
    } else {
        cc_print_text(c.section, s);
    }
    wasp_dircfg_release(dc);
    wasp_webcfg_free(wc);
    cc_close(&c);
    return rc;
}

/* ---- set config --------------------------------------------------------------------- */

/* Where the change goes. */
typedef struct cc_target {
    char file[4096];
    char location[2600]; /* "" = the file's own level */
    char commit_path[2600]; /* appcmd's name for the level written */
    bool apphost;
} cc_target_t;

/* The physical directory of url (site's vdir mapping). */
static int cc_dir(const cc_ctx_t *c, const char *url, char *dir, size_t size)
{
    const wasp_app_cfg_t *app;
    const wasp_vdir_cfg_t *vdir;

    if (wasp_config_map_url(c->cfg, c->site, url, &app, &vdir, dir, size) != 0) {
        return ctl_error(CTL_EXIT_NOT_FOUND,
                         "The path \"%s%s\" of site \"%s\" is in no application: there is no "
                         "web.config level to write; use /commit:apphost.",
                         c->site->name, url, c->site->name);
    }
    return CTL_EXIT_OK;
}

/* url (no trailing '/') lies at or below base: the rest, without a leading
 * '/', in rest. */
static bool cc_below(const char *url, const char *base, const char **rest)
{
    size_t n = strlen(base);

    if (strcmp(base, "/") == 0) {
        *rest = url + 1;
        return true;
    }
    if (strncasecmp(url, base, n) != 0 || (url[n] != '\0' && url[n] != '/')) {
        return false;
    }
    *rest = url[n] == '/' ? url + n + 1 : url + n;
    return true;
}

static int cc_target(ctl_cmd_t *cmd, const cc_ctx_t *c, cc_target_t *t)
{
    const char *commit = ctl_param_value(cmd, "commit");
    char base[2048], dir[4096];
    const char *rest;
    cc_path_t cp;
    size_t n;

    memset(t, 0, sizeof(*t));
    if (commit == NULL || strcasecmp(commit, "url") == 0) {
        commit = "";
    }
    if (strcasecmp(commit, "webroot") == 0 || strcasecmp(commit, "machine") == 0 ||
        strcasecmp(commit, "MACHINE/WEBROOT") == 0 || strcasecmp(commit, "MACHINE") == 0) {
        /* The .NET Framework's root web.config and machine.config: files
         * of Windows' .NET installation, which wasp does not have. */
        return ctl_error(CTL_EXIT_USAGE,
                         "Cannot commit to \"%s\": wasp has no %s (the .NET Framework's file "
                         "on Windows); use /commit:apphost for the server level.",
                         commit,
                         strncasecmp(commit, "machine", 7) == 0 && strlen(commit) == 7
                             ? "machine.config"
                             : "root web.config");
    }
    /* parent: the level above the path being edited (applicationHost.config
     * above a site's root). */
    if (strcasecmp(commit, "parent") == 0 && !c->path.server &&
        strcmp(c->path.url, "/") == 0) {
        commit = "apphost";
    }
    if (c->path.server || strcasecmp(commit, "apphost") == 0 ||
        strcasecmp(commit, CC_APPHOST) == 0) {
        t->apphost = true;
        snprintf(t->file, sizeof(t->file), "%s", cmd->config);
        if (!c->path.server) {
            snprintf(t->location, sizeof(t->location), "%s%s", c->path.site,
                     strcmp(c->path.url, "/") == 0 ? "" : c->path.url);
        }
        snprintf(t->commit_path, sizeof(t->commit_path), CC_APPHOST);
        return CTL_EXIT_OK;
    }
    if (*commit == '\0') {
        snprintf(base, sizeof(base), "%s", c->path.url);
    } else if (strcasecmp(commit, "site") == 0) {
        strcpy(base, "/");
    } else if (strcasecmp(commit, "parent") == 0) {
        snprintf(base, sizeof(base), "%.*s", (int)(strrchr(c->path.url, '/') - c->path.url),
                 c->path.url);
        if (!*base) {
            strcpy(base, "/");
        }
    } else if (strcasecmp(commit, "app") == 0) {
        const wasp_app_cfg_t *app;
        const wasp_vdir_cfg_t *vdir;

        if (wasp_config_map_url(c->cfg, c->site, c->path.url, &app, &vdir, dir, sizeof(dir)) !=
            0) {
            return cc_dir(c, c->path.url, dir, sizeof(dir));
        }
        snprintf(base, sizeof(base), "%s", app->path);
    } else {
        cc_parse_path(commit, &cp);
        if (cp.server || strcasecmp(cp.site, c->path.site) != 0 ||
            !cc_below(c->path.url, cp.url, &rest)) {
            return ctl_error(CTL_EXIT_USAGE,
                             "Cannot commit to \"%s\": the commit path must be apphost, site, "
                             "app, parent, url or a configuration path at or above \"%s%s\".",
                             commit, c->path.site, c->path.url);
        }
        snprintf(base, sizeof(base), "%s", cp.url);
    }
    n = strlen(base);
    while (n > 1 && base[n - 1] == '/') {
        base[--n] = '\0';
    }
    if (!cc_below(c->path.url, base, &rest)) {
        return ctl_error(CTL_EXIT_USAGE, "Cannot commit to \"%s\": it is not above \"%s\".",
                         base, c->path.url);
    }
    snprintf(t->location, sizeof(t->location), "%s", rest);
    if (cc_dir(c, base, dir, sizeof(dir)) != CTL_EXIT_OK) {
        return CTL_EXIT_NOT_FOUND;
    }
    n = strlen(dir);
    snprintf(t->file, sizeof(t->file), "%s%sweb.config", dir, n > 0 && dir[n - 1] == '/' ? "" : "/");
    snprintf(t->commit_path, sizeof(t->commit_path), CC_APPHOST "/%s%s", c->path.site,
             strcmp(base, "/") == 0 ? "" : base);
    return CTL_EXIT_OK;
}

/* One property argument: /name:value with name "a", "child.a", "+[...]",
 * "+child.[...]", "-[...]" or "[...].a" / "child.[...].a" (an attribute of a
 * collection item). */
typedef struct cc_op {
    char kind;          /* '=' set, '+' add, '-' remove, '*' set on an item */
    char element[512];  /* '/'-separated */
    char attr[256];
    const char *value;
    char *names[32], *values[32];
    size_t n;
} cc_op_t;

/* [k='v',k2='v2'] into op's names and values. */
static bool cc_parse_indexer(const char *s, cc_op_t *op)
{
    if (*s++ != '[') {
        return false;
    }
    while (*s && *s != ']' && op->n < 32) {
        const char *eq = strchr(s, '='), *end;

        if (eq == NULL || eq[1] != '\'' || (end = strchr(eq + 2, '\'')) == NULL) {
            return false;
        }
        op->names[op->n] = strndup(s, (size_t)(eq - s));
        op->values[op->n] = strndup(eq + 2, (size_t)(end - eq - 2));
        op->n++;
        s = end + 1;
        s += *s == ',';
    }
    return *s == ']' && s[1] == '\0' && op->n > 0;
}

static void cc_dots(const char *in, size_t len, char *out, size_t size)
{
    snprintf(out, size, "%.*s", (int)len, in);
    for (char *q = out; *q; q++) {
        *q = *q == '.' ? '/' : *q;
    }
}

static bool cc_parse_op(const ctl_param_t *p, cc_op_t *op)
{
    char raw[4096];
    const char *br, *dot;

    memset(op, 0, sizeof(*op));
    snprintf(raw, sizeof(raw), "%s%s%s", p->name, p->value != NULL ? ":" : "",
             p->value != NULL ? p->value : "");
    if (raw[0] == '+' || raw[0] == '-') {
        op->kind = raw[0];
        br = strchr(raw, '[');
        if (br == NULL || (br > raw + 1 && br[-1] != '.')) {
            return false;
        }
        cc_dots(raw + 1, br > raw + 1 ? (size_t)(br - raw - 2) : 0, op->element,
                sizeof(op->element));
        return cc_parse_indexer(br, op);
    }
    if ((br = strchr(raw, '[')) != NULL) {
        /* [k='v',...].attr:value: the indexer ends at the "']." before the
         * attribute (a value may hold ']' or ':'). */
        const char *end = strstr(br, "'].");
        const char *colon = end != NULL ? strchr(end + 3, ':') : NULL;
        char indexer[2048];

        if (end == NULL || colon == NULL || (br > raw && br[-1] != '.') ||
            (size_t)(end + 2 - br) >= sizeof(indexer) || colon == end + 3) {
            return false;
        }
        op->kind = '*';
        cc_dots(raw, br > raw ? (size_t)(br - raw - 1) : 0, op->element, sizeof(op->element));
        snprintf(indexer, sizeof(indexer), "%.*s", (int)(end + 2 - br), br);
        snprintf(op->attr, sizeof(op->attr), "%.*s", (int)(colon - end - 3), end + 3);
        op->value = p->value + (colon + 1 - (raw + strlen(p->name) + 1));
        return strchr(op->attr, '.') == NULL && cc_parse_indexer(indexer, op);
    }
    if (p->value == NULL) {
        return false;
    }
    op->kind = '=';
    op->value = p->value;
    dot = strrchr(p->name, '.');
    cc_dots(p->name, dot != NULL ? (size_t)(dot - p->name) : 0, op->element, sizeof(op->element));
    snprintf(op->attr, sizeof(op->attr), "%s", dot != NULL ? dot + 1 : p->name);
    return *op->attr != '\0';
}

static void cc_free_op(cc_op_t *op)
{
    for (size_t i = 0; i < op->n; i++) {
        free(op->names[i]);
        free(op->values[i]);
    }
}

/* Apply one operation to the open file. */
static int cc_apply(const cc_ctx_t *c, const cc_target_t *t, wasp_config_edit_t *ed,
                    const cc_op_t *op, char *err, size_t errsz)
{
    const char *loc = *t->location ? t->location : NULL;
    const cfg_section_schema_t *sec = cfg_schema_section(c->schema, c->section);
    const cfg_elem_schema_t *e = sec != NULL ? cfg_schema_element(c->schema, sec, op->element)
                                             : NULL;
    char item[128];

    if (op->kind == '=') {
        if (sec != NULL && cfg_schema_find_attr(c->schema, c->section, op->element, op->attr) ==
                               NULL) {
            snprintf(err, errsz, "Unknown attribute \"%s%s%s\".  Replace with -? for help.",
                     op->element, *op->element ? "." : "", op->attr);
            return WASP_EDIT_INVALID;
        }
        return wasp_config_edit_section_set(ed, loc, c->section, op->element, op->attr,
                                            op->value, err, errsz);
    }
    if (e == NULL || e->coll == NULL || (op->kind == '-' ? e->coll->remove : e->coll->add) ==
                                            NULL) {
        snprintf(err, errsz, "Cannot find requested collection element.");
        return WASP_EDIT_NOT_FOUND;
    }
    snprintf(item, sizeof(item), "%.*s",
             (int)strcspn(op->kind == '-' ? e->coll->remove : e->coll->add, ","),
             op->kind == '-' ? e->coll->remove : e->coll->add);
    if (op->kind == '*') {
        return wasp_config_edit_section_item_set(ed, loc, c->section, op->element, item,
                                                 (const char *const *)op->names,
                                                 (const char *const *)op->values, op->n,
                                                 op->attr, op->value, err, errsz);
    }
    if (op->kind == '+') {
        return wasp_config_edit_section_add(ed, loc, c->section, op->element, item,
                                            (const char *const *)op->names,
                                            (const char *const *)op->values, op->n, err, errsz);
    }
    return wasp_config_edit_section_remove(ed, loc, c->section, op->element, item,
                                           (const char *const *)op->names,
                                           (const char *const *)op->values, op->n, err, errsz);
}

/* The error (if any) a request at the edited path meets now; copied into
 * msg ("" when none). */
static void cc_check(ctl_cmd_t *cmd, const cc_ctx_t *c, char *msg, size_t size)
{
    wasp_diag_t d;
    wasp_config_t *cfg = wasp_config_load(cmd->config, &d);
    const wasp_site_cfg_t *site;
    wasp_webcfg_t *wc;
    wasp_dircfg_t *dc;
    const wasp_config_error_t *e;

    *msg = '\0';
    if (cfg == NULL) {
        wasp_diag_format(&d, msg, size);
        return;
    }
    site = c->path.server ? NULL : wasp_config_find_site(cfg, c->path.site);
    wc = wasp_webcfg_new(cfg, 4, NULL, NULL);
    dc = wasp_webcfg_lookup(wc, site, c->path.url);
    e = wasp_dircfg_error(dc);
    if (e != NULL && e->line > 0) {
        snprintf(msg, size, "%s:%d: %s", e->file, e->line, e->message);
    } else if (e != NULL) {
        snprintf(msg, size, "%s: %s", e->file, e->message);
    }
    wasp_dircfg_release(dc);
    wasp_webcfg_free(wc);
    wasp_config_free(cfg);
}

/* Put the file back: its old bytes, or no file when there was none. */
static void cc_restore(const char *file, const char *old, size_t len, bool created)
{
    char tmp[4200];
    struct stat st;
    int fd;

    if (created) {
        unlink(file);
        return;
    }
    snprintf(tmp, sizeof(tmp), "%s.waspctl-restore", file);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    /* the edit kept the file's mode; so does the way back */
    if (fd >= 0 && stat(file, &st) == 0) {
        (void)fchmod(fd, st.st_mode & 07777);
    }
    if (fd >= 0 && write(fd, old, len) == (ssize_t)len && fsync(fd) == 0) {
        close(fd);
        if (rename(tmp, file) == 0) {
            return;
        }
    } else if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
    ctl_warning("could not put %s back as it was: %s", file, strerror(errno));
}

/* Create a missing web.config as IIS does: an empty <configuration>. */
static int cc_create_webconfig(const char *file, bool *created)
{
    static const char text[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<configuration>\n"
                               "</configuration>\n";
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

    *created = false;
    if (fd < 0 && errno == EEXIST) {
        return CTL_EXIT_OK;
    }
    if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)(sizeof(text) - 1)) {
        int e = errno;

        if (fd >= 0) {
            close(fd);
            unlink(file);
        }
        return ctl_error(CTL_EXIT_FAILED, "Cannot write configuration file %s: %s", file,
                         strerror(e));
    }
    close(fd);
    *created = true;
    return CTL_EXIT_OK;
}

static int cc_set(ctl_cmd_t *cmd, const cc_ctx_t *c, const cc_target_t *t)
{
    wasp_config_edit_t *ed = NULL;
    char err[4096], before[4096], after[4096], cpath[2600];
    bool created = false;
    const char *text;
    char *old = NULL;
    size_t len = 0, ops = 0;
    int rc;

    cc_check(cmd, c, before, sizeof(before));
    if (*before) {
        return ctl_error(CTL_EXIT_FAILED, "%s", before);
    }
    if (!t->apphost && (rc = cc_create_webconfig(t->file, &created)) != CTL_EXIT_OK) {
        return rc;
    }
    rc = wasp_config_edit_open(t->file, &ed, err, sizeof(err));
    if (rc == WASP_EDIT_OK) {
        wasp_config_edit_set_unchecked(ed, !t->apphost);
        text = wasp_config_edit_text(ed, &len);
        old = malloc(len + 1);
        if (old != NULL) {
            memcpy(old, text, len);
        }
    }
    for (size_t i = 0; rc == WASP_EDIT_OK && i < cmd->param_count; i++) {
        ctl_param_t *p = &cmd->params[i];
        cc_op_t op;

        if (p->used || ctl_general_param(p->name)) {
            continue;
        }
        if (!cc_parse_op(p, &op)) {
            snprintf(err, sizeof(err), "Cannot understand \"/%s%s%s\": use /attr:value, "
                     "/child.attr:value, /[key='value'].attr:value, /+[key='value'] or "
                     "/-[key='value'].",
                     p->name, p->value != NULL ? ":" : "", p->value != NULL ? p->value : "");
            rc = WASP_EDIT_INVALID;
        } else {
            rc = cc_apply(c, t, ed, &op, err, sizeof(err));
            ops++;
        }
        cc_free_op(&op);
    }
    if (rc == WASP_EDIT_OK && ops == 0) {
        snprintf(err, sizeof(err), "Nothing to set: give /attr:value, /+[key='value'] or "
                 "/-[key='value'].");
        rc = WASP_EDIT_INVALID;
    }
    if (rc == WASP_EDIT_OK) {
        rc = wasp_config_edit_commit(ed, err, sizeof(err));
    }
    wasp_config_edit_free(ed);
    if (rc != WASP_EDIT_OK) {
        if (created) {
            unlink(t->file);
        }
        free(old);
        return ctl_error(rc == WASP_EDIT_NOT_FOUND ? CTL_EXIT_NOT_FOUND : CTL_EXIT_FAILED, "%s",
                         err);
    }
    cc_check(cmd, c, after, sizeof(after));
    if (*after) {
        if (old != NULL) {
            cc_restore(t->file, old, len, created);
        }
        free(old);
        return ctl_error(CTL_EXIT_FAILED, "%s (%s is unchanged)", after, t->file);
    }
    free(old);
    cc_config_path(&c->path, cpath, sizeof(cpath));
    printf("Applied configuration changes to section \"%s\" for \"%s\" at configuration commit "
           "path \"%s\"\n",
           c->section, cpath, t->commit_path);
    return t->apphost ? ctl_reload(cmd) : CTL_EXIT_OK;
}

int ctl_set_config(ctl_cmd_t *cmd)
{
    cc_ctx_t c;
    cc_target_t t;
    int rc = cc_open(cmd, &c);

    if (rc == CTL_EXIT_OK) {
        rc = cc_target(cmd, &c, &t);
    }
    if (rc == CTL_EXIT_OK) {
        rc = cc_set(cmd, &c, &t);
    }
    cc_close(&c);
    return rc;
}
