/*
 * The request half of the module API, and the decoding of REQ_HEAD frames.
 * Request strings point into one owned copy of the frame, so a request costs
 * a handful of allocations whatever its header count.  Allocations made for
 * modules hang off the request and go with it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <errno.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "listener/url_canon.h"
#include "worker/worker.h"

wasp_request_t *request_new(uint32_t stream, const char *payload, size_t len)
{
    wasp_request_t *req = calloc(1, sizeof(*req));
    wasp_dec_t d;
    uint32_t site_id;
    size_t n;
    const char *p;

    if (req == NULL) {
        return NULL;
    }
    req->stream = stream;
    req->body_fd = -1;
    req->status = 200;
    snprintf(req->reason, sizeof(req->reason), "OK");
    req->head = malloc(len ? len : 1);
    req->state = calloc(WORKER_MAX_MODULES, sizeof(void *));
    if (req->head == NULL || req->state == NULL) {
        request_free(req);
        return NULL;
    }
    memcpy(req->head, payload, len);
    wasp_dec_init(&d, req->head, len);
    site_id = wasp_dec_u32(&d);
    p = wasp_dec_str(&d, &n);
    req->method = (wasp_str_t){p, n};
    p = wasp_dec_str(&d, &n);
    req->raw_url = (wasp_str_t){p, n};
    p = wasp_dec_str(&d, &n);
    req->path = (wasp_str_t){p, n};
    req->has_query = wasp_dec_u8(&d) != 0;
    p = wasp_dec_str(&d, &n);
    req->query = (wasp_str_t){p, n};
    req->http_version = wasp_dec_u8(&d);
    req->is_local = wasp_dec_u8(&d) != 0;
    wasp_dec_cstr(&d, req->client_ip, sizeof(req->client_ip));
    req->client_port = wasp_dec_u16(&d);
    wasp_dec_cstr(&d, req->local_ip, sizeof(req->local_ip));
    req->local_port = wasp_dec_u16(&d);
    req->https = wasp_dec_u8(&d) != 0;
    if (req->https) {
        wasp_dec_cstr(&d, req->tls.protocol, sizeof(req->tls.protocol));
        wasp_dec_cstr(&d, req->tls.cipher, sizeof(req->tls.cipher));
        req->tls.keysize = wasp_dec_u16(&d);
        wasp_dec_cstr(&d, req->tls.sni, sizeof(req->tls.sni));
        req->tls.has_cert = wasp_dec_u8(&d) != 0;
        req->tls.cert_verified = wasp_dec_u8(&d) != 0;
        wasp_dec_cstr(&d, req->tls.cert_subject, sizeof(req->tls.cert_subject));
        wasp_dec_cstr(&d, req->tls.cert_issuer, sizeof(req->tls.cert_issuer));
        wasp_dec_cstr(&d, req->tls.cert_serial, sizeof(req->tls.cert_serial));
        p = wasp_dec_str(&d, &n);
        req->tls.cert_pem = (wasp_str_t){p, n};
    }
    req->hcount = wasp_dec_u32(&d);
    if (d.error || req->hcount > 1000) {
        wasp_alert("malformed request head frame (stream %u)", stream);
        request_free(req);
        return NULL;
    }
    req->hnames = calloc(req->hcount + 1, sizeof(wasp_str_t));
    req->hvalues = calloc(req->hcount + 1, sizeof(wasp_str_t));
    req->path_z = wasp_request_alloc(req, req->path.len + 1);
    if (req->hnames == NULL || req->hvalues == NULL || req->path_z == NULL) {
        request_free(req);
        return NULL;
    }
    for (size_t i = 0; i < req->hcount; i++) {
        p = wasp_dec_str(&d, &n);
        req->hnames[i] = (wasp_str_t){p, n};
        p = wasp_dec_str(&d, &n);
        req->hvalues[i] = (wasp_str_t){p, n};
    }
    req->refuse_status = wasp_dec_u16(&d);
    req->refuse_sub = wasp_dec_u16(&d);
    if (d.error) {
        wasp_alert("malformed request headers (stream %u)", stream);
        request_free(req);
        return NULL;
    }
    memcpy(req->path_z, req->path.ptr, req->path.len);
    req->path_z[req->path.len] = '\0';
    req->site = wasp_config_find_site_by_id(worker_cfg, site_id);
    if (req->site != NULL) {
        if (worker_map_url(req, req->path_z, &req->app, &req->vdir, req->physical_path,
                           sizeof(req->physical_path)) != 0) {
            req->app = NULL;
        }
    }
    req->pipe = worker_pipeline_for(wasp_request_section(req, "system.webServer/modules"));
    if (req->pipe == NULL) {
        request_free(req);
        return NULL;
    }
    return req;
}

void request_free(wasp_request_t *req)
{
    while (req->cleanups != NULL) {
        req_cleanup_t *c = req->cleanups;

        req->cleanups = c->next;
        c->fn(c->data);
    }
    while (req->allocs != NULL) {
        req_alloc_t *a = req->allocs;

        req->allocs = a->next;
        free(a);
    }
    response_free_parts(req);
    for (size_t i = 0; i < req->rh_count; i++) {
        free(req->rh[i].name);
        free(req->rh[i].value);
    }
    free(req->rh);
    wasp_buf_free(&req->body);
    if (req->body_map != NULL) {
        munmap(req->body_map, req->body_file_len);
    }
    if (req->body_fd >= 0) {
        close(req->body_fd);
    }
    free(req->hnames);
    free(req->hvalues);
    free(req->state);
    free(req->head);
    free(req);
}

/* ---- public API: request ------------------------------------------------- */

void *wasp_request_alloc(wasp_request_t *req, size_t size)
{
    req_alloc_t *a = calloc(1, sizeof(*a) + size + 15);

    if (a == NULL) {
        return NULL;
    }
    a->next = req->allocs;
    req->allocs = a;
    /* Keep the caller's block 16-byte aligned. */
    return (void *)(((uintptr_t)(a + 1) + 15) & ~(uintptr_t)15);
}

int wasp_request_on_cleanup(wasp_request_t *req, void (*fn)(void *), void *data)
{
    req_cleanup_t *c = wasp_request_alloc(req, sizeof(*c));

    if (c == NULL) {
        return -1;
    }
    c->fn = fn;
    c->data = data;
    c->next = req->cleanups;
    req->cleanups = c;
    return 0;
}

wasp_str_t wasp_request_method(const wasp_request_t *req) { return req->method; }
wasp_str_t wasp_request_raw_url(const wasp_request_t *req) { return req->raw_url; }
wasp_str_t wasp_request_path(const wasp_request_t *req) { return req->path; }
wasp_str_t wasp_request_query(const wasp_request_t *req) { return req->query; }
int wasp_request_http_version(const wasp_request_t *req) { return req->http_version; }
bool wasp_request_is_local(const wasp_request_t *req) { return req->is_local; }
const char *wasp_request_physical_path(const wasp_request_t *req) { return req->physical_path; }

int wasp_request_map_path(const wasp_request_t *req, const char *url_path, char *phys,
                          size_t phys_size)
{
    if (req->site == NULL || url_path == NULL || phys == NULL || phys_size == 0) {
        return -1;
    }
    return worker_map_url(req, url_path, NULL, NULL, phys, phys_size);
}

const char *wasp_request_handler_name(const wasp_request_t *req) { return req->handler_name; }
const char *wasp_request_script_processor(const wasp_request_t *req)
{
    return req->script_processor;
}

wasp_str_t wasp_request_header(const wasp_request_t *req, const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; i < req->hcount; i++) {
        if (req->hnames[i].len == len && strncasecmp(req->hnames[i].ptr, name, len) == 0) {
            return req->hvalues[i];
        }
    }
    return (wasp_str_t){NULL, 0};
}

size_t wasp_request_header_count(const wasp_request_t *req)
{
    return req->hcount;
}

int wasp_request_header_at(const wasp_request_t *req, size_t i, wasp_str_t *name,
                           wasp_str_t *value)
{
    if (i >= req->hcount) {
        return -1;
    }
    *name = req->hnames[i];
    *value = req->hvalues[i];
    return 0;
}

int request_set_body_file(wasp_request_t *req, int fd, uint64_t len)
{
    void *map = len > 0 ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) : NULL;

    if (len > 0 && map == MAP_FAILED) {
        return -1;
    }
    req->body_fd = fd;
    req->body_file_len = len;
    req->body_map = map;
    return 0;
}

uint64_t wasp_request_body_length(const wasp_request_t *req)
{
    if (req->body_dropped) {
        return 0;
    }
    return req->body_fd >= 0 ? req->body_file_len : wasp_buf_size(&req->body);
}

ssize_t wasp_request_body_read(const wasp_request_t *req, uint64_t offset, void *buf, size_t len)
{
    uint64_t total = wasp_request_body_length(req);

    if (offset >= total) {
        return 0;
    }
    if (len > total - offset) {
        len = (size_t)(total - offset);
    }
    if (req->body_fd >= 0) {
        ssize_t n;

        do {
            n = pread(req->body_fd, buf, len, (off_t)offset);
        } while (n < 0 && errno == EINTR);
        return n;
    }
    memcpy(buf, wasp_buf_ptr(&req->body) + offset, len);
    return (ssize_t)len;
}

int wasp_request_body_fd(const wasp_request_t *req)
{
    return req->body_dropped ? -1 : req->body_fd;
}

wasp_str_t wasp_request_body(const wasp_request_t *req)
{
    if (req->body_dropped) {
        return (wasp_str_t){"", 0};
    }
    if (req->body_fd >= 0) {
        return (wasp_str_t){req->body_map ? req->body_map : "", req->body_file_len};
    }
    return (wasp_str_t){req->body.data ? wasp_buf_ptr(&req->body) : "", wasp_buf_size(&req->body)};
}

const wasp_section_t *wasp_request_section(const wasp_request_t *req, const char *section_path)
{
    /* The request holds its level: the cast is bookkeeping, not a change. */
    return wasp_dircfg_section(worker_request_config((wasp_request_t *)req), section_path);
}

/* Next to the other wasp_section_* accessors (src/config/values.c) in
 * spirit; here because only modules need it. */
const char *wasp_section_file(const wasp_section_t *s, int *line)
{
    if (line != NULL) {
        *line = s != NULL ? s->line : 0;
    }
    return s != NULL && s->file != NULL ? s->file : "";
}

const wasp_section_t *wasp_request_section_at(const wasp_request_t *req, const char *url_path,
                                              const char *section_path)
{
    return worker_section_at(req, url_path ? url_path : "/", section_path);
}

static wasp_str_t str_dup(wasp_request_t *req, const char *s)
{
    size_t n = strlen(s);
    char *p = wasp_request_alloc(req, n + 1);

    if (p == NULL) {
        return (wasp_str_t){NULL, 0};
    }
    memcpy(p, s, n + 1);
    return (wasp_str_t){p, n};
}

static wasp_str_t str_fmt(wasp_request_t *req, const char *fmt, ...) WASP_PRINTF(2, 3);

static wasp_str_t str_fmt(wasp_request_t *req, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return str_dup(req, buf);
}

/* IIS server variables (iis-modules.md 2.22) that the core knows. */
/* IIS' HTTPS_* and CERT_* variables: the connection's TLS and the client
 * certificate the listener saw ("" over plain HTTP or without one). */
static wasp_str_t request_tls_variable(wasp_request_t *req, const char *name)
{
    const bool cert = req->https && req->tls.has_cert;

    if (strcasecmp(name, "HTTPS_KEYSIZE") == 0 || strcasecmp(name, "CERT_KEYSIZE") == 0) {
        return req->https ? str_fmt(req, "%u", req->tls.keysize) : str_dup(req, "");
    }
    if (strcasecmp(name, "CERT_FLAGS") == 0) {
        /* bit 0: a client certificate; bit 1: its issuer is not trusted */
        return str_fmt(req, "%d", cert ? 1 | (req->tls.cert_verified ? 0 : 2) : 0);
    }
    if (strcasecmp(name, "CERT_SUBJECT") == 0) {
        return str_dup(req, cert ? req->tls.cert_subject : "");
    }
    if (strcasecmp(name, "CERT_ISSUER") == 0) {
        return str_dup(req, cert ? req->tls.cert_issuer : "");
    }
    if (strcasecmp(name, "CERT_SERIALNUMBER") == 0 && cert) {
        /* "0a-1b-2c": byte pairs joined by '-', as IIS writes it */
        char even[130], out[200];
        size_t o = 0;

        snprintf(even, sizeof(even), "%s%s", strlen(req->tls.cert_serial) % 2 ? "0" : "",
                 req->tls.cert_serial);
        for (size_t i = 0; even[i] && even[i + 1] && o + 4 < sizeof(out); i += 2) {
            if (o > 0) {
                out[o++] = '-';
            }
            out[o++] = (char)tolower((unsigned char)even[i]);
            out[o++] = (char)tolower((unsigned char)even[i + 1]);
        }
        out[o] = '\0';
        return str_dup(req, out);
    }
    return str_dup(req, "");
}

wasp_str_t wasp_request_server_variable(wasp_request_t *req, const char *name)
{
    if (strcasecmp(name, "HTTP_URL") == 0) {
        return req->rewritten ? req->current_url : req->raw_url;
    }
    if (strncasecmp(name, "HTTP_", 5) == 0) {
        char hname[256];
        size_t n = 0;

        for (const char *p = name + 5; *p && n < sizeof(hname) - 1; p++) {
            hname[n++] = *p == '_' ? '-' : *p;
        }
        hname[n] = '\0';
        return wasp_request_header(req, hname);
    }
    if (strcasecmp(name, "REQUEST_METHOD") == 0) {
        return req->method;
    }
    if (strcasecmp(name, "URL") == 0 || strcasecmp(name, "PATH_INFO") == 0 ||
        strcasecmp(name, "SCRIPT_NAME") == 0) {
        return req->path;
    }
    if (strcasecmp(name, "QUERY_STRING") == 0) {
        return req->query.ptr ? req->query : (wasp_str_t){"", 0};
    }
    /* Both keep the URL as the client sent it, also after a rewrite (URL
     * Rewrite relies on it: iis-modules.md 3.3). */
    if (strcasecmp(name, "UNENCODED_URL") == 0 || strcasecmp(name, "REQUEST_URI") == 0) {
        return req->raw_url;
    }
    if (strcasecmp(name, "CACHE_URL") == 0) {
        wasp_str_t host = wasp_request_header(req, "Host");
        wasp_str_t url = req->rewritten ? req->current_url : req->raw_url;

        if (host.ptr == NULL) {
            bool v6 = strchr(req->local_ip, ':') != NULL;

            return str_fmt(req, "%s://%s%s%s:%u%.*s", req->https ? "https" : "http",
                           v6 ? "[" : "", req->local_ip, v6 ? "]" : "", req->local_port,
                           (int)url.len, url.ptr);
        }
        return str_fmt(req, "%s://%.*s%.*s", req->https ? "https" : "http", (int)host.len,
                       host.ptr, (int)url.len, url.ptr);
    }
    if (strcasecmp(name, "REMOTE_ADDR") == 0 || strcasecmp(name, "REMOTE_HOST") == 0) {
        return str_dup(req, req->client_ip);
    }
    if (strcasecmp(name, "REMOTE_PORT") == 0) {
        return str_fmt(req, "%u", req->client_port);
    }
    if (strcasecmp(name, "LOCAL_ADDR") == 0) {
        return str_dup(req, req->local_ip);
    }
    if (strcasecmp(name, "SERVER_PORT") == 0) {
        return str_fmt(req, "%u", req->local_port);
    }
    if (strcasecmp(name, "SERVER_PROTOCOL") == 0) {
        /* "HTTP/2" for a stream, like IIS (and the log's cs-version). */
        if (req->http_version >= 20) {
            return str_fmt(req, "HTTP/%d", req->http_version / 10);
        }
        return str_fmt(req, "HTTP/%d.%d", req->http_version / 10, req->http_version % 10);
    }
    if (strcasecmp(name, "SERVER_SOFTWARE") == 0) {
        return str_dup(req, "wasp/0.1");
    }
    if (strcasecmp(name, "SERVER_NAME") == 0) {
        wasp_str_t host = wasp_request_header(req, "Host");
        size_t n = 0;

        if (host.ptr == NULL) {
            return str_dup(req, req->local_ip);
        }
        if (host.len > 0 && host.ptr[0] == '[') {
            /* An IPv6 literal keeps its brackets; the port follows "]:". */
            while (n < host.len && host.ptr[n] != ']') {
                n++;
            }
            return (wasp_str_t){host.ptr, n < host.len ? n + 1 : n};
        }
        while (n < host.len && host.ptr[n] != ':') {
            n++;
        }
        return (wasp_str_t){host.ptr, n};
    }
    if (strcasecmp(name, "HTTPS") == 0) {
        return str_dup(req, req->https ? "on" : "off");
    }
    if (strcasecmp(name, "SERVER_PORT_SECURE") == 0) {
        return str_dup(req, req->https ? "1" : "0");
    }
    if (strncasecmp(name, "HTTPS_", 6) == 0 || strncasecmp(name, "CERT_", 5) == 0) {
        return request_tls_variable(req, name);
    }
    if (strcasecmp(name, "CONTENT_LENGTH") == 0) {
        return str_fmt(req, "%llu", (unsigned long long)wasp_request_body_length(req));
    }
    if (strcasecmp(name, "CONTENT_TYPE") == 0) {
        wasp_str_t v = wasp_request_header(req, "Content-Type");

        return v.ptr ? v : (wasp_str_t){"", 0};
    }
    if (strcasecmp(name, "INSTANCE_ID") == 0) {
        return str_fmt(req, "%u", req->site ? req->site->id : 0);
    }
    if (strcasecmp(name, "INSTANCE_NAME") == 0 || strcasecmp(name, "SITE_NAME") == 0) {
        return str_dup(req, req->site ? req->site->name : "");
    }
    if (strcasecmp(name, "APP_POOL_ID") == 0) {
        return str_dup(req, worker_pool);
    }
    if (strcasecmp(name, "APPL_MD_PATH") == 0) {
        return str_fmt(req, "/LM/W3SVC/%u/ROOT%s", req->site ? req->site->id : 0,
                       req->app && strcmp(req->app->path, "/") != 0 ? req->app->path : "");
    }
    if (strcasecmp(name, "APPL_PHYSICAL_PATH") == 0) {
        const wasp_vdir_cfg_t *root = NULL;

        if (req->app != NULL) {
            for (size_t i = 0; i < req->app->vdir_count; i++) {
                if (strcmp(req->app->vdirs[i].path, "/") == 0) {
                    root = &req->app->vdirs[i];
                }
            }
        }
        return root ? str_fmt(req, "%s/", root->physical_path) : (wasp_str_t){"", 0};
    }
    if (strcasecmp(name, "PATH_TRANSLATED") == 0 || strcasecmp(name, "REQUEST_FILENAME") == 0 ||
        strcasecmp(name, "SCRIPT_FILENAME") == 0) {
        return str_dup(req, req->physical_path);
    }
    return (wasp_str_t){NULL, 0};
}

const char *wasp_worker_pool_name(void)
{
    return worker_pool;
}

void wasp_log(wasp_request_t *req, wasp_log_level_t level, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    static const wasp_loglevel_t map[] = {WASP_LL_ERROR, WASP_LL_WARN, WASP_LL_INFO,
                                          WASP_LL_DEBUG};

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if ((unsigned)level > WASP_LOG_DEBUG) {
        level = WASP_LOG_INFO;
    }
    if (req != NULL) {
        wasp_logf(map[level], "[%s] %.*s %.*s: %s", req->current ? req->current->name : "core",
                  (int)req->method.len, req->method.ptr, (int)req->path.len, req->path.ptr, msg);
    } else {
        wasp_logf(map[level], "%s", msg);
    }
}

/* ---- public API: response ------------------------------------------------ */

/* The one table of reason phrases of the worker: what a response gets when
 * its module names no reason (IIS' wording where IIS has its own, e.g. 413
 * "Request Entity Too Large").  "" for a status not listed. */
static const char *status_phrase(int status)
{
    static const struct {
        int status;
        const char *phrase;
    } phrases[] = {
        {100, "Continue"}, {101, "Switching Protocols"}, {200, "OK"}, {201, "Created"},
        {202, "Accepted"}, {203, "Non-Authoritative Information"}, {204, "No Content"},
        {205, "Reset Content"}, {206, "Partial Content"}, {300, "Multiple Choices"},
        {301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"},
        {304, "Not Modified"}, {307, "Temporary Redirect"}, {308, "Permanent Redirect"},
        {400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
        {405, "Method Not Allowed"}, {406, "Not Acceptable"}, {408, "Request Timeout"},
        {409, "Conflict"}, {410, "Gone"}, {411, "Length Required"},
        {412, "Precondition Failed"}, {413, "Request Entity Too Large"},
        {414, "URI Too Long"}, {415, "Unsupported Media Type"},
        {416, "Requested Range Not Satisfiable"}, {417, "Expectation Failed"},
        {422, "Unprocessable Content"}, {428, "Precondition Required"},
        {429, "Too Many Requests"}, {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"}, {501, "Not Implemented"}, {502, "Bad Gateway"},
        {503, "Service Unavailable"}, {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    };

    for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++) {
        if (phrases[i].status == status) {
            return phrases[i].phrase;
        }
    }
    return "";
}

void wasp_response_set_status(wasp_request_t *req, int status, int substatus, const char *reason)
{
    if (req->head_sent) {
        return;
    }
    req->status = status;
    req->substatus = substatus;
    snprintf(req->reason, sizeof(req->reason), "%s",
             reason != NULL && reason[0] != '\0' ? reason : status_phrase(status));
}

int wasp_response_status(const wasp_request_t *req) { return req->status; }
int wasp_response_substatus(const wasp_request_t *req) { return req->substatus; }

static int header_add(wasp_request_t *req, const char *name, const char *value)
{
    if (req->rh_count == req->rh_cap) {
        size_t cap = req->rh_cap ? req->rh_cap * 2 : 8;
        resp_header_t *p = realloc(req->rh, cap * sizeof(*p));

        if (p == NULL) {
            return -1;
        }
        req->rh = p;
        req->rh_cap = cap;
    }
    req->rh[req->rh_count].name = strdup(name);
    req->rh[req->rh_count].value = strdup(value);
    if (req->rh[req->rh_count].name == NULL || req->rh[req->rh_count].value == NULL) {
        free(req->rh[req->rh_count].name);
        free(req->rh[req->rh_count].value);
        return -1;
    }
    req->rh_count++;
    return 0;
}

static bool header_value_ok(const char *name, const char *value)
{
    /* No response splitting: CR and LF can never reach the wire. */
    return name[0] != '\0' && strpbrk(name, "\r\n: ") == NULL && strpbrk(value, "\r\n") == NULL;
}

int wasp_response_set_header(wasp_request_t *req, const char *name, const char *value)
{
    if (req->head_sent || !header_value_ok(name, value)) {
        return -1;
    }
    for (size_t i = 0; i < req->rh_count;) {
        if (strcasecmp(req->rh[i].name, name) == 0) {
            free(req->rh[i].name);
            free(req->rh[i].value);
            req->rh[i] = req->rh[--req->rh_count];
        } else {
            i++;
        }
    }
    return header_add(req, name, value);
}

int wasp_response_add_header(wasp_request_t *req, const char *name, const char *value)
{
    if (req->head_sent || !header_value_ok(name, value)) {
        return -1;
    }
    return header_add(req, name, value);
}

wasp_str_t wasp_response_header(const wasp_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->rh_count; i++) {
        if (strcasecmp(req->rh[i].name, name) == 0) {
            return (wasp_str_t){req->rh[i].value, strlen(req->rh[i].value)};
        }
    }
    return (wasp_str_t){NULL, 0};
}

static void part_link(wasp_request_t *req, resp_part_t *p)
{
    if (req->parts_tail != NULL) {
        req->parts_tail->next = p;
    } else {
        req->parts = p;
    }
    req->parts_tail = p;
}

int wasp_response_write(wasp_request_t *req, const void *data, size_t len)
{
    resp_part_t *p;

    if (len == 0) {
        return 0;
    }
    /* Append to the last memory part when possible: fewer frames. */
    p = req->parts_tail;
    if (p != NULL && p->fd < 0 && p->len + (off_t)len <= WASP_CH_CHUNK) {
        char *d = realloc(p->data, (size_t)p->len + len);

        if (d == NULL) {
            return -1;
        }
        memcpy(d + p->len, data, len);
        p->data = d;
        p->len += (off_t)len;
        req->body_len += len;
        return 0;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return -1;
    }
    p->fd = -1;
    p->data = malloc(len);
    if (p->data == NULL) {
        free(p);
        return -1;
    }
    memcpy(p->data, data, len);
    p->len = (off_t)len;
    part_link(req, p);
    req->body_len += len;
    return 0;
}

int wasp_response_send_file(wasp_request_t *req, int fd, off_t offset, off_t length)
{
    resp_part_t *p;

    if (fd < 0 || offset < 0 || length < 0) {
        return -1;
    }
    if (length == 0) {
        close(fd);
        return 0;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        close(fd);
        return -1;
    }
    p->fd = fd;
    p->off = offset;
    p->len = length;
    part_link(req, p);
    req->body_len += (uint64_t)length;
    return 0;
}

void wasp_response_cache_file(wasp_request_t *req, const char *physical_path)
{
    size_t len = strlen(physical_path);
    char *copy = wasp_request_alloc(req, len + 1);

    if (copy != NULL) {
        memcpy(copy, physical_path, len + 1);
    }
    req->cache_file = copy;
}

void wasp_response_clear(wasp_request_t *req)
{
    if (req->head_sent) {
        return;
    }
    req->cache_file = NULL;
    response_free_parts(req);
    for (size_t i = 0; i < req->rh_count; i++) {
        free(req->rh[i].name);
        free(req->rh[i].value);
    }
    req->rh_count = 0;
}

bool wasp_response_has_body(const wasp_request_t *req)
{
    return req->body_len > 0;
}

size_t wasp_response_queued(const wasp_request_t *req)
{
    size_t n = 0;

    for (const resp_part_t *p = req->parts; p != NULL; p = p->next) {
        n += (size_t)(p->fd >= 0 ? p->len : p->len - p->off);
    }
    return n;
}

int wasp_response_flush(wasp_request_t *req)
{
    if (!req->head_sent) {
        req->streaming = true;
    }
    response_send(req);
    return 0;
}

wasp_status_t wasp_request_fail(wasp_request_t *req, int status, int substatus, const char *why)
{
    const char *reason = status_phrase(status);

    if (reason[0] == '\0') {
        reason = "Error";
    }
    wasp_response_set_status(req, status, substatus, reason);
    response_free_parts(req);
    req->fail_reason = why ? str_dup(req, why).ptr : NULL;
    req->fail_module = req->current ? req->current->name : "IIS Web Core";
    req->fail_event = pipeline_event_name(req->event, req->post);
    return WASP_FINISH;
}

const char *wasp_request_fail_reason(const wasp_request_t *req) { return req->fail_reason; }
const char *wasp_request_fail_module(const wasp_request_t *req) { return req->fail_module; }
const char *wasp_request_fail_event(const wasp_request_t *req) { return req->fail_event; }

/* ---- public API: URL rewriting ------------------------------------------- */

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One character of an encoded path, decoded the way url_canon.c decodes it
 * (%XX, %uNNNN); *adv receives the bytes consumed.  Characters that decode
 * outside ASCII come back as 'x': only '.', '/' and '\' matter here. */
static char decode_one(const char *p, size_t left, size_t *adv)
{
    *adv = 1;
    if (p[0] != '%') {
        return p[0];
    }
    if (left >= 6 && (p[1] == 'u' || p[1] == 'U')) {
        int a = hex_digit(p[2]), b = hex_digit(p[3]), c = hex_digit(p[4]), d = hex_digit(p[5]);

        if (a >= 0 && b >= 0 && c >= 0 && d >= 0) {
            *adv = 6;
            return (a | b) == 0 && (c << 4 | d) < 0x80 ? (char)(c << 4 | d) : 'x';
        }
    }
    if (left >= 3 && hex_digit(p[1]) >= 0 && hex_digit(p[2]) >= 0) {
        *adv = 3;
        return (char)(hex_digit(p[1]) << 4 | hex_digit(p[2]));
    }
    return '%';
}

/* A ".." segment in an encoded path, literal or through %2e, %2f, %5c, '\'
 * and %u forms: the canonicaliser would resolve it, but a rewritten URL
 * built from values the client sent must not move up a directory. */
static bool path_has_dotdot(const char *p, size_t len)
{
    size_t n = 0;
    char seg[2] = {0, 0};

    for (size_t i = 0; i <= len;) {
        size_t adv = 1;
        char c = i == len ? '/' : decode_one(p + i, len - i, &adv);

        if (c == '/' || c == '\\') {
            if (n == 2 && seg[0] == '.' && seg[1] == '.') {
                return true;
            }
            n = 0;
        } else {
            if (n < 2) {
                seg[n] = c;
            }
            n++;
        }
        i += adv;
    }
    return false;
}

/* Percent-encode what cannot appear in a request-target (controls, space,
 * '#', non-ASCII), so modules may pass decoded text. */
static char *target_encode(wasp_request_t *req, const char *url, size_t *out_len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0, len = strlen(url);
    char *out;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];

        n += (c < 0x21 || c > 0x7e || c == '#') ? 3 : 1;
    }
    out = wasp_request_alloc(req, n + 1);
    if (out == NULL) {
        return NULL;
    }
    n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];

        if (c < 0x21 || c > 0x7e || c == '#') {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

/* X-Original-URL: the original decoded path and query, set once, replacing a
 * value the client may have sent (IIS does the same). */
static int remember_original_url(wasp_request_t *req)
{
    static const char name[] = "X-Original-URL";
    size_t plen = strlen(req->path_z), len = plen + (req->has_query ? 1 + req->query.len : 0);
    char *p = wasp_request_alloc(req, len + 1);
    wasp_str_t v = {p, len}, *names, *values;

    if (p == NULL) {
        return -1;
    }
    memcpy(p, req->path_z, plen);
    if (req->has_query) {
        p[plen] = '?';
        memcpy(p + plen + 1, req->query.ptr, req->query.len);
    }
    p[len] = '\0';
    for (size_t i = 0; i < req->hcount; i++) {
        if (req->hnames[i].len == sizeof(name) - 1 &&
            strncasecmp(req->hnames[i].ptr, name, sizeof(name) - 1) == 0) {
            req->hvalues[i] = v;
            return 0;
        }
    }
    names = realloc(req->hnames, (req->hcount + 1) * sizeof(*names));
    if (names == NULL) {
        return -1;
    }
    req->hnames = names;
    values = realloc(req->hvalues, (req->hcount + 1) * sizeof(*values));
    if (values == NULL) {
        return -1;
    }
    req->hvalues = values;
    req->hnames[req->hcount] = (wasp_str_t){name, sizeof(name) - 1};
    req->hvalues[req->hcount] = v;
    req->hcount++;
    return 0;
}

static wasp_status_t rewrite_refuse(wasp_request_t *req, int status, int substatus,
                                    const char *fmt, ...) WASP_PRINTF(4, 5);

static wasp_status_t rewrite_refuse(wasp_request_t *req, int status, int substatus,
                                    const char *fmt, ...)
{
    char why[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    wasp_log(req, status >= 500 ? WASP_LOG_ERROR : WASP_LOG_INFO, "%s", why);
    return wasp_request_fail(req, status, substatus, why);
}

wasp_status_t wasp_request_rewrite_url(wasp_request_t *req, const char *url)
{
    const wasp_app_cfg_t *app = NULL;
    const wasp_vdir_cfg_t *vdir = NULL;
    char phys[sizeof(req->physical_path)];
    wasp_url_t parts;
    size_t tlen, plen;
    const char *q;
    char *target, *path, *query = NULL;

    if (req->head_sent) {
        wasp_log(req, WASP_LOG_ERROR, "URL rewrite after the response was sent; ignored");
        return WASP_FINISH;
    }
    if (req->event >= WASP_EVENT_EXECUTE_REQUEST_HANDLER) {
        return rewrite_refuse(req, 500, 0, "The URL can only be rewritten before "
                              "ExecuteRequestHandler (called in %s)",
                              pipeline_event_name(req->event, req->post));
    }
    if (url == NULL || url[0] != '/') {
        return rewrite_refuse(req, 500, 0, "The rewritten URL \"%s\" is not an absolute path",
                              url ? url : "(null)");
    }
    target = target_encode(req, url, &tlen);
    if (target == NULL) {
        return rewrite_refuse(req, 500, 0, "Out of memory while rewriting the URL");
    }
    q = strchr(target, '?');
    plen = q ? (size_t)(q - target) : tlen;
    if (path_has_dotdot(target, plen)) {
        return rewrite_refuse(req, 400, 0, "The rewritten URL \"%s\" has a \"..\" segment",
                              target);
    }
    path = wasp_request_alloc(req, plen + 2);
    if (path == NULL) {
        return rewrite_refuse(req, 500, 0, "Out of memory while rewriting the URL");
    }
    if (wasp_url_canon(target, plen, NULL, path, plen + 2, &parts) != WASP_HTTPSYS_NONE ||
        parts.asterisk) {
        return rewrite_refuse(req, 400, 0, "The rewritten URL \"%s\" is not a valid URL "
                              "(bad %%-escape, control character or segment too long)", target);
    }
    if (req->site == NULL ||
        worker_map_url(req, path, &app, &vdir, phys, sizeof(phys)) != 0) {
        return rewrite_refuse(req, 500, 0, "The rewritten URL \"%s\" belongs to no application "
                              "of the site", target);
    }
    if (app != NULL && strcasecmp(app->pool, worker_pool) != 0) {
        /* IIS refuses it the same way (403.18); serving it would mean
         * handing the request to the other pool's worker, which only the
         * listener could do. */
        return rewrite_refuse(req, 403, 18, "The rewritten URL \"%s\" belongs to application "
                              "\"%s\" of application pool \"%s\"; this request runs in pool "
                              "\"%s\"", target, app->path, app->pool, worker_pool);
    }
    if (!req->rewritten && remember_original_url(req) != 0) {
        return rewrite_refuse(req, 500, 0, "Out of memory while rewriting the URL");
    }
    if (q != NULL) {
        query = (char *)q + 1;
    }
    req->rewritten = true;
    req->current_url = (wasp_str_t){target, tlen};
    req->path = (wasp_str_t){path, parts.path_len};
    req->path_z = path;
    req->has_query = query != NULL;
    req->query = (wasp_str_t){query ? query : "", query ? strlen(query) : 0};
    req->app = app;
    req->vdir = vdir;
    memcpy(req->physical_path, phys, strlen(phys) + 1);
    if (req->handler != NULL) {
        /* Mapped already (a module at MapRequestHandler or later): map the
         * new URL now.  handler_map reports as the core. */
        wasp_module_t *cur = req->current;
        int rc;

        req->handler = NULL;
        req->handler_name = NULL;
        req->script_processor = NULL;
        req->handler_mod_count = 0;
        rc = handler_map(req);
        req->current = cur;
        if (rc != 0) {
            return WASP_FINISH;
        }
    }
    return WASP_CONTINUE;
}

/* ---- public API: local redirects ------------------------------------------ */

int wasp_request_redirect_local(wasp_request_t *req, const char *url)
{
    char *copy;

    if (url == NULL || url[0] != '/' || url[1] == '/' || req->head_sent ||
        req->event != WASP_EVENT_EXECUTE_REQUEST_HANDLER) {
        return -1;
    }
    copy = wasp_request_alloc(req, strlen(url) + 1);
    if (copy == NULL) {
        return -1;
    }
    memcpy(copy, url, strlen(url) + 1);
    req->local_redirect = copy;
    return 0;
}

/* Drop a request header (every field of that name). */
static void request_drop_header(wasp_request_t *req, const char *name)
{
    size_t n = strlen(name), out = 0;

    for (size_t i = 0; i < req->hcount; i++) {
        if (req->hnames[i].len == n && strncasecmp(req->hnames[i].ptr, name, n) == 0) {
            continue;
        }
        req->hnames[out] = req->hnames[i];
        req->hvalues[out] = req->hvalues[i];
        out++;
    }
    req->hcount = out;
}

/* The request becomes a GET (HEAD stays HEAD) of its local redirect's URL,
 * without body, answer, handler or module state: pipeline.c then runs it
 * from BeginRequest.  Returns WASP_CONTINUE, or WASP_FINISH when it failed
 * (status set). */
wasp_status_t request_restart_for_redirect(wasp_request_t *req)
{
    const char *url = req->local_redirect;
    wasp_status_t st;

    req->local_redirect = NULL;
    /* From the top: a failure below then skips to SendResponse as usual. */
    req->event = WASP_EVENT_BEGIN_REQUEST;
    req->post = 0;
    req->idx = 0;
    wasp_response_clear(req);
    wasp_response_set_status(req, 200, 0, "OK");
    req->fail_reason = req->fail_module = req->fail_event = NULL;
    req->current = NULL;
    if (++req->local_redirects > 10) {
        return wasp_request_fail(req, 500, 0, "More than 10 local redirects (CGI Location "
                                 "headers without Status) for one request.");
    }
    if (!(req->method.len == 4 && memcmp(req->method.ptr, "HEAD", 4) == 0)) {
        req->method = (wasp_str_t){"GET", 3};
    }
    req->body_dropped = true;
    request_drop_header(req, "Content-Length");
    request_drop_header(req, "Transfer-Encoding");
    request_drop_header(req, "Content-Type");
    req->handler = NULL;
    req->handler_name = NULL;
    req->script_processor = NULL;
    req->handler_mod_count = 0;
    memset(req->state, 0, WORKER_MAX_MODULES * sizeof(void *));
    st = wasp_request_rewrite_url(req, url);
    if (st == WASP_CONTINUE) {
        const pipeline_t *pipe =
            worker_pipeline_for(wasp_request_section(req, "system.webServer/modules"));

        if (pipe != NULL) {
            req->pipe = pipe; /* the new URL's <modules> */
        }
    }
    return st;
}
