/*
 * The worker's side of web.config files: one wasp_webcfg_t (src/config/
 * webconfig_cache.c) per worker, made on the first section lookup, with its
 * inotify descriptor on the worker's loop, so a web.config edit reaches the
 * next request without a restart.
 *
 * A request holds the level of its URL (looked up once, again after a URL
 * rewrite) until it ends, so every module of one request sees one
 * configuration even if a file changes meanwhile.  The level's error, if
 * any, is the request's 500.19 (pipeline.c).
 *
 * applicationHost.config: waspd rewrites the pool's copy after every change
 * it accepted and sends the worker SIGHUP (the worker cannot watch the copy:
 * the pools directory is not readable by pool users).  The worker reads the
 * copy again if its bytes changed and builds its URLs' configuration from it
 * from then on, without a restart.  The previous configuration is kept for
 * the worker's life: requests in flight hold sites, levels and sections of
 * it, and modules may cache by section pointer, so an address must never be
 * reused.  Edits of applicationHost.config are rare and workers recycle.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "common/log.h"
#include "worker/worker.h"

/* Levels kept: enough for the directories and files of a large site. */
#define WORKER_CONFIG_CACHE 4096

static wasp_webcfg_t *worker_webcfg;

/* The configuration's files as they were when last loaded
 * (worker_config_fingerprint). */
static const char *worker_config_file, *worker_config_name;
static char *worker_config_bytes;
static size_t worker_config_len;

/* Configurations replaced by a reload, never freed (see above). */
static wasp_config_t **worker_config_old;
static size_t worker_config_old_count;

/* Append the bytes of path to *buf (a missing file adds nothing but its
 * name, so appearing and disappearing are changes too). */
static int worker_config_append(const char *path, char **buf, size_t *len, size_t *size)
{
    FILE *f = fopen(path, "rb");
    size_t name_len = strlen(path) + 1;
    int rc = 0;

    for (;;) {
        if (*size - *len < name_len + 4096) {
            size_t want = (*size ? *size * 2 : 65536) + name_len;
            char *grown = realloc(*buf, want);

            if (grown == NULL) {
                rc = -1;
                break;
            }
            *buf = grown;
            *size = want;
        }
        if (name_len > 0) {
            memcpy(*buf + *len, path, name_len); /* with its NUL: a separator */
            *len += name_len;
            name_len = 0;
        }
        if (f == NULL) {
            break;
        }
        size_t r = fread(*buf + *len, 1, *size - *len, f);

        *len += r;
        if (r == 0) {
            rc = ferror(f) ? -1 : 0;
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return rc;
}

/* What the configuration is made of: the file and the configSource files of
 * cfg (the configuration in force, NULL at start).  Read before a load, so
 * a change during the load shows as a difference at the next SIGHUP. */
static int worker_config_fingerprint(const wasp_config_t *cfg, char **out, size_t *len)
{
    size_t size = 0;

    *out = NULL;
    *len = 0;
    if (worker_config_append(worker_config_file, out, len, &size) != 0) {
        free(*out);
        return -1;
    }
    for (size_t i = 0; i < wasp_config_source_count(cfg); i++) {
        if (worker_config_append(wasp_config_source(cfg, i), out, len, &size) != 0) {
            free(*out);
            return -1;
        }
    }
    return 0;
}

wasp_config_t *worker_config_load(const char *path, const char *name, wasp_diag_t *diag)
{
    worker_config_file = path;
    worker_config_name = name;
    if (worker_config_fingerprint(NULL, &worker_config_bytes, &worker_config_len) != 0) {
        worker_config_bytes = NULL; /* the first SIGHUP loads again */
    }
    return wasp_config_load_as(path, name, 0, diag);
}

void worker_config_reload(void)
{
    char *bytes = NULL, *old_bytes = worker_config_bytes;
    size_t len = 0, old_len = worker_config_len;
    wasp_config_t *next, **kept;
    wasp_diag_t diag;
    char buf[2048];

    if (worker_config_fingerprint(worker_cfg, &bytes, &len) != 0) {
        wasp_error("pool '%s': cannot read %s again: %s; the configuration in force stays",
                   worker_pool, worker_config_file, strerror(errno));
        return;
    }
    if (old_bytes != NULL && len == old_len && memcmp(bytes, old_bytes, len) == 0) {
        free(bytes);
        return;
    }
    kept = realloc(worker_config_old, (worker_config_old_count + 1) * sizeof(*kept));
    if (kept == NULL) {
        free(bytes);
        wasp_error("pool '%s': out of memory; the configuration in force stays", worker_pool);
        return;
    }
    worker_config_old = kept;
    worker_config_bytes = bytes;
    worker_config_len = len;
    next = wasp_config_load_as(worker_config_file, worker_config_name, 0, &diag);
    if (next == NULL) {
        /* waspd only writes configurations it loaded, so this is a file
         * changed by someone else: refuse it as a whole. */
        wasp_error("pool '%s': %s; the configuration in force stays", worker_pool,
                   wasp_diag_format(&diag, buf, sizeof(buf)));
        free(worker_config_bytes);
        worker_config_bytes = old_bytes;
        worker_config_len = old_len;
        return;
    }
    free(old_bytes);
    worker_config_old[worker_config_old_count++] = worker_cfg;
    worker_cfg = next;
    if (worker_webcfg != NULL) {
        wasp_webcfg_set_config(worker_webcfg, next);
    }
    wasp_info("pool '%s': %s changed; the next requests use it", worker_pool, worker_config_name);
}

static void worker_config_log(const wasp_config_error_t *e, void *data)
{
    /* Once per broken file (again after it changes), not once per request. */
    if (e->line > 0)
        wasp_error("pool '%s': %s:%d: %s (HRESULT 0x%08x); requests under it answer 500.19",
                   worker_pool, e->file, e->line, e->message, e->hresult);
    else
        wasp_error("pool '%s': %s: %s (HRESULT 0x%08x); requests under it answer 500.19",
                   worker_pool, e->file, e->message, e->hresult);
}

static void worker_config_changed(wasp_loop_t *loop, int fd, uint32_t events, void *data)
{
    wasp_webcfg_process(worker_webcfg);
}

static wasp_webcfg_t *worker_config(void)
{
    if (worker_webcfg == NULL) {
        int fd;

        worker_webcfg = wasp_webcfg_new(worker_cfg, WORKER_CONFIG_CACHE, worker_config_log, NULL);
        fd = wasp_webcfg_fd(worker_webcfg);
        if (fd < 0 || wasp_loop_add(worker_loop, fd, EPOLLIN, worker_config_changed, NULL) != 0) {
            wasp_warn("pool '%s': cannot watch configuration files (inotify); web.config files "
                      "are read again for every request",
                      worker_pool);
        }
    }
    return worker_webcfg;
}

static void worker_config_unpin(void *data)
{
    wasp_request_t *req = data;

    wasp_dircfg_release(req->dircfg);
    req->dircfg = NULL;
}

const wasp_dircfg_t *worker_request_config(wasp_request_t *req)
{
    wasp_dircfg_t *dc;

    if (req->dircfg != NULL && req->dircfg_path == req->path_z) {
        return req->dircfg;
    }
    /* Changes already made are seen by this request: inotify queued their
     * events inside the writer's system call, but the loop may not have
     * read them yet (the request frame can come first in one epoll batch). */
    wasp_webcfg_process(worker_config());
    dc = wasp_webcfg_lookup(worker_config(), req->site, req->path_z);
    if (req->dircfg != NULL) {
        wasp_dircfg_release(req->dircfg);
    } else if (wasp_request_on_cleanup(req, worker_config_unpin, req) != 0) {
        /* Out of memory: the level stays pinned for the worker's life,
         * which is safe. */
        wasp_log(req, WASP_LOG_ERROR, "out of memory pinning the configuration");
        return dc;
    }
    req->dircfg = dc;
    req->dircfg_path = req->path_z;
    return dc;
}

const wasp_section_t *worker_section_at(const wasp_request_t *req, const char *url_path,
                                        const char *section_path)
{
    /* Sections outlive the level they come from (config.h), so the level
     * is given back at once. */
    wasp_dircfg_t *dc = wasp_webcfg_lookup(worker_config(), req->site, url_path);
    const wasp_section_t *s = wasp_dircfg_section(dc, section_path);

    wasp_dircfg_release(dc);
    return s;
}

const wasp_config_error_t *wasp_request_config_error(const wasp_request_t *req)
{
    return req->config_error;
}
