/*
 * The schema loader: a directory of IIS schema files (<configSchema>) into
 * the model of schema.h, and the lookups the configuration system asks of
 * it.  The format's facts are in iis-hosting.md 6.3; the value rules are in
 * schema_value.c.
 *
 * Each file is read with the same XML reader as applicationHost.config
 * (no DTDs, no entities, exact line of every element and attribute) into a
 * scratch arena that is dropped once the file is walked: the model copies
 * what it keeps into the schema's own arena.
 *
 * Lookups go through three hash maps, so none of them walks a list or
 * allocates: sections by name (case-insensitive), the children of an
 * element by (element id, name) — its <element>s and the add names of its
 * collection, which all lead to the collection's item — and the attributes
 * of an element by (element id, name).
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config/schema.h"

struct cfg_schema {
    cfg_arena_t arena;
    cfg_map_t sections; /* name -> cfg_section_schema_t, case-insensitive */
    cfg_map_t kids;     /* (element id, name) -> cfg_elem_schema_t */
    cfg_map_t attrs;    /* (element id, name) -> cfg_attr_schema_t */
    cfg_section_schema_t *first, *last;
    size_t section_count;
    uint32_t next_id;
    cfg_vec_t regexes; /* cfg_validator_t* that hold a compiled pattern */
    cfg_vec_t colls;   /* cfg_coll_schema_t*, built once every file is read */
    wasp_diag_t *warnings;
    size_t warning_count, warning_cap;
};

typedef struct cfg_sch_ld {
    cfg_schema_t *s;
    wasp_diag_t *diag;
} cfg_sch_ld_t;

/* ---- small helpers --------------------------------------------------------------- */

static void cfg_sch_warn(cfg_schema_t *s, const char *file, int line, const char *fmt, ...)
    WASP_PRINTF(4, 5);
static void cfg_sch_warn(cfg_schema_t *s, const char *file, int line, const char *fmt, ...)
{
    if (s->warning_count == s->warning_cap) {
        size_t cap = s->warning_cap ? s->warning_cap * 2 : 8;
        wasp_diag_t *w = realloc(s->warnings, cap * sizeof(*w));
        if (!w) {
            fputs("wasp: out of memory while reading schema files\n", stderr);
            abort();
        }
        s->warnings = w;
        s->warning_cap = cap;
    }
    wasp_diag_t *d = &s->warnings[s->warning_count++];
    snprintf(d->file, sizeof(d->file), "%s", file ? file : "");
    d->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof(d->message), fmt, ap);
    va_end(ap);
}

static bool cfg_space_char(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *cfg_sch_join(cfg_arena_t *a, const char *path, const char *name)
{
    return *path ? cfg_arena_printf(a, "%s/%s", path, name) : cfg_arena_strdup(a, name);
}

/* Where an element is, for messages: "<files> of system.webServer/defaultDocument". */
static const char *cfg_sch_where(cfg_arena_t *a, const char *section, const cfg_elem_schema_t *e)
{
    if (!*e->path)
        return cfg_arena_printf(a, "section %s", section);
    return cfg_arena_printf(a, "<%s> of %s", e->path, section);
}

/* Warn about metadata attributes the format does not have (typos lose a
 * rule silently otherwise). */
static void cfg_sch_known_attrs(cfg_schema_t *s, const wasp_section_t *n,
                                const char *const *known)
{
    for (size_t i = 0; i < n->attr_count; i++) {
        const char *an = n->attrs[i].name;
        size_t k = 0;
        while (known[k] && strcmp(known[k], an) != 0)
            k++;
        if (!known[k] && strncmp(an, "xmlns", 5) != 0)
            cfg_sch_warn(s, n->file, n->attrs[i].line,
                         "%s=\"...\" is not part of IIS' schema format for <%s>; it is ignored",
                         an, n->name);
    }
}

static int cfg_sch_bool(cfg_sch_ld_t *L, const wasp_section_t *n, const char *name, bool dflt,
                        bool *out)
{
    int line;
    const char *v = cfg_node_attr_line(n, name, &line);
    *out = dflt;
    if (!v)
        return 0;
    if (!cfg_parse_bool(v, out)) {
        cfg_diag(L->diag, n->file, line, "%s=\"%s\" on <%s> must be true or false", name, v,
                 n->name);
        return -1;
    }
    return 0;
}

/* The attribute `name` of a schema element, required and not empty. */
static const char *cfg_sch_name(cfg_sch_ld_t *L, const wasp_section_t *n, const char *example)
{
    const char *v = wasp_section_attr(n, "name");
    if (!v || !*v) {
        cfg_diag(L->diag, n->file, n->line, "<%s> needs a name attribute, e.g. <%s name=\"%s\" />",
                 n->name, n->name, example);
        return NULL;
    }
    return v;
}

static cfg_elem_schema_t *cfg_sch_new_elem(cfg_schema_t *s, const char *name, const char *path,
                                           const wasp_section_t *n)
{
    cfg_elem_schema_t *e = cfg_arena_alloc(&s->arena, sizeof(*e));
    e->id = s->next_id++;
    e->name = cfg_arena_strdup(&s->arena, name);
    e->path = cfg_arena_strdup(&s->arena, path);
    e->file = n->file;
    e->line = n->line;
    return e;
}

/* ---- <attribute> -------------------------------------------------------------------- */

static const char *const cfg_sch_attr_meta[] = {
    "name", "type", "defaultValue", "required", "isUniqueKey", "isCombinedKey", "caseSensitive",
    "displayHex", "encrypted", "allowInfinite", "timeSpanFormat", "expanded", "validationType",
    "validationParameter", NULL
};

/* A decimal (or 0x hexadecimal) integer, the whole text. */
static bool cfg_sch_int(const char *v, int64_t *out)
{
    bool hex = (v[0] == '0' && (v[1] == 'x' || v[1] == 'X'));
    const char *p = hex ? v + 2 : v;
    if (!*p || (!hex && *p == '+') || cfg_space_char(*p))
        return false;
    char *end;
    errno = 0;
    long long x = strtoll(p, &end, hex ? 16 : 10);
    if (errno || *end || (hex && *p == '-'))
        return false;
    *out = x;
    return true;
}

/* The <enum> or <flag> children of an enum / flags attribute. */
static int cfg_sch_values(cfg_sch_ld_t *L, cfg_attr_schema_t *a, const wasp_section_t *n)
{
    cfg_schema_t *s = L->s;
    const char *want = a->type == CFG_T_ENUM ? "enum" : a->type == CFG_T_FLAGS ? "flag" : NULL;
    size_t count = 0;
    for (size_t i = 0; i < n->child_count; i++) {
        const wasp_section_t *c = n->children[i];
        bool is_value = !strcmp(c->name, "enum") || !strcmp(c->name, "flag");
        if (is_value && (!want || strcmp(c->name, want) != 0)) {
            cfg_diag(L->diag, c->file, c->line,
                     "<%s> belongs to an attribute of type=\"%s\", but '%s' is of type %s",
                     c->name, !strcmp(c->name, "enum") ? "enum" : "flags", a->name,
                     cfg_type_name(a->type));
            return -1;
        }
        if (is_value)
            count++;
        else
            cfg_sch_warn(s, c->file, c->line,
                         "<%s> inside <attribute> is not part of IIS' schema format; it is "
                         "ignored",
                         c->name);
    }
    if (!want)
        return 0;
    if (!count) {
        cfg_diag(L->diag, n->file, n->line,
                 "attribute '%s' is of type %s but lists no <%s name=\"...\" value=\"...\" />",
                 a->name, cfg_type_name(a->type), want);
        return -1;
    }
    cfg_enum_value_t *vals = cfg_arena_alloc(&s->arena, count * sizeof(*vals));
    size_t k = 0;
    for (size_t i = 0; i < n->child_count; i++) {
        const wasp_section_t *c = n->children[i];
        if (strcmp(c->name, want) != 0)
            continue;
        static const char *const meta[] = { "name", "value", NULL };
        cfg_sch_known_attrs(s, c, meta);
        const char *name = cfg_sch_name(L, c, a->type == CFG_T_ENUM ? "Integrated" : "Time");
        if (!name)
            return -1;
        int vline;
        const char *v = cfg_node_attr_line(c, "value", &vline);
        int64_t num = 0;
        bool ok = v && cfg_sch_int(v, &num) && (a->type == CFG_T_ENUM || num >= 0);
        if (!ok) {
            cfg_diag(L->diag, c->file, v ? vline : c->line,
                     "<%s name=\"%s\"> needs value=\"N\" with a %s integer", want, name,
                     a->type == CFG_T_FLAGS ? "non-negative" : "decimal");
            return -1;
        }
        for (size_t j = 0; j < k; j++) {
            if (strcasecmp(vals[j].name, name) == 0) {
                cfg_diag(L->diag, c->file, c->line,
                         "'%s' is listed twice among the values of attribute '%s' (names "
                         "compare case-insensitively); remove one",
                         name, a->name);
                return -1;
            }
        }
        vals[k].name = cfg_arena_strdup(&s->arena, name);
        vals[k].value = num;
        k++;
    }
    a->values = vals;
    a->value_count = k;
    return 0;
}

/* The type's own default when the schema gives none. */
static const char *cfg_sch_type_default(const cfg_attr_schema_t *a)
{
    switch (a->type) {
    case CFG_T_BOOL:
        return "false";
    case CFG_T_ENUM:
    case CFG_T_FLAGS:
        for (size_t i = 0; i < a->value_count; i++)
            if (a->values[i].value == 0)
                return a->values[i].name;
        /* An enum without a 0: its first value (flags: no bit set). */
        return a->type == CFG_T_ENUM ? a->values[0].name : "";
    case CFG_T_STRING:
        return "";
    case CFG_T_TIMESPAN:
        return a->timespan_format == WASP_TIMESPAN_STRING ? "00:00:00" : "0";
    default:
        return "0";
    }
}

static int cfg_sch_attribute(cfg_sch_ld_t *L, const char *section, cfg_elem_schema_t *e,
                             const wasp_section_t *n)
{
    cfg_schema_t *s = L->s;
    cfg_sch_known_attrs(s, n, cfg_sch_attr_meta);
    const char *name = cfg_sch_name(L, n, "enabled");
    if (!name)
        return -1;
    const cfg_attr_schema_t *old = cfg_map_get(&s->attrs, e->id, name, strlen(name));
    if (old) {
        cfg_diag(L->diag, n->file, n->line,
                 "attribute '%s' of %s is already described at %s:%d; a later schema file may "
                 "add attributes to a section, not describe one again",
                 name, cfg_sch_where(&s->arena, section, e), old->file, old->line);
        return -1;
    }
    cfg_attr_schema_t *a = cfg_arena_alloc(&s->arena, sizeof(*a));
    a->name = cfg_arena_strdup(&s->arena, name);
    a->file = n->file;
    a->line = n->line;
    int tline;
    const char *type = cfg_node_attr_line(n, "type", &tline);
    if (!cfg_type_from_name(type, &a->type)) {
        cfg_diag(L->diag, n->file, tline,
                 "attribute '%s' has type=\"%s\"; the schema types are bool, enum, flags, uint, "
                 "int, int64, string and timeSpan",
                 name, type ? type : "");
        return -1;
    }
    if (cfg_sch_bool(L, n, "required", false, &a->required) != 0 ||
        cfg_sch_bool(L, n, "isUniqueKey", false, &a->unique_key) != 0 ||
        cfg_sch_bool(L, n, "isCombinedKey", false, &a->combined_key) != 0 ||
        cfg_sch_bool(L, n, "caseSensitive", false, &a->case_sensitive) != 0 ||
        cfg_sch_bool(L, n, "expanded", false, &a->expanded) != 0 ||
        cfg_sch_bool(L, n, "encrypted", false, &a->encrypted) != 0 ||
        cfg_sch_bool(L, n, "allowInfinite", false, &a->allow_infinite) != 0 ||
        cfg_sch_bool(L, n, "displayHex", false, &a->display_hex) != 0)
        return -1;
    int fline;
    const char *fmt = cfg_node_attr_line(n, "timeSpanFormat", &fline);
    if (fmt) {
        if (!strcasecmp(fmt, "string"))
            a->timespan_format = WASP_TIMESPAN_STRING;
        else if (!strcasecmp(fmt, "seconds"))
            a->timespan_format = WASP_TIMESPAN_SECONDS;
        else if (!strcasecmp(fmt, "minutes"))
            a->timespan_format = WASP_TIMESPAN_MINUTES;
        else {
            cfg_diag(L->diag, n->file, fline,
                     "timeSpanFormat=\"%s\" of attribute '%s' must be string, seconds or minutes",
                     fmt, name);
            return -1;
        }
    }
    if (cfg_sch_values(L, a, n) != 0)
        return -1;

    /* The default is checked against the type only: IIS' own defaults do
     * not always pass the validator (a pool's name defaults to ""). */
    int dline;
    const char *dv = cfg_node_attr_line(n, "defaultValue", &dline);
    a->has_default = dv != NULL;
    a->default_text = cfg_arena_strdup(&s->arena, dv ? dv : cfg_sch_type_default(a));
    char msg[512];
    if (cfg_value_parse(a, a->default_text, &a->default_value, msg, sizeof(msg)) != 0) {
        cfg_diag(L->diag, n->file, dline,
                 "defaultValue=\"%s\" of attribute '%s' is not a valid %s: %s", a->default_text,
                 name, cfg_type_name(a->type), msg);
        return -1;
    }

    int vline;
    const char *vt = cfg_node_attr_line(n, "validationType", &vline);
    const char *vp = wasp_section_attr(n, "validationParameter");
    a->validation_type = vt ? cfg_arena_strdup(&s->arena, vt) : NULL;
    a->validation_parameter = vp ? cfg_arena_strdup(&s->arena, vp) : NULL;
    if (cfg_validator_init(&a->validator, a->type, a->validation_type, a->validation_parameter,
                           msg, sizeof(msg)) != 0) {
        cfg_diag(L->diag, n->file, vline, "attribute '%s': %s", name, msg);
        return -1;
    }
    if (a->validator.re)
        cfg_vec_push(&s->regexes, &a->validator);

    if (e->attrs_tail)
        e->attrs_tail->next = a;
    else
        e->attrs = a;
    e->attrs_tail = a;
    cfg_map_put(&s->attrs, e->id, a->name, strlen(a->name), a);
    return 0;
}

/* ---- <element>, <collection> --------------------------------------------------------- */

static int cfg_sch_body(cfg_sch_ld_t *L, const char *section, cfg_elem_schema_t *e,
                        const wasp_section_t *n);

static int cfg_sch_element(cfg_sch_ld_t *L, const char *section, cfg_elem_schema_t *e,
                           const wasp_section_t *n)
{
    cfg_schema_t *s = L->s;
    static const char *const meta[] = { "name", "isCollectionDefault", NULL };
    cfg_sch_known_attrs(s, n, meta);
    const char *name = cfg_sch_name(L, n, "files");
    if (!name)
        return -1;
    if (strchr(name, '/')) {
        cfg_diag(L->diag, n->file, n->line,
                 "element name '%s' contains '/'; nest <element>s to describe a path", name);
        return -1;
    }
    cfg_elem_schema_t *c = cfg_map_get(&s->kids, e->id, name, strlen(name));
    if (c && e->coll && c == e->coll->item) {
        cfg_diag(L->diag, n->file, n->line,
                 "<element name=\"%s\"> inside %s has the name of the add element of its "
                 "collection (%s:%d); rename one of them",
                 name, cfg_sch_where(&s->arena, section, e), e->coll->file, e->coll->line);
        return -1;
    }
    if (!c) {
        c = cfg_sch_new_elem(s, name, cfg_sch_join(&s->arena, e->path, name), n);
        if (e->children_tail)
            e->children_tail->next = c;
        else
            e->children = c;
        e->children_tail = c;
        cfg_map_put(&s->kids, e->id, c->name, strlen(c->name), c);
    }
    bool dflt;
    if (cfg_sch_bool(L, n, "isCollectionDefault", false, &dflt) != 0)
        return -1;
    c->is_collection_default = c->is_collection_default || dflt;
    return cfg_sch_body(L, section, c, n);
}

/* A directive name of <collection> into *out: an XML name (or, for
 * addElement, a comma list of them), blanks dropped; NULL when absent. */
static int cfg_sch_directive(cfg_sch_ld_t *L, const wasp_section_t *n, const char *attr,
                             bool list, const char **out)
{
    int line;
    const char *v = cfg_node_attr_line(n, attr, &line);
    *out = NULL;
    if (!v)
        return 0;
    char *name = cfg_arena_alloc(&L->s->arena, strlen(v) + 1);
    char *o = name;
    bool ok = true, need_name = true;
    for (const char *p = v; *p && ok; p++) {
        if (*p == ' ' || *p == '\t')
            continue;
        if (*p == ',') {
            ok = list && !need_name;
            need_name = true;
        } else {
            ok = *p != '/' && *p != '<' && *p != '>' && *p != '"';
            need_name = false;
        }
        *o++ = *p;
    }
    if (!ok || need_name) {
        cfg_diag(L->diag, n->file, line, "%s=\"%s\" on <collection> must be %s", attr, v,
                 list ? "an element name or a comma-separated list of them (\"allow,deny\")"
                      : "one element name");
        return -1;
    }
    *o = '\0';
    *out = name;
    return 0;
}

static bool cfg_sch_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int cfg_sch_collection(cfg_sch_ld_t *L, const char *section, cfg_elem_schema_t *e,
                              const wasp_section_t *n)
{
    cfg_schema_t *s = L->s;
    static const char *const meta[] = { "addElement", "removeElement", "clearElement",
                                        "defaultElement", "mergeAppend", "allowDuplicates",
                                        "allowUnrecognizedAttributes", NULL };
    cfg_sch_known_attrs(s, n, meta);
    const char *add, *rm, *cl, *de;
    if (cfg_sch_directive(L, n, "addElement", true, &add) != 0 ||
        cfg_sch_directive(L, n, "removeElement", false, &rm) != 0 ||
        cfg_sch_directive(L, n, "clearElement", false, &cl) != 0 ||
        cfg_sch_directive(L, n, "defaultElement", false, &de) != 0)
        return -1;
    bool merge, dups, unrec;
    if (cfg_sch_bool(L, n, "mergeAppend", true, &merge) != 0 ||
        cfg_sch_bool(L, n, "allowDuplicates", false, &dups) != 0 ||
        cfg_sch_bool(L, n, "allowUnrecognizedAttributes", false, &unrec) != 0)
        return -1;
    if (e->coll) {
        /* A later description of the same collection may add to its item
         * and repeat its facts; changing one would leave two rules. */
        cfg_coll_def_t *c = e->coll;
        bool differs =
            (add && !cfg_sch_same(add, c->add)) || (rm && !cfg_sch_same(rm, c->remove)) ||
            (cl && !cfg_sch_same(cl, c->clear)) || (de && !cfg_sch_same(de, c->default_element)) ||
            (wasp_section_attr(n, "mergeAppend") && merge != c->merge_append) ||
            (wasp_section_attr(n, "allowDuplicates") && dups != c->allow_duplicates) ||
            (wasp_section_attr(n, "allowUnrecognizedAttributes") && unrec != c->allow_unrecognized);
        if (differs) {
            cfg_diag(L->diag, n->file, n->line,
                     "the collection of %s is already described at %s:%d (addElement=\"%s\" "
                     "removeElement=\"%s\" clearElement=\"%s\" defaultElement=\"%s\" "
                     "mergeAppend=\"%s\" allowDuplicates=\"%s\"); a later description may add "
                     "to its items and repeat these facts, not change them (schema files are "
                     "read in name order)",
                     cfg_sch_where(&s->arena, section, e), c->file, c->line,
                     c->add ? c->add : "", c->remove ? c->remove : "", c->clear ? c->clear : "",
                     c->default_element ? c->default_element : "",
                     c->merge_append ? "true" : "false", c->allow_duplicates ? "true" : "false");
            return -1;
        }
        return cfg_sch_body(L, section, c->item, n);
    }

    cfg_coll_def_t *c = cfg_arena_alloc(&s->arena, sizeof(*c));
    c->add = add;
    c->remove = rm;
    c->clear = cl;
    c->default_element = de;
    c->file = n->file;
    c->line = n->line;
    c->merge_append = merge;
    c->allow_duplicates = dups;
    c->allow_unrecognized = unrec;
    /* The item is named and placed by its first add name. */
    size_t first = add ? strcspn(add, ",") : 0;
    char *iname = cfg_arena_strndup(&s->arena, add ? add : "", first);
    c->item = cfg_sch_new_elem(s, iname, add ? cfg_sch_join(&s->arena, e->path, iname) : e->path,
                               n);
    c->item->owner = c;
    e->coll = c;
    for (const char *p = add; p && *p;) {
        size_t len = strcspn(p, ",");
        const char *nm = cfg_arena_strndup(&s->arena, p, len);
        const cfg_elem_schema_t *clash = cfg_map_get(&s->kids, e->id, nm, len);
        if (clash || (rm && !strcmp(rm, nm)) || (cl && !strcmp(cl, nm))) {
            cfg_diag(L->diag, n->file, n->line,
                     "addElement name '%s' of the collection of %s is already %s; rename one of "
                     "them",
                     nm, cfg_sch_where(&s->arena, section, e),
                     clash ? "a child element (or an add name) there"
                           : "the collection's remove or clear element");
            return -1;
        }
        cfg_map_put(&s->kids, e->id, nm, len, c->item);
        p += len;
        if (*p == ',')
            p++;
    }
    if (rm && cl && !strcmp(rm, cl)) {
        cfg_diag(L->diag, n->file, n->line,
                 "removeElement and clearElement are both '%s'; they must differ", rm);
        return -1;
    }
    return cfg_sch_body(L, section, c->item, n);
}

/* The children of <sectionSchema>, <element> or <collection>. */
static int cfg_sch_body(cfg_sch_ld_t *L, const char *section, cfg_elem_schema_t *e,
                        const wasp_section_t *n)
{
    for (size_t i = 0; i < n->child_count; i++) {
        const wasp_section_t *c = n->children[i];
        int rc = 0;
        if (!strcmp(c->name, "attribute"))
            rc = cfg_sch_attribute(L, section, e, c);
        else if (!strcmp(c->name, "element"))
            rc = cfg_sch_element(L, section, e, c);
        else if (!strcmp(c->name, "collection"))
            rc = cfg_sch_collection(L, section, e, c);
        else if (strcmp(c->name, "method") != 0)
            cfg_sch_warn(L->s, c->file, c->line,
                         "<%s> is not part of IIS' schema format (attribute, element, "
                         "collection, enum, flag, method); it is ignored",
                         c->name);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int cfg_sch_section(cfg_sch_ld_t *L, const wasp_section_t *n)
{
    cfg_schema_t *s = L->s;
    static const char *const meta[] = { "name", NULL };
    cfg_sch_known_attrs(s, n, meta);
    const char *name = cfg_sch_name(L, n, "system.webServer/defaultDocument");
    if (!name)
        return -1;
    size_t len = strlen(name);
    if (name[0] == '/' || name[len - 1] == '/' || strstr(name, "//")) {
        cfg_diag(L->diag, n->file, n->line,
                 "sectionSchema name '%s' is not a section path; write it as group/section, "
                 "e.g. system.webServer/defaultDocument",
                 name);
        return -1;
    }
    cfg_section_schema_t *sec = cfg_map_get(&s->sections, 0, name, len);
    if (!sec) {
        sec = cfg_arena_alloc(&s->arena, sizeof(*sec));
        sec->name = cfg_arena_strdup(&s->arena, name);
        sec->file = n->file;
        sec->line = n->line;
        const char *last = strrchr(sec->name, '/');
        sec->root = cfg_sch_new_elem(s, last ? last + 1 : sec->name, "", n);
        if (s->last)
            s->last->next = sec;
        else
            s->first = sec;
        s->last = sec;
        s->section_count++;
        cfg_map_put(&s->sections, 0, sec->name, len, sec);
    }
    return cfg_sch_body(L, sec->name, sec->root, n);
}

/* ---- the cfg_coll_schema_t of every collection ---------------------------------------- */

static int cfg_sch_emit(cfg_sch_ld_t *L, const cfg_section_schema_t *sec, const char *path,
                        const cfg_coll_def_t *c)
{
    cfg_schema_t *s = L->s;
    cfg_coll_schema_t *cs = cfg_arena_alloc(&s->arena, sizeof(*cs));
    cs->section = sec->name;
    cs->element = path;
    cs->add = c->add;
    cs->remove = c->remove;
    cs->clear = c->clear;
    cs->merge_append = c->merge_append;
    cs->allow_duplicates = c->allow_duplicates;
    const cfg_attr_schema_t *unique = NULL;
    for (const cfg_attr_schema_t *a = c->item->attrs; a && !unique; a = a->next)
        if (a->unique_key)
            unique = a;
    size_t k = 0;
    for (const cfg_attr_schema_t *a = c->item->attrs; a; a = a->next) {
        if (unique ? a != unique : !a->combined_key)
            continue;
        if (k == CFG_MAX_KEYS) {
            cfg_diag(L->diag, c->file, c->line,
                     "the collection of %s has more than %d combined key attributes, more than "
                     "wasp supports",
                     path, CFG_MAX_KEYS);
            return -1;
        }
        cs->keys[k] = a->name;
        /* Only a default the schema writes (subStatusCode's -1): a key
         * without one is required in practice, and "" matches absence. */
        cs->key_defaults[k] = a->has_default && *a->default_text ? a->default_text : NULL;
        if (a->case_sensitive)
            cs->key_case_sensitive |= (uint8_t)(1u << k);
        k++;
    }
    cfg_vec_push(&s->colls, cs);
    return 0;
}

static int cfg_sch_walk(cfg_sch_ld_t *L, const cfg_section_schema_t *sec,
                        const cfg_elem_schema_t *e, const char *path)
{
    cfg_arena_t *a = &L->s->arena;
    if (e->coll) {
        if (cfg_sch_emit(L, sec, path, e->coll) != 0)
            return -1;
        /* Each add name is its own element path ("allow/..", "deny/..").
         * A collection without an add element has no item paths. */
        for (const char *p = e->coll->add; p && *p;) {
            size_t len = strcspn(p, ",");
            const char *nm = cfg_arena_strndup(a, p, len);
            if (cfg_sch_walk(L, sec, e->coll->item, cfg_sch_join(a, path, nm)) != 0)
                return -1;
            p += len;
            if (*p == ',')
                p++;
        }
    }
    for (const cfg_elem_schema_t *c = e->children; c; c = c->next)
        if (cfg_sch_walk(L, sec, c, cfg_sch_join(a, path, c->name)) != 0)
            return -1;
    return 0;
}

/* ---- loading ------------------------------------------------------------------------ */

void cfg_schema_free(cfg_schema_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->regexes.n; i++)
        cfg_validator_release(s->regexes.v[i]);
    cfg_vec_free(&s->regexes);
    cfg_vec_free(&s->colls);
    cfg_map_free(&s->sections);
    cfg_map_free(&s->kids);
    cfg_map_free(&s->attrs);
    free(s->warnings);
    cfg_arena_free(&s->arena);
    free(s);
}

/* One schema file, from disk (text NULL) or from memory. */
static int cfg_sch_file(cfg_sch_ld_t *L, const char *path, const cfg_schema_text_t *text)
{
    cfg_schema_t *s = L->s;
    const char *file = cfg_arena_strdup(&s->arena, path);
    cfg_arena_t tmp = { 0 };
    cfg_node_t *root = NULL;
    int rc = text ? cfg_xml_parse_buf(&tmp, text->text, text->len, path, file, "configSchema",
                                      "a schema file", &root, L->diag)
                  : cfg_xml_parse(&tmp, path, file, "configSchema", "a schema file", &root,
                                  L->diag);
    for (size_t i = 0; rc == 0 && i < root->pub.child_count; i++) {
        const wasp_section_t *c = root->pub.children[i];
        if (!strcmp(c->name, "sectionSchema"))
            rc = cfg_sch_section(L, c);
        else
            cfg_sch_warn(s, c->file, c->line,
                         "<%s> is not part of IIS' schema format (only <sectionSchema> goes in "
                         "<configSchema>); it is ignored",
                         c->name);
    }
    cfg_arena_free(&tmp);
    return rc;
}

static int cfg_sch_load(const char *const *paths, const cfg_schema_text_t *texts, size_t count,
                        cfg_schema_t **out, wasp_diag_t *diag)
{
    wasp_diag_t scratch;
    if (!diag)
        diag = &scratch;
    memset(diag, 0, sizeof(*diag));
    *out = NULL;
    cfg_schema_t *s = calloc(1, sizeof(*s));
    if (!s) {
        cfg_diag(diag, "", 0, "out of memory reading schema files");
        return -1;
    }
    cfg_map_init(&s->sections, true);
    cfg_map_init(&s->kids, false);
    cfg_map_init(&s->attrs, false);
    cfg_sch_ld_t L = { .s = s, .diag = diag };
    for (size_t i = 0; i < count; i++) {
        if (cfg_sch_file(&L, texts ? texts[i].name : paths[i], texts ? &texts[i] : NULL) != 0) {
            cfg_schema_free(s);
            return -1;
        }
    }
    for (const cfg_section_schema_t *sec = s->first; sec; sec = sec->next) {
        if (cfg_sch_walk(&L, sec, sec->root, "") != 0) {
            cfg_schema_free(s);
            return -1;
        }
    }
    *out = s;
    return 0;
}

int cfg_schema_load_files(const char *const *paths, size_t count, cfg_schema_t **out,
                          wasp_diag_t *diag)
{
    return cfg_sch_load(paths, NULL, count, out, diag);
}

int cfg_schema_load_texts(const cfg_schema_text_t *texts, size_t count, cfg_schema_t **out,
                          wasp_diag_t *diag)
{
    return cfg_sch_load(NULL, texts, count, out, diag);
}

int cfg_schema_collections(wasp_config_t *cfg, wasp_diag_t *diag)
{
    const cfg_schema_t *s = cfg_schema_builtin(diag);

    if (!s)
        return -1;
    cfg_schema_register_collections(cfg, s);
    return 0;
}

const cfg_schema_t *cfg_schema_builtin(wasp_diag_t *diag)
{
    /* Loaded once per process: a few milliseconds, then every configuration
     * load (reloads, waspctl, web.config files) shares it. */
    static cfg_schema_t *builtin;
    static wasp_diag_t failure;
    static bool tried;

    if (!tried) {
        tried = true;
        if (cfg_schema_load_texts(cfg_schema_builtin_files, cfg_schema_builtin_count, &builtin,
                                  &failure) != 0)
            builtin = NULL;
    }
    if (!builtin && diag)
        *diag = failure;
    return builtin;
}

static int cfg_sch_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool cfg_sch_is_xml(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcasecmp(name + n - 4, ".xml") == 0;
}

int cfg_schema_load_dir(const char *dir, cfg_schema_t **out, wasp_diag_t *diag)
{
    wasp_diag_t scratch;
    if (!diag)
        diag = &scratch;
    memset(diag, 0, sizeof(*diag));
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) {
        cfg_diag(diag, dir, 0,
                 "cannot open the schema directory: %s; give the directory that holds the "
                 "schema *.xml files",
                 strerror(errno));
        return -1;
    }
    cfg_vec_t names = { 0 };
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!cfg_sch_is_xml(de->d_name))
            continue;
        size_t need = strlen(dir) + strlen(de->d_name) + 2;
        char *p = malloc(need);
        if (!p) {
            fputs("wasp: out of memory while reading schema files\n", stderr);
            abort();
        }
        snprintf(p, need, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        cfg_vec_push(&names, p);
    }
    closedir(d);
    if (names.n)
        qsort(names.v, names.n, sizeof(*names.v), cfg_sch_name_cmp);
    int rc = cfg_schema_load_files((const char *const *)names.v, names.n, out, diag);
    for (size_t i = 0; i < names.n; i++)
        free(names.v[i]);
    cfg_vec_free(&names);
    return rc;
}

size_t cfg_schema_warning_count(const cfg_schema_t *s)
{
    return s ? s->warning_count : 0;
}

const wasp_diag_t *cfg_schema_warning(const cfg_schema_t *s, size_t i)
{
    return s && i < s->warning_count ? &s->warnings[i] : NULL;
}

/* ---- lookups ------------------------------------------------------------------------- */

size_t cfg_schema_section_count(const cfg_schema_t *s)
{
    return s ? s->section_count : 0;
}

const cfg_section_schema_t *cfg_schema_first_section(const cfg_schema_t *s)
{
    return s ? s->first : NULL;
}

const cfg_section_schema_t *cfg_schema_section(const cfg_schema_t *s, const char *name)
{
    if (!s || !name)
        return NULL;
    return cfg_map_get(&s->sections, 0, name, strlen(name));
}

/* Walk elem_path down from the section element.  A last segment that is
 * the remove element of the collection above gives its item, keys only. */
static const cfg_elem_schema_t *cfg_sch_resolve(const cfg_schema_t *s,
                                                const cfg_section_schema_t *sec,
                                                const char *path, bool *keys_only)
{
    *keys_only = false;
    if (!sec)
        return NULL;
    const cfg_elem_schema_t *e = sec->root;
    const char *p = path ? path : "";
    while (*p) {
        size_t len = strcspn(p, "/");
        if (!len || *keys_only)
            return NULL;
        const cfg_elem_schema_t *c = cfg_map_get(&s->kids, e->id, p, len);
        if (!c && e->coll && e->coll->remove && strlen(e->coll->remove) == len &&
            !memcmp(e->coll->remove, p, len)) {
            c = e->coll->item;
            *keys_only = true;
        }
        if (!c)
            return NULL;
        e = c;
        p += len;
        if (*p == '/' && !*++p)
            return NULL; /* a trailing '/' */
    }
    return e;
}

const cfg_elem_schema_t *cfg_schema_element(const cfg_schema_t *s, const cfg_section_schema_t *sec,
                                            const char *elem_path)
{
    bool keys_only;
    const cfg_elem_schema_t *e = cfg_sch_resolve(s, sec, elem_path, &keys_only);
    return keys_only ? NULL : e;
}

const cfg_attr_schema_t *cfg_schema_attr(const cfg_schema_t *s, const cfg_elem_schema_t *e,
                                         const char *name)
{
    if (!s || !e || !name)
        return NULL;
    return cfg_map_get(&s->attrs, e->id, name, strlen(name));
}

static bool cfg_sch_is_key(const cfg_attr_schema_t *a)
{
    return a && (a->unique_key || a->combined_key);
}

const cfg_attr_schema_t *cfg_schema_find_attr(const cfg_schema_t *s, const char *section,
                                              const char *elem_path, const char *attr)
{
    bool keys_only;
    const cfg_elem_schema_t *e =
        cfg_sch_resolve(s, cfg_schema_section(s, section), elem_path, &keys_only);
    const cfg_attr_schema_t *a = cfg_schema_attr(s, e, attr);
    return keys_only && !cfg_sch_is_key(a) ? NULL : a;
}

const char *cfg_schema_attr_default(const cfg_attr_schema_t *a)
{
    return a ? a->default_text : NULL;
}

int cfg_schema_validate(const cfg_schema_t *s, const char *section, const char *elem_path,
                        const char *attr, const char *value, char *msg, size_t msg_size)
{
    const cfg_section_schema_t *sec = cfg_schema_section(s, section);
    if (!sec) {
        snprintf(msg, msg_size, "No schema file describes the section '%s'",
                 section ? section : "");
        return -1;
    }
    bool keys_only;
    const cfg_elem_schema_t *e = cfg_sch_resolve(s, sec, elem_path, &keys_only);
    if (!e) {
        const char *last = elem_path ? strrchr(elem_path, '/') : NULL;
        snprintf(msg, msg_size, "Unrecognized element '%s'", last ? last + 1 : elem_path);
        return -1;
    }
    const cfg_attr_schema_t *a = cfg_schema_attr(s, e, attr);
    if (keys_only && !cfg_sch_is_key(a))
        a = NULL;
    if (!a) {
        if (e->owner && e->owner->allow_unrecognized && !keys_only)
            return 0;
        snprintf(msg, msg_size,
                 "Unrecognized attribute '%s'. Note that attribute names are case-sensitive.",
                 attr ? attr : "");
        return -1;
    }
    cfg_value_t v;
    return cfg_value_parse(a, value, &v, msg, msg_size);
}

/* ---- collections -------------------------------------------------------------------------- */

size_t cfg_schema_collection_count(const cfg_schema_t *s)
{
    return s ? s->colls.n : 0;
}

const cfg_coll_schema_t *cfg_schema_collection(const cfg_schema_t *s, size_t i)
{
    return s && i < s->colls.n ? s->colls.v[i] : NULL;
}

static const char *cfg_sch_dup(cfg_arena_t *a, const char *s)
{
    return s ? cfg_arena_strdup(a, s) : NULL;
}

void cfg_schema_register_collections(wasp_config_t *cfg, const cfg_schema_t *s)
{
    for (size_t i = 0; i < cfg_schema_collection_count(s); i++) {
        const cfg_coll_schema_t *src = s->colls.v[i];
        cfg_coll_schema_t *cs = cfg_arena_alloc(&cfg->arena, sizeof(*cs));
        *cs = *src;
        cs->section = cfg_sch_dup(&cfg->arena, src->section);
        cs->element = cfg_sch_dup(&cfg->arena, src->element);
        cs->add = cfg_sch_dup(&cfg->arena, src->add);
        cs->remove = cfg_sch_dup(&cfg->arena, src->remove);
        cs->clear = cfg_sch_dup(&cfg->arena, src->clear);
        for (size_t k = 0; k < CFG_MAX_KEYS; k++) {
            cs->keys[k] = cfg_sch_dup(&cfg->arena, src->keys[k]);
            cs->key_defaults[k] = cfg_sch_dup(&cfg->arena, src->key_defaults[k]);
        }
        cfg_register_collection(cfg, cs);
    }
}
