/*
 * Granular locks (iis-hosting.md 6.8): lockAttributes, lockAllAttributesExcept,
 * lockElements, lockAllElementsExcept on any element, lockItem="true" on a
 * collection item.
 *
 * A lock binds the configuration files below the one that writes it, never
 * that file itself: applicationHost.config may set a locked attribute again
 * in a <location> for a deeper path, and so may a web.config in its own
 * <location path="sub"> (the IIS team's account of locking and location
 * paths; a <location> is "considered to be at" the level of its file).  So
 * every lock remembers the depth of its file (applicationHost.config 0, the
 * site root's web.config 1, one more per URL segment), and a definition from
 * a file at depth d is held only to locks of depth < d.
 *
 * Merged web.config nodes (cfg_merge with locks) carry the locks of every
 * level as a list that shares its tail with the parent level's; nothing is
 * copied per request.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/cfg_internal.h"

typedef enum cfg_lock_kind {
    CFG_LOCK_ATTRS,        /* lockAttributes="a,b" or "*" */
    CFG_LOCK_ATTRS_EXCEPT, /* lockAllAttributesExcept="a,b" */
    CFG_LOCK_ELEMS,        /* lockElements="e,f" or "*" (collection directives too) */
    CFG_LOCK_ELEMS_EXCEPT, /* lockAllElementsExcept="e,f" */
} cfg_lock_kind_t;

static const char *const cfg_lock_attr_names[] = {
    [CFG_LOCK_ATTRS] = "lockAttributes",
    [CFG_LOCK_ATTRS_EXCEPT] = "lockAllAttributesExcept",
    [CFG_LOCK_ELEMS] = "lockElements",
    [CFG_LOCK_ELEMS_EXCEPT] = "lockAllElementsExcept",
};

struct cfg_lock {
    cfg_lock_kind_t kind;
    const char *names; /* the attribute's value, as written */
    unsigned depth;    /* depth of the file that wrote it */
    const char *file;
    int line;
    const cfg_lock_t *next;
};

struct cfg_item_lock {
    const wasp_section_t *item; /* an item with lockItem="true" */
    unsigned depth;
    const cfg_item_lock_t *next;
};

/* Is name one of the lock attributes (not a setting)? */
static bool cfg_is_lock_attr(const char *name)
{
    for (size_t k = 0; k < sizeof(cfg_lock_attr_names) / sizeof(*cfg_lock_attr_names); k++)
        if (strcmp(name, cfg_lock_attr_names[k]) == 0)
            return true;
    return strcmp(name, "lockItem") == 0;
}

/* Is name in the comma-separated list (spaces around names ignored)?  "*"
 * names everything when star is true. */
static bool cfg_lock_lists(const char *list, const char *name, bool star)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        size_t len = (size_t)(e - s);
        if (len == n && memcmp(s, name, n) == 0)
            return true;
        if (star && len == 1 && *s == '*')
            return true;
    }
    return false;
}

static bool cfg_lock_covers(const cfg_lock_t *l, const char *name)
{
    switch (l->kind) {
    case CFG_LOCK_ATTRS:
    case CFG_LOCK_ELEMS:
        return cfg_lock_lists(l->names, name, true);
    case CFG_LOCK_ATTRS_EXCEPT:
    case CFG_LOCK_ELEMS_EXCEPT:
        return !cfg_lock_lists(l->names, name, false);
    }
    return false;
}

static bool cfg_item_locked(const wasp_section_t *item)
{
    const char *v = wasp_section_attr(item, "lockItem");
    bool on = false;
    return v && cfg_parse_bool(v, &on) && on;
}

static bool cfg_attr_is_setting(const char *name)
{
    return !cfg_is_lock_attr(name) && strcmp(name, "xmlns") != 0 &&
           strncmp(name, "xmlns:", 6) != 0;
}

int cfg_locks_check(const cfg_node_t *a, const wasp_section_t *b, unsigned depth,
                    wasp_diag_t *diag)
{
    for (const cfg_lock_t *l = a->locks; l; l = l->next) {
        if (l->depth >= depth)
            continue;
        bool attrs = l->kind == CFG_LOCK_ATTRS || l->kind == CFG_LOCK_ATTRS_EXCEPT;
        if (attrs) {
            for (size_t i = 0; i < b->attr_count; i++) {
                const wasp_attr_t *at = &b->attrs[i];
                if (!cfg_attr_is_setting(at->name) || !cfg_lock_covers(l, at->name))
                    continue;
                cfg_diag(diag, b->file, at->line,
                         "Lock violation: the attribute '%s' of <%s> is locked by %s=\"%s\" "
                         "at %s:%d, so a configuration file below it cannot set it (even to "
                         "the same value). Remove the attribute here, or have the lock lifted "
                         "where it is written",
                         at->name, b->name, cfg_lock_attr_names[l->kind], l->names, l->file,
                         l->line);
                return -1;
            }
            continue;
        }
        for (size_t i = 0; i < b->child_count; i++) {
            const wasp_section_t *c = b->children[i];
            if (!cfg_lock_covers(l, c->name))
                continue;
            cfg_diag(diag, c->file, c->line,
                     "Lock violation: the element <%s> inside <%s> is locked by %s=\"%s\" at "
                     "%s:%d, so a configuration file below it cannot use it. Remove it here, "
                     "or have the lock lifted where it is written",
                     c->name, b->name, cfg_lock_attr_names[l->kind], l->names, l->file,
                     l->line);
            return -1;
        }
    }
    const cfg_coll_schema_t *cs = a->coll;
    if (!cs)
        return 0;
    for (size_t i = 0; i < b->child_count; i++) {
        const wasp_section_t *c = b->children[i];
        bool rm = cs->remove && strcmp(c->name, cs->remove) == 0;
        bool clear = cs->clear && strcmp(c->name, cs->clear) == 0;
        if (!rm && !clear)
            continue;
        for (const cfg_item_lock_t *il = a->item_locks; il; il = il->next) {
            if (il->depth >= depth || (rm && !cfg_remove_matches(cs, c, il->item)))
                continue;
            cfg_diag(diag, c->file, c->line,
                     "Lock violation: <%s> would remove the <%s> item at %s:%d, which is "
                     "locked there (lockItem=\"true\"); a configuration file below it cannot "
                     "remove or clear it. Remove the <%s> here",
                     c->name, il->item->name, il->item->file, il->item->line, c->name);
            return -1;
        }
    }
    return 0;
}

void cfg_locks_record(cfg_arena_t *arena, cfg_node_t *n, const cfg_node_t *a,
                      const wasp_section_t *b, unsigned depth)
{
    const cfg_lock_t *head = a ? a->locks : NULL;
    for (size_t k = 0; k < sizeof(cfg_lock_attr_names) / sizeof(*cfg_lock_attr_names); k++) {
        int line;
        const char *v = cfg_node_attr_line(b, cfg_lock_attr_names[k], &line);
        if (!v)
            continue;
        cfg_lock_t *l = cfg_arena_alloc(arena, sizeof(*l));
        *l = (cfg_lock_t){ .kind = (cfg_lock_kind_t)k, .names = v, .depth = depth,
                           .file = b->file, .line = line, .next = head };
        head = l;
    }
    n->locks = head;
    if (!n->coll)
        return;
    /* Locked items still present after the merge, then b's own. */
    const cfg_item_lock_t *items = NULL;
    for (const cfg_item_lock_t *il = a ? a->item_locks : NULL; il; il = il->next) {
        for (size_t i = 0; i < n->pub.item_count; i++) {
            if (n->pub.items[i] != il->item)
                continue;
            cfg_item_lock_t *c = cfg_arena_alloc(arena, sizeof(*c));
            *c = (cfg_item_lock_t){ .item = il->item, .depth = il->depth, .next = items };
            items = c;
            break;
        }
    }
    for (size_t i = 0; i < b->child_count; i++) {
        const wasp_section_t *it = b->children[i];
        if (!cfg_is_add(n->coll, it->name) || !cfg_item_locked(it))
            continue;
        cfg_item_lock_t *c = cfg_arena_alloc(arena, sizeof(*c));
        *c = (cfg_item_lock_t){ .item = it, .depth = depth, .next = items };
        items = c;
    }
    n->item_locks = items;
}
