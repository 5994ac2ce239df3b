/*
 * Every section a file defines, checked against the schema (the files of schema/,
 * compiled in): elements and attributes the schema does not describe,
 * values of the wrong type or outside their validator, collection items
 * without a required attribute.  IIS refuses such a section as a whole
 * (error 0x8007000d, iis-hosting.md 6.6): so does wasp, naming the file and
 * the line of the offending attribute or element, and saying how to fix it.
 *
 * Not checked: opaque sections (the .NET ones wasp does not interpret) and
 * sections declared in <configSections> that no schema file describes
 * (kept as written, for the modules that read them raw).  Encrypted values
 * are checked by encrypted.c, not here.  The configuration system's own
 * attributes (lock*, configSource, xmlns, xdt:) are allowed everywhere.
 */
#include <stdio.h>
#include <string.h>

#include "config/cfg_internal.h"
#include "config/schema.h"

static bool cfg_system_attr(const char *name)
{
    return strcmp(name, "lockAttributes") == 0 || strcmp(name, "lockAllAttributesExcept") == 0 ||
           strcmp(name, "lockElements") == 0 || strcmp(name, "lockAllElementsExcept") == 0 ||
           strcmp(name, "lockItem") == 0 || strcmp(name, "configSource") == 0 ||
           strncmp(name, "xmlns", 5) == 0 || strncmp(name, "xdt:", 4) == 0;
}

static const cfg_elem_schema_t *cfg_child_schema(const cfg_elem_schema_t *e, const char *name)
{
    for (const cfg_elem_schema_t *c = e->children; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

/* Messages name the collection item an element belongs to by its keys
 * (' (in <add name="DefaultAppPool">)'), else the section's child element
 * it is under (' (in <applicationPoolDefaults>)'). */
static size_t cfg_item_keys(const cfg_elem_schema_t *item, const wasp_section_t *node, char *out,
                            size_t size)
{
    size_t n = 0;

    out[0] = '\0';
    for (size_t i = 0; item && i < node->attr_count && n < size; i++) {
        const cfg_attr_schema_t *as = NULL;

        for (const cfg_attr_schema_t *a = item->attrs; a; a = a->next)
            if (strcmp(a->name, node->attrs[i].name) == 0)
                as = a;
        if (as && (as->unique_key || as->combined_key))
            n += (size_t)snprintf(out + n, size - n, " %s=\"%s\"", node->attrs[i].name,
                                  node->attrs[i].value);
    }
    return n;
}

static void cfg_item_context(const cfg_elem_schema_t *item, const wasp_section_t *node, char *out,
                             size_t size)
{
    char keys[400];

    cfg_item_keys(item, node, keys, sizeof(keys));
    snprintf(out, size, " (in <%s%s>)", node->name, keys);
}

/* ctx: where node is (cfg_item_context); for a collection item itself
 * (e->owner set) its keys are written inside its own tag instead. */
static int cfg_check_attrs(const cfg_schema_t *sch, const cfg_elem_schema_t *e,
                           const wasp_section_t *node, const char *section, bool keys_only,
                           const char *ctx, wasp_diag_t *diag)
{
    bool open = e->owner && e->owner->allow_unrecognized;
    char keys[400] = "";

    if (e->owner) {
        cfg_item_keys(e, node, keys, sizeof(keys));
        ctx = "";
    }

    for (size_t i = 0; i < node->attr_count; i++) {
        const wasp_attr_t *a = &node->attrs[i];
        const cfg_attr_schema_t *as;
        cfg_value_t v;
        char msg[512];

        if (cfg_system_attr(a->name))
            continue;
        as = cfg_schema_attr(sch, e, a->name);
        if (as && keys_only && !as->unique_key && !as->combined_key)
            as = NULL; /* a <remove> names the item by its key only */
        if (!as) {
            if (open && !keys_only)
                continue;
            cfg_diag(diag, node->file, a->line,
                     "Unrecognized attribute '%s' on <%s%s>%s (section %s). Note that attribute "
                     "names are case-sensitive: check its spelling against the schema, or remove "
                     "it",
                     a->name, node->name, keys, ctx, section);
            return -1;
        }
        if (as->encrypted || strncmp(a->value, "[enc:", 5) == 0)
            continue;
        if (cfg_value_parse(as, a->value, &v, msg, sizeof(msg)) != 0) {
            cfg_diag(diag, node->file, a->line, "Invalid value: <%s%s %s=\"%s\">%s: %s",
                     node->name, keys, a->name, a->value, ctx, msg);
            return -1;
        }
    }
    return 0;
}

static int cfg_check_required(const cfg_elem_schema_t *item, const wasp_section_t *node,
                              const char *section, const char *ctx, wasp_diag_t *diag)
{
    for (const cfg_attr_schema_t *as = item->attrs; as; as = as->next) {
        bool have = false;

        if (!as->required)
            continue;
        for (size_t i = 0; i < node->attr_count && !have; i++)
            have = strcmp(node->attrs[i].name, as->name) == 0;
        if (!have) {
            cfg_diag(diag, node->file, node->line,
                     "Missing required attribute '%s' on <%s>%s (section %s): add it",
                     as->name, node->name, ctx, section);
            return -1;
        }
    }
    return 0;
}

static int cfg_check_element(const cfg_schema_t *sch, const cfg_elem_schema_t *e,
                             const wasp_section_t *node, const char *section, const char *ctx,
                             wasp_diag_t *diag)
{
    if (cfg_check_attrs(sch, e, node, section, false, ctx, diag) != 0)
        return -1;
    for (size_t i = 0; i < node->child_count; i++) {
        const wasp_section_t *c = node->children[i];
        const cfg_coll_def_t *coll = e->coll;
        const cfg_elem_schema_t *ce;

        if (coll && cfg_name_in_list(coll->add, c->name)) {
            char item_ctx[512];

            cfg_item_context(coll->item, c, item_ctx, sizeof(item_ctx));
            if (cfg_check_required(coll->item, c, section, ctx, diag) != 0 ||
                cfg_check_element(sch, coll->item, c, section, item_ctx, diag) != 0)
                return -1;
            continue;
        }
        if (coll && coll->remove && strcmp(coll->remove, c->name) == 0) {
            if (cfg_check_attrs(sch, coll->item, c, section, true, ctx, diag) != 0)
                return -1;
            continue;
        }
        if (coll && coll->clear && strcmp(coll->clear, c->name) == 0)
            continue;
        ce = cfg_child_schema(e, c->name);
        if (!ce) {
            cfg_diag(diag, c->file, c->line,
                     "Unrecognized element '%s' inside <%s>%s (section %s): check its spelling "
                     "against the schema, or remove it",
                     c->name, node->name, ctx, section);
            return -1;
        }
        if (*ctx == '\0') {
            char child_ctx[512];

            cfg_item_context(NULL, c, child_ctx, sizeof(child_ctx));
            if (cfg_check_element(sch, ce, c, section, child_ctx, diag) != 0)
                return -1;
            continue;
        }
        if (cfg_check_element(sch, ce, c, section, ctx, diag) != 0)
            return -1;
    }
    return 0;
}

int cfg_validate_node(const char *section, const wasp_section_t *node, wasp_diag_t *diag)
{
    const cfg_schema_t *sch = cfg_schema_builtin(diag);
    const cfg_section_schema_t *sec;

    if (!sch)
        return -1;
    sec = cfg_schema_section(sch, section);
    if (!sec)
        return 0; /* declared, but described by no schema: kept as written */
    return cfg_check_element(sch, sec->root, node, section, "", diag);
}

int cfg_validate_sections(wasp_config_t *cfg, wasp_diag_t *diag)
{
    for (size_t i = 0; i < cfg->levels.n; i++) {
        const cfg_level_t *lv = cfg->levels.v[i];

        for (const cfg_instance_t *in = lv->sections; in; in = in->next) {
            if (in->decl->opaque || in->decl->is_group)
                continue;
            if (cfg_validate_node(in->decl->path, &in->node->pub, diag) != 0)
                return -1;
        }
    }
    return 0;
}
