/*
 * StaticFileModule (IIS static.dll): serves files from disk for the StaticFile
 * handler mapping (iis-modules.md 1.8, 2.3, 2.4).
 *
 * At ExecuteRequestHandler, for the request's physical path:
 *   directory                 → CONTINUE (DefaultDocumentModule and
 *                               DirectoryListingModule own directories)
 *   missing                   → 404.0, here: no other module of the StaticFile
 *                               handler serves a path that does not exist
 *   not a regular file        → 404.0 (FIFOs, sockets, devices are never sent)
 *   no mimeMap entry          → 404.3
 *   verb not GET/HEAD         → 405.0, Allow: GET, HEAD, OPTIONS, TRACE
 *   otherwise                 → 200 / 206 / 304 / 412 / 416
 *
 * The body is never read by the worker: the fd goes to the listener, which
 * sends it with sendfile(2).  Multipart range bodies interleave written part
 * headers with file segments (module.h appends them in order).
 */
#include "modules/static_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "modules/builtin.h"
#include "modules/http_cond.h"
#include "modules/http_date.h"
#include "modules/mime.h"
#include "modules/modutil.h"

/* clientCache/@cacheControlMode (iis-modules.md 2.4), in enum value order. */
enum { CACHE_NO_CONTROL, CACHE_DISABLE, CACHE_MAX_AGE, CACHE_EXPIRES };
static const char *const static_file_cache_modes[] = {"NoControl", "DisableCache", "UseMaxAge",
                                                      "UseExpires"};

int wasp_static_file_open(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

wasp_status_t wasp_static_file_fail_errno(wasp_request_t *req, int err)
{
    char msg[128];
    const char *text = strerror_r(err, msg, sizeof(msg));
    const char *why;
    switch (err) {
    case ENOENT:
    case ENAMETOOLONG:
    case ELOOP:
        why = wasp_modutil_printf(req, "0x80070002 The file or directory does not exist (%s).",
                                  text);
        return wasp_request_fail(req, 404, 0, why ? why : "file not found");
    case ENOTDIR:
        why = wasp_modutil_printf(req, "0x80070003 A part of the path is not a directory (%s).",
                                  text);
        return wasp_request_fail(req, 404, 0, why ? why : "path not found");
    case EACCES:
    case EPERM:
        why = wasp_modutil_printf(req, "0x80070005 The worker may not read the file (%s).", text);
        return wasp_request_fail(req, 401, 3, why ? why : "access denied");
    default:
        why = wasp_modutil_printf(req, "0x80004005 Opening the file failed (%s).", text);
        return wasp_request_fail(req, 500, 0, why ? why : "open failed");
    }
}

bool wasp_static_file_url_has_slash(const wasp_request_t *req)
{
    wasp_str_t path = wasp_request_path(req);
    return path.len > 0 && path.ptr[path.len - 1] == '/';
}

wasp_status_t wasp_static_file_redirect_slash(wasp_request_t *req)
{
    wasp_str_t path = wasp_request_path(req);
    wasp_str_t query = wasp_request_query(req);
    wasp_modutil_buf_t loc = {0};
    wasp_modutil_buf_url_path(&loc, path.ptr ? path.ptr : "", path.len);
    wasp_modutil_buf_append(&loc, "/", 1);
    if (query.len > 0) {
        wasp_modutil_buf_append(&loc, "?", 1);
        wasp_modutil_buf_append(&loc, query.ptr, query.len);
    }
    char *location = loc.oom ? NULL : wasp_modutil_strdup(req, loc.ptr, loc.len);
    if (location == NULL) {
        wasp_modutil_buf_free(&loc);
        return wasp_request_fail(req, 500, 0, "0x8007000e Out of memory building a redirect.");
    }

    /* The page says where the document went, for clients that do not follow
     * redirects; the Location value is HTML-escaped for the href. */
    wasp_modutil_buf_t body = {0};
    wasp_modutil_buf_puts(&body, "<html><head><title>Document Moved</title></head>"
                                 "<body><h1>Object Moved</h1>This document may be found "
                                 "<a href=\"");
    wasp_modutil_buf_html(&body, loc.ptr, loc.len);
    wasp_modutil_buf_puts(&body, "\">here</a></body></html>\r\n");
    wasp_modutil_buf_free(&loc);
    if (body.oom) {
        wasp_modutil_buf_free(&body);
        return wasp_request_fail(req, 500, 0, "0x8007000e Out of memory building a redirect.");
    }

    wasp_response_set_status(req, 301, 0, "Moved Permanently");
    wasp_response_set_header(req, "Location", location);
    wasp_response_set_header(req, "Content-Type", "text/html; charset=UTF-8");
    if (wasp_modutil_method_is(req, "HEAD"))
        wasp_modutil_set_content_length(req, body.len);
    else
        wasp_response_write(req, body.ptr, body.len);
    wasp_modutil_buf_free(&body);
    return WASP_FINISH;
}

/* Cache-Control / Expires from <clientCache> (iis-modules.md 2.4).  The mode
 * gives one directive; cacheControlCustom (CRLF-separated directives, as the
 * IIS 6 metabase defined them) is appended after it, comma-separated. */
static void static_file_cache_headers(wasp_request_t *req, const wasp_section_t *cc)
{
    if (cc == NULL)
        return;
    int mode = wasp_modutil_enum(cc, "cacheControlMode", static_file_cache_modes, 4,
                                 CACHE_NO_CONTROL);
    wasp_modutil_buf_t cache = {0};

    switch (mode) {
    case CACHE_DISABLE:
        wasp_modutil_buf_puts(&cache, "no-cache");
        break;
    case CACHE_MAX_AGE: {
        uint64_t secs = 86400; /* schema default 1.00:00:00 */
        const char *v = wasp_section_attr(cc, "cacheControlMaxAge");
        if (v != NULL && wasp_modutil_timespan(v, &secs) != 0) {
            wasp_log(req, WASP_LOG_WARN,
                     "clientCache cacheControlMaxAge \"%s\" is not a timeSpan; using 1 day", v);
            secs = 86400;
        }
        wasp_modutil_buf_printf(&cache, "max-age=%" PRIu64, secs);
        break;
    }
    case CACHE_EXPIRES: {
        const char *v = wasp_section_attr(cc, "httpExpires");
        time_t t;
        if (v != NULL && wasp_http_date_parse(v, strlen(v), &t) == 0) {
            char date[WASP_HTTP_DATE_SIZE];
            wasp_modutil_set_headerf(req, "Expires", "%s", wasp_http_date_format(t, date));
        } else if (v != NULL && v[0] != '\0') {
            /* Not an HTTP-date: RFC 9111 5.3 makes caches treat an invalid
             * Expires as already expired, which is what the author gets. */
            wasp_modutil_set_headerf(req, "Expires", "%s", v);
        }
        break;
    }
    default:
        break;
    }

    const char *custom = wasp_section_attr(cc, "cacheControlCustom");
    for (const char *p = custom; p != NULL && *p != '\0';) {
        size_t n = strcspn(p, "\r\n");
        const char *s = p, *e = p + n;
        while (s < e && (*s == ' ' || *s == '\t' || *s == ','))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == ','))
            e--;
        if (e > s) {
            if (cache.len > 0)
                wasp_modutil_buf_puts(&cache, ", ");
            wasp_modutil_buf_append(&cache, s, (size_t)(e - s));
        }
        p += n;
        p += strspn(p, "\r\n");
    }
    if (cache.len > 0 && !cache.oom)
        wasp_modutil_set_headerf(req, "Cache-Control", "%.*s", (int)cache.len, cache.ptr);
    wasp_modutil_buf_free(&cache);
}

/* An entity-tag list split over every field of that name.
 * -1: no such field; 0: present, nothing matches; 1: a tag matches. */
static int static_file_etag_fields(const wasp_request_t *req, const char *name, const char *etag,
                                   bool weak)
{
    if (wasp_request_header(req, name).ptr == NULL)
        return -1;
    size_t n = wasp_request_header_count(req);
    for (size_t i = 0; i < n; i++) {
        wasp_str_t hn, hv;
        if (wasp_request_header_at(req, i, &hn, &hv) != 0 || !wasp_modutil_str_ieq(hn, name))
            continue;
        if (wasp_http_cond_etag_match(hv.ptr, hv.len, etag, weak))
            return 1;
    }
    return 0;
}

/* A date header; false when absent or not a valid HTTP-date (then it is
 * ignored, RFC 9110 13.1.3, 13.1.4). */
static bool static_file_date_field(const wasp_request_t *req, const char *name, time_t *t)
{
    wasp_str_t v = wasp_request_header(req, name);
    return v.ptr != NULL && wasp_http_date_parse(v.ptr, v.len, t) == 0;
}

enum { PRECOND_PROCEED, PRECOND_NOT_MODIFIED, PRECOND_FAILED };

/* RFC 9110 13.2.2, steps 1-4 (step 5, If-Range, is done with Range).  Only
 * GET and HEAD get here, so a matching If-None-Match is always a 304. */
static int static_file_preconditions(const wasp_request_t *req, const char *etag, time_t mtime,
                                     const char **why)
{
    time_t t;
    int m = static_file_etag_fields(req, "If-Match", etag, false);
    if (m == 0) {
        *why = "If-Match: no listed entity-tag matches the current ETag.";
        return PRECOND_FAILED;
    }
    if (m < 0 && static_file_date_field(req, "If-Unmodified-Since", &t) && mtime > t) {
        *why = "If-Unmodified-Since: the file was modified after that date.";
        return PRECOND_FAILED;
    }
    m = static_file_etag_fields(req, "If-None-Match", etag, true);
    if (m == 1)
        return PRECOND_NOT_MODIFIED;
    if (m < 0 && static_file_date_field(req, "If-Modified-Since", &t) && mtime <= t)
        return PRECOND_NOT_MODIFIED;
    return PRECOND_PROCEED;
}

static void static_file_boundary(char out[17])
{
    static uint64_t counter;
    uint64_t r;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        /* No entropy yet (early boot): a unique-enough value still works, a
         * boundary only has to be absent from the parts. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16) ^
            ++counter * 0x9E3779B97F4A7C15ull;
    }
    snprintf(out, 17, "%016" PRIx64, r);
}

/* 206 multipart/byteranges (RFC 9110 14.6): every part is written headers
 * followed by a file segment; each segment needs its own fd because
 * wasp_response_send_file() takes the fd over. */
static wasp_status_t static_file_multipart(wasp_request_t *req, int fd, uint64_t size,
                                           const char *mime, const wasp_http_cond_range_t *r,
                                           size_t n)
{
    int fds[WASP_HTTP_COND_RANGE_MAX];
    fds[0] = fd;
    for (size_t i = 1; i < n; i++) {
        fds[i] = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (fds[i] < 0) {
            int err = errno;
            for (size_t k = 0; k < i; k++)
                close(fds[k]);
            return wasp_static_file_fail_errno(req, err == EMFILE ? err : EIO);
        }
    }

    char boundary[17];
    static_file_boundary(boundary);
    wasp_response_set_status(req, 206, 0, "Partial Content");
    wasp_modutil_set_headerf(req, "Content-Type", "multipart/byteranges; boundary=%s", boundary);
    size_t handed = 0; /* fds given to wasp_response_send_file(), which owns them */
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        char head[512];
        int hn = snprintf(head, sizeof(head),
                          "\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %" PRIu64
                          "-%" PRIu64 "/%" PRIu64 "\r\n\r\n",
                          boundary, mime, r[i].first, r[i].last, size);
        ok = hn > 0 && (size_t)hn < sizeof(head) &&
             wasp_response_write(req, head, (size_t)hn) == 0;
        if (ok) {
            handed++;
            ok = wasp_response_send_file(req, fds[i], (off_t)r[i].first,
                                         (off_t)(r[i].last - r[i].first + 1)) == 0;
        }
    }
    if (!ok) {
        for (size_t k = handed; k < n; k++)
            close(fds[k]);
        wasp_response_clear(req);
        return wasp_request_fail(req, 500, 0, "0x8007000e Could not queue the multipart body.");
    }
    char tail[40];
    int tn = snprintf(tail, sizeof(tail), "\r\n--%s--\r\n", boundary);
    wasp_response_write(req, tail, (size_t)tn);
    return WASP_FINISH;
}

wasp_status_t wasp_static_file_serve(wasp_request_t *req, int fd, const struct stat *st,
                                     const char *mime, const wasp_section_t *static_content)
{
    bool head = wasp_modutil_method_is(req, "HEAD");
    if (!head && !wasp_modutil_method_is(req, "GET")) {
        close(fd);
        wasp_response_set_header(req, "Allow", WASP_STATIC_FILE_ALLOW);
        return wasp_request_fail(req, 405, 0,
                                 "0x80070001 The static file handler serves only GET and HEAD.");
    }

    /* Validators: sent on 200, 206 and 304 alike (RFC 9110 15.4.5). */
    const wasp_section_t *cc =
        static_content ? wasp_section_child(static_content, "clientCache") : NULL;
    char etag_buf[WASP_HTTP_COND_ETAG_SIZE];
    const char *etag = NULL;
    if (cc == NULL || wasp_section_bool(cc, "setEtag", true)) {
        wasp_http_cond_etag_iis(&st->st_mtim, etag_buf);
        etag = etag_buf;
        wasp_modutil_set_headerf(req, "ETag", "%s", etag);
    }
    char date[WASP_HTTP_DATE_SIZE];
    time_t mtime = st->st_mtim.tv_sec;
    wasp_http_date_format(mtime, date);
    wasp_modutil_set_headerf(req, "Last-Modified", "%s", date);
    static_file_cache_headers(req, cc);

    const char *why = NULL;
    switch (static_file_preconditions(req, etag, mtime, &why)) {
    case PRECOND_FAILED:
        close(fd);
        return wasp_request_fail(req, 412, 0, why);
    case PRECOND_NOT_MODIFIED:
        close(fd);
        wasp_response_set_status(req, 304, 0, "Not Modified");
        return WASP_FINISH;
    default:
        break;
    }

    uint64_t size = (uint64_t)st->st_size;
    wasp_response_set_header(req, "Accept-Ranges", "bytes");

    /* RFC 9110 14.2: Range only for GET; If-Range that does not match means
     * "send everything". */
    wasp_str_t range = head ? (wasp_str_t){0} : wasp_request_header(req, "Range");
    if (range.ptr != NULL) {
        wasp_str_t if_range = wasp_request_header(req, "If-Range");
        if (if_range.ptr == NULL || wasp_http_cond_if_range(if_range.ptr, if_range.len, etag,
                                                            mtime)) {
            wasp_http_cond_range_t r[WASP_HTTP_COND_RANGE_MAX];
            size_t n;
            switch (wasp_http_cond_range_parse(range.ptr, range.len, size, r, &n)) {
            case WASP_HTTP_COND_RANGE_UNSATISFIABLE:
                close(fd);
                wasp_modutil_set_headerf(req, "Content-Range", "bytes */%" PRIu64, size);
                return wasp_request_fail(req, 416, 0,
                                         "No requested byte range starts inside the file.");
            case WASP_HTTP_COND_RANGE_PARTIAL:
                if (n > 1)
                    return static_file_multipart(req, fd, size, mime, r, n);
                wasp_response_set_status(req, 206, 0, "Partial Content");
                wasp_response_set_header(req, "Content-Type", mime);
                wasp_modutil_set_headerf(req, "Content-Range",
                                         "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, r[0].first,
                                         r[0].last, size);
                /* send_file owns fd from here, even when it fails. */
                if (wasp_response_send_file(req, fd, (off_t)r[0].first,
                                            (off_t)(r[0].last - r[0].first + 1)) != 0)
                    return wasp_request_fail(req, 500, 0,
                                             "0x8007000e Could not queue the file body.");
                return WASP_FINISH;
            default:
                break; /* ignored: whole file below */
            }
        }
    }

    wasp_response_set_header(req, "Content-Type", mime);
    if (head || size == 0) {
        /* HEAD: the length the GET would have; the worker keeps it. */
        if (head)
            wasp_modutil_set_content_length(req, size);
        close(fd);
        return WASP_FINISH;
    }
    if (wasp_response_send_file(req, fd, 0, (off_t)size) != 0) /* owns fd even then */
        return wasp_request_fail(req, 500, 0, "0x8007000e Could not queue the file body.");
    return WASP_FINISH;
}

static wasp_status_t static_file_execute(wasp_request_t *req, void *state)
{
    const char *path = wasp_request_physical_path(req);
    if (path == NULL || path[0] == '\0')
        return WASP_CONTINUE;

    struct stat st;
    int fd = wasp_static_file_open(path, &st);
    if (fd < 0)
        return wasp_static_file_fail_errno(req, errno);
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return WASP_CONTINUE;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return wasp_request_fail(req, 404, 0,
                                 "0x80070002 The path is not a regular file (FIFO, socket or "
                                 "device); only regular files are served.");
    }

    const wasp_section_t *sc = wasp_request_section(req, WASP_STATIC_FILE_SECTION);
    const char *mime = wasp_mime_lookup(sc, path);
    if (mime == NULL) {
        close(fd);
        return wasp_request_fail(req, 404, 3,
                                 "0x80070032 The file's extension has no <staticContent> "
                                 "<mimeMap> entry, so the static file handler does not serve it.");
    }
    /* IIS' static file handler lets HTTP.sys cache what it sends until the
     * file changes (only a whole 200 is kept).  Not for a default document:
     * "/" answered with index.html is never kernel-cached. */
    wasp_response_cache_file(req, path);
    return wasp_static_file_serve(req, fd, &st, mime, sc);
}

static void static_file_process_exit(wasp_module_t *self)
{
    wasp_mime_reset();
}

int wasp_static_file_register(wasp_registration_t *reg, uint32_t server_abi)
{
    static const wasp_module_info_t info = {
        .abi = WASP_MODULE_ABI,
        .size = sizeof(wasp_module_info_t),
        .name = "StaticFileModule",
        .process_exit = static_file_process_exit,
    };
    if (server_abi != WASP_MODULE_ABI) {
        wasp_registration_error(reg, "built for module ABI %u, the worker speaks %u",
                                WASP_MODULE_ABI, server_abi);
        return -1;
    }
    if (wasp_registration_set_info(reg, &info) != 0 ||
        wasp_registration_on(reg, WASP_EVENT_EXECUTE_REQUEST_HANDLER, WASP_PRIORITY_MEDIUM,
                             static_file_execute) != 0)
        return -1;
    return 0;
}
