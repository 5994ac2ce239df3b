/*
 * waspd --check: the configuration and every web.config under the sites,
 * checked with the code that serves requests (wasp_webcfg_lookup), so the
 * verdict is the one a request would get (iis-hosting.md 6.6-6.11).
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config/cfg_internal.h"

#define CHK_MAX_DEPTH 32

typedef struct chk {
    FILE *out;
    wasp_config_t *cfg;
    wasp_webcfg_t *wc;
    int status;
    cfg_map_t reported; /* "file:line:message" of errors already printed */
    cfg_arena_t arena;
    dev_t anc_dev[CHK_MAX_DEPTH + 1]; /* folders being walked: symlink loops */
    ino_t anc_ino[CHK_MAX_DEPTH + 1];
} chk_t;

/* True when some schema section lies below group (so the element is a group). */
static bool chk_is_group(const char *group)
{
    size_t n = strlen(group);
    for (size_t i = 0; wasp_section_effect(i); i++) {
        const char *p = wasp_section_effect(i)->path;
        if (strncasecmp(p, group, n) == 0 && p[n] == '/')
            return true;
    }
    return false;
}

static void chk_notes_el(chk_t *c, const wasp_section_t *el, const char *prefix)
{
    char path[512];
    snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "/" : "", el->name);
    const wasp_section_effect_t *e = wasp_section_effect_find(path);
    if (e) {
        if (!e->reader)
            fprintf(c->out, "%s:%d: note: section %s is accepted but has no effect in wasp\n",
                    el->file, el->line, e->path);
        return;
    }
    if (chk_is_group(path))
        for (size_t i = 0; i < el->child_count; i++)
            chk_notes_el(c, el->children[i], path);
}

/* A note for each section of the file that wasp accepts without acting on. */
static void chk_notes(chk_t *c, const char *file)
{
    char *buf;
    size_t len;
    wasp_diag_t d;
    cfg_arena_t tmp = {0};
    if (cfg_read_file(file, &buf, &len, &d) != 0)
        return;
    cfg_node_t *root = cfg_xml_parse_mem(&tmp, file, buf, len, "malformed XML", &d);
    for (size_t i = 0; root && i < root->pub.child_count; i++) {
        const wasp_section_t *el = root->pub.children[i];
        if (strcmp(el->name, "location") == 0) {
            for (size_t j = 0; j < el->child_count; j++)
                chk_notes_el(c, el->children[j], "");
        } else if (strcmp(el->name, "configSections") != 0) {
            chk_notes_el(c, el, "");
        }
    }
    cfg_arena_free(&tmp);
    free(buf);
}

/* Print err once; true when it was printed now. */
static bool chk_report(chk_t *c, const wasp_config_error_t *err)
{
    char *key = cfg_arena_printf(&c->arena, "%s:%d:%s", err->file, err->line, err->message);
    c->status = 1;
    if (cfg_map_get(&c->reported, 0, key, strlen(key)))
        return false;
    cfg_map_put(&c->reported, 0, key, strlen(key), key);
    if (err->line > 0)
        fprintf(c->out, "%s:%d: %s (HRESULT 0x%08x)\n", err->file, err->line, err->message,
                (unsigned)err->hresult);
    else
        fprintf(c->out, "%s: %s (HRESULT 0x%08x)\n", err->file, err->message,
                (unsigned)err->hresult);
    return true;
}

/* A web.*.config holding XML-Document-Transform markup is a build step's
 * input (Web.Release.config), not configuration IIS reads. */
static bool chk_is_transform(const char *file)
{
    char *buf;
    size_t len;
    wasp_diag_t d;
    if (cfg_read_file(file, &buf, &len, &d) != 0)
        return false;
    bool xdt = strstr(buf, "xmlns:xdt") != NULL || strstr(buf, "xdt:Transform") != NULL;
    free(buf);
    return xdt;
}

/* a and b name the same folder (a trailing '/' aside). */
static bool chk_same_dir(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (lb > 1 && b[lb - 1] == '/')
        lb--;
    return la == lb && strncmp(a, b, la) == 0;
}

static void chk_web_config(chk_t *c, const wasp_site_cfg_t *site, const char *url,
                           const char *dir, const char *file)
{
    char phys[4096];
    const wasp_app_cfg_t *app;
    const wasp_vdir_cfg_t *vdir;
    /* A folder another application or virtual directory covers is not
     * reached at this URL; it is checked through that one. */
    if (wasp_config_map_url(c->cfg, site, url, &app, &vdir, phys, sizeof(phys)) != 0)
        return;
    size_t n = strlen(phys);
    if (n > 1 && phys[n - 1] == '/')
        phys[n - 1] = '\0'; /* the root URL "/" maps to "dir/" */
    if (strcmp(phys, dir) != 0)
        return;
    /* The server never reads these files (webconfig.c, wc_reads_web_config):
     * validating them would report errors no request can meet. */
    const wasp_pool_cfg_t *pool = wasp_config_find_pool(c->cfg, app->pool);
    if (pool && !pool->enable_configuration_override) {
        fprintf(c->out, "%s: ignored (enableConfigurationOverride=false on pool '%s')\n", file,
                pool->name);
        return;
    }
    if (!vdir->allow_sub_dir_config && !chk_same_dir(vdir->physical_path, dir)) {
        fprintf(c->out, "%s: ignored (allowSubDirConfig=false on virtual directory %s%s)\n", file,
                strcmp(app->path, "/") == 0 ? "" : app->path, vdir->path);
        return;
    }
    wasp_dircfg_t *dc = wasp_webcfg_lookup(c->wc, site, url);
    const wasp_config_error_t *err = wasp_dircfg_error(dc);
    if (err == NULL) {
        fprintf(c->out, "ok  %s\n", file);
        chk_notes(c, file);
    } else if (!chk_report(c, err) && strcmp(err->file, file) != 0) {
        fprintf(c->out, "%s: not checked: the error in %s applies to its URL\n", file, err->file);
    }
    wasp_dircfg_release(dc);
}

static void chk_dir(chk_t *c, const wasp_site_cfg_t *site, const char *url, const char *dir,
                    unsigned depth)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return;
    for (unsigned i = 0; i < depth; i++)
        if (c->anc_dev[i] == st.st_dev && c->anc_ino[i] == st.st_ino)
            return; /* a symlink back up */
    c->anc_dev[depth] = st.st_dev;
    c->anc_ino[depth] = st.st_ino;
    DIR *d = opendir(dir);
    if (!d)
        return;
    char **subdirs = NULL;
    size_t nsub = 0;
    char web[4096] = "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        char full[4096];
        size_t nl = strlen(n);
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        snprintf(full, sizeof(full), "%s/%s", dir, n);
        if (strcasecmp(n, "web.config") == 0) {
            snprintf(web, sizeof(web), "%s", full);
        } else if (nl > 11 && strncasecmp(n, "web.", 4) == 0 &&
                   strcasecmp(n + nl - 7, ".config") == 0) {
            if (chk_is_transform(full))
                fprintf(c->out,
                        "%s: a configuration transform (xdt), not a configuration file: skipped\n",
                        full);
        } else if (depth < CHK_MAX_DEPTH && stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            subdirs = realloc(subdirs, (nsub + 1) * sizeof(*subdirs));
            subdirs[nsub++] = strdup(n);
        }
    }
    closedir(d);
    if (web[0])
        chk_web_config(c, site, url, dir, web);
    for (size_t i = 0; i < nsub; i++) {
        char sub_url[4096], sub_dir[4096];
        snprintf(sub_url, sizeof(sub_url), "%s%s%s", url, strcmp(url, "/") ? "/" : "",
                 subdirs[i]);
        snprintf(sub_dir, sizeof(sub_dir), "%s/%s", dir, subdirs[i]);
        chk_dir(c, site, sub_url, sub_dir, depth + 1);
        free(subdirs[i]);
    }
    free(subdirs);
}

static void chk_noop_log(const wasp_config_error_t *err, void *data)
{
    (void)err;
    (void)data;
}

int wasp_config_check(const char *path, FILE *out)
{
    chk_t c = {.out = out};
    wasp_diag_t diag;
    char buf[2048];
    c.cfg = wasp_config_load_ex(path, WASP_CONFIG_DECRYPT, &diag);
    if (c.cfg == NULL) {
        fprintf(out, "%s\n", wasp_diag_format(&diag, buf, sizeof(buf)));
        return 1;
    }
    for (size_t i = 0; i < wasp_config_warning_count(c.cfg); i++)
        fprintf(out, "%s: warning\n",
                wasp_diag_format(wasp_config_warning(c.cfg, i), buf, sizeof(buf)));
    fprintf(out, "ok  %s\n", wasp_config_path(c.cfg));
    chk_notes(&c, path);
    cfg_map_init(&c.reported, false);
    c.wc = wasp_webcfg_new(c.cfg, 64, chk_noop_log, NULL);
    for (size_t s = 0; s < wasp_config_site_count(c.cfg); s++) {
        const wasp_site_cfg_t *site = wasp_config_site(c.cfg, s);
        for (size_t a = 0; a < site->app_count; a++) {
            const wasp_app_cfg_t *app = &site->apps[a];
            for (size_t v = 0; v < app->vdir_count; v++) {
                const wasp_vdir_cfg_t *vd = &app->vdirs[v];
                char url[4096];
                if (strcmp(app->path, "/") == 0)
                    snprintf(url, sizeof(url), "%s", vd->path);
                else
                    snprintf(url, sizeof(url), "%s%s", app->path,
                             strcmp(vd->path, "/") == 0 ? "" : vd->path);
                /* applicationHost.config's <location>s for the URL, even
                 * where no web.config is. */
                wasp_dircfg_t *dc = wasp_webcfg_lookup(c.wc, site, url);
                const wasp_config_error_t *err = wasp_dircfg_error(dc);
                if (err && strcmp(err->file, wasp_config_path(c.cfg)) == 0)
                    chk_report(&c, err);
                wasp_dircfg_release(dc);
                chk_dir(&c, site, url, vd->physical_path, 0);
            }
        }
    }
    wasp_webcfg_free(c.wc);
    cfg_map_free(&c.reported);
    cfg_arena_free(&c.arena);
    wasp_config_free(c.cfg);
    return c.status;
}
