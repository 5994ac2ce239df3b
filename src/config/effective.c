/*
 * Effective configuration: which settings apply to a URL (iis-hosting.md
 * 6.6, 6.7, 6.9).
 *
 * Levels form a tree keyed by path segments, compared case-insensitively:
 * the server level (top-level sections and <location path="">), one node per
 * site name, then one per URL segment.  A node is a level that matters when
 * a <location path> names it or when it is an application root (needed for
 * inheritInChildApplications="false").
 *
 * For a URL, the levels that apply are the ones on the path from the server
 * down to the deepest node that matters, so the effective configuration of a
 * URL is the effective configuration of that node.  There are few such nodes,
 * so wasp computes all of them at load — a mistake (a duplicate key between
 * levels) is reported then with its file and line, not at request time — and
 * a lookup is one walk down the tree plus one hash probe: no allocation, no
 * merging, no lock.  Merge results are shared between nodes with the same
 * chain of contributing sections (memo keyed by the chain).
 *
 * Merge rules: attributes of a deeper level replace the inherited ones;
 * child elements merge recursively by name (an element that repeats, outside
 * a known collection, is taken whole from the deepest level that has it);
 * collections merge per their schema (collection.c).  web.config files are
 * merged per request directory by webconfig.c, on top of the same levels,
 * with the same cfg_merge (plus granular locks).
 */
#include <string.h>
#include <strings.h>

#include "config/cfg_internal.h"

cfg_level_t *cfg_level_child(wasp_config_t *cfg, cfg_level_t *parent, const char *seg, size_t len,
                             bool create)
{
    cfg_level_t *lv = cfg_map_get(&cfg->children, parent->id, seg, len);
    if (lv || !create)
        return lv;
    lv = cfg_arena_alloc(&cfg->arena, sizeof(*lv));
    lv->id = (uint32_t)cfg->levels.n;
    lv->seg = cfg_arena_strndup(&cfg->arena, seg, len);
    lv->parent = parent;
    cfg_vec_push(&cfg->levels, lv);
    cfg_map_put(&cfg->children, parent->id, lv->seg, len, lv);
    return lv;
}

/* ---- merging two levels of one element -------------------------------------- */

static bool cfg_skip_child(const cfg_node_t *n, const char *name)
{
    return n->coll && cfg_is_directive(n->coll, name);
}

static size_t cfg_count_named(const wasp_section_t *s, const char *name, wasp_section_t **one)
{
    size_t k = 0;
    for (size_t i = 0; s && i < s->child_count; i++) {
        if (strcmp(s->children[i]->name, name) == 0 && !cfg_skip_child(cfg_node(s), name)) {
            if (!k && one)
                *one = s->children[i];
            k++;
        }
    }
    return k;
}

/* Append the children of a / b that carry the name to out, merged. */
static int cfg_merge_children(cfg_merge_ctx_t *mc, cfg_node_t *out, const wasp_section_t *a,
                              const wasp_section_t *b, wasp_diag_t *diag)
{
    cfg_vec_t names = { 0 };
    for (int side = 0; side < 2; side++) {
        const wasp_section_t *s = side ? b : a;
        for (size_t i = 0; s && i < s->child_count; i++) {
            const char *name = s->children[i]->name;
            if (cfg_skip_child(cfg_node(s), name))
                continue;
            bool seen = false;
            for (size_t j = 0; j < names.n && !seen; j++)
                seen = strcmp(names.v[j], name) == 0;
            if (!seen)
                cfg_vec_push(&names, (void *)name);
        }
    }
    size_t cap = 0;
    for (size_t j = 0; j < names.n; j++)
        cap += cfg_count_named(a, names.v[j], NULL) + cfg_count_named(b, names.v[j], NULL);
    out->pub.children = cap ? cfg_arena_alloc(mc->arena, cap * sizeof(wasp_section_t *)) : NULL;
    out->pub.child_count = 0;
    int rc = 0;
    for (size_t j = 0; j < names.n && rc == 0; j++) {
        const char *name = names.v[j];
        wasp_section_t *ca = NULL, *cb = NULL;
        size_t ka = cfg_count_named(a, name, &ca), kb = cfg_count_named(b, name, &cb);
        if (ka == 1 && kb == 1) {
            cfg_node_t *m = cfg_merge(mc, ca, cb, diag);
            if (!m)
                rc = -1;
            else
                out->pub.children[out->pub.child_count++] = &m->pub;
            continue;
        }
        /* Repeated elements (or one side only) are taken whole from the
         * deepest level that has them; with locks, b's are recorded as
         * written at b's depth. */
        const wasp_section_t *from = kb ? b : a;
        for (size_t i = 0; i < from->child_count && rc == 0; i++) {
            wasp_section_t *c = from->children[i];
            if (strcmp(c->name, name) != 0 || cfg_skip_child(cfg_node(from), name))
                continue;
            if (mc->locks && from == b) {
                cfg_node_t *w = cfg_merge(mc, NULL, c, diag);
                if (!w) {
                    rc = -1;
                    break;
                }
                c = &w->pub;
            }
            out->pub.children[out->pub.child_count++] = c;
        }
    }
    cfg_vec_free(&names);
    return rc;
}

cfg_node_t *cfg_merge(cfg_merge_ctx_t *mc, const wasp_section_t *a, const wasp_section_t *b,
                      wasp_diag_t *diag)
{
    if (mc->locks && a && cfg_locks_check(cfg_node(a), b, mc->depth, diag) != 0) {
        mc->hresult = CFG_HR_LOCKED;
        return NULL;
    }
    cfg_node_t *n = cfg_arena_alloc(mc->arena, sizeof(*n));
    n->pub.name = b->name;
    n->pub.file = b->file;
    n->pub.line = b->line;
    size_t cap = (a ? a->attr_count : 0) + b->attr_count;
    n->pub.attrs = cap ? cfg_arena_alloc(mc->arena, cap * sizeof(wasp_attr_t)) : NULL;
    for (size_t i = 0; a && i < a->attr_count; i++)
        n->pub.attrs[n->pub.attr_count++] = a->attrs[i];
    for (size_t i = 0; i < b->attr_count; i++) {
        size_t j = 0;
        while (j < n->pub.attr_count && strcmp(n->pub.attrs[j].name, b->attrs[i].name) != 0)
            j++;
        n->pub.attrs[j] = b->attrs[i];
        if (j == n->pub.attr_count)
            n->pub.attr_count++;
    }
    n->coll = cfg_node(b)->coll ? cfg_node(b)->coll : (a ? cfg_node(a)->coll : NULL);
    if (n->coll && cfg_collection_apply(mc->arena, n->coll, n, a, b, diag) != 0) {
        mc->hresult = CFG_HR_DUPLICATE;
        return NULL;
    }
    if (mc->locks)
        cfg_locks_record(mc->arena, n, a ? cfg_node(a) : NULL, b, mc->depth);
    if (cfg_merge_children(mc, n, a, b, diag) != 0)
        return NULL;
    return n;
}

/* Fold a chain of section nodes (root level first), sharing every prefix of
 * the chain that was folded before. */
static const wasp_section_t *cfg_fold(wasp_config_t *cfg, cfg_vec_t *chain, wasp_diag_t *diag)
{
    const wasp_section_t *acc = chain->v[0];
    for (size_t i = 1; i < chain->n; i++) {
        const char *key = (const char *)chain->v;
        size_t len = (i + 1) * sizeof(void *);
        const wasp_section_t *m = cfg_map_get(&cfg->memo, 0, key, len);
        if (!m) {
            cfg_merge_ctx_t mc = { .arena = &cfg->arena };
            cfg_node_t *mn = cfg_merge(&mc, acc, chain->v[i], diag);
            if (!mn)
                return NULL;
            m = &mn->pub;
            void *stable = cfg_arena_alloc(&cfg->arena, len);
            memcpy(stable, chain->v, len);
            cfg_map_put(&cfg->memo, 0, stable, len, (void *)m);
        }
        acc = m;
    }
    return acc;
}

int cfg_compute_effective(wasp_config_t *cfg, wasp_diag_t *diag)
{
    cfg_vec_t path = { 0 }, decls = { 0 }, chain = { 0 };
    int rc = 0;
    for (size_t i = 0; i < cfg->levels.n && rc == 0; i++) {
        cfg_level_t *lv = cfg->levels.v[i];
        /* Levels are created top-down, so the parent's app is known. */
        lv->app = lv->is_app_root ? lv : (lv->parent ? lv->parent->app : NULL);
        lv->has_table = i == 0 || lv->is_location || lv->is_app_root;
        if (!lv->has_table)
            continue;
        path.n = 0;
        for (cfg_level_t *p = lv; p; p = p->parent)
            cfg_vec_push(&path, p);
        /* path is deepest-first; collect the distinct sections of the chain */
        decls.n = 0;
        for (size_t k = path.n; k-- > 0;) {
            for (cfg_instance_t *in = ((cfg_level_t *)path.v[k])->sections; in; in = in->next) {
                bool seen = false;
                for (size_t d = 0; d < decls.n && !seen; d++)
                    seen = decls.v[d] == in->decl;
                if (!seen)
                    cfg_vec_push(&decls, (void *)in->decl);
            }
        }
        for (size_t d = 0; d < decls.n && rc == 0; d++) {
            const cfg_decl_t *decl = decls.v[d];
            chain.n = 0;
            for (size_t k = path.n; k-- > 0;) {
                cfg_level_t *pl = path.v[k];
                for (cfg_instance_t *in = pl->sections; in; in = in->next) {
                    if (in->decl != decl)
                        continue;
                    /* inheritInChildApplications="false": only within the
                     * application the location belongs to. */
                    if (!in->inherit_in_child_apps && pl->app != lv->app)
                        continue;
                    cfg_vec_push(&chain, in->node);
                }
            }
            if (!chain.n)
                continue;
            const wasp_section_t *eff = cfg_fold(cfg, &chain, diag);
            if (!eff) {
                rc = -1;
                break;
            }
            cfg_map_put(&cfg->effective, lv->id, decl->path, strlen(decl->path), (void *)eff);
        }
    }
    cfg_vec_free(&path);
    cfg_vec_free(&decls);
    cfg_vec_free(&chain);
    return rc;
}

/* ---- lookup (per request) -------------------------------------------------- */

const wasp_section_t *wasp_config_section(wasp_config_t *cfg, const char *site_name,
                                          const char *url_path, const char *section_path)
{
    if (!cfg || !section_path || !cfg->levels.n)
        return NULL;
    cfg_level_t *best = cfg->levels.v[0];
    if (site_name && *site_name) {
        cfg_level_t *lv = cfg_level_child(cfg, best, site_name, strlen(site_name), false);
        if (lv && lv->has_table)
            best = lv;
        const char *p = url_path ? url_path : "";
        while (lv && *p) {
            while (*p == '/')
                p++;
            const char *s = p;
            while (*p && *p != '/')
                p++;
            if (p == s)
                break;
            lv = cfg_level_child(cfg, lv, s, (size_t)(p - s), false);
            if (lv && lv->has_table)
                best = lv;
        }
    }
    return cfg_map_get(&cfg->effective, best->id, section_path, strlen(section_path));
}
