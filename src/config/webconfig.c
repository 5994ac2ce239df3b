/*
 * web.config files: one level of the configuration hierarchy below
 * applicationHost.config (iis-hosting.md 6.1, 6.6-6.10).
 *
 * wc_build_level() computes the effective configuration of one URL level of
 * a site from its parent level's:
 *   1. where the level is: applicationHost.config's level for the path (if a
 *      <location> names it), the application, the physical path (the same
 *      URL -> vdir -> physical mapping as requests, wasp_config_map_url);
 *   2. what applies there, in this order (6.9): applicationHost.config's
 *      <location> for the path, the <location> tags of the web.config files
 *      above that target it (farthest first), then the level's own web.config
 *      (its top-level sections and <location path=".">), read only when the
 *      level is a directory, the pool has enableConfigurationOverride="true"
 *      and no virtual directory above has allowSubDirConfig="false";
 *   3. each definition from a web.config is checked: the section is declared
 *      (a web.config may declare new ones in <configSections>),
 *      allowDefinition, allowLocation, the section lock (overrideModeDefault
 *      and <location overrideMode> / allowOverride of the files above), then
 *      merged with cfg_merge, which checks the granular locks (locking.c)
 *      and duplicate collection keys.
 * A definition of applicationHost.config itself is never checked against
 * locks: locks bind the files below the one that writes them (locking.c).
 *
 * The first error stops the level: it and every level below answer 500.19
 * with that error (wasp_dircfg_error), while sibling levels are unaffected.
 *
 * "Depth" is the depth of a configuration file in the hierarchy:
 * applicationHost.config 0, the web.config of the site root 1, of /a 2, ...
 * A <location> in a file keeps its file's depth whatever path it targets.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/webcfg_internal.h"

/* IIS reads web.config files of at most 250 KB (maxWebConfigFileSizeInKB);
 * wasp allows more but not without bound. */
#define WC_MAX_FILE_SIZE (16u * 1024u * 1024u)
#define WC_NOT_WELL_FORMED "Configuration file is not well-formed XML"

static const char wc_items_done = 0;

typedef struct wc_merged {
    const wasp_section_t *node;
    const wasp_config_error_t *error;
} wc_merged_t;

void wc_store_init(wc_store_t *st)
{
    memset(st, 0, sizeof(*st));
    cfg_map_init(&st->files, false);
    cfg_map_init(&st->merges, false);
    cfg_map_init(&st->items, false);
    cfg_map_init(&st->errors, false);
}

void wc_store_free(wc_store_t *st)
{
    cfg_map_free(&st->files);
    cfg_map_free(&st->merges);
    cfg_map_free(&st->items);
    cfg_map_free(&st->errors);
    cfg_arena_free(&st->arena);
}

/* ---- files ------------------------------------------------------------------ */

/* The whole file; -1 with errno (EFBIG when too large).  O_NONBLOCK: a
 * FIFO named web.config must not stop the worker (it is refused below). */
static int wc_slurp(const char *path, char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat st;
    int e = 0;
    if (fstat(fd, &st) != 0)
        e = errno;
    else if (!S_ISREG(st.st_mode))
        e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    else if ((uint64_t)st.st_size > WC_MAX_FILE_SIZE)
        e = EFBIG;
    if (e) {
        close(fd);
        errno = e;
        return -1;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *b = malloc(size + 1);
    if (!b) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    while (got < size) {
        ssize_t r = read(fd, b + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    b[got] = '\0'; /* a file that shrank while read is taken as it was read */
    *buf = b;
    *len = got;
    return 0;
}

/* The lines around `line` of text, "%5d: ...\n" each. */
static const char *wc_excerpt(cfg_arena_t *a, const char *text, int line)
{
    if (!text || line <= 0)
        return "";
    char out[2048];
    size_t n = 0;
    out[0] = '\0';
    int at = 1;
    for (const char *p = text; *p && at <= line + 1; at++) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && p[len - 1] == '\r')
            len--;
        if (at >= line - 1 && n < sizeof(out)) {
            int w = snprintf(out + n, sizeof(out) - n, "%5d: %.*s\n", at,
                             (int)(len > 300 ? 300 : len), p);
            if (w > 0)
                n = n + (size_t)w < sizeof(out) ? n + (size_t)w : sizeof(out);
        }
        if (!e)
            break;
        p = e + 1;
    }
    return cfg_arena_strdup(a, out);
}

/* The error for diag d, one object per distinct error (rebuilding a broken
 * level does not grow memory). */
static const wasp_config_error_t *wc_error(struct wasp_webcfg *wc, uint32_t hr,
                                           const wasp_diag_t *d)
{
    wc_store_t *st = &wc->store;
    /* The version of the file is part of the key: its lines are shown. */
    const wc_file_t *f = cfg_map_get(&st->files, 0, d->file, strlen(d->file));
    char key[2048];
    int kl = snprintf(key, sizeof(key), "%08x|%p|%s|%d|%s", hr, (const void *)f, d->file,
                      d->line, d->message);
    if (kl < 0)
        kl = 0;
    if ((size_t)kl >= sizeof(key))
        kl = (int)sizeof(key) - 1;
    wc_error_t *e = cfg_map_get(&st->errors, 0, key, (size_t)kl);
    if (e)
        return &e->pub;
    e = cfg_arena_alloc(&st->arena, sizeof(*e));
    e->pub.hresult = hr;
    e->pub.message = cfg_arena_strdup(&st->arena, d->message);
    e->pub.file = cfg_arena_strdup(&st->arena, d->file);
    e->pub.line = d->line;
    /* Config Source: the file as it was read (kept in the store), else
     * applicationHost.config (the worker reads its pool copy, whose lines
     * are the original's). */
    if (f) {
        e->pub.source = wc_excerpt(&st->arena, f->bytes, d->line);
    } else {
        char *buf = NULL;
        size_t len;
        const char *path = strcmp(d->file, wasp_config_path(wc->cfg)) == 0 ? wc->cfg->real_path
                                                                           : d->file;
        e->pub.source = wc_slurp(path, &buf, &len) == 0 ? wc_excerpt(&st->arena, buf, d->line)
                                                        : "";
        free(buf);
    }
    cfg_map_put(&st->errors, 0, cfg_arena_strndup(&st->arena, key, (size_t)kl), (size_t)kl, e);
    return &e->pub;
}

/* The parsed current content of path.  NULL with *missing when there is no
 * such file, NULL with *err when it cannot be read. */
static const wc_file_t *wc_file(struct wasp_webcfg *wc, const char *path, bool *missing,
                                const wasp_config_error_t **err)
{
    wc_store_t *st = &wc->store;
    char *buf;
    size_t len;
    *missing = false;
    *err = NULL;
    if (wc_slurp(path, &buf, &len) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            *missing = true;
            return NULL;
        }
        wasp_diag_t d;
        if (errno == EACCES)
            cfg_diag(&d, path, 0,
                     "Cannot read configuration file due to insufficient permissions: the "
                     "application pool's user may not read it. Make the file readable by that "
                     "user (and its directories searchable)");
        else if (errno == EINVAL)
            cfg_diag(&d, path, 0, "Cannot read configuration file: it is not a regular file");
        else if (errno == EFBIG)
            cfg_diag(&d, path, 0, "Cannot read configuration file: it is larger than %u bytes",
                     WC_MAX_FILE_SIZE);
        else
            cfg_diag(&d, path, 0, "Cannot read configuration file: %s", strerror(errno));
        *err = wc_error(wc, errno == EACCES ? CFG_HR_ACCESS : CFG_HR_INVALID, &d);
        return NULL;
    }
    wc_file_t *newest = cfg_map_get(&st->files, 0, path, strlen(path));
    for (wc_file_t *v = newest; v; v = v->older) {
        if (v->len == len && memcmp(v->bytes, buf, len) == 0) {
            free(buf);
            return v;
        }
    }
    wc_file_t *f = cfg_arena_alloc(&st->arena, sizeof(*f));
    f->path = newest ? newest->path : cfg_arena_strdup(&st->arena, path);
    f->bytes = cfg_arena_strndup(&st->arena, buf, len);
    f->len = len;
    free(buf);
    wasp_diag_t d;
    f->root = cfg_xml_parse_mem(&st->arena, f->path, f->bytes, len, WC_NOT_WELL_FORMED, &d);
    f->older = newest;
    cfg_map_put(&st->files, 0, f->path, strlen(f->path), f);
    st->file_count++;
    if (!f->root)
        f->error = wc_error(wc, CFG_HR_INVALID, &d);
    return f;
}

/* The items of a section node's collections, computed once per node. */
static const wasp_config_error_t *wc_items(struct wasp_webcfg *wc, const char *section,
                                           cfg_node_t *node)
{
    wc_store_t *st = &wc->store;
    const void *v = cfg_map_get(&st->items, 0, (const char *)&node, sizeof(node));
    if (v)
        return v == &wc_items_done ? NULL : v;
    wasp_diag_t d;
    const wasp_config_error_t *err = NULL;
    if (cfg_section_items(wc->cfg, &st->arena, section, node, &d) != 0)
        err = wc_error(wc, CFG_HR_DUPLICATE, &d);
    cfg_node_t **key = cfg_arena_alloc(&st->arena, sizeof(*key));
    *key = node;
    cfg_map_put(&st->items, 0, (const char *)key, sizeof(*key),
                err ? (void *)err : (void *)&wc_items_done);
    return err;
}

/* cfg_merge with locks, memoised: the same inputs give the same node. */
static const wc_merged_t *wc_merge(struct wasp_webcfg *wc, const wasp_section_t *a,
                                   const wasp_section_t *b, unsigned depth)
{
    wc_store_t *st = &wc->store;
    struct {
        const void *a, *b;
        uintptr_t depth;
    } k;
    memset(&k, 0, sizeof(k));
    k.a = a;
    k.b = b;
    k.depth = depth;
    wc_merged_t *m = cfg_map_get(&st->merges, 0, (const char *)&k, sizeof(k));
    if (m)
        return m;
    m = cfg_arena_alloc(&st->arena, sizeof(*m));
    cfg_merge_ctx_t mc = { .arena = &st->arena, .locks = true, .depth = depth };
    wasp_diag_t d;
    cfg_node_t *n = cfg_merge(&mc, a, b, &d);
    if (n)
        m->node = &n->pub;
    else
        m->error = wc_error(wc, mc.hresult ? mc.hresult : CFG_HR_INVALID, &d);
    void *key = cfg_arena_alloc(&st->arena, sizeof(k));
    memcpy(key, &k, sizeof(k));
    cfg_map_put(&st->merges, 0, key, sizeof(k), m);
    return m;
}

/* ---- one level ---------------------------------------------------------------- */

typedef struct wc_build {
    struct wasp_webcfg *wc;
    wasp_dircfg_t *n;
    cfg_vec_t here;    /* wc_pending_t*: what applies at this level, in order */
    wc_pending_t **pending_tail;
    cfg_map_t seen;    /* "rest\x1fsection" -> element: one section per path per file */
    const wasp_config_error_t *error;
} wc_build_t;

static void wc_map_copy(cfg_map_t *dst, const cfg_map_t *src)
{
    cfg_map_init(dst, false);
    for (size_t i = 0; src && i < src->cap; i++) {
        const cfg_map_slot_t *s = &src->slots[i];
        if (s->hash)
            cfg_map_put(dst, s->tag, s->key, s->keylen, s->value);
    }
}

/* The level's own copy of one of its maps, made on first write. */
static cfg_map_t *wc_own(const cfg_map_t **slot, cfg_map_t *mine)
{
    if (*slot != mine) {
        wc_map_copy(mine, *slot);
        *slot = mine;
    }
    return mine;
}

static int wc_fail(wc_build_t *b, uint32_t hr, const wasp_diag_t *d)
{
    if (!b->error)
        b->error = wc_error(b->wc, hr, d);
    return -1;
}

static const cfg_decl_t *wc_decl_find(wc_build_t *b, const char *path)
{
    const cfg_map_t *ov = b->n->tab.decls;
    const wc_decl_t *wd = ov ? cfg_map_get(ov, 0, path, strlen(path)) : NULL;
    return wd ? &wd->d : cfg_resolve_decl(b->wc->cfg, path);
}

static unsigned wc_decl_depth(const wc_build_t *b, const cfg_decl_t *decl)
{
    const cfg_map_t *ov = b->n->tab.decls;
    const wc_decl_t *wd = ov ? cfg_map_get(ov, 0, decl->path, strlen(decl->path)) : NULL;
    return wd && &wd->d == decl ? wd->depth : 0;
}

/* <configSections> of a web.config: new sections and groups for this level
 * and below (6.2); what is declared above cannot be declared again. */
static int wc_declare(wc_build_t *b, const wasp_section_t *el, const char *prefix)
{
    wasp_dircfg_t *n = b->n;
    for (size_t i = 0; i < el->child_count; i++) {
        const wasp_section_t *c = el->children[i];
        bool group = strcmp(c->name, "sectionGroup") == 0;
        wasp_diag_t d;
        if (!group && strcmp(c->name, "section") != 0) {
            cfg_diag(&d, c->file, c->line,
                     "Unrecognized element '%s' in <configSections>: only <section> and "
                     "<sectionGroup> may appear there",
                     c->name);
            return wc_fail(b, CFG_HR_INVALID, &d);
        }
        const char *name = wasp_section_attr(c, "name");
        if (!name || !*name || strchr(name, '/')) {
            cfg_diag(&d, c->file, c->line,
                     "<%s> needs a name attribute without '/', e.g. <%s name=\"%s\" />", c->name,
                     c->name, group ? "myGroup" : "mySection");
            return wc_fail(b, CFG_HR_INVALID, &d);
        }
        const char *path = *prefix ? cfg_arena_printf(&n->arena, "%s/%s", prefix, name)
                                   : cfg_arena_strdup(&n->arena, name);
        const wc_decl_t *ov = n->tab.decls ? cfg_map_get(n->tab.decls, 0, path, strlen(path))
                                           : NULL;
        const cfg_decl_t *old = ov ? &ov->d : cfg_lookup_decl(b->wc->cfg, path);
        if (old && (!group || !old->is_group)) {
            cfg_diag(&d, c->file, c->line,
                     "Section or group name '%s' is already defined%s%s. Updates to this may "
                     "only occur at the configuration level where it is defined; remove this "
                     "declaration",
                     path, old->file ? " in " : " (a declaration wasp knows)",
                     old->file ? old->file : "");
            return wc_fail(b, CFG_HR_INVALID, &d);
        }
        if (!old) {
            wc_decl_t *nd = cfg_arena_alloc(&n->arena, sizeof(*nd));
            nd->depth = n->depth;
            nd->d.is_group = group;
            /* wasp interprets none of the sections a web.config declares. */
            nd->d.opaque = true;
            if (group) {
                nd->d.path = path;
                nd->d.allow_location = true;
                nd->d.file = c->file;
                nd->d.line = c->line;
            } else if (cfg_section_decl(c, path, &nd->d, &d) != 0) {
                return wc_fail(b, CFG_HR_INVALID, &d);
            }
            cfg_map_put(wc_own(&n->tab.decls, &n->own_decls), 0, path, strlen(path), nd);
        }
        if (group && wc_declare(b, c, path) != 0)
            return -1;
    }
    return 0;
}

/* A relative <location path> of a web.config, as "a/b" ("" = the file's own
 * level).  NULL + error for a path that leaves the file's level. */
static const char *wc_location_rest(wc_build_t *b, const wasp_section_t *el)
{
    int line;
    const char *path = cfg_node_attr_line(el, "path", &line);
    char *out = cfg_arena_strdup(&b->n->arena, path ? path : "");
    size_t n = 0;
    for (const char *p = out; *p;) {
        while (*p == '/' || *p == '\\')
            p++;
        const char *s = p;
        while (*p && *p != '/' && *p != '\\')
            p++;
        size_t len = (size_t)(p - s);
        if (!len || (len == 1 && s[0] == '.'))
            continue;
        if ((len == 2 && s[0] == '.' && s[1] == '.') || (len >= 2 && s[len - 1] == ':')) {
            wasp_diag_t d;
            cfg_diag(&d, el->file, line,
                     "<location path=\"%s\"> in a web.config must name this directory or one "
                     "below it, relative to the file (no '..', no drive or site name); move "
                     "the settings to the web.config of the level they are for",
                     path);
            wc_fail(b, CFG_HR_INVALID, &d);
            return NULL;
        }
        if (n)
            out[n++] = '/';
        memmove(out + n, s, len);
        n += len;
    }
    out[n] = '\0';
    return out;
}

/* configSource="file" (6.10): the section's content from a file in the
 * same directory or below. */
static const wasp_section_t *wc_config_source(wc_build_t *b, const wasp_section_t *el,
                                              const cfg_decl_t *decl, const char *src, int line)
{
    wasp_dircfg_t *n = b->n;
    wasp_diag_t d;
    for (size_t i = 0; i < el->attr_count; i++) {
        const char *an = el->attrs[i].name;
        if (strcmp(an, "configSource") != 0 && strcmp(an, "xmlns") != 0 &&
            strncmp(an, "xmlns:", 6) != 0) {
            cfg_diag(&d, el->file, el->attrs[i].line,
                     "A section using 'configSource' may contain no other attributes or "
                     "elements: remove '%s' here (or put it in %s)",
                     an, src);
            wc_fail(b, CFG_HR_INVALID, &d);
            return NULL;
        }
    }
    if (el->child_count) {
        cfg_diag(&d, el->file, el->children[0]->line,
                 "A section using 'configSource' may contain no other attributes or elements: "
                 "move <%s> into %s",
                 el->children[0]->name, src);
        wc_fail(b, CFG_HR_INVALID, &d);
        return NULL;
    }
    char *rel = cfg_config_source_rel(&n->arena, src);
    if (rel == NULL) {
        cfg_diag(&d, el->file, line,
                 "The configSource attribute must be a relative physical path to a file in the "
                 "same directory as this file or below it (\"%s\" is not); no '..', no "
                 "absolute path",
                 src);
        wc_fail(b, CFG_HR_INVALID, &d);
        return NULL;
    }
    const char *full = cfg_arena_printf(&n->arena, "%s/%s", n->phys, rel);
    const char *slash = strrchr(full, '/');
    const char *dir = cfg_arena_strndup(&n->arena, full, (size_t)(slash - full));
    /* A change to the file, or to the sub-directory it is in, drops the level. */
    if (wc_depend(b->wc, n, dir, slash + 1) != 0) {
        char *first = cfg_arena_strdup(&n->arena, rel);
        char *cut = strchr(first, '/');
        if (cut)
            *cut = '\0';
        if (wc_depend(b->wc, n, n->phys, first) != 0)
            n->uncacheable = true;
    }
    bool missing;
    const wasp_config_error_t *err;
    const wc_file_t *f = wc_file(b->wc, full, &missing, &err);
    if (missing) {
        cfg_diag(&d, el->file, line,
                 "Unable to open configSource file '%s': %s does not exist. Create it, or "
                 "remove configSource and write the section here",
                 src, full);
        wc_fail(b, CFG_HR_NOT_FOUND, &d);
        return NULL;
    }
    if (err || f->error) {
        b->error = b->error ? b->error : (err ? err : f->error);
        return NULL;
    }
    /* The section element itself (the .NET convention), or the section
     * wrapped in <configuration> and its groups (the IIS sample). */
    const wasp_section_t *node = &f->root->pub;
    if (strcmp(node->name, "configuration") == 0) {
        const char *p = decl->path;
        while (node && *p) {
            const char *s = p;
            while (*p && *p != '/')
                p++;
            char part[256];
            snprintf(part, sizeof(part), "%.*s", (int)(p - s), s);
            node = wasp_section_child(node, part);
            if (*p)
                p++;
        }
        if (!node) {
            cfg_diag(&d, full, f->root->pub.line,
                     "The configSource file has no <%s> section (it is wrapped in "
                     "<configuration>, so the section must be inside its section groups: %s)",
                     el->name, decl->path);
            wc_fail(b, CFG_HR_INVALID, &d);
            return NULL;
        }
    } else if (strcmp(node->name, el->name) != 0) {
        cfg_diag(&d, full, node->line,
                 "The root element of a configSource file must be the section it replaces, "
                 "<%s> (or <configuration>), not <%s>",
                 el->name, node->name);
        wc_fail(b, CFG_HR_INVALID, &d);
        return NULL;
    }
    return node;
}

typedef struct wc_scope {
    const char *rest; /* "" = this level */
    cfg_override_mode_t mode;
    bool inherit;
    const wasp_section_t *tag; /* <location>, or NULL at the top level */
} wc_scope_t;

/* One element of a web.config: a section (recorded where it applies) or a
 * section group (its children walked). */
static int wc_walk(wc_build_t *b, const wc_scope_t *sc, const char *prefix,
                   const wasp_section_t *el)
{
    wasp_dircfg_t *n = b->n;
    wasp_diag_t d;
    const char *path = *prefix ? cfg_arena_printf(&n->arena, "%s/%s", prefix, el->name)
                               : el->name;
    const cfg_decl_t *decl = wc_decl_find(b, path);
    if (!decl) {
        cfg_diag(&d, el->file, el->line,
                 "Unrecognized configuration section '%s': the configuration section '%s' "
                 "cannot be read because it is missing a section declaration. Declare it in "
                 "<configSections>, or remove it (a misspelt name, or a section of a module "
                 "wasp does not have)",
                 path, el->name);
        return wc_fail(b, CFG_HR_INVALID, &d);
    }
    if (decl->is_group) {
        for (size_t i = 0; i < el->child_count; i++)
            if (wc_walk(b, sc, path, el->children[i]) != 0)
                return -1;
        return 0;
    }
    const char *key = cfg_arena_printf(&n->arena, "%s\x1f%s", sc->rest, decl->path);
    const wasp_section_t *first = cfg_map_get(&b->seen, 0, key, strlen(key));
    if (first) {
        cfg_diag(&d, el->file, el->line,
                 "There is a duplicate '%s' section defined (first at line %d): a section may "
                 "appear once per location path in a file (the top level and <location "
                 "path=\".\"> are the same path); merge the two",
                 decl->path, first->line);
        return wc_fail(b, CFG_HR_INVALID, &d);
    }
    cfg_map_put(&b->seen, 0, key, strlen(key), (void *)el);
    int line;
    const char *src = cfg_node_attr_line(el, "configSource", &line);
    const wasp_section_t *node = src ? wc_config_source(b, el, decl, src, line) : el;
    if (!node)
        return -1;
    /* The schema decides what may be written in it (0x8007000d). */
    if (!decl->opaque && cfg_validate_node(decl->path, node, &d) != 0)
        return wc_fail(b, CFG_HR_INVALID, &d);
    const wasp_config_error_t *err = wc_items(b->wc, decl->path, cfg_node(node));
    if (err) {
        b->error = b->error ? b->error : err;
        return -1;
    }
    wc_pending_t *c = cfg_arena_alloc(&n->arena, sizeof(*c));
    *c = (wc_pending_t){ .rest = sc->rest, .decl = decl, .node = node, .el = el,
                         .depth = n->depth, .inherit = sc->inherit, .mode = sc->mode,
                         .tag = sc->tag };
    if (!*sc->rest) {
        cfg_vec_push(&b->here, c);
    } else {
        *b->pending_tail = c;
        b->pending_tail = &c->next;
    }
    return 0;
}

/* The level's own web.config: declarations first, then every section. */
static int wc_read_file(wc_build_t *b, const wc_file_t *f)
{
    const wasp_section_t *root = &f->root->pub;
    wasp_diag_t d;
    if (strcmp(root->name, "configuration") != 0) {
        cfg_diag(&d, f->path, root->line,
                 "the root element is <%s>, but a configuration file must have <configuration> "
                 "as its root element",
                 root->name);
        return wc_fail(b, CFG_HR_INVALID, &d);
    }
    for (size_t i = 0; i < root->child_count; i++)
        if (strcmp(root->children[i]->name, "configSections") == 0 &&
            wc_declare(b, root->children[i], "") != 0)
            return -1;
    for (size_t i = 0; i < root->child_count; i++) {
        const wasp_section_t *el = root->children[i];
        if (strcmp(el->name, "configSections") == 0)
            continue;
        if (strcmp(el->name, "location") != 0) {
            wc_scope_t top = { .rest = "", .inherit = true };
            if (wc_walk(b, &top, "", el) != 0)
                return -1;
            continue;
        }
        wc_scope_t sc = { .inherit = true, .tag = el };
        sc.rest = wc_location_rest(b, el);
        if (!sc.rest)
            return -1;
        if (cfg_location_mode(el, &sc.mode, &d) != 0)
            return wc_fail(b, CFG_HR_INVALID, &d);
        int line;
        const char *inh = cfg_node_attr_line(el, "inheritInChildApplications", &line);
        if (inh && !cfg_parse_bool(inh, &sc.inherit)) {
            cfg_diag(&d, el->file, line,
                     "inheritInChildApplications=\"%s\" is not valid; use true or false", inh);
            return wc_fail(b, CFG_HR_INVALID, &d);
        }
        for (size_t j = 0; j < el->child_count; j++) {
            const wasp_section_t *c = el->children[j];
            if (strcmp(c->name, "location") == 0 || strcmp(c->name, "configSections") == 0) {
                cfg_diag(&d, c->file, c->line,
                         "<%s> cannot be placed inside a <location>; move it to the top level "
                         "of <configuration>",
                         c->name);
                return wc_fail(b, CFG_HR_INVALID, &d);
            }
            if (wc_walk(b, &sc, "", c) != 0)
                return -1;
        }
    }
    return 0;
}

static const char *const wc_def_names[] = {
    [CFG_DEF_EVERYWHERE] = "Everywhere",
    [CFG_DEF_MACHINE_ONLY] = "MachineOnly",
    [CFG_DEF_MACHINE_TO_ROOT_WEB] = "MachineToWebRoot",
    [CFG_DEF_MACHINE_TO_APPLICATION] = "MachineToApplication",
    [CFG_DEF_APPHOST_ONLY] = "AppHostOnly",
};

/* allowDefinition, allowLocation and the section lock of a definition made
 * by a web.config (depth > 0). */
static int wc_check(wc_build_t *b, const wc_pending_t *c)
{
    wasp_dircfg_t *n = b->n;
    const cfg_decl_t *decl = c->decl;
    const wasp_section_t *el = c->el;
    wasp_diag_t d;
    cfg_allow_def_t def = decl->allow_definition;
    bool where_ok = def == CFG_DEF_EVERYWHERE ||
                    (def == CFG_DEF_MACHINE_TO_APPLICATION && n->is_app_root);
    if (!where_ok) {
        cfg_diag(&d, el->file, el->line,
                 "This configuration section cannot be used at this path: '%s' is "
                 "allowDefinition=\"%s\", so it %s. Move it %s",
                 decl->path, wc_def_names[def],
                 def == CFG_DEF_MACHINE_TO_APPLICATION
                     ? "may be set only in applicationHost.config or in the web.config of an "
                       "application root, and this level is not one"
                     : "may be set only in applicationHost.config, for the whole server",
                 def == CFG_DEF_MACHINE_TO_APPLICATION
                     ? "to the application's web.config (or make this directory an application)"
                     : "to applicationHost.config");
        return wc_fail(b, CFG_HR_LOCKED, &d);
    }
    if (c->tag && !decl->allow_location) {
        cfg_diag(&d, el->file, el->line,
                 "The configuration section '%s' cannot be used in a <location> tag (its "
                 "declaration says allowLocation=\"false\"); move it to the top level",
                 decl->path);
        return wc_fail(b, CFG_HR_INVALID, &d);
    }
    /* The nearest explicit overrideMode written by a file above, else the
     * declaration's overrideModeDefault (when declared above). */
    const wc_mode_t *m = n->tab.modes ? cfg_map_get(n->tab.modes, 0, decl->path,
                                                    strlen(decl->path))
                                      : NULL;
    while (m && m->depth >= c->depth)
        m = m->next;
    bool deny = m ? m->deny : (wc_decl_depth(b, decl) < c->depth && decl->override_deny);
    if (!deny)
        return 0;
    char by[1200], decl_at[600] = "IIS' default declaration";
    if (decl->file)
        snprintf(decl_at, sizeof(decl_at), "its declaration at %s:%d", decl->file, decl->line);
    if (m)
        snprintf(by, sizeof(by),
                 "a <location> with overrideMode=\"Deny\" at %s:%d; only that file can unlock "
                 "it (overrideMode=\"Allow\" there)",
                 m->file, m->line);
    else
        snprintf(by, sizeof(by),
                 "overrideModeDefault=\"Deny\" of %s; to allow it here, add <location "
                 "path=\"%s%s\" overrideMode=\"Allow\"> around the section to %s",
                 decl_at, n->site ? n->site->name : "", strcmp(n->key, "/") == 0 ? "" : n->key,
                 decl->file ? "that file" : "applicationHost.config");
    cfg_diag(&d, el->file, el->line,
             "This configuration section cannot be used at this path. This happens when the "
             "section is locked at a parent level. Locking is either by default "
             "(overrideModeDefault=\"Deny\"), or set explicitly by a location tag with "
             "overrideMode=\"Deny\" or the legacy allowOverride=\"false\". ('%s' is locked by "
             "%s; or remove the section from this file.)",
             decl->path, by);
    return wc_fail(b, CFG_HR_LOCKED, &d);
}

/* An explicit overrideMode of a <location>, for the files below it.  A file
 * cannot undo what a file below it locked or unlocked above (6.7: conflicting
 * lock/unlock between levels is invalid configuration). */
static int wc_push_mode(wc_build_t *b, const wc_pending_t *c)
{
    wasp_dircfg_t *n = b->n;
    const char *path = c->decl->path;
    const wc_mode_t *head = n->tab.modes ? cfg_map_get(n->tab.modes, 0, path, strlen(path)) : NULL;
    bool deny = c->mode == CFG_OVERRIDE_DENY;
    int line;
    if (!cfg_node_attr_line(c->tag, "overrideMode", &line))
        cfg_node_attr_line(c->tag, "allowOverride", &line);
    for (const wc_mode_t *m = head; m; m = m->next) {
        if (m->depth <= c->depth || m->deny == deny)
            continue;
        wasp_diag_t d;
        cfg_diag(&d, c->tag->file, line,
                 "This <location> %s section '%s' for a path that %s:%d %s for a level above "
                 "it: a configuration file cannot %s what a file below it %s. Remove one of "
                 "the two",
                 deny ? "locks" : "unlocks", path, m->file, m->line,
                 m->deny ? "locks" : "unlocks", deny ? "lock" : "unlock",
                 m->deny ? "locks" : "unlocks");
        return wc_fail(b, CFG_HR_LOCKED, &d);
    }
    wc_mode_t *m = cfg_arena_alloc(&n->arena, sizeof(*m));
    *m = (wc_mode_t){ .deny = deny, .depth = c->depth, .file = c->tag->file, .line = line,
                      .next = head };
    cfg_map_put(wc_own(&n->tab.modes, &n->own_modes), 0, path, strlen(path), m);
    return 0;
}

/* Apply one definition at this level. */
static int wc_apply(wc_build_t *b, const wc_pending_t *c)
{
    wasp_dircfg_t *n = b->n;
    if (c->depth > 0 && wc_check(b, c) != 0)
        return -1;
    const char *path = c->decl->path;
    size_t plen = strlen(path);
    /* inheritInChildApplications="false": child applications start from
     * the sections without this definition. */
    if (!c->inherit && !n->tab.nc) {
        wc_map_copy(&n->own_nc, n->tab.sections);
        n->tab.nc = &n->own_nc;
    }
    const wc_merged_t *m = wc_merge(b->wc, cfg_map_get(n->tab.sections, 0, path, plen), c->node,
                                    c->depth);
    if (m->error) {
        b->error = b->error ? b->error : m->error;
        return -1;
    }
    if (c->inherit && n->tab.nc) {
        const wc_merged_t *mn = wc_merge(b->wc, cfg_map_get(n->tab.nc, 0, path, plen), c->node,
                                         c->depth);
        if (mn->error) {
            b->error = b->error ? b->error : mn->error;
            return -1;
        }
        cfg_map_put(wc_own(&n->tab.nc, &n->own_nc), 0, path, plen, (void *)mn->node);
    }
    cfg_map_put(wc_own(&n->tab.sections, &n->own_sections), 0, path, plen, (void *)m->node);
    if (c->mode != CFG_OVERRIDE_INHERIT && c->tag)
        return wc_push_mode(b, c);
    return 0;
}

/* Is url the URL of this virtual directory of app? */
static bool wc_is_vdir_root(const wasp_app_cfg_t *app, const wasp_vdir_cfg_t *vdir, const char *url)
{
    const char *ap = strcmp(app->path, "/") == 0 ? "" : app->path;
    const char *vp = strcmp(vdir->path, "/") == 0 ? "" : vdir->path;
    size_t al = strlen(ap);
    if (!*ap && !*vp)
        return strcmp(url, "/") == 0;
    return strncasecmp(url, ap, al) == 0 && strcasecmp(url + al, vp) == 0;
}

/* Where level n is: applicationHost.config's level, application, physical
 * path; and what a change to the disk there must drop. */
static void wc_locate(struct wasp_webcfg *wc, wasp_dircfg_t *n, const wasp_vdir_cfg_t **vdir)
{
    wasp_dircfg_t *p = n->parent;
    const char *seg = strrchr(n->key, '/') + 1;
    cfg_level_t *server = wc->cfg->levels.v[0];
    if (p->depth == 0)
        n->ah = cfg_level_child(wc->cfg, server, n->site->name, strlen(n->site->name), false);
    else if (p->ah)
        n->ah = cfg_level_child(wc->cfg, (cfg_level_t *)p->ah, seg, strlen(seg), false);
    char phys[4096];
    const wasp_app_cfg_t *app;
    if (wasp_config_map_url(wc->cfg, n->site, n->key, &app, vdir, phys, sizeof(phys)) != 0) {
        n->app = p->app;
        *vdir = NULL;
        return;
    }
    n->app = app;
    n->is_app_root = strcasecmp(app->path, n->key) == 0;
    n->phys = cfg_arena_strdup(&n->arena, phys);
    struct stat st;
    n->is_dir = stat(phys, &st) == 0 && S_ISDIR(st.st_mode);
    /* The entry in the parent directory: created, deleted, renamed, or a
     * file that becomes a directory. */
    if (p->depth > 0 && p->is_dir && p->phys) {
        size_t pl = strlen(p->phys);
        bool slash = pl && p->phys[pl - 1] == '/';
        if (strncmp(phys, p->phys, pl) == 0 && (slash || phys[pl] == '/') &&
            strcmp(phys + pl + (slash ? 0 : 1), seg) == 0 && wc_depend(wc, n, p->phys, seg) != 0)
            n->uncacheable = true;
    }
    if (n->is_dir && wc_depend(wc, n, phys, "web.config") != 0)
        n->uncacheable = true;
}

static bool wc_reads_web_config(const struct wasp_webcfg *wc, const wasp_dircfg_t *n,
                                const wasp_vdir_cfg_t *vdir)
{
    if (!n->is_dir || !vdir)
        return false;
    const wasp_pool_cfg_t *pool = wasp_config_find_pool(wc->cfg, n->app->pool);
    if (pool && !pool->enable_configuration_override)
        return false;
    return vdir->allow_sub_dir_config || wc_is_vdir_root(n->app, vdir, n->key);
}

/* The definitions that apply at n, in order (6.9 step 3), and the
 * <location>s n passes on to the levels below. */
static int wc_gather(wc_build_t *b, const wasp_vdir_cfg_t *vdir)
{
    struct wasp_webcfg *wc = b->wc;
    wasp_dircfg_t *n = b->n, *p = n->parent;
    const cfg_level_t *ah = p ? n->ah : wc->cfg->levels.v[0];
    for (const cfg_instance_t *in = ah ? ah->sections : NULL; in; in = in->next) {
        wc_pending_t *c = cfg_arena_alloc(&n->arena, sizeof(*c));
        *c = (wc_pending_t){ .rest = "", .decl = in->decl, .node = &in->node->pub,
                             .el = &in->node->pub, .inherit = in->inherit_in_child_apps,
                             .mode = in->override_mode, .tag = in->location };
        cfg_vec_push(&b->here, c);
    }
    if (!p)
        return 0;
    const char *seg = strrchr(n->key, '/') + 1;
    size_t sl = strlen(seg);
    for (const wc_pending_t *pd = p->pending; pd; pd = pd->next) {
        if (strncasecmp(pd->rest, seg, sl) != 0 || (pd->rest[sl] && pd->rest[sl] != '/'))
            continue;
        wc_pending_t *c = cfg_arena_alloc(&n->arena, sizeof(*c));
        *c = *pd;
        c->next = NULL;
        c->rest = pd->rest[sl] ? pd->rest + sl + 1 : "";
        if (!*c->rest) {
            cfg_vec_push(&b->here, c);
        } else {
            *b->pending_tail = c;
            b->pending_tail = &c->next;
        }
    }
    if (!wc_reads_web_config(wc, n, vdir))
        return 0;
    const char *path = cfg_arena_printf(&n->arena, "%s%sweb.config", n->phys,
                                        n->phys[strlen(n->phys) - 1] == '/' ? "" : "/");
    bool missing;
    const wasp_config_error_t *err;
    const wc_file_t *f = wc_file(wc, path, &missing, &err);
    if (missing)
        return 0;
    if (err || f->error) {
        b->error = err ? err : f->error;
        return -1;
    }
    return wc_read_file(b, f);
}

void wc_build_level(struct wasp_webcfg *wc, wasp_dircfg_t *n)
{
    wasp_dircfg_t *p = n->parent;
    const wasp_vdir_cfg_t *vdir = NULL;
    if (p) {
        wc_locate(wc, n, &vdir);
        n->tab = p->tab;
        /* An application root starts from what child applications inherit. */
        if (n->is_app_root && p->tab.nc) {
            n->tab.sections = p->tab.nc;
            n->tab.nc = NULL;
        }
        if (p->error) {
            n->error = p->error;
            return;
        }
    } else {
        static const cfg_map_t empty;
        n->tab.sections = &empty;
    }
    wc_build_t b = { .wc = wc, .n = n, .pending_tail = &n->pending };
    cfg_map_init(&b.seen, true);
    if (wc_gather(&b, vdir) == 0)
        for (size_t i = 0; i < b.here.n; i++)
            if (wc_apply(&b, b.here.v[i]) != 0)
                break;
    cfg_vec_free(&b.here);
    cfg_map_free(&b.seen);
    if (b.error) {
        n->error = b.error;
        n->pending = NULL;
        wc_report(wc, b.error);
    }
}

void wc_level_free(wasp_dircfg_t *n)
{
    cfg_map_free(&n->own_sections);
    cfg_map_free(&n->own_nc);
    cfg_map_free(&n->own_modes);
    cfg_map_free(&n->own_decls);
    cfg_arena_free(&n->arena);
}
