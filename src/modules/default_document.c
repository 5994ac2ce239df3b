/*
 * DefaultDocumentModule (IIS defdoc.dll): answers directory URLs with one of
 * the <defaultDocument><files> (iis-modules.md 2.1).
 *
 * At ExecuteRequestHandler, when the physical path is a directory:
 *   URL without trailing '/'   → 301 courtesy redirect to path + "/" (query kept),
 *                                even when defaultDocument is disabled, because
 *                                relative links in a directory page need it;
 *   defaultDocument disabled   → CONTINUE (DirectoryListingModule decides);
 *   a listed file exists       → served exactly as StaticFileModule serves it
 *                                (wasp_static_file_serve: MIME, validators,
 *                                conditionals, ranges, 405 for other verbs);
 *   none exists                → CONTINUE (listing, or 403.14 from
 *                                DirectoryListingModule).
 * Anything that is not a directory → CONTINUE.
 *
 * Matching is case-insensitive, as on NTFS: candidates are tried in list order
 * and the first one that exists under any letter case wins (an exact-case file
 * is preferred over another case variant of the same name).  A listed name
 * with a '/' (relative path) is matched with its exact case only.
 *
 * IIS re-runs handler selection for the document (index.php goes to FastCGI).
 * This module cannot re-route a request, so it serves only documents the
 * static file handler can serve: a candidate without a <mimeMap> entry
 * (index.php, default.aspx, Default.asp) is skipped and the next one is
 * tried, which also keeps script source from being sent as a file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "modules/builtin.h"
#include "modules/mime.h"
#include "modules/modutil.h"
#include "modules/static_file.h"

#define DEFAULT_DOCUMENT_SECTION "system.webServer/defaultDocument"

/* The stock applicationHost.config list (iis-modules.md 2.1), used when the
 * section, or its <files> collection, is nowhere in the configuration. */
static const char *const default_document_stock[] = {"Default.htm", "Default.asp", "index.htm",
                                                     "index.html", "iisstart.htm"};

#define DEFAULT_DOCUMENT_MAX 64 /* candidates considered; more is a config mistake */

typedef struct default_document_cand {
    const char *name;   /* as configured ('\\' turned into '/') */
    const char *ci;     /* the directory entry that matches it case-insensitively */
    bool simple;        /* no '/': can be matched by scanning the directory */
} default_document_cand_t;

/* Accept a listed name only when it stays inside the directory. */
static bool default_document_name_ok(const char *name)
{
    for (const char *p = name;;) {
        size_t seg = strcspn(p, "/");
        if (seg == 0 || (seg == 2 && p[0] == '.' && p[1] == '.'))
            return false; /* absolute, empty segment, trailing '/', or ".." */
        if (p[seg] == '\0')
            return true;
        p += seg + 1;
    }
}

static size_t default_document_candidates(wasp_request_t *req, const wasp_section_t *sec,
                                          default_document_cand_t *out)
{
    const wasp_section_t *files = sec ? wasp_section_child(sec, "files") : NULL;
    size_t n = 0;
    if (files == NULL) {
        for (size_t i = 0; i < sizeof(default_document_stock) / sizeof(*default_document_stock);
             i++)
            out[n++] = (default_document_cand_t){default_document_stock[i], NULL, true};
        return n;
    }
    size_t count = wasp_section_item_count(files);
    for (size_t i = 0; i < count && n < DEFAULT_DOCUMENT_MAX; i++) {
        const wasp_section_t *item = wasp_section_item(files, i);
        const char *v = item ? wasp_section_attr(item, "value") : NULL;
        if (v == NULL)
            continue;
        char *name = wasp_modutil_strdup(req, v, strlen(v));
        if (name == NULL)
            break;
        for (char *p = name; *p; p++)
            if (*p == '\\')
                *p = '/'; /* written for Windows: "docs\index.htm" */
        if (!default_document_name_ok(name)) {
            wasp_log(req, WASP_LOG_WARN,
                     "defaultDocument entry \"%s\" leaves the directory; ignored", v);
            continue;
        }
        out[n++] = (default_document_cand_t){name, NULL, strchr(name, '/') == NULL};
    }
    return n;
}

/* One readdir() pass: for every simple candidate, the first regular file
 * whose name equals it case-insensitively. */
static void default_document_scan(wasp_request_t *req, const char *dir,
                                   default_document_cand_t *cand, size_t n)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        for (size_t j = 0; j < n; j++) {
            if (!cand[j].simple || cand[j].ci != NULL || strcasecmp(de->d_name, cand[j].name) != 0)
                continue;
            struct stat st;
            if (fstatat(dirfd(d), de->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
                continue;
            cand[j].ci = wasp_modutil_strdup(req, de->d_name, strlen(de->d_name));
        }
    }
    closedir(d);
}

/* Open dir + name if it is a regular file; -1 otherwise. */
static int default_document_open(wasp_request_t *req, const char *dir, const char *name,
                                 struct stat *st, char **path_out)
{
    char *path = wasp_modutil_printf(req, "%s%s", dir, name);
    if (path == NULL)
        return -1;
    int fd = wasp_static_file_open(path, st);
    if (fd >= 0 && !S_ISREG(st->st_mode)) {
        close(fd);
        fd = -1;
    }
    *path_out = path;
    return fd;
}

static wasp_status_t default_document_execute(wasp_request_t *req, void *state)
{
    const char *phys = wasp_request_physical_path(req);
    struct stat st;
    if (phys == NULL || phys[0] == '\0' || stat(phys, &st) != 0 || !S_ISDIR(st.st_mode))
        return WASP_CONTINUE;
    if (!wasp_static_file_url_has_slash(req))
        return wasp_static_file_redirect_slash(req);

    const wasp_section_t *sec = wasp_request_section(req, DEFAULT_DOCUMENT_SECTION);
    if (sec != NULL && !wasp_section_bool(sec, "enabled", true))
        return WASP_CONTINUE;

    default_document_cand_t cand[DEFAULT_DOCUMENT_MAX];
    size_t n = default_document_candidates(req, sec, cand);
    if (n == 0)
        return WASP_CONTINUE;

    size_t plen = strlen(phys);
    const char *dir = phys[plen - 1] == '/' ? phys : wasp_modutil_printf(req, "%s/", phys);
    if (dir == NULL)
        return wasp_request_fail(req, 500, 0, "0x8007000e Out of memory.");

    const wasp_section_t *sc = wasp_request_section(req, WASP_STATIC_FILE_SECTION);
    bool scanned = false;
    for (size_t i = 0; i < n; i++) {
        char *path = NULL;
        int fd = -1;
        /* After the scan a simple name that matched nothing does not exist
         * under any case: skip the open. */
        if (!scanned || !cand[i].simple || cand[i].ci != NULL)
            fd = default_document_open(req, dir, cand[i].name, &st, &path);
        if (fd < 0 && cand[i].simple) {
            if (!scanned) {
                default_document_scan(req, dir, cand, n);
                scanned = true;
            }
            if (cand[i].ci != NULL)
                fd = default_document_open(req, dir, cand[i].ci, &st, &path);
        }
        if (fd < 0)
            continue;

        const char *mime = wasp_mime_lookup(sc, path);
        if (mime == NULL) {
            close(fd);
            wasp_log(req, WASP_LOG_DEBUG,
                     "default document %s has no mimeMap entry (dynamic content is not "
                     "served by the static handler); trying the next one",
                     path);
            continue;
        }
        return wasp_static_file_serve(req, fd, &st, mime, sc);
    }
    return WASP_CONTINUE;
}

int wasp_default_document_register(wasp_registration_t *reg, uint32_t server_abi)
{
    static const wasp_module_info_t info = {
        .abi = WASP_MODULE_ABI,
        .size = sizeof(wasp_module_info_t),
        .name = "DefaultDocumentModule",
    };
    if (server_abi != WASP_MODULE_ABI) {
        wasp_registration_error(reg, "built for module ABI %u, the worker speaks %u",
                                WASP_MODULE_ABI, server_abi);
        return -1;
    }
    if (wasp_registration_set_info(reg, &info) != 0 ||
        wasp_registration_on(reg, WASP_EVENT_EXECUTE_REQUEST_HANDLER, WASP_PRIORITY_MEDIUM,
                             default_document_execute) != 0)
        return -1;
    return 0;
}
