/*
 * requestFiltering/requestLimits for the listener.
 *
 * The listener refuses a body over maxAllowedContentLength (413.1), and a
 * request with a body whose URL breaks maxUrl (404.14) or maxQueryString
 * (404.15), before any body byte reaches a worker.  To do that it must know
 * the limits in force for the URL, and they may be set anywhere: in
 * applicationHost.config, in a <location> below an application root, or in
 * a web.config in any directory of the site (an upload application raising
 * maxAllowedContentLength in its own web.config is the common case).
 *
 * The listener asks waspd (LIMITS_QUERY) the first time a URL brings a body
 * and keeps the answer (LIMITS_ANSWER).  waspd reads the files with the same
 * configuration cache the workers use (wasp_webcfg_t: web.config levels kept
 * per directory, inotify on each), and when one of them changes it tells the
 * listener to forget every answer (LIMITS_FLUSH): edits are rare, answers are
 * cheap to get again.  A configuration push (CFG_BEGIN) forgets them too.
 *
 * A URL whose configuration is broken gets no limits from here: its worker
 * answers 500.19, as IIS does, and nothing is refused on its behalf.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "service/svc.h"

/* The same bound as a worker's cache: levels of URLs, LRU. */
#define SVC_LIMITS_CACHE 4096

static wasp_webcfg_t *limits_wc;

static void limits_config_log(const wasp_config_error_t *err, void *data)
{
    (void)err;
    (void)data; /* the worker that serves the URL reports it, as 500.19 */
}

static void limits_on_change(wasp_loop_t *loop, int fd, uint32_t events, void *data)
{
    (void)loop;
    (void)fd;
    (void)events;
    (void)data;
    wasp_webcfg_process(limits_wc);
    svc_send(WASP_MSG_LIMITS_FLUSH, NULL, -1);
}

void svc_limits_reset(void)
{
    if (limits_wc != NULL) {
        int fd = wasp_webcfg_fd(limits_wc);

        if (fd >= 0) {
            wasp_loop_del(svc.loop, fd);
        }
        wasp_webcfg_free(limits_wc);
    }
    limits_wc = wasp_webcfg_new(svc.cfg, SVC_LIMITS_CACHE, limits_config_log, NULL);
    int fd = wasp_webcfg_fd(limits_wc);

    if (fd < 0 || wasp_loop_add(svc.loop, fd, EPOLLIN, limits_on_change, NULL) != 0) {
        /* Without inotify every lookup reads the files again (nothing is
         * kept), so answers stay right; only the listener's copies could
         * outlive an edit. */
        wasp_warn("cannot watch web.config files for requestLimits (%s): after editing "
                  "requestLimits in a web.config, run waspctl recycle apppool or restart waspd",
                  strerror(errno));
    }
}

void svc_limits_query(const char *payload, size_t len)
{
    wasp_dec_t d;
    uint32_t id, site_id;
    const char *path;
    size_t path_len;
    char *url;
    wasp_enc_t e = {0};
    const wasp_site_cfg_t *site;

    wasp_dec_init(&d, payload, len);
    id = wasp_dec_u32(&d);
    site_id = wasp_dec_u32(&d);
    path = wasp_dec_str(&d, &path_len);
    if (d.error || limits_wc == NULL) {
        return;
    }
    wasp_enc_u32(&e, id);
    site = wasp_config_find_site_by_id(svc.cfg, site_id);
    if (site == NULL || path_len == 0 || path[0] != '/' || memchr(path, '\0', path_len) != NULL ||
        (url = strndup(path, path_len)) == NULL) {
        /* A site removed meanwhile, or a URL no configuration level can
         * name: nothing to enforce here (the worker still checks). */
        wasp_enc_u8(&e, 0);
    } else {
        wasp_dircfg_t *dc = wasp_webcfg_lookup(limits_wc, site, url);
        const wasp_section_t *rf =
            wasp_dircfg_error(dc) != NULL
                ? NULL
                : wasp_dircfg_section(dc, "system.webServer/security/requestFiltering");
        const wasp_section_t *lim = rf != NULL ? wasp_section_child(rf, "requestLimits") : NULL;

        wasp_enc_u8(&e, wasp_dircfg_error(dc) == NULL);
        /* IIS' defaults when the section says nothing. */
        wasp_enc_u64(&e, wasp_section_uint(lim, "maxAllowedContentLength", 30000000));
        wasp_enc_u32(&e, (uint32_t)wasp_section_uint(lim, "maxUrl", 4096));
        wasp_enc_u32(&e, (uint32_t)wasp_section_uint(lim, "maxQueryString", 2048));
        wasp_dircfg_release(dc);
        free(url);
    }
    svc_send(WASP_MSG_LIMITS_ANSWER, &e, -1);
}
