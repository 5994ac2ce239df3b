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
 */
#include <sys/epoll.h>

#include "common/log.h"
#include "worker/worker.h"

/* Levels kept: enough for the directories and files of a large site. */
#define WORKER_CONFIG_CACHE 4096

static wasp_webcfg_t *worker_webcfg;

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
