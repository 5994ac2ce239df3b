/*
 * wasp_config_load(): the steps of reading applicationHost.config, in order.
 *
 *   1. XML → node tree with file and line (xml_reader.c)
 *   2. section declarations: built-in, then <configSections> (sections.c)
 *   3. collection schema: the schema files, compiled in (schema.c)
 *   4. every element resolved to a section at its level (sections.c), and
 *      checked against the schema (validate.c)
 *   5. the items of every collection element, one level at a time
 *      (collection.c) — duplicate keys within a level are caught here
 *   6. application pools and sites, with defaults and checks (apphost.c),
 *      then allowDefinition="MachineToApplication" against the application
 *      roots (sections.c)
 *   7. the effective sections of every level that matters (effective.c) —
 *      duplicate keys between levels are caught here
 *
 * web.config files are not read here: each worker reads those of the URLs
 * it serves, on demand (webconfig.c, webconfig_cache.c).
 *
 * Every step either succeeds or fills the diag and the half-built
 * configuration is freed: a configuration is all there or not at all.
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cfg_internal.h"

static char *cfg_abs_dir(wasp_config_t *cfg, const char *path)
{
    char *copy = cfg_arena_strdup(&cfg->arena, path);
    const char *dir = dirname(copy);
    char buf[PATH_MAX];
    if (realpath(dir, buf))
        return cfg_arena_strdup(&cfg->arena, buf);
    if (dir[0] == '/')
        return cfg_arena_strdup(&cfg->arena, dir);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return cfg_arena_strdup(&cfg->arena, dir);
    return cfg_arena_printf(&cfg->arena, "%s/%s", cwd, dir);
}

wasp_config_t *wasp_config_load_as(const char *path, const char *display_path, unsigned flags,
                                   wasp_diag_t *diag)
{
    wasp_diag_t scratch;
    if (!diag)
        diag = &scratch;
    memset(diag, 0, sizeof(*diag));
    if (!path || !*path) {
        cfg_diag(diag, "", 0, "no configuration file given");
        return NULL;
    }
    if (!display_path || !*display_path)
        display_path = path;
    wasp_config_t *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        cfg_diag(diag, path, 0, "out of memory");
        return NULL;
    }
    cfg->flags = flags;
    /* Nodes, messages and relative paths take the display path; only the
     * reading (and a pool copy made from this configuration) uses the file
     * the bytes really come from. */
    cfg->path = cfg_arena_strdup(&cfg->arena, display_path);
    cfg->real_path = strcmp(path, display_path) == 0 ? cfg->path
                                                      : cfg_arena_strdup(&cfg->arena, path);
    cfg_map_init(&cfg->decls, false);
    cfg_map_init(&cfg->colls, false);
    cfg_map_init(&cfg->children, true);
    cfg_map_init(&cfg->effective, false);
    cfg_map_init(&cfg->memo, false);
    cfg_level_t *server = cfg_arena_alloc(&cfg->arena, sizeof(*server));
    server->seg = "";
    cfg_vec_push(&cfg->levels, server);

    if (cfg_xml_read(cfg, cfg->real_path, diag) != 0) {
        /* A syntax error has a line, and the line is the display file's (a
         * pool copy keeps every line where it was); a file that cannot be
         * opened or read is named as it is, since that is the one to fix. */
        if (diag->line > 0 && cfg->real_path != cfg->path)
            snprintf(diag->file, sizeof(diag->file), "%s", cfg->path);
        goto fail;
    }
    cfg->dir = cfg_abs_dir(cfg, cfg->path);
    cfg_builtin_declarations(cfg);
    if (cfg_schema_collections(cfg, diag) != 0 || cfg_read_config_sections(cfg, diag) != 0 ||
        cfg_find_sections(cfg, diag) != 0 || cfg_validate_sections(cfg, diag) != 0 ||
        cfg_compute_items(cfg, diag) != 0 || cfg_apphost_build(cfg, diag) != 0 ||
        cfg_check_definitions(cfg, diag) != 0 || cfg_compute_effective(cfg, diag) != 0)
        goto fail;
    if ((flags & WASP_CONFIG_STRICT) && cfg->warning_count) {
        *diag = cfg->warnings[0];
        goto fail;
    }
    /* The key is not kept in memory between uses: a later
     * wasp_config_decrypt_attr() reads the file again. */
    cfg_free_key(cfg);
    return cfg;
fail:
    wasp_config_free(cfg);
    return NULL;
}

wasp_config_t *wasp_config_load_ex(const char *path, unsigned flags, wasp_diag_t *diag)
{
    return wasp_config_load_as(path, path, flags, diag);
}

wasp_config_t *wasp_config_load(const char *path, wasp_diag_t *diag)
{
    return wasp_config_load_ex(path, 0, diag);
}

void wasp_config_free(wasp_config_t *cfg)
{
    if (!cfg)
        return;
    cfg_map_free(&cfg->decls);
    cfg_map_free(&cfg->colls);
    cfg_map_free(&cfg->children);
    cfg_map_free(&cfg->effective);
    cfg_map_free(&cfg->memo);
    cfg_vec_free(&cfg->levels);
    cfg_vec_free(&cfg->sources);
    free(cfg->warnings);
    cfg_free_key(cfg);
    cfg_arena_free(&cfg->arena);
    free(cfg);
}

size_t wasp_config_source_count(const wasp_config_t *cfg)
{
    return cfg ? cfg->sources.n : 0;
}

const char *wasp_config_source(const wasp_config_t *cfg, size_t i)
{
    return cfg && i < cfg->sources.n ? cfg->sources.v[i] : NULL;
}

const char *wasp_config_path(const wasp_config_t *cfg)
{
    return cfg ? cfg->path : NULL;
}
