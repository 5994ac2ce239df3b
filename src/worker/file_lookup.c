/*
 * URL -> file for the worker (worker_map_url), with the case-insensitive
 * file lookup a site may opt into (wasp/fileLookup caseInsensitive="true",
 * docs/configuration.md).  IIS runs on NTFS, where /Images/Logo.PNG finds
 * images\logo.png; Linux file names differ by case.  Off by default: a
 * case-sensitive disk is what Linux administrators expect, two files may
 * differ only by case, and the lookup costs a directory read.
 *
 * The lookup only runs when the exact name does not exist (ENOENT), one
 * segment at a time below the virtual directory's physicalPath (which is
 * written in the configuration and used as it is): a readdir of the parent
 * directory, taking the entry equal ignoring ASCII case (the smallest in
 * byte order when several are, so the answer does not depend on readdir's
 * order).  No cache: a site that opts in pays one readdir per missing
 * segment of a URL whose name is not exact, and nothing otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "worker/worker.h"

/* In dir, the entry whose name is name[0..len) ignoring case, copied over
 * name; false when there is none. */
static bool file_lookup_entry(const char *dir, char *name, size_t len)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char best[NAME_MAX + 1] = "";

    if (d == NULL) {
        return false;
    }
    while ((de = readdir(d)) != NULL) {
        if (strlen(de->d_name) == len && strncasecmp(de->d_name, name, len) == 0 &&
            (best[0] == '\0' || strcmp(de->d_name, best) < 0)) {
            snprintf(best, sizeof(best), "%s", de->d_name);
        }
    }
    closedir(d);
    if (best[0] == '\0') {
        return false;
    }
    memcpy(name, best, len); /* ASCII case folding keeps the length */
    return true;
}

/* Rewrite the segments of phys below root to the names on disk. */
static void file_lookup_fold(char *phys, const char *root)
{
    size_t rl = strlen(root);
    struct stat st;
    char *seg;

    if (strncmp(phys, root, rl) != 0 || lstat(phys, &st) == 0 || errno != ENOENT) {
        return;
    }
    seg = phys + rl;
    while (*seg == '/') {
        seg++;
    }
    while (*seg != '\0') {
        char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        char save = seg[len];
        bool found = true;

        seg[len] = '\0';
        if (lstat(phys, &st) != 0) {
            if (errno != ENOENT) {
                found = false;
            } else if (seg - 1 == phys) {
                found = file_lookup_entry("/", seg, len);
            } else {
                seg[-1] = '\0';
                found = file_lookup_entry(phys, seg, len);
                seg[-1] = '/';
            }
        }
        seg[len] = save;
        if (!found || end == NULL) {
            return; /* the rest does not exist either way */
        }
        seg = end + 1;
    }
}

static bool file_lookup_on(const wasp_request_t *req, const char *url)
{
    return wasp_section_bool(worker_section_at(req, url, "wasp/fileLookup"), "caseInsensitive",
                             false);
}

int worker_map_url(const wasp_request_t *req, const char *url, const wasp_app_cfg_t **app,
                   const wasp_vdir_cfg_t **vdir, char *phys, size_t phys_size)
{
    const wasp_vdir_cfg_t *vd = NULL;

    if (req->site == NULL ||
        wasp_config_map_url(worker_cfg, req->site, url, app, &vd, phys, phys_size) != 0) {
        return -1;
    }
    if (vdir != NULL) {
        *vdir = vd;
    }
    if (vd != NULL && file_lookup_on(req, url)) {
        file_lookup_fold(phys, vd->physical_path);
    }
    return 0;
}
