/*
 * Private types of the web.config half of the configuration system, shared
 * by webconfig.c (reading files and building one level) and
 * webconfig_cache.c (the cache of levels, the LRU and inotify).
 *
 * A level is one URL prefix of one site: the site root "/", "/a", "/a/b",
 * ... down to the request's own path (which may name a file).  Each level is
 * a wasp_dircfg_t that holds its parent, so the effective configuration of
 * a level is its parent's plus what applies at the level itself
 * (iis-hosting.md 6.9): <location> tags of higher files that target it
 * (applicationHost.config first, nearest web.config last), then the level's
 * own web.config.  A level where nothing applies shares its parent's table.
 *
 * Two lifetimes:
 *   - the store (process lifetime): parsed files, kept per content; merged
 *     sections, memoised; errors.  Everything a module may hold a pointer to
 *     lives here, so a rebuilt level gives back the same pointers.
 *   - levels (wasp_dircfg_t): built on demand, refcounted, dropped by the
 *     LRU or when a file they depend on changes.
 */
#ifndef WASP_WEBCFG_INTERNAL_H
#define WASP_WEBCFG_INTERNAL_H

#include "config/cfg_internal.h"

/* ---- the store ----------------------------------------------------------- */

/* One version of one file (a web.config or a configSource file). */
typedef struct wc_file {
    const char *path;
    const char *bytes; /* NUL-terminated; identity of the version */
    size_t len;
    cfg_node_t *root;                  /* NULL when the file does not parse */
    const wasp_config_error_t *error;  /* why it does not */
    struct wc_file *older;             /* earlier versions of the same path */
} wc_file_t;

typedef struct wc_store {
    cfg_arena_t arena;
    cfg_map_t files;  /* path -> newest wc_file_t */
    cfg_map_t merges; /* (a, b, depth) -> wc_merged_t */
    cfg_map_t items;  /* section node -> its items error, or the "done" marker */
    cfg_map_t errors; /* "hresult|file|line|message" -> wc_error_t */
    size_t file_count;
} wc_store_t;

/* A configuration error with its logging state. */
typedef struct wc_error {
    wasp_config_error_t pub;
    bool logged;
    struct wc_error *next_logged;
} wc_error_t;

/* ---- levels -------------------------------------------------------------- */

/* A section of a web.config <location path> that targets a level below the
 * file's: carried down level by level until its path is used up. */
typedef struct wc_pending {
    const char *rest; /* what is left of the path: "b/c" (no leading '/') */
    const cfg_decl_t *decl;
    const wasp_section_t *node; /* the content (from a configSource file, maybe) */
    const wasp_section_t *el;   /* the section element as written in its file */
    unsigned depth;   /* of the file that wrote it */
    bool inherit;     /* inheritInChildApplications */
    cfg_override_mode_t mode;
    const wasp_section_t *tag; /* the <location> */
    struct wc_pending *next;
} wc_pending_t;

/* An explicit overrideMode (Allow or Deny) for a section, from a <location>
 * at or above the level, newest first. */
typedef struct wc_mode {
    bool deny;
    unsigned depth; /* of the file that wrote it */
    const char *file;
    int line;
    const struct wc_mode *next;
} wc_mode_t;

/* A section declared in a web.config's <configSections>. */
typedef struct wc_decl {
    cfg_decl_t d;
    unsigned depth; /* of the file that declared it */
} wc_decl_t;

/* The effective configuration of a level.  Each map is the level's own
 * (wasp_dircfg_t.own_*) or borrowed from an ancestor (copied on first
 * write). */
typedef struct wc_table {
    const cfg_map_t *sections; /* section path -> effective node */
    const cfg_map_t *nc;       /* the same for child applications: without
                                  inheritInChildApplications="false" content */
    const cfg_map_t *modes;    /* section path -> wc_mode_t list */
    const cfg_map_t *decls;    /* section path -> wc_decl_t, web.config declarations */
} wc_table_t;

typedef struct wc_dep wc_dep_t;
typedef struct wc_watch wc_watch_t;

struct wasp_dircfg {
    struct wasp_webcfg *wc;
    struct wasp_dircfg *parent; /* held; the server level has none */
    unsigned refs;
    cfg_arena_t arena;          /* this level's own memory */

    /* the cache */
    const wasp_site_cfg_t *site; /* NULL for the server level */
    const char *key;             /* URL path: "/", "/a", "/a/file.htm" */
    size_t keylen;
    uint64_t hash;
    struct wasp_dircfg *hnext;   /* hash chain */
    struct wasp_dircfg *lru_prev, *lru_next;
    struct wasp_dircfg *child, *sib_prev, *sib_next; /* live children */
    bool in_map, stale, uncacheable;
    wc_dep_t *deps;

    /* the level */
    unsigned depth;              /* file depth: server 0, site root 1, ... */
    const cfg_level_t *ah;       /* applicationHost.config's level, or NULL */
    const wasp_app_cfg_t *app;
    const char *phys;            /* physical path, NULL when the URL maps nowhere */
    bool is_dir;
    bool is_app_root;
    wc_pending_t *pending;       /* <location>s for levels below */
    wc_table_t tab;
    cfg_map_t own_sections, own_nc, own_modes, own_decls;
    const wasp_config_error_t *error;
};

/* ---- what webconfig.c offers the cache ----------------------------------- */

void wc_store_init(wc_store_t *st);
void wc_store_free(wc_store_t *st);
/* Build level n (n->parent, site, key, depth set; the server level when
 * parent is NULL).  Always succeeds: a configuration error is recorded in
 * n->error.  Dependencies are registered with wc_depend(). */
void wc_build_level(struct wasp_webcfg *wc, wasp_dircfg_t *n);
void wc_level_free(wasp_dircfg_t *n);

/* ---- what the cache offers webconfig.c ------------------------------------- */

struct wasp_webcfg {
    wasp_config_t *cfg;
    wc_store_t store;
    wasp_webcfg_log_fn log;
    void *log_data;
    wc_error_t *logged; /* errors reported since the last change */
    /* the cache */
    int ifd; /* inotify, -1 when unavailable */
    size_t max_entries, entries, builds;
    wasp_dircfg_t **buckets;
    size_t nbuckets;
    wasp_dircfg_t *lru_head, *lru_tail; /* most recent first */
    wasp_dircfg_t *server;
    /* watches: 2 * watch_cap chains, by descriptor then by directory */
    wc_watch_t **watches;
    size_t watch_cap, watch_count;
};

/* n depends on the entry `name` of directory dir (a file that was read or
 * looked for, a sub-directory): a change there drops n.  -1 when the
 * directory cannot be watched (the caller then marks n uncacheable, or
 * depends on something else). */
int wc_depend(struct wasp_webcfg *wc, wasp_dircfg_t *n, const char *dir, const char *name);
/* Report err once (see wasp_webcfg_log_fn). */
void wc_report(struct wasp_webcfg *wc, const wasp_config_error_t *err);

#endif /* WASP_WEBCFG_INTERNAL_H */
