/*
 * redirection.config (wasp_config_redirect): the base of IIS' "shared
 * configuration".  IIS keeps redirection.config beside applicationHost.config
 * (inetsrv\config); with <configurationRedirection enabled="true"
 * path="\\server\share\config" />, applicationHost.config is read from that
 * directory instead.  waspd, waspd --check and waspctl resolve it once, at
 * start, and from then on use (and watch) the redirected file.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/cfg_internal.h"

#define RD_FILE "redirection.config"

/* dir of path, absolute ("." for a bare name): the base of a relative path
 * attribute, as for applicationHost.config's own relative paths. */
static int rd_dir_of(const char *path, char dir[PATH_MAX])
{
    char tmp[PATH_MAX];
    const char *slash = strrchr(path, '/');

    if (!slash)
        snprintf(tmp, sizeof(tmp), ".");
    else if (slash == path)
        snprintf(tmp, sizeof(tmp), "/");
    else
        snprintf(tmp, sizeof(tmp), "%.*s", (int)(slash - path), path);
    return realpath(tmp, dir) ? 0 : -1;
}

int wasp_config_redirect(const char *apphost_path, char *out, size_t size, wasp_diag_t *diag)
{
    char dir[PATH_MAX], file[PATH_MAX + 32], *buf = NULL;
    size_t len;
    wasp_diag_t scratch;
    wasp_config_t tmp = { 0 };
    int rc = -1, line = 0;

    if (!diag)
        diag = &scratch;
    memset(diag, 0, sizeof(*diag));
    snprintf(out, size, "%s", apphost_path);
    if (rd_dir_of(apphost_path, dir) != 0)
        return 0; /* the loader says what is wrong with apphost_path */
    snprintf(file, sizeof(file), "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, RD_FILE);
    if (access(file, F_OK) != 0 && errno == ENOENT)
        return 0;
    if (cfg_read_file(file, &buf, &len, diag) != 0)
        return -1;
    cfg_node_t *root = cfg_xml_parse_mem(&tmp.arena, file, buf, len, "malformed XML", diag);
    if (!root)
        goto done;
    if (strcmp(root->pub.name, "configuration") != 0) {
        cfg_diag(diag, file, root->pub.line,
                 "the root element of %s must be <configuration>, not <%s>", RD_FILE,
                 root->pub.name);
        goto done;
    }
    const wasp_section_t *el = wasp_section_child(&root->pub, "configurationRedirection");
    if (!el) {
        rc = 0;
        goto done;
    }
    bool enabled = false;
    const char *v = cfg_node_attr_line(el, "enabled", &line);
    if (v && !cfg_parse_bool(v, &enabled)) {
        cfg_diag(diag, file, line,
                 "enabled=\"%s\" of configurationRedirection is not valid; use true or false", v);
        goto done;
    }
    if (!enabled) {
        rc = 0;
        goto done;
    }
    v = cfg_node_attr_line(el, "path", &line);
    if (!v || !*v) {
        cfg_diag(diag, file, v ? line : el->line,
                 "configurationRedirection is enabled but has no path; write the directory "
                 "that holds the shared applicationHost.config, or set enabled=\"false\"");
        goto done;
    }
    char undefined[128];
    tmp.dir = dir;
    const char *mapped = cfg_map_windows_path(&tmp, v, undefined, sizeof(undefined));
    if (!mapped) {
        cfg_diag(diag, file, line,
                 "path \"%s\" of configurationRedirection is a UNC path (a Windows file "
                 "share), which wasp does not map; mount the share and write its Linux path, "
                 "e.g. /mnt/server/share/config",
                 v);
        goto done;
    }
    if (undefined[0]) {
        cfg_diag(diag, file, line,
                 "path \"%s\" of configurationRedirection uses %%%s%%, which is not set in "
                 "wasp's environment; set it, or write the directory itself",
                 v, undefined);
        goto done;
    }
    /* The canonical directory: messages and the watch name the real file. */
    char real[PATH_MAX];
    struct stat st;
    const char *why = NULL;
    if (!realpath(mapped, real)) {
        why = strerror(errno);
        snprintf(real, sizeof(real), "%s", mapped);
    }
    snprintf(out, size, "%s/applicationHost.config", strcmp(real, "/") == 0 ? "" : real);
    if (!why)
        why = stat(out, &st) != 0 ? strerror(errno) : !S_ISREG(st.st_mode) ? "not a file" : NULL;
    if (why) {
        cfg_diag(diag, file, line,
                 "configurationRedirection is enabled with path=\"%s\", but %s cannot be "
                 "read (%s); make the shared directory available, or set enabled=\"false\"",
                 v, out, why);
        snprintf(out, size, "%s", apphost_path);
        goto done;
    }
    rc = 1;
done:
    cfg_arena_free(&tmp.arena);
    free(buf);
    return rc;
}
