/*
 * The cache of effective configurations per (site, URL path): wasp_webcfg_t.
 *
 * Levels (wasp_dircfg_t, see webcfg_internal.h) live in a hash table keyed
 * by site id and URL path and in an LRU list of at most max_entries.  A
 * lookup that hits costs one hash probe; a miss builds the missing levels
 * from the nearest cached ancestor down (webconfig.c), so a new file in a
 * known directory costs one level.  A request URL ending in a file name is
 * a level of its own (a <location> may name a file) that usually shares its
 * directory's table.
 *
 * Invalidation: each level registers what it depends on as (directory,
 * entry name) pairs: its web.config (found or not), its configSource files,
 * its own entry in the parent directory (a directory created, removed or
 * renamed).  One inotify watch per directory reports changes by name; a
 * change drops the levels that registered that name and, with them, every
 * level below them (their tables were built on top).  Nothing is re-read
 * until a request asks again.  Levels are reference counted: the table, each
 * child level and each holder (a request) keep one, so a level dropped while
 * a request uses it stays valid for that request.
 *
 * Without inotify (or when a directory cannot be watched) levels are built
 * for the request that asks and not kept: correct, only slower.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "config/webcfg_internal.h"

#define WC_WATCH_MASK                                                                          \
    (IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |       \
     IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

struct wc_watch {
    int wd;
    char *dir;
    wc_dep_t *deps;
    wc_watch_t *next_by_wd, *next_by_path;
};

struct wc_dep {
    wasp_dircfg_t *node;
    wc_watch_t *watch;
    const char *name;
    wc_dep_t *node_next;      /* the node's dependencies */
    wc_dep_t *w_prev, *w_next; /* the watch's */
};

static void *wc_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        fputs("wasp: out of memory in the configuration cache\n", stderr);
        abort();
    }
    return p;
}

static uint64_t wc_hash(uint32_t tag, const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ tag;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ---- watches ---------------------------------------------------------------- */

static wc_watch_t **wc_watch_slot_wd(struct wasp_webcfg *wc, int wd)
{
    wc_watch_t **p = &wc->watches[(size_t)wd % wc->watch_cap];
    while (*p && (*p)->wd != wd)
        p = &(*p)->next_by_wd;
    return p;
}

static wc_watch_t **wc_watch_slot_path(struct wasp_webcfg *wc, const char *dir)
{
    size_t len = strlen(dir);
    wc_watch_t **p = &wc->watches[wc->watch_cap + wc_hash(0, dir, len) % wc->watch_cap];
    while (*p && strcmp((*p)->dir, dir) != 0)
        p = &(*p)->next_by_path;
    return p;
}

static void wc_watch_rehash(struct wasp_webcfg *wc, size_t cap)
{
    wc_watch_t **old = wc->watches;
    size_t old_cap = wc->watch_cap;
    wc->watches = wc_xcalloc(2 * cap, sizeof(*wc->watches));
    wc->watch_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        for (wc_watch_t *w = old[i], *next; w; w = next) {
            next = w->next_by_wd;
            w->next_by_wd = w->next_by_path = NULL;
            *wc_watch_slot_wd(wc, w->wd) = w;
            *wc_watch_slot_path(wc, w->dir) = w;
        }
    }
    free(old);
}

int wc_depend(struct wasp_webcfg *wc, wasp_dircfg_t *n, const char *dir, const char *name)
{
    if (wc->ifd < 0)
        return -1;
    wc_watch_t *w = *wc_watch_slot_path(wc, dir);
    if (!w) {
        int wd = inotify_add_watch(wc->ifd, dir, WC_WATCH_MASK);
        if (wd < 0)
            return -1;
        /* The same directory under another name (a symbolic link) has the
         * same descriptor: one watch. */
        w = *wc_watch_slot_wd(wc, wd);
        if (!w) {
            if (wc->watch_count + 1 > wc->watch_cap)
                wc_watch_rehash(wc, wc->watch_cap * 2);
            w = wc_xcalloc(1, sizeof(*w));
            w->wd = wd;
            w->dir = strdup(dir);
            if (!w->dir)
                abort();
            *wc_watch_slot_wd(wc, wd) = w;
            *wc_watch_slot_path(wc, w->dir) = w;
            wc->watch_count++;
        }
    }
    wc_dep_t *d = cfg_arena_alloc(&n->arena, sizeof(*d));
    d->node = n;
    d->watch = w;
    d->name = cfg_arena_strdup(&n->arena, name);
    d->node_next = n->deps;
    n->deps = d;
    d->w_next = w->deps;
    if (w->deps)
        w->deps->w_prev = d;
    w->deps = d;
    return 0;
}

int wasp_dircfg_depends(const wasp_dircfg_t *dc,
                        void (*fn)(const char *dir, const char *name, void *data), void *data)
{
    if (dc->uncacheable || dc->wc->ifd < 0)
        return -1;
    for (const wasp_dircfg_t *n = dc; n; n = n->parent)
        for (const wc_dep_t *d = n->deps; d; d = d->node_next)
            fn(d->watch->dir, d->name, data);
    return 0;
}

static void wc_undepend(struct wasp_webcfg *wc, wasp_dircfg_t *n)
{
    for (wc_dep_t *d = n->deps; d; d = d->node_next) {
        wc_watch_t *w = d->watch;
        if (d->w_prev)
            d->w_prev->w_next = d->w_next;
        else
            w->deps = d->w_next;
        if (d->w_next)
            d->w_next->w_prev = d->w_prev;
        if (w->deps)
            continue;
        /* EINVAL when the kernel already dropped it (IN_IGNORED). */
        inotify_rm_watch(wc->ifd, w->wd);
        wc_watch_t **p = wc_watch_slot_wd(wc, w->wd);
        *p = w->next_by_wd;
        p = wc_watch_slot_path(wc, w->dir);
        *p = w->next_by_path;
        free(w->dir);
        free(w);
        wc->watch_count--;
    }
    n->deps = NULL;
}

/* ---- levels: hash, LRU, lifetime ------------------------------------------------ */

static wasp_dircfg_t **wc_slot(struct wasp_webcfg *wc, uint32_t site, const char *key, size_t len,
                               uint64_t h)
{
    wasp_dircfg_t **p = &wc->buckets[h % wc->nbuckets];
    while (*p && ((*p)->hash != h || (*p)->site->id != site || (*p)->keylen != len ||
                  memcmp((*p)->key, key, len) != 0))
        p = &(*p)->hnext;
    return p;
}

static void wc_lru_unlink(struct wasp_webcfg *wc, wasp_dircfg_t *n)
{
    if (n->lru_prev)
        n->lru_prev->lru_next = n->lru_next;
    else
        wc->lru_head = n->lru_next;
    if (n->lru_next)
        n->lru_next->lru_prev = n->lru_prev;
    else
        wc->lru_tail = n->lru_prev;
    n->lru_prev = n->lru_next = NULL;
}

static void wc_lru_front(struct wasp_webcfg *wc, wasp_dircfg_t *n)
{
    n->lru_next = wc->lru_head;
    if (wc->lru_head)
        wc->lru_head->lru_prev = n;
    wc->lru_head = n;
    if (!wc->lru_tail)
        wc->lru_tail = n;
}

static void wc_free_level(wasp_dircfg_t *n)
{
    struct wasp_webcfg *wc = n->wc;
    wasp_dircfg_t *p = n->parent;
    wc_undepend(wc, n);
    if (p) {
        if (n->sib_prev)
            n->sib_prev->sib_next = n->sib_next;
        else
            p->child = n->sib_next;
        if (n->sib_next)
            n->sib_next->sib_prev = n->sib_prev;
    }
    wc_level_free(n);
    free(n);
    if (p)
        wasp_dircfg_release(p);
}

void wasp_dircfg_release(wasp_dircfg_t *dc)
{
    if (dc && --dc->refs == 0)
        wc_free_level(dc);
}

/* Take n out of the table (its table reference goes). */
static void wc_unmap(wasp_dircfg_t *n)
{
    struct wasp_webcfg *wc = n->wc;
    if (!n->in_map)
        return;
    wasp_dircfg_t **p = wc_slot(wc, n->site->id, n->key, n->keylen, n->hash);
    *p = n->hnext;
    wc_lru_unlink(wc, n);
    n->in_map = false;
    wc->entries--;
    wasp_dircfg_release(n);
}

/* n and every level below it are out of date. */
static void wc_invalidate(wasp_dircfg_t *n)
{
    if (n->stale)
        return;
    n->refs++; /* n stays while its children go */
    n->stale = true;
    wc_undepend(n->wc, n);
    wc_unmap(n);
    for (wasp_dircfg_t *c = n->child, *next; c; c = next) {
        c->refs++;
        wc_invalidate(c);
        next = c->sib_next; /* c may go with the release */
        wasp_dircfg_release(c);
    }
    wasp_dircfg_release(n);
}

static void wc_rehash(struct wasp_webcfg *wc)
{
    size_t nb = wc->nbuckets * 2;
    wasp_dircfg_t **b = wc_xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < wc->nbuckets; i++) {
        for (wasp_dircfg_t *n = wc->buckets[i], *next; n; n = next) {
            next = n->hnext;
            n->hnext = b[n->hash % nb];
            b[n->hash % nb] = n;
        }
    }
    free(wc->buckets);
    wc->buckets = b;
    wc->nbuckets = nb;
}

static wasp_dircfg_t *wc_new_level(struct wasp_webcfg *wc, wasp_dircfg_t *parent,
                                   const wasp_site_cfg_t *site, const char *key, size_t len)
{
    wasp_dircfg_t *n = wc_xcalloc(1, sizeof(*n));
    /* Most levels need a few hundred bytes (a key, a path, a dependency). */
    n->arena.chunk = 1024;
    n->wc = wc;
    n->refs = 1;
    n->parent = parent;
    n->site = site;
    n->key = cfg_arena_strndup(&n->arena, key, len);
    n->keylen = len;
    n->depth = parent ? parent->depth + 1 : 0;
    /* Below a level that cannot be watched nothing can be kept either. */
    n->uncacheable = parent && parent->uncacheable;
    if (parent) {
        n->sib_next = parent->child;
        if (parent->child)
            parent->child->sib_prev = n;
        parent->child = n;
    }
    wc->builds++;
    wc_build_level(wc, n);
    return n;
}

/* The level of url[0..len) ("/" or "/a/b", no trailing '/'), with one
 * reference for the caller. */
static wasp_dircfg_t *wc_get(struct wasp_webcfg *wc, const wasp_site_cfg_t *site, const char *url,
                             size_t len)
{
    uint64_t h = wc_hash(site->id, url, len);
    wasp_dircfg_t *n = *wc_slot(wc, site->id, url, len, h);
    if (n) {
        if (wc->lru_head != n) {
            wc_lru_unlink(wc, n);
            wc_lru_front(wc, n);
        }
        n->refs++;
        return n;
    }
    wasp_dircfg_t *parent;
    if (len == 1) {
        parent = wc->server;
        parent->refs++;
    } else {
        size_t plen = len;
        while (plen > 0 && url[plen - 1] != '/')
            plen--;
        parent = wc_get(wc, site, url, plen > 1 ? plen - 1 : 1);
    }
    /* The parent's reference becomes the child's hold on it. */
    n = wc_new_level(wc, parent, site, url, len);
    n->hash = h;
    if (n->uncacheable || wc->ifd < 0)
        return n;
    if (wc->entries + 1 > wc->nbuckets)
        wc_rehash(wc);
    wasp_dircfg_t **slot = &wc->buckets[h % wc->nbuckets];
    n->hnext = *slot;
    *slot = n;
    n->in_map = true;
    n->refs++;
    wc_lru_front(wc, n);
    wc->entries++;
    while (wc->entries > wc->max_entries && wc->lru_tail != n)
        wc_unmap(wc->lru_tail);
    return n;
}

/* ---- the public face --------------------------------------------------------------- */

wasp_webcfg_t *wasp_webcfg_new(wasp_config_t *cfg, size_t max_entries, wasp_webcfg_log_fn log,
                               void *log_data)
{
    struct wasp_webcfg *wc = wc_xcalloc(1, sizeof(*wc));
    wc->cfg = cfg;
    wc->log = log;
    wc->log_data = log_data;
    wc->max_entries = max_entries ? max_entries : 1;
    wc_store_init(&wc->store);
    wc->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    wc->nbuckets = 64;
    wc->buckets = wc_xcalloc(wc->nbuckets, sizeof(*wc->buckets));
    wc_watch_rehash(wc, 64);
    wc->server = wc_new_level(wc, NULL, NULL, "", 0);
    return wc;
}

void wasp_webcfg_free(wasp_webcfg_t *wc)
{
    if (!wc)
        return;
    while (wc->lru_head)
        wc_unmap(wc->lru_head);
    wasp_dircfg_release(wc->server);
    if (wc->ifd >= 0)
        close(wc->ifd);
    free(wc->buckets);
    free(wc->watches);
    wc_store_free(&wc->store);
    free(wc);
}

/* Something changed: errors that are still there are worth a line again. */
static void wc_forget_logged(struct wasp_webcfg *wc)
{
    for (wc_error_t *e = wc->logged, *next; e; e = next) {
        next = e->next_logged;
        e->logged = false;
        e->next_logged = NULL;
    }
    wc->logged = NULL;
}

/* Every level was built on top of the server level, so dropping it drops
 * them all; a level a request still holds stays valid for that request (its
 * parents and the configuration it was built from are not freed). */
void wasp_webcfg_set_config(wasp_webcfg_t *wc, wasp_config_t *cfg)
{
    wc_invalidate(wc->server);
    wasp_dircfg_release(wc->server);
    wc->cfg = cfg;
    wc_forget_logged(wc);
    wc->server = wc_new_level(wc, NULL, NULL, "", 0);
}

int wasp_webcfg_fd(const wasp_webcfg_t *wc)
{
    return wc ? wc->ifd : -1;
}

wasp_dircfg_t *wasp_webcfg_lookup(wasp_webcfg_t *wc, const wasp_site_cfg_t *site,
                                  const char *url_path)
{
    if (!site) {
        wc->server->refs++;
        return wc->server;
    }
    const char *url = url_path && url_path[0] == '/' ? url_path : "/";
    size_t len = strlen(url);
    while (len > 1 && url[len - 1] == '/')
        len--;
    return wc_get(wc, site, url, len);
}

const wasp_section_t *wasp_dircfg_section(const wasp_dircfg_t *dc, const char *section_path)
{
    if (!dc || !section_path)
        return NULL;
    if (dc->error)
        return wasp_config_section(dc->wc->cfg, dc->site ? dc->site->name : NULL, dc->key,
                                   section_path);
    return cfg_map_get(dc->tab.sections, 0, section_path, strlen(section_path));
}

const wasp_config_error_t *wasp_dircfg_error(const wasp_dircfg_t *dc)
{
    return dc ? dc->error : NULL;
}

void wc_report(struct wasp_webcfg *wc, const wasp_config_error_t *err)
{
    wc_error_t *e = (wc_error_t *)err; /* pub is the first member */
    if (e->logged)
        return;
    e->logged = true;
    e->next_logged = wc->logged;
    wc->logged = e;
    if (wc->log)
        wc->log(err, wc->log_data);
}

/* Drop the levels that depend on what an event names. */
static void wc_event(struct wasp_webcfg *wc, const struct inotify_event *ev)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        /* Events were lost: nothing cached can be trusted. */
        while (wc->lru_head)
            wc_invalidate(wc->lru_head);
        return;
    }
    wc_watch_t *w = *wc_watch_slot_wd(wc, ev->wd);
    if (!w)
        return;
    bool all = ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT);
    cfg_vec_t hit = { 0 };
    for (wc_dep_t *d = w->deps; d; d = d->w_next) {
        if (all || (ev->len && strcmp(d->name, ev->name) == 0)) {
            d->node->refs++;
            cfg_vec_push(&hit, d->node);
        }
    }
    for (size_t i = 0; i < hit.n; i++)
        wc_invalidate(hit.v[i]);
    for (size_t i = 0; i < hit.n; i++)
        wasp_dircfg_release(hit.v[i]);
    if (hit.n)
        wc_forget_logged(wc);
    cfg_vec_free(&hit);
}

void wasp_webcfg_process(wasp_webcfg_t *wc)
{
    if (!wc || wc->ifd < 0)
        return;
    _Alignas(struct inotify_event) char buf[16384];
    for (;;) {
        ssize_t r = read(wc->ifd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        for (char *p = buf; p < buf + r;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            wc_event(wc, ev);
            p += sizeof(*ev) + ev->len;
        }
    }
}

void wasp_webcfg_stats(const wasp_webcfg_t *wc, wasp_webcfg_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    if (!wc)
        return;
    st->entries = wc->entries;
    st->builds = wc->builds;
    st->watches = wc->watch_count;
    st->files = wc->store.file_count;
}
