/*
 * waspctl list ...: objects from applicationHost.config (pools, sites,
 * applications, virtual directories) with their run-time state from waspd,
 * and waspd's own objects (worker processes, requests, events).
 *
 * Every object is built the same way (ctl_obj_t): an identifier, the
 * properties of the one-line text form, the attributes of the /xml form,
 * and extra properties that only filters and /text:* see.  Filters
 * (/attr:value) and /text:attr look properties up by name, case-
 * insensitively; pools and sites also answer with their configuration
 * attributes (/managedPipelineMode:Classic, /processModel.idleTimeout),
 * resolved the IIS way: the object's own value, else
 * applicationPoolDefaults, else the schema default.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/config_edit.h"
#include "ctl/ctl.h"
#include "ctl/ctl_client.h"

#define CTL_MAX_KV 12

typedef struct ctl_kv {
    const char *key;
    char *value;
} ctl_kv_t;

typedef enum ctl_obj_kind { OBJ_PLAIN = 0, OBJ_POOL, OBJ_SITE } ctl_obj_kind_t;

typedef struct ctl_obj {
    const char *type; /* "APPPOOL" */
    const char *sep;  /* between the (key:value) pairs of the text line */
    char *id;
    ctl_kv_t text[CTL_MAX_KV], xml[CTL_MAX_KV], extra[CTL_MAX_KV];
    size_t ntext, nxml, nextra;
    ctl_obj_kind_t kind;
    const wasp_section_t *node;     /* the pool's <add>, the <site> */
    const wasp_section_t *defaults; /* <applicationPoolDefaults> */
} ctl_obj_t;

/* ---- objects -------------------------------------------------------------------- */

static char *ctl_strdup(const char *s)
{
    char *p = strdup(s != NULL ? s : "");

    if (p == NULL) {
        fputs("waspctl: out of memory\n", stderr);
        exit(CTL_EXIT_FAILED);
    }
    return p;
}

static char *ctl_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *ctl_printf(const char *fmt, ...)
{
    va_list ap;
    char *p;

    va_start(ap, fmt);
    if (vasprintf(&p, fmt, ap) < 0) {
        fputs("waspctl: out of memory\n", stderr);
        exit(CTL_EXIT_FAILED);
    }
    va_end(ap);
    return p;
}

static void obj_init(ctl_obj_t *o, const char *type, char *id)
{
    memset(o, 0, sizeof(*o));
    o->type = type;
    o->sep = ",";
    o->id = id;
}

/* Add key:value (value is taken over). */
static void obj_kv(ctl_kv_t *kv, size_t *n, const char *key, char *value)
{
    if (*n < CTL_MAX_KV) {
        kv[*n].key = key;
        kv[*n].value = value;
        (*n)++;
    } else {
        free(value);
    }
}

#define OBJ_TEXT(o, k, v) obj_kv((o)->text, &(o)->ntext, (k), (v))
#define OBJ_XML(o, k, v) obj_kv((o)->xml, &(o)->nxml, (k), (v))
#define OBJ_EXTRA(o, k, v) obj_kv((o)->extra, &(o)->nextra, (k), (v))

static void obj_free(ctl_obj_t *o)
{
    for (size_t i = 0; i < o->ntext; i++) {
        free(o->text[i].value);
    }
    for (size_t i = 0; i < o->nxml; i++) {
        free(o->xml[i].value);
    }
    for (size_t i = 0; i < o->nextra; i++) {
        free(o->extra[i].value);
    }
    free(o->id);
    memset(o, 0, sizeof(*o));
}

static const char *kv_find(const ctl_kv_t *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(kv[i].key, key) == 0) {
            return kv[i].value;
        }
    }
    return NULL;
}

/* The element at a dotted path below s ("" = s itself). */
static const wasp_section_t *section_at(const wasp_section_t *s, const char *path)
{
    while (s != NULL && *path) {
        const char *dot = strchrnul(path, '.');
        char name[64];

        snprintf(name, sizeof(name), "%.*s", (int)(dot - path), path);
        s = wasp_section_child(s, name);
        path = *dot ? dot + 1 : dot;
    }
    return s;
}

static const char *pool_attr_value(const ctl_obj_t *o, const wasp_edit_attr_t *a)
{
    const char *v = wasp_section_attr(section_at(o->node, a->element), a->name);

    if (v == NULL && strcmp(a->name, "name") != 0) {
        v = wasp_section_attr(section_at(o->defaults, a->element), a->name);
    }
    return v != NULL ? v : a->dflt;
}

/* A property by name, or NULL when the object has no such property. */
static const char *obj_lookup(const ctl_obj_t *o, const char *name)
{
    const wasp_edit_attr_t *a;
    const char *v = kv_find(o->xml, o->nxml, name);

    if (v == NULL) {
        v = kv_find(o->text, o->ntext, name);
    }
    if (v == NULL) {
        v = kv_find(o->extra, o->nextra, name);
    }
    if (v != NULL) {
        return v;
    }
    if (strcasecmp(name, "name") == 0) {
        return o->id;
    }
    if (o->kind == OBJ_POOL && (a = wasp_edit_pool_attr_find(name)) != NULL) {
        return pool_attr_value(o, a);
    }
    if (o->kind == OBJ_SITE && (a = wasp_edit_site_attr_find(name)) != NULL) {
        v = wasp_section_attr(section_at(o->node, a->element), a->name);
        return v != NULL ? v : a->dflt;
    }
    return NULL;
}

/* ---- output --------------------------------------------------------------------- */

typedef enum ctl_out_mode { OUT_LINE = 0, OUT_ATTR, OUT_DETAIL, OUT_XML } ctl_out_mode_t;

typedef struct ctl_out {
    ctl_out_mode_t mode;
    const char *attr; /* OUT_ATTR */
    bool begun;
} ctl_out_t;

static void out_setup(ctl_cmd_t *cmd, ctl_out_t *out)
{
    const ctl_param_t *text = ctl_param(cmd, "text");

    memset(out, 0, sizeof(*out));
    if (ctl_param(cmd, "xml") != NULL) {
        out->mode = OUT_XML;
    } else if (text != NULL && text->value != NULL && strcmp(text->value, "*") == 0) {
        out->mode = OUT_DETAIL;
    } else if (text != NULL && text->value != NULL && *text->value) {
        out->mode = OUT_ATTR;
        out->attr = text->value;
    }
}

static void xml_escaped(const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", stdout); break;
        case '<': fputs("&lt;", stdout); break;
        case '>': fputs("&gt;", stdout); break;
        case '"': fputs("&quot;", stdout); break;
        default: putchar(*s); break;
        }
    }
}

static void xml_begin(ctl_out_t *out)
{
    if (!out->begun) {
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<appcmd>\n", stdout);
        out->begun = true;
    }
}

/* [name] then name:"value" lines, children two columns deeper. */
static void print_raw(const wasp_section_t *s, int indent)
{
    printf("%*s[%s]\n", indent, "", s->name);
    for (size_t i = 0; i < s->attr_count; i++) {
        printf("%*s%s:\"%s\"\n", indent + 2, "", s->attrs[i].name, s->attrs[i].value);
    }
    for (size_t i = 0; i < s->child_count; i++) {
        print_raw(s->children[i], indent + 2);
    }
}

/* A pool's configuration as appcmd's /text:* shows it: every attribute
 * (own, else applicationPoolDefaults, else default), by element. */
static void print_pool_config(const ctl_obj_t *o)
{
    static const struct {
        const char *path;
        bool collection;
    } blocks[] = {
        { "", false },
        { "processModel", false },
        { "recycling", false },
        { "recycling.periodicRestart", false },
        { "recycling.periodicRestart.schedule", true },
        { "failure", false },
        { "cpu", false },
        { "environmentVariables", true },
    };
    size_t n;
    const wasp_edit_attr_t *tab = wasp_edit_pool_attrs(&n);

    for (size_t b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++) {
        const char *path = blocks[b].path, *last = strrchr(path, '.');
        int depth = *path ? 1 : 0, indent;

        for (const char *p = path; *p; p++) {
            depth += *p == '.';
        }
        indent = 2 + 2 * depth;
        printf("%*s[%s]\n", indent, "", !*path ? "add" : last ? last + 1 : path);
        if (blocks[b].collection) {
            const wasp_section_t *c = section_at(o->node, path);

            if (c == NULL) {
                c = section_at(o->defaults, path);
            }
            for (size_t i = 0; c != NULL && i < c->child_count; i++) {
                print_raw(c->children[i], indent + 2);
            }
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            if (strcmp(tab[i].element, path) == 0) {
                printf("%*s%s:\"%s\"\n", indent + 2, "", tab[i].name,
                       pool_attr_value(o, &tab[i]));
            }
        }
    }
}

/* Print one object; -1 when /text:attr names no property. */
static int out_obj(ctl_out_t *out, const ctl_obj_t *o)
{
    const char *v;

    switch (out->mode) {
    case OUT_LINE:
        printf("%s \"%s\" (", o->type, o->id);
        for (size_t i = 0; i < o->ntext; i++) {
            printf("%s%s:%s", i ? o->sep : "", o->text[i].key, o->text[i].value);
        }
        printf(")\n");
        break;
    case OUT_ATTR:
        v = obj_lookup(o, out->attr);
        if (v == NULL) {
            return -1;
        }
        printf("%s\n", v);
        break;
    case OUT_XML:
        xml_begin(out);
        printf("    <%s", o->type);
        for (size_t i = 0; i < o->nxml; i++) {
            printf(" %s=\"", o->xml[i].key);
            xml_escaped(o->xml[i].value);
            putchar('"');
        }
        printf(" />\n");
        break;
    case OUT_DETAIL:
        printf("%s\n", o->type);
        for (size_t i = 0; i < o->nxml; i++) {
            printf("  %s:\"%s\"\n", o->xml[i].key, o->xml[i].value);
        }
        for (size_t i = 0; i < o->nextra; i++) {
            printf("  %s:\"%s\"\n", o->extra[i].key, o->extra[i].value);
        }
        if (o->kind == OBJ_POOL) {
            print_pool_config(o);
        } else if (o->kind == OBJ_SITE && o->node != NULL) {
            print_raw(o->node, 2);
        }
        break;
    }
    return 0;
}

static void out_end(ctl_out_t *out)
{
    if (out->mode == OUT_XML) {
        xml_begin(out);
        fputs("</appcmd>\n", stdout);
    }
    fflush(stdout);
}

/* ---- filters -------------------------------------------------------------------- */

static int unknown_attribute(const char *name)
{
    return ctl_error(CTL_EXIT_USAGE, "Unknown attribute \"%s\".  Replace with -? for help.",
                     name);
}

/* 1: o passes every /attr:value filter; 0: it does not; or -exit status. */
static int obj_filter(ctl_cmd_t *cmd, const ctl_obj_t *o)
{
    for (size_t i = 0; i < cmd->param_count; i++) {
        const ctl_param_t *p = &cmd->params[i];
        const char *v;

        if (p->used || ctl_general_param(p->name)) {
            continue;
        }
        v = obj_lookup(o, p->name);
        if (v == NULL) {
            return -unknown_attribute(p->name);
        }
        if (p->value == NULL) {
            return -ctl_error(CTL_EXIT_USAGE, "the filter /%s needs a value: /%s:VALUE",
                              p->name, p->name);
        }
        if (strcasecmp(v, p->value) != 0) {
            return 0;
        }
    }
    return 1;
}

/* Filter, print and free one object; 0 or an exit status. */
static int emit(ctl_cmd_t *cmd, ctl_out_t *out, ctl_obj_t *o)
{
    int rc = obj_filter(cmd, o);

    if (rc == 1 && out_obj(out, o) != 0) {
        rc = -unknown_attribute(out->attr);
    }
    obj_free(o);
    return rc < 0 ? -rc : 0;
}

/* ---- sources -------------------------------------------------------------------- */

static wasp_config_t *load_config(const ctl_cmd_t *cmd)
{
    wasp_diag_t d;
    /* The encrypted values waspd would refuse without even trying its key
     * (a Windows provider's) are reported here too. */
    wasp_config_t *cfg = wasp_config_load_ex(cmd->config, WASP_CONFIG_CHECK_ENCRYPTED, &d);
    char buf[2048];

    if (cfg == NULL) {
        ctl_error(CTL_EXIT_FAILED, "%s", wasp_diag_format(&d, buf, sizeof(buf)));
    }
    return cfg;
}

/* waspd's state; when it is not running and required, the error is printed
 * and CTL_EXIT_FAILED returned. */
static int fetch_state(const ctl_cmd_t *cmd, ctl_state_t *st, bool required)
{
    char err[1024];

    if (ctl_state_fetch(cmd->rundir, st, err, sizeof(err)) != CTL_CALL_OK) {
        ctl_state_free(st);
        return ctl_error(CTL_EXIT_FAILED, "%s", err);
    }
    if (required && !st->running) {
        ctl_state_free(st);
        return ctl_not_running(cmd);
    }
    return 0;
}

/* The item of a collection section whose name is name. */
static const wasp_section_t *find_item(const wasp_section_t *sec, const char *name)
{
    for (size_t i = 0; sec != NULL && i < sec->item_count; i++) {
        const char *n = wasp_section_attr(sec->items[i], "name");

        if (n != NULL && strcasecmp(n, name) == 0) {
            return sec->items[i];
        }
    }
    return NULL;
}

static int not_found(const char *type, const char *id)
{
    return ctl_error(CTL_EXIT_NOT_FOUND, "Cannot find %s object with identifier \"%s\".", type,
                     id);
}

/* ---- list apppool --------------------------------------------------------------- */

static void pool_obj(ctl_obj_t *o, const wasp_pool_cfg_t *p, const char *state,
                     const wasp_section_t *sec)
{
    obj_init(o, "APPPOOL", ctl_strdup(p->name));
    o->kind = OBJ_POOL;
    o->node = find_item(sec, p->name);
    o->defaults = wasp_section_child(sec, "applicationPoolDefaults");
    OBJ_TEXT(o, "MgdVersion", ctl_strdup(p->managed_runtime_version));
    OBJ_TEXT(o, "MgdMode", ctl_strdup(p->managed_pipeline_mode));
    OBJ_TEXT(o, "state", ctl_strdup(state));
    OBJ_XML(o, "APPPOOL.NAME", ctl_strdup(p->name));
    OBJ_XML(o, "PipelineMode", ctl_strdup(p->managed_pipeline_mode));
    OBJ_XML(o, "RuntimeVersion", ctl_strdup(p->managed_runtime_version));
    OBJ_XML(o, "state", ctl_strdup(state));
}

int ctl_list_apppool(ctl_cmd_t *cmd)
{
    const char *id = ctl_identifier(cmd, "apppool");
    wasp_config_t *cfg = load_config(cmd);
    const wasp_section_t *sec;
    ctl_state_t st;
    ctl_out_t out;
    bool found = false;
    int rc;

    if (cfg == NULL) {
        return CTL_EXIT_FAILED;
    }
    rc = fetch_state(cmd, &st, false);
    if (rc != 0) {
        wasp_config_free(cfg);
        return rc;
    }
    out_setup(cmd, &out);
    sec = wasp_config_section(cfg, NULL, NULL, "system.applicationHost/applicationPools");
    for (size_t i = 0; rc == 0 && i < wasp_config_pool_count(cfg); i++) {
        const wasp_pool_cfg_t *p = wasp_config_pool(cfg, i);
        ctl_obj_t o;

        if (id != NULL && strcasecmp(id, p->name) != 0) {
            continue;
        }
        found = true;
        pool_obj(&o, p, ctl_state_pool(&st, p->name), sec);
        rc = emit(cmd, &out, &o);
    }
    if (rc == 0 && id != NULL && !found) {
        rc = not_found("APPPOOL", id);
    }
    if (rc == 0) {
        out_end(&out);
    }
    ctl_state_free(&st);
    wasp_config_free(cfg);
    return rc;
}

/* ---- list site ------------------------------------------------------------------ */

static char *site_bindings(const wasp_site_cfg_t *s)
{
    char *out = ctl_strdup("");

    for (size_t b = 0; b < s->binding_count; b++) {
        const wasp_binding_cfg_t *bd = &s->bindings[b];
        bool v6 = strchr(bd->ip, ':') != NULL;
        char *next = ctl_printf("%s%s%s/%s%s%s:%u:%s", out, b ? "," : "", bd->protocol,
                                v6 ? "[" : "", bd->ip, v6 ? "]" : "", bd->port, bd->host);

        free(out);
        out = next;
    }
    return out;
}

int ctl_list_site(ctl_cmd_t *cmd)
{
    const char *id = ctl_identifier(cmd, "site");
    wasp_config_t *cfg = load_config(cmd);
    const wasp_section_t *sec;
    ctl_state_t st;
    ctl_out_t out;
    bool found = false;
    int rc;

    if (cfg == NULL) {
        return CTL_EXIT_FAILED;
    }
    rc = fetch_state(cmd, &st, false);
    if (rc != 0) {
        wasp_config_free(cfg);
        return rc;
    }
    out_setup(cmd, &out);
    sec = wasp_config_section(cfg, NULL, NULL, "system.applicationHost/sites");
    for (size_t i = 0; rc == 0 && i < wasp_config_site_count(cfg); i++) {
        const wasp_site_cfg_t *s = wasp_config_site(cfg, i);
        const char *state = ctl_state_site(&st, s->name, s->id);
        ctl_obj_t o;

        if (id != NULL && strcasecmp(id, s->name) != 0) {
            continue;
        }
        found = true;
        obj_init(&o, "SITE", ctl_strdup(s->name));
        o.kind = OBJ_SITE;
        o.node = find_item(sec, s->name);
        OBJ_TEXT(&o, "id", ctl_printf("%u", s->id));
        OBJ_TEXT(&o, "bindings", site_bindings(s));
        OBJ_TEXT(&o, "state", ctl_strdup(state));
        OBJ_XML(&o, "SITE.NAME", ctl_strdup(s->name));
        OBJ_XML(&o, "SITE.ID", ctl_printf("%u", s->id));
        OBJ_XML(&o, "bindings", site_bindings(s));
        OBJ_XML(&o, "state", ctl_strdup(state));
        OBJ_EXTRA(&o, "serverAutoStart", ctl_strdup(s->server_auto_start ? "true" : "false"));
        rc = emit(cmd, &out, &o);
    }
    if (rc == 0 && id != NULL && !found) {
        rc = not_found("SITE", id);
    }
    if (rc == 0) {
        out_end(&out);
    }
    ctl_state_free(&st);
    wasp_config_free(cfg);
    return rc;
}

/* ---- list app / vdir ------------------------------------------------------------ */

/* "Site/app" (root "Site/"), as appcmd names applications. */
static char *app_name(const wasp_site_cfg_t *s, const wasp_app_cfg_t *app)
{
    return ctl_printf("%s%s", s->name, app->path);
}

/* "Site/app/vdir": the root vdir of "/app" is "Site/app/". */
static char *vdir_name(const wasp_site_cfg_t *s, const wasp_app_cfg_t *app,
                       const wasp_vdir_cfg_t *v)
{
    const char *ap = strcmp(app->path, "/") == 0 ? "" : app->path;

    return ctl_printf("%s%s%s", s->name, ap, v->path);
}

static int list_apps(ctl_cmd_t *cmd, bool vdirs)
{
    const char *type = vdirs ? "VDIR" : "APP";
    const char *id = ctl_identifier(cmd, vdirs ? "vdir" : "app");
    wasp_config_t *cfg = load_config(cmd);
    ctl_out_t out;
    bool found = false;
    int rc = 0;

    if (cfg == NULL) {
        return CTL_EXIT_FAILED;
    }
    out_setup(cmd, &out);
    for (size_t i = 0; rc == 0 && i < wasp_config_site_count(cfg); i++) {
        const wasp_site_cfg_t *s = wasp_config_site(cfg, i);

        for (size_t a = 0; rc == 0 && a < s->app_count; a++) {
            const wasp_app_cfg_t *app = &s->apps[a];

            for (size_t v = 0; rc == 0 && v < (vdirs ? app->vdir_count : 1); v++) {
                char *name = vdirs ? vdir_name(s, app, &app->vdirs[v]) : app_name(s, app);
                ctl_obj_t o;

                if (id != NULL && strcasecmp(id, name) != 0) {
                    free(name);
                    continue;
                }
                found = true;
                obj_init(&o, type, name);
                if (vdirs) {
                    OBJ_TEXT(&o, "physicalPath", ctl_strdup(app->vdirs[v].physical_path));
                    OBJ_XML(&o, "VDIR.NAME", ctl_strdup(name));
                    OBJ_XML(&o, "APP.NAME", app_name(s, app));
                    OBJ_XML(&o, "physicalPath", ctl_strdup(app->vdirs[v].physical_path));
                    OBJ_EXTRA(&o, "path", ctl_strdup(app->vdirs[v].path));
                } else {
                    OBJ_TEXT(&o, "applicationPool", ctl_strdup(app->pool));
                    OBJ_XML(&o, "APP.NAME", ctl_strdup(name));
                    OBJ_XML(&o, "APPPOOL.NAME", ctl_strdup(app->pool));
                    OBJ_EXTRA(&o, "path", ctl_strdup(app->path));
                }
                OBJ_XML(&o, "SITE.NAME", ctl_strdup(s->name));
                rc = emit(cmd, &out, &o);
            }
        }
    }
    if (rc == 0 && id != NULL && !found) {
        rc = not_found(type, id);
    }
    if (rc == 0) {
        out_end(&out);
    }
    wasp_config_free(cfg);
    return rc;
}

int ctl_list_app(ctl_cmd_t *cmd)
{
    return list_apps(cmd, false);
}

int ctl_list_vdir(ctl_cmd_t *cmd)
{
    return list_apps(cmd, true);
}

/* ---- list wp -------------------------------------------------------------------- */

int ctl_list_wp(ctl_cmd_t *cmd)
{
    const char *id = ctl_identifier(cmd, "wp");
    ctl_state_t st;
    ctl_out_t out;
    bool found = false;
    int rc = fetch_state(cmd, &st, true);

    if (rc != 0) {
        return rc;
    }
    out_setup(cmd, &out);
    for (size_t i = 0; rc == 0 && i < st.wp_count; i++) {
        const ctl_wp_state_t *w = &st.wps[i];
        ctl_obj_t o;

        if (id != NULL && strcmp(id, w->pid) != 0) {
            continue;
        }
        found = true;
        obj_init(&o, "WP", ctl_strdup(w->pid));
        OBJ_TEXT(&o, "applicationPool", ctl_strdup(w->pool));
        OBJ_XML(&o, "WP.NAME", ctl_strdup(w->pid));
        OBJ_XML(&o, "APPPOOL.NAME", ctl_strdup(w->pool));
        OBJ_EXTRA(&o, "state", ctl_strdup(w->state));
        OBJ_EXTRA(&o, "startTime", ctl_strdup(w->started_ms));
        OBJ_EXTRA(&o, "requests", ctl_strdup(w->requests));
        rc = emit(cmd, &out, &o);
    }
    if (rc == 0 && id != NULL && !found) {
        rc = not_found("WP", id);
    }
    if (rc == 0) {
        out_end(&out);
    }
    ctl_state_free(&st);
    return rc;
}

/* ---- list requests -------------------------------------------------------------- */

/* One 'req' line: req pool pid site-id elapsed-ms client verb url stage module.
 * waspd names no request, so the identifier is made of the worker's pid
 * and the request's rank among that worker's lines (hex, as IIS'). */
static int request_obj(ctl_obj_t *o, char *line, unsigned long *rank, char *last_pid,
                       size_t last_size)
{
    char *f[10];

    if (ctl_split(line, '\t', f, 10) != 10 || strcmp(f[0], "req") != 0) {
        return -1;
    }
    *rank = strcmp(last_pid, f[2]) == 0 ? *rank + 1 : 1;
    snprintf(last_pid, last_size, "%s", f[2]);
    obj_init(o, "REQUEST", ctl_printf("%lx%08lx", strtoul(f[2], NULL, 10), *rank));
    o->sep = ", ";
    OBJ_TEXT(o, "url", ctl_printf("%s %s", f[6], f[7]));
    OBJ_TEXT(o, "time", ctl_printf("%s msec", f[4]));
    OBJ_TEXT(o, "client", ctl_strdup(f[5]));
    OBJ_TEXT(o, "stage", ctl_strdup(f[8]));
    OBJ_TEXT(o, "module", ctl_strdup(f[9]));
    OBJ_XML(o, "REQUEST.NAME", ctl_strdup(o->id));
    OBJ_XML(o, "url", ctl_printf("%s %s", f[6], f[7]));
    OBJ_XML(o, "time", ctl_strdup(f[4]));
    OBJ_XML(o, "client", ctl_strdup(f[5]));
    OBJ_XML(o, "stage", ctl_strdup(f[8]));
    OBJ_XML(o, "module", ctl_strdup(f[9]));
    OBJ_XML(o, "SITE.ID", ctl_strdup(f[3]));
    OBJ_XML(o, "APPPOOL.NAME", ctl_strdup(f[1]));
    OBJ_XML(o, "WP.NAME", ctl_strdup(f[2]));
    OBJ_EXTRA(o, "verb", ctl_strdup(f[6]));
    OBJ_EXTRA(o, "path", ctl_strdup(f[7]));
    return 0;
}

/* Ask waspd; the reply is the caller's to free.  0 or an exit status. */
static int ask(const ctl_cmd_t *cmd, const char *const *words, size_t n, ctl_reply_t *r)
{
    char err[1024];
    int rc = ctl_call(cmd->rundir, words, n, CTL_PROGRESS, 30000, r, err, sizeof(err));

    if (rc == CTL_CALL_NOT_RUNNING) {
        ctl_reply_free(r);
        return ctl_not_running(cmd);
    }
    if (rc != CTL_CALL_OK) {
        ctl_reply_free(r);
        return ctl_error(CTL_EXIT_FAILED, "%s", err);
    }
    if (r->status != 0) {
        rc = ctl_error(r->status > 0 ? r->status : CTL_EXIT_FAILED, "%s",
                       *r->message ? r->message : "waspd refused the command");
        ctl_reply_free(r);
        return rc;
    }
    return 0;
}

static bool all_digits(const char *s)
{
    if (s == NULL || !*s) {
        return false;
    }
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s)) {
            return false;
        }
    }
    return true;
}

int ctl_list_request(ctl_cmd_t *cmd)
{
    const char *id = ctl_identifier(cmd, "request");
    const char *elapsed = ctl_param_value(cmd, "elapsed");
    const char *words[2] = { "requests", elapsed != NULL ? elapsed : "0" };
    unsigned long rank = 0;
    char last_pid[32] = "", *line;
    ctl_reply_t r;
    ctl_out_t out;
    int rc;

    if (!all_digits(words[1])) {
        return ctl_error(CTL_EXIT_USAGE,
                         "/elapsed:%s is not a number of milliseconds; e.g. /elapsed:5000 lists "
                         "the requests running for 5 seconds or more",
                         words[1]);
    }
    rc = ask(cmd, words, 2, &r);
    if (rc != 0) {
        return rc;
    }
    out_setup(cmd, &out);
    for (line = r.out; rc == 0 && *line;) {
        char *nl = strchr(line, '\n');
        ctl_obj_t o;

        if (nl != NULL) {
            *nl = '\0';
        }
        if (request_obj(&o, line, &rank, last_pid, sizeof(last_pid)) == 0) {
            if (id == NULL || strcasecmp(id, o.id) == 0) {
                rc = emit(cmd, &out, &o);
            } else {
                obj_free(&o);
            }
        }
        line = nl != NULL ? nl + 1 : line + strlen(line);
    }
    if (rc == 0) {
        out_end(&out);
    }
    ctl_reply_free(&r);
    return rc;
}

/* ---- list events ---------------------------------------------------------------- */

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

/* The line mentions the pool by name (the whole name, not a part of
 * another, ignoring case). */
static bool mentions(const char *line, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = line; (p = strcasestr(p, name)) != NULL; p++) {
        if ((p == line || !name_char(p[-1])) && !name_char(p[n])) {
            return true;
        }
    }
    return false;
}

int ctl_list_event(ctl_cmd_t *cmd)
{
    const char *pool = ctl_param_value(cmd, "apppool.name");
    const char *count = ctl_param_value(cmd, "count");
    const char *words[2] = { "events", count };
    size_t want = 0, have = 0, skip;
    char **lines = NULL, *line;
    ctl_reply_t r;
    int rc;

    for (size_t i = 0; i < cmd->param_count; i++) {
        if (!cmd->params[i].used && !ctl_general_param(cmd->params[i].name)) {
            return unknown_attribute(cmd->params[i].name);
        }
    }
    if (count != NULL && !all_digits(count)) {
        return ctl_error(CTL_EXIT_USAGE, "/count:%s is not a number; e.g. /count:20", count);
    }
    want = count != NULL ? strtoul(count, NULL, 10) : 0;
    /* With a pool filter the last N lines of that pool are wanted, so
     * waspd is asked for all of them. */
    rc = ask(cmd, words, count != NULL && pool == NULL ? 2 : 1, &r);
    if (rc != 0) {
        return rc;
    }
    lines = calloc(r.out_len + 1, sizeof(*lines));
    for (line = r.out; lines != NULL && *line;) {
        char *nl = strchr(line, '\n');

        if (nl != NULL) {
            *nl = '\0';
        }
        if (pool == NULL || mentions(line, pool)) {
            lines[have++] = line;
        }
        line = nl != NULL ? nl + 1 : line + strlen(line);
    }
    skip = want > 0 && have > want ? have - want : 0;
    for (size_t i = skip; i < have; i++) {
        printf("%s\n", lines[i]);
    }
    fflush(stdout);
    free(lines);
    ctl_reply_free(&r);
    return 0;
}
