/*
 * Collections: <add>, <remove> and <clear/> applied in document order on top
 * of the items inherited from the level above (iis-hosting.md 6.6).
 *
 * One routine, cfg_collection_apply(), serves both uses: at load it turns the
 * directives of every collection element of the file into that element's own
 * items (nothing inherited), which is where duplicate keys within one level
 * are caught; when levels are merged it applies a lower level's directives on
 * top of the merged items of the levels above (effective.c).
 *
 * Items are atomic: an item is taken whole from the level that added it, the
 * way IIS treats them (re-adding after <remove> starts from scratch).
 *
 * A collection that is not in the schema table but plainly is one (children
 * named add / remove / clear, as in most .NET sections) gets the heuristic
 * schema below: no duplicate check (the key is unknown) and <remove> matches
 * the items whose attributes equal all of the remove element's attributes,
 * which is what the key is in every IIS and .NET schema.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/cfg_internal.h"

static const cfg_coll_schema_t cfg_heuristic = {
    .section = "",
    .element = "",
    .add = "add",
    .remove = "remove",
    .clear = "clear",
    .merge_append = true,
    .allow_duplicates = true,
    .heuristic = true,
};

static const char *cfg_key_value(const cfg_coll_schema_t *cs, const wasp_section_t *item,
                                 size_t k)
{
    const char *v = wasp_section_attr(item, cs->keys[k]);
    if (!v)
        v = cs->key_defaults[k] ? cs->key_defaults[k] : "";
    return v;
}

/* The composite key of an item: key values joined by U+001F, lower-cased
 * where the key compares case-insensitively. */
static const char *cfg_item_key(cfg_arena_t *tmp, const cfg_coll_schema_t *cs,
                                const wasp_section_t *item, size_t *len)
{
    size_t total = 0;
    for (size_t k = 0; k < CFG_MAX_KEYS && cs->keys[k]; k++)
        total += strlen(cfg_key_value(cs, item, k)) + 1;
    char *buf = cfg_arena_alloc(tmp, total + 1);
    char *p = buf;
    for (size_t k = 0; k < CFG_MAX_KEYS && cs->keys[k]; k++) {
        const char *v = cfg_key_value(cs, item, k);
        bool cs_key = (cs->key_case_sensitive >> k) & 1u;
        for (; *v; v++)
            *p++ = (!cs_key && *v >= 'A' && *v <= 'Z') ? (char)(*v + 32) : *v;
        *p++ = '\x1f';
    }
    *len = (size_t)(p - buf);
    return buf;
}

bool cfg_remove_matches(const cfg_coll_schema_t *cs, const wasp_section_t *rm,
                        const wasp_section_t *item)
{
    if (cs->keys[0]) {
        for (size_t k = 0; k < CFG_MAX_KEYS && cs->keys[k]; k++) {
            const char *a = cfg_key_value(cs, rm, k), *b = cfg_key_value(cs, item, k);
            bool cs_key = (cs->key_case_sensitive >> k) & 1u;
            if (cs_key ? strcmp(a, b) != 0 : strcasecmp(a, b) != 0)
                return false;
        }
        return true;
    }
    for (size_t i = 0; i < rm->attr_count; i++) {
        const char *b = wasp_section_attr(item, rm->attrs[i].name);
        if (!b || strcasecmp(rm->attrs[i].value, b) != 0)
            return false;
    }
    return true;
}

static void cfg_dup_message(wasp_diag_t *diag, const cfg_coll_schema_t *cs,
                            const wasp_section_t *item, const wasp_section_t *first)
{
    char names[256] = "", values[512] = "", rm[512] = "";
    size_t nk = 0;
    for (size_t k = 0; k < CFG_MAX_KEYS && cs->keys[k]; k++, nk++) {
        const char *v = cfg_key_value(cs, item, k);
        size_t ln = strlen(names), lv = strlen(values), lr = strlen(rm);
        snprintf(names + ln, sizeof(names) - ln, "%s%s", k ? ", " : "", cs->keys[k]);
        snprintf(values + lv, sizeof(values) - lv, "%s%s", k ? ", " : "", v);
        snprintf(rm + lr, sizeof(rm) - lr, " %s=\"%s\"", cs->keys[k], v);
    }
    char where[600];
    if (first->file == item->file)
        snprintf(where, sizeof(where), "line %d", first->line);
    else
        snprintf(where, sizeof(where), "%s:%d", first->file, first->line);
    char fix[700];
    if (cs->remove)
        snprintf(fix, sizeof(fix),
                 "remove one of the two entries, or write <%s%s /> before this <%s> to replace an "
                 "inherited one",
                 cs->remove, rm, item->name);
    else
        snprintf(fix, sizeof(fix), "remove one of the two entries");
    if (nk == 1)
        cfg_diag(diag, item->file, item->line,
                 "Cannot add duplicate collection entry of type '%s' with unique key attribute "
                 "'%s' set to '%s' (already added at %s); %s",
                 item->name, names, values, where, fix);
    else
        cfg_diag(diag, item->file, item->line,
                 "Cannot add duplicate collection entry of type '%s' with combined key "
                 "attributes '%s' respectively set to '%s' (already added at %s); %s",
                 item->name, names, values, where, fix);
}

static void cfg_drop_matching(const cfg_coll_schema_t *cs, cfg_vec_t *v, const wasp_section_t *rm)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i] && cfg_remove_matches(cs, rm, v->v[i]))
            v->v[i] = NULL;
}

int cfg_collection_apply(cfg_arena_t *arena, const cfg_coll_schema_t *cs, cfg_node_t *dst,
                         const wasp_section_t *inherited, const wasp_section_t *src,
                         wasp_diag_t *diag)
{
    cfg_arena_t tmp = { 0 };
    cfg_vec_t inh = { 0 }, loc = { 0 };
    cfg_map_t keys;
    cfg_map_init(&keys, false);
    bool check = cs->keys[0] && !cs->allow_duplicates;
    int rc = 0;

    if (inherited) {
        for (size_t i = 0; i < inherited->item_count; i++) {
            cfg_vec_push(&inh, inherited->items[i]);
            if (check) {
                size_t len;
                const char *k = cfg_item_key(&tmp, cs, inherited->items[i], &len);
                cfg_map_put(&keys, 0, k, len, inherited->items[i]);
            }
        }
    }
    for (size_t i = 0; src && i < src->child_count; i++) {
        wasp_section_t *c = src->children[i];
        if (cfg_is_add(cs, c->name)) {
            if (check) {
                size_t len;
                const char *k = cfg_item_key(&tmp, cs, c, &len);
                const wasp_section_t *first = cfg_map_get(&keys, 0, k, len);
                if (first) {
                    cfg_dup_message(diag, cs, c, first);
                    rc = -1;
                    goto out;
                }
                cfg_map_put(&keys, 0, k, len, c);
            }
            cfg_vec_push(&loc, c);
        } else if (cs->remove && strcmp(c->name, cs->remove) == 0) {
            cfg_drop_matching(cs, &inh, c);
            cfg_drop_matching(cs, &loc, c);
            if (check) {
                size_t len;
                const char *k = cfg_item_key(&tmp, cs, c, &len);
                cfg_map_put(&keys, 0, k, len, NULL);
            }
        } else if (cs->clear && strcmp(c->name, cs->clear) == 0) {
            inh.n = loc.n = 0;
            cfg_map_free(&keys);
            cfg_map_init(&keys, false);
        }
    }

    size_t n = 0;
    for (size_t i = 0; i < inh.n; i++)
        n += inh.v[i] != NULL;
    for (size_t i = 0; i < loc.n; i++)
        n += loc.v[i] != NULL;
    dst->pub.items = n ? cfg_arena_alloc(arena, n * sizeof(*dst->pub.items)) : NULL;
    dst->pub.item_count = 0;
    cfg_vec_t *first = cs->merge_append ? &inh : &loc, *second = cs->merge_append ? &loc : &inh;
    for (size_t i = 0; i < first->n; i++)
        if (first->v[i])
            dst->pub.items[dst->pub.item_count++] = first->v[i];
    for (size_t i = 0; i < second->n; i++)
        if (second->v[i])
            dst->pub.items[dst->pub.item_count++] = second->v[i];
out:
    cfg_vec_free(&inh);
    cfg_vec_free(&loc);
    cfg_map_free(&keys);
    cfg_arena_free(&tmp);
    return rc;
}

/* ---- the items of every collection element of the file ------------------- */

static bool cfg_looks_like_collection(const wasp_section_t *s)
{
    for (size_t i = 0; i < s->child_count; i++) {
        const char *n = s->children[i]->name;
        if (!strcmp(n, "add") || !strcmp(n, "remove") || !strcmp(n, "clear"))
            return true;
    }
    return false;
}

static int cfg_items_walk(const wasp_config_t *cfg, cfg_arena_t *arena, const char *section,
                          char *elem, size_t elem_len, size_t elem_cap, cfg_node_t *n,
                          wasp_diag_t *diag)
{
    const cfg_coll_schema_t *cs = section ? cfg_collection_schema(cfg, section, elem) : NULL;
    if (!cs && cfg_looks_like_collection(&n->pub))
        cs = &cfg_heuristic;
    if (cs) {
        n->coll = cs;
        if (cfg_collection_apply(arena, cs, n, NULL, &n->pub, diag) != 0)
            return -1;
    }
    for (size_t i = 0; i < n->pub.child_count; i++) {
        wasp_section_t *c = n->pub.children[i];
        if (cs && cs->remove && !strcmp(c->name, cs->remove))
            continue;
        if (cs && cs->clear && !strcmp(c->name, cs->clear))
            continue;
        size_t cl = strlen(c->name);
        size_t need = elem_len + (elem_len ? 1 : 0) + cl;
        if (!section || need + 1 > elem_cap) {
            /* Deeper than any schema path: only the heuristic applies below. */
            if (cfg_items_walk(cfg, arena, NULL, elem, elem_len, elem_cap, cfg_node(c), diag) !=
                0)
                return -1;
            continue;
        }
        size_t at = elem_len;
        if (elem_len)
            elem[at++] = '/';
        memcpy(elem + at, c->name, cl + 1);
        int rc = cfg_items_walk(cfg, arena, section, elem, need, elem_cap, cfg_node(c), diag);
        elem[elem_len] = '\0';
        if (rc != 0)
            return -1;
    }
    return 0;
}

int cfg_section_items(const wasp_config_t *cfg, cfg_arena_t *arena, const char *section,
                      cfg_node_t *n, wasp_diag_t *diag)
{
    char elem[384] = "";
    return cfg_items_walk(cfg, arena, section, elem, 0, sizeof(elem), n, diag);
}

int cfg_compute_items(wasp_config_t *cfg, wasp_diag_t *diag)
{
    for (size_t i = 0; i < cfg->levels.n; i++) {
        cfg_level_t *lv = cfg->levels.v[i];
        for (cfg_instance_t *in = lv->sections; in; in = in->next)
            if (cfg_section_items(cfg, &cfg->arena, in->decl->path, in->node, diag) != 0)
                return -1;
    }
    return 0;
}

/* ---- the collection schema (registered from the schema files) ------------- */

void cfg_register_collection(wasp_config_t *cfg, const cfg_coll_schema_t *cs)
{
    const char *key = cfg_arena_printf(&cfg->arena, "%s|%s", cs->section, cs->element);
    cfg_map_put(&cfg->colls, 0, key, strlen(key), (void *)cs);
}

const cfg_coll_schema_t *cfg_collection_schema(const wasp_config_t *cfg, const char *section,
                                               const char *element)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%s|%s", section, element);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return NULL;
    return cfg_map_get(&cfg->colls, 0, buf, (size_t)n);
}

bool cfg_name_in_list(const char *list, const char *name)
{
    if (!list)
        return false;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

bool cfg_is_add(const cfg_coll_schema_t *cs, const char *name)
{
    return cfg_name_in_list(cs->add, name);
}

bool cfg_is_directive(const cfg_coll_schema_t *cs, const char *name)
{
    return cs && (cfg_name_in_list(cs->add, name) || (cs->remove && strcmp(cs->remove, name) == 0) ||
                  (cs->clear && strcmp(cs->clear, name) == 0));
}
