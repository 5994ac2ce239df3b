/*
 * Private types of the configuration system, shared by the files of
 * src/config only.  Nothing here is visible to the rest of wasp: the public
 * face is config.h (and the wasp_section_* accessors of wasp/module.h).
 *
 * Memory model: everything a loaded configuration owns (node tree, strings,
 * merged sections, the applicationHost model) lives in one arena that
 * wasp_config_free() drops at once; the hash maps are the only separately
 * allocated blocks.  Lookups after load never allocate.
 */
#ifndef WASP_CFG_INTERNAL_H
#define WASP_CFG_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* ---- arena ---------------------------------------------------------------- */
typedef struct cfg_arena_chunk cfg_arena_chunk_t;
typedef struct cfg_arena {
    cfg_arena_chunk_t *head;
    size_t chunk; /* bytes per chunk; 0 = 64 KiB (small arenas set less) */
} cfg_arena_t;

void *cfg_arena_alloc(cfg_arena_t *a, size_t size); /* zeroed; aborts on OOM */
char *cfg_arena_strdup(cfg_arena_t *a, const char *s);
/* configSource's value, checked and made relative with '/' (sections.c);
 * NULL when it is not a relative path at or below the naming file. */
char *cfg_config_source_rel(cfg_arena_t *arena, const char *src);
char *cfg_arena_strndup(cfg_arena_t *a, const char *s, size_t n);
char *cfg_arena_printf(cfg_arena_t *a, const char *fmt, ...) WASP_PRINTF(2, 3);
void cfg_arena_free(cfg_arena_t *a);

/* A growable array of pointers (malloc'd; for lists being built). */
typedef struct cfg_vec {
    void **v;
    size_t n, cap;
} cfg_vec_t;
void cfg_vec_push(cfg_vec_t *vec, void *p);
void cfg_vec_free(cfg_vec_t *vec);

/* ---- hash map ------------------------------------------------------------- */
/* Keys are (tag, bytes); the bytes are not copied and must outlive the map
 * (they live in the arena).  icase maps compare ASCII case-insensitively. */
typedef struct cfg_map_slot {
    uint64_t hash;
    const char *key;
    size_t keylen;
    uint32_t tag;
    void *value;
} cfg_map_slot_t;

typedef struct cfg_map {
    cfg_map_slot_t *slots;
    size_t cap, count;
    bool icase;
} cfg_map_t;

void cfg_map_init(cfg_map_t *m, bool icase);
/* Insert or replace. */
void cfg_map_put(cfg_map_t *m, uint32_t tag, const char *key, size_t keylen, void *value);
void *cfg_map_get(const cfg_map_t *m, uint32_t tag, const char *key, size_t keylen);
void cfg_map_free(cfg_map_t *m);

/* ---- section declarations (configSections) -------------------------------- */
typedef enum cfg_allow_def {
    CFG_DEF_EVERYWHERE = 0,
    CFG_DEF_MACHINE_ONLY,
    CFG_DEF_MACHINE_TO_ROOT_WEB,
    CFG_DEF_MACHINE_TO_APPLICATION,
    CFG_DEF_APPHOST_ONLY,
} cfg_allow_def_t;

typedef struct cfg_decl {
    const char *path;   /* "system.webServer/staticContent" or a group path */
    bool is_group;
    bool any_child;     /* group whose every child element is an opaque section (.NET) */
    bool opaque;        /* wasp does not interpret the section: kept as read */
    cfg_allow_def_t allow_definition;
    bool override_deny; /* overrideModeDefault="Deny" */
    bool allow_location;
    const char *type;   /* .NET type name, unused by wasp */
    const char *file;   /* NULL for wasp's built-in declarations */
    int line;
} cfg_decl_t;

/* ---- collection schema ---------------------------------------------------- */
#define CFG_MAX_KEYS 5

typedef struct cfg_coll_schema {
    const char *section; /* section path */
    const char *element; /* element path inside the section; "" = the section element */
    const char *add;     /* add directive name(s), comma-separated */
    const char *remove;  /* NULL: not supported */
    const char *clear;   /* NULL: not supported */
    const char *keys[CFG_MAX_KEYS];         /* key attributes; keys[0] NULL = no key */
    const char *key_defaults[CFG_MAX_KEYS]; /* value of an absent key attribute */
    uint8_t key_case_sensitive;             /* bit i: keys[i] compared case-sensitively */
    bool merge_append;                      /* false: lower levels prepend */
    bool allow_duplicates;
    bool heuristic; /* not in the table: add/remove/clear seen, keys = remove's attributes */
} cfg_coll_schema_t;

/* Granular locks (iis-hosting.md 6.8) carried by merged web.config nodes
 * (locking.c): what a level wrote, at which file depth, so that only the
 * files below it are held to it. */
typedef struct cfg_lock cfg_lock_t;
typedef struct cfg_item_lock cfg_item_lock_t;

/* Every node of a configuration is allocated as a cfg_node_t. */
typedef struct cfg_node {
    wasp_section_t pub;
    const cfg_coll_schema_t *coll; /* set for collection elements */
    /* Only on nodes merged for web.config files (cfg_merge_ctx_t.locks): */
    const cfg_lock_t *locks;           /* lockAttributes & co. of this element, every level */
    const cfg_item_lock_t *item_locks; /* items with lockItem="true" */
} cfg_node_t;

static inline cfg_node_t *cfg_node(const wasp_section_t *s)
{
    return (cfg_node_t *)s;
}

/* ---- levels: server, <location path>s, application roots ------------------ */
/* <location overrideMode> (legacy allowOverride: true = Allow, false = Deny). */
typedef enum cfg_override_mode {
    CFG_OVERRIDE_INHERIT = 0,
    CFG_OVERRIDE_ALLOW,
    CFG_OVERRIDE_DENY,
} cfg_override_mode_t;

typedef struct cfg_instance {
    const cfg_decl_t *decl;
    cfg_node_t *node;
    bool inherit_in_child_apps;
    cfg_override_mode_t override_mode;
    const wasp_section_t *location; /* the <location> tag, NULL at the top level */
    struct cfg_instance *next;
} cfg_instance_t;

typedef struct cfg_level {
    uint32_t id;
    const char *seg;          /* path segment ("" for the server level) */
    struct cfg_level *parent;
    cfg_instance_t *sections; /* sections defined at this level */
    bool is_location;         /* some <location path> names this level */
    bool is_app_root;
    bool has_table;           /* effective sections precomputed here */
    struct cfg_level *app;    /* nearest application root at or above */
} cfg_level_t;

/* ---- the configuration ---------------------------------------------------- */
struct wasp_config {
    cfg_arena_t arena;
    unsigned flags;
    char *path;        /* as given to wasp_config_load, or load_as' display path */
    char *real_path;   /* the file the bytes were read from (== path unless load_as) */
    char *dir;         /* absolute directory of the file: base of relative paths */
    cfg_node_t *root;  /* <configuration> */

    cfg_map_t decls;     /* path -> cfg_decl_t (sections and groups) */
    cfg_map_t colls;     /* "section|element" -> cfg_coll_schema_t */
    cfg_map_t children;  /* (parent level id, segment) -> cfg_level_t, case-insensitive */
    cfg_map_t effective; /* (level id, section path) -> wasp_section_t */
    cfg_map_t memo;      /* merge chains (node pointer lists) -> merged node */
    cfg_vec_t levels;    /* cfg_level_t*, index = id; [0] = server */
    cfg_vec_t sources;   /* char*: configSource files read (absolute paths) */

    wasp_pool_cfg_t *pools;
    size_t pool_count;
    wasp_site_cfg_t *sites;
    size_t site_count;
    wasp_log_cfg_t log; /* system.applicationHost/log and the HTTPERR settings */

    wasp_diag_t *warnings;
    size_t warning_count, warning_cap;

    struct wasp_protect_key *key; /* WASP_CONFIG_DECRYPT: read when needed (encrypted.c) */
};

/* ---- diagnostics ---------------------------------------------------------- */
void cfg_diag(wasp_diag_t *d, const char *file, int line, const char *fmt, ...) WASP_PRINTF(4, 5);
void cfg_warn(wasp_config_t *cfg, const char *file, int line, const char *fmt, ...)
    WASP_PRINTF(4, 5);

/* ---- per-file steps of wasp_config_load (each returns 0 or -1 + diag) ----- */
int cfg_xml_read(wasp_config_t *cfg, const char *path, wasp_diag_t *diag);
/* The XML file at path → a node tree in arena whose nodes name `file`; the
 * root element must be <root_name> (`what` names the kind of file in the
 * message, e.g. "a schema file").  cfg_xml_read() is this for
 * applicationHost.config. */
int cfg_xml_parse(cfg_arena_t *arena, const char *path, const char *file, const char *root_name,
                  const char *what, cfg_node_t **root, wasp_diag_t *diag);
/* The same for XML already in memory (buf NUL-terminated at buf[len]);
 * path names it in messages. */
int cfg_xml_parse_buf(cfg_arena_t *arena, const char *buf, size_t len, const char *path,
                      const char *file, const char *root_name, const char *what,
                      cfg_node_t **root, wasp_diag_t *diag);
/* Parse buf (len bytes) into nodes allocated in arena, each naming file.
 * Any root element; NULL + diag on error, whose message starts with what
 * ("malformed XML"). */
cfg_node_t *cfg_xml_parse_mem(cfg_arena_t *arena, const char *file, const char *buf, size_t len,
                              const char *what, wasp_diag_t *diag);
/* A path attribute as written in an IIS file, on Linux (docs/configuration.md,
 * "Paths and variables"): %VARS% expanded (the first undefined one in
 * undefined), a drive letter dropped, '\\' -> '/', relative to cfg->dir.
 * In cfg's arena; NULL for a UNC path, which has no mapping. */
char *cfg_map_windows_path(wasp_config_t *cfg, const char *raw, char *undefined, size_t usize);
/* The whole file, NUL-terminated (malloc'd), within the loader's size limit. */
int cfg_read_file(const char *path, char **buf, size_t *len, wasp_diag_t *diag);
void cfg_builtin_declarations(wasp_config_t *cfg);
int cfg_read_config_sections(wasp_config_t *cfg, wasp_diag_t *diag);
/* The attributes of one <section> element c declaring path into nd
 * (allowDefinition, overrideModeDefault, allowLocation, type; the others
 * keep what nd holds).  0, or -1 + diag. */
int cfg_section_decl(const wasp_section_t *c, const char *path, cfg_decl_t *nd, wasp_diag_t *diag);
int cfg_find_sections(wasp_config_t *cfg, wasp_diag_t *diag);
const cfg_decl_t *cfg_lookup_decl(const wasp_config_t *cfg, const char *path);
/* The collections of the compiled-in schema (the schema directory).  0, or -1 with
 * diag if the build's schema is broken. */
int cfg_schema_collections(wasp_config_t *cfg, wasp_diag_t *diag);
/* validate.c: every section instance against the schema (0x8007000d). */
int cfg_validate_sections(wasp_config_t *cfg, wasp_diag_t *diag);
/* One section element (as read from a file) against the schema. */
int cfg_validate_node(const char *section, const wasp_section_t *node, wasp_diag_t *diag);
/* cfg_lookup_decl, plus the children of a .NET section group (declared on
 * first use). */
const cfg_decl_t *cfg_resolve_decl(wasp_config_t *cfg, const char *path);
/* <location overrideMode / allowOverride> of el: 0, or -1 + diag. */
int cfg_location_mode(const wasp_section_t *el, cfg_override_mode_t *mode, wasp_diag_t *diag);
/* allowDefinition="MachineToApplication" sections of <location> tags are on
 * application roots (run after the sites are known). */
int cfg_check_definitions(wasp_config_t *cfg, wasp_diag_t *diag);
/* Make cs the schema of its collection (replacing an earlier one): the entry
 * point for the built-in table now and for schema files later. */
void cfg_register_collection(wasp_config_t *cfg, const cfg_coll_schema_t *cs);
const cfg_coll_schema_t *cfg_collection_schema(const wasp_config_t *cfg, const char *section,
                                               const char *element);
int cfg_compute_items(wasp_config_t *cfg, wasp_diag_t *diag);
/* The items of every collection element of one section's node tree (what
 * cfg_compute_items does per section), allocated in arena. */
int cfg_section_items(const wasp_config_t *cfg, cfg_arena_t *arena, const char *section,
                      cfg_node_t *n, wasp_diag_t *diag);
int cfg_collection_apply(cfg_arena_t *arena, const cfg_coll_schema_t *cs, cfg_node_t *dst,
                         const wasp_section_t *inherited, const wasp_section_t *src,
                         wasp_diag_t *diag);
/* Does the <remove> directive rm name item? */
bool cfg_remove_matches(const cfg_coll_schema_t *cs, const wasp_section_t *rm,
                        const wasp_section_t *item);
bool cfg_is_directive(const cfg_coll_schema_t *cs, const char *name);
bool cfg_is_add(const cfg_coll_schema_t *cs, const char *name);
/* Is name one of the comma-separated names in list ("allow,deny")? */
bool cfg_name_in_list(const char *list, const char *name);
int cfg_build_levels(wasp_config_t *cfg, wasp_diag_t *diag);
int cfg_compute_effective(wasp_config_t *cfg, wasp_diag_t *diag);

/* ---- merging two levels of one element (effective.c) ---------------------- */
/* HRESULTs of configuration errors (iis-hosting.md 6.11). */
#define CFG_HR_INVALID 0x8007000du   /* malformed, unknown section, bad value */
#define CFG_HR_LOCKED 0x80070021u    /* locked at a parent level, lock violation */
#define CFG_HR_DUPLICATE 0x800700b7u /* duplicate collection entry */
#define CFG_HR_ACCESS 0x80070005u    /* cannot read the file: permissions */
#define CFG_HR_NOT_FOUND 0x80070003u /* a configSource file is missing */

typedef struct cfg_merge_ctx {
    cfg_arena_t *arena;
    /* web.config merges: the result keeps the granular locks of every level
     * and b (from a file at depth `depth`) is checked against the locks of
     * the files above it; a may be NULL (b alone, its locks recorded). */
    bool locks;
    unsigned depth;
    uint32_t hresult; /* set when the merge fails */
} cfg_merge_ctx_t;
/* a's settings overridden by b's (iis-hosting.md 6.6); NULL + diag. */
cfg_node_t *cfg_merge(cfg_merge_ctx_t *mc, const wasp_section_t *a, const wasp_section_t *b,
                      wasp_diag_t *diag);

/* ---- granular locks (locking.c) ------------------------------------------ */
/* b, written in a file at depth `depth`, against the locks of the levels
 * above (a's): lockAttributes, lockAllAttributesExcept, lockElements,
 * lockAllElementsExcept, and lockItem for <remove> / <clear>.  0, or -1 +
 * diag ("Lock violation ..."). */
int cfg_locks_check(const cfg_node_t *a, const wasp_section_t *b, unsigned depth,
                    wasp_diag_t *diag);
/* The locks of merged node n: b's own (at depth) on top of a's (a may be NULL). */
void cfg_locks_record(cfg_arena_t *arena, cfg_node_t *n, const cfg_node_t *a,
                      const wasp_section_t *b, unsigned depth);
int cfg_apphost_build(wasp_config_t *cfg, wasp_diag_t *diag);
cfg_level_t *cfg_level_child(wasp_config_t *cfg, cfg_level_t *parent, const char *seg, size_t len,
                             bool create);

/* ---- values --------------------------------------------------------------- */
bool cfg_parse_uint(const char *s, uint64_t max, uint64_t *out);
bool cfg_parse_bool(const char *s, bool *out);
/* Case-insensitive match against a NULL-terminated list of names, or the
 * number of an entry; returns the index or -1. */
int cfg_parse_enum(const char *s, const char *const *names);
const char *cfg_node_attr_line(const wasp_section_t *s, const char *name, int *line);

/* ---- encrypted values (encrypted.c) -------------------------------------- */
/* Check attribute `name` of node as the load flags ask: nothing, the form
 * (WASP_CONFIG_CHECK_ENCRYPTED) or a full decryption (WASP_CONFIG_DECRYPT,
 * the text wiped at once).  0, or -1 with diag. */
int cfg_check_encrypted_attr(wasp_config_t *cfg, const wasp_section_t *node, const char *name,
                             wasp_diag_t *diag);
void cfg_free_key(wasp_config_t *cfg);

/* Segment-wise, case-insensitive: is prefix ("/a/b", "/" = everything) a
 * prefix of path?  *rest receives the remainder ("" or "/..."). */
bool cfg_path_prefix(const char *prefix, const char *path, const char **rest);

#endif /* WASP_CFG_INTERNAL_H */
