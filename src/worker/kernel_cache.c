/*
 * The worker's half of the response cache: whether the listener may keep
 * this response, decided from the URL's configuration, which only the
 * worker has (web.config files along the URL), and said with a RESP_CACHE
 * frame before the head (src/common/channel.h; the listener's half is
 * src/listener/cache.c).
 *
 * IIS' rules (shared/reference/iis-hosting.md 4.4, iis-modules.md 2.16,
 * 2.17): caching/@enableKernelCache must be true; a static file (the static
 * file handler called wasp_response_cache_file) is cached until it changes
 * unless the extension's caching profile says kernelCachePolicy
 * "DisableCache"; any other response only when the profile says
 * "CacheUntilChange" or "CacheForTimePeriod" (duration).  Only an anonymous
 * GET without query string, answered 200 in one piece by the URL it asked
 * for (no rewrite, no local redirect, no default document, no URL Rewrite
 * rule in force for the URL, no sslFlags, anonymous authentication on),
 * qualifies.  The
 * listener applies the request-side rules again and the response-side ones
 * (Set-Cookie, Vary, sizes) itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/log.h"
#include "worker/worker.h"

enum { KC_DONT = 0, KC_UNTIL_CHANGE = 1, KC_TIME_PERIOD = 2, KC_DISABLE = 3 };

#define KC_MAX_VARY 8u
#define KC_DEFAULT_DURATION_MS 30000 /* caching/profiles/add/@duration */
#define KC_DEFAULT_PERIOD_MS 10000   /* serverRuntime/@frequentHitTimePeriod */

/* kernelCachePolicy as written: a name, or its schema number. */
static int kc_policy(const char *v)
{
    static const char *const names[] = {"DontCache", "CacheUntilChange", "CacheForTimePeriod",
                                        "DisableCache"};

    if (v == NULL) {
        return KC_DONT;
    }
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, names[i]) == 0) {
            return i;
        }
    }
    return (v[0] >= '0' && v[0] <= '3' && v[1] == '\0') ? v[0] - '0' : KC_DONT;
}

/* The caching profile for the URL's extension ("*.htm" matches ".htm",
 * case-insensitive as on IIS), or NULL. */
static const wasp_section_t *kc_profile(const wasp_request_t *req, const wasp_section_t *caching)
{
    const wasp_section_t *profiles = wasp_section_child(caching, "profiles");
    const char *slash = strrchr(req->path_z, '/');
    const char *dot = strrchr(slash != NULL ? slash : req->path_z, '.');

    if (profiles == NULL || dot == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < wasp_section_item_count(profiles); i++) {
        const wasp_section_t *p = wasp_section_item(profiles, i);
        const char *ext = wasp_section_attr(p, "extension");

        if (ext != NULL && ext[0] == '*') {
            ext++;
        }
        if (ext != NULL && strcasecmp(ext, dot) == 0) {
            return p;
        }
    }
    return NULL;
}

static uint32_t kc_timespan(const wasp_section_t *s, const char *name, int64_t dflt)
{
    const char *v = wasp_section_attr(s, name);
    int64_t ms;

    if (v == NULL || !wasp_config_parse_timespan(v, WASP_TIMESPAN_STRING, &ms) || ms < 0) {
        ms = dflt;
    }
    return ms > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

typedef struct kc_deps {
    wasp_enc_t *enc;
    uint32_t count;
} kc_deps_t;

static void kc_dep(const char *dir, const char *name, void *data)
{
    kc_deps_t *d = data;

    wasp_enc_cstr(d->enc, dir);
    wasp_enc_cstr(d->enc, name);
    d->count++;
}

/* (directory, name) of a path; false for a path without a directory. */
static bool kc_dep_path(kc_deps_t *d, const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL || slash[1] == '\0') {
        return false;
    }
    wasp_enc_str(d->enc, path, slash == path ? 1 : (size_t)(slash - path));
    wasp_enc_cstr(d->enc, slash + 1);
    d->count++;
    return true;
}

/* Encode the varied header names: u32 count, then each.  false when there
 * are more than the listener keys by (then nothing is cached). */
static bool kc_vary(wasp_enc_t *e, const char *vary)
{
    const char *name[KC_MAX_VARY];
    size_t len[KC_MAX_VARY];
    uint32_t n = 0;

    for (const char *p = vary; p != NULL && *p != '\0';) {
        size_t l = strcspn(p, ";,");
        const char *s = p;

        p += l + (p[l] != '\0');
        while (l > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            l--;
        }
        while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\t')) {
            l--;
        }
        if (l == 0) {
            continue;
        }
        if (n == KC_MAX_VARY) {
            return false;
        }
        name[n] = s;
        len[n++] = l;
    }
    wasp_enc_u32(e, n);
    for (uint32_t i = 0; i < n; i++) {
        wasp_enc_str(e, name[i], len[i]);
    }
    return true;
}

/* Where the request stands apart from configuration: may it be kept? */
static bool kc_request_qualifies(const wasp_request_t *req)
{
    return req->status == 200 && !req->streaming && req->body_len > 0 && req->method.len == 3 &&
           memcmp(req->method.ptr, "GET", 3) == 0 && !req->has_query && !req->rewritten &&
           req->local_redirects == 0 && wasp_request_header(req, "Authorization").ptr == NULL;
}

/* HTTP.sys keeps only responses any client may get: none for a URL that
 * wants TLS or a client certificate (security/access sslFlags: a hit would
 * skip the 403.4 / 403.7 / 403.16 checks, and a key has no scheme), nor
 * where anonymous authentication is off. */
static bool kc_anonymous(const wasp_request_t *req)
{
    const wasp_section_t *access = wasp_request_section(req, "system.webServer/security/access");
    const wasp_section_t *anon = wasp_request_section(
        req, "system.webServer/security/authentication/anonymousAuthentication");
    const char *flags = access != NULL ? wasp_section_attr(access, "sslFlags") : NULL;

    if (flags != NULL && flags[0] != '\0' && strcasecmp(flags, "None") != 0 &&
        strcmp(flags, "0") != 0) {
        return false;
    }
    return anon == NULL || wasp_section_bool(anon, "enabled", true);
}

/* URL Rewrite rules apply to the URL.  IIS keeps the kernel cache only when
 * every rule uses cache-safe server variables (iis-modules.md 3.9); a rule
 * that did not fire this time may fire for the next client (a condition on
 * User-Agent, say), so wasp keeps nothing under any rule. */
static bool kc_rewrite_rules(const wasp_request_t *req)
{
    static const char *const sections[] = {"system.webServer/rewrite/globalRules",
                                           "system.webServer/rewrite/rules"};

    for (size_t i = 0; i < 2; i++) {
        const wasp_section_t *s = wasp_request_section(req, sections[i]);

        if (s != NULL && wasp_section_item_count(s) > 0) {
            return true;
        }
    }
    return false;
}

void worker_cache_verdict(wasp_request_t *req)
{
    const wasp_section_t *caching, *profile, *runtime;
    const wasp_dircfg_t *dc;
    int policy = KC_DONT;
    uint32_t ttl_ms = 0;
    struct stat st;
    bool have_st = false;
    wasp_enc_t e = {0}, dep_enc = {0};
    kc_deps_t deps = {.enc = &dep_enc};
    const char *vary;
    static char *apphost;
    bool ok;

    if (!kc_request_qualifies(req)) {
        return;
    }
    caching = wasp_request_section(req, "system.webServer/caching");
    if ((caching != NULL && !wasp_section_bool(caching, "enableKernelCache", true)) ||
        kc_rewrite_rules(req) || !kc_anonymous(req)) {
        return;
    }
    profile = caching != NULL ? kc_profile(req, caching) : NULL;
    if (profile != NULL) {
        policy = kc_policy(wasp_section_attr(profile, "kernelCachePolicy"));
    }
    if (policy == KC_DISABLE || (policy == KC_DONT && req->cache_file == NULL)) {
        return;
    }
    if (policy == KC_DONT) {
        policy = KC_UNTIL_CHANGE; /* the static file handler's default */
    }
    if (policy == KC_TIME_PERIOD) {
        ttl_ms = kc_timespan(profile, "duration", KC_DEFAULT_DURATION_MS);
    }
    if (req->body_len > wasp_section_uint(caching, "maxResponseSize", 262144)) {
        return; /* the listener checks again; this saves it the frame */
    }
    /* The file as this response reads it: a replacement by rename or an
     * edit the listener's watch could miss shows as a different identity. */
    for (const resp_part_t *p = req->parts; p != NULL && !have_st; p = p->next) {
        have_st = p->fd >= 0 && fstat(p->fd, &st) == 0;
    }
    if (req->cache_file != NULL && !have_st && stat(req->cache_file, &st) != 0) {
        return;
    }
    runtime = wasp_request_section(req, "system.webServer/serverRuntime");
    wasp_enc_u8(&e, (uint8_t)policy);
    wasp_enc_u32(&e, ttl_ms);
    wasp_enc_u32(&e, (uint32_t)wasp_section_uint(runtime, "frequentHitThreshold", 2));
    wasp_enc_u32(&e, kc_timespan(runtime, "frequentHitTimePeriod", KC_DEFAULT_PERIOD_MS));
    wasp_enc_u64(&e, wasp_section_uint(caching, "maxResponseSize", 262144));
    wasp_enc_u32(&e, (uint32_t)wasp_section_uint(caching, "maxCacheSize", 0));
    wasp_enc_u8(&e, req->cache_file != NULL);
    if (req->cache_file != NULL) {
        wasp_enc_cstr(&e, req->cache_file);
        wasp_enc_u64(&e, (uint64_t)st.st_dev);
        wasp_enc_u64(&e, (uint64_t)st.st_ino);
        wasp_enc_u64(&e, (uint64_t)st.st_size);
        wasp_enc_u64(&e, (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec);
        wasp_enc_u64(&e, (uint64_t)st.st_ctim.tv_sec * 1000000000u + (uint64_t)st.st_ctim.tv_nsec);
    }
    /* varyByHeaders: ';'-separated request headers that key the entry
     * (the kernel cache handles them; varyByQueryString never applies, as
     * no request with a query string is kernel-cached). */
    vary = profile != NULL ? wasp_section_attr(profile, "varyByHeaders") : NULL;
    if (!kc_vary(&e, vary)) {
        wasp_buf_free(&e.buf);
        return;
    }
    dc = worker_request_config(req);
    if (apphost == NULL) {
        /* The worker's configuration file does not move while it runs:
         * resolved once (the listener's working directory is not ours). */
        apphost = realpath(wasp_config_path(worker_cfg), NULL);
    }
    ok = wasp_dircfg_depends(dc, kc_dep, &deps) == 0 && apphost != NULL &&
         kc_dep_path(&deps, apphost) &&
         (req->cache_file == NULL || kc_dep_path(&deps, req->cache_file));
    /* A dynamic response cached until change depends on its script. */
    if (ok && req->cache_file == NULL && req->physical_path[0] != '\0' &&
        stat(req->physical_path, &st) == 0 && S_ISREG(st.st_mode)) {
        ok = kc_dep_path(&deps, req->physical_path);
    }
    wasp_enc_u32(&e, deps.count);
    wasp_buf_append(&e.buf, wasp_buf_ptr(&dep_enc.buf), wasp_buf_size(&dep_enc.buf));
    if (ok && e.buf.data != NULL && dep_enc.buf.data != NULL &&
        wasp_buf_size(&e.buf) <= WASP_CH_CHUNK) {
        wasp_channel_send(worker_ch, WASP_MSG_RESP_CACHE, 0, req->stream, wasp_buf_ptr(&e.buf),
                          wasp_buf_size(&e.buf), -1);
    }
    wasp_buf_free(&dep_enc.buf);
    wasp_buf_free(&e.buf);
}
