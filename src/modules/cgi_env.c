/*
 * The environment of a CGI / FastCGI application (see cgi_env.h): the
 * RFC 3875 4.1 meta-variables, IIS' extras, and one HTTP_<NAME> per request
 * header.  Everything comes from the public module API (server variables,
 * headers, wasp_request_map_path), so the result is what any module would
 * see; values live in request memory.
 *
 * Header variables, beyond the rules in cgi_env.h:
 *  - a header name with a character other than a letter, digit or '-' is
 *    left out: "X_Forwarded_For" and "X-Forwarded-For" would both become
 *    HTTP_X_FORWARDED_FOR, and a client must not be able to forge a header
 *    a proxy in front of the server sets (Apache and nginx drop them too);
 *  - Transfer-Encoding is left out: the application reads the de-chunked
 *    body, CONTENT_LENGTH bytes of it, and must not try to de-chunk it again;
 *  - repeated fields are joined in order, with "; " for Cookie (RFC 9113
 *    8.2.3, what cookie parsers expect) and ", " for the rest (RFC 9110 5.3).
 */
#include "modules/cgi_env.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* The fixed variables below, with room to spare. */
#define CGI_ENV_FIXED 48

typedef struct cgi_env_builder {
    wasp_request_t *req;
    cgi_env_t *env;
    size_t cap;
    bool oom;
} cgi_env_builder_t;

static char *cgi_env_dup(wasp_request_t *req, const char *s, size_t n)
{
    char *p = wasp_request_alloc(req, n + 1);

    if (p != NULL) {
        if (n > 0) {
            memcpy(p, s, n);
        }
        p[n] = '\0';
    }
    return p;
}

/* name must outlive the request (a literal) or be request memory. */
static void cgi_env_add(cgi_env_builder_t *b, const char *name, const char *value, size_t len)
{
    if (b->oom) {
        return;
    }
    if (b->env->count == b->cap) {
        b->oom = true; /* cannot happen: cap counts every variable added */
        return;
    }
    char *v = cgi_env_dup(b->req, value ? value : "", value ? len : 0);
    if (v == NULL) {
        b->oom = true;
        return;
    }
    /* A NUL inside a value would silently cut it in an environment block;
     * the listener refuses such bytes, so this only keeps lengths honest. */
    len = strlen(v);
    b->env->vars[b->env->count++] =
        (cgi_var_t){.name = name, .value = v, .name_len = strlen(name), .value_len = len};
}

static void cgi_env_addz(cgi_env_builder_t *b, const char *name, const char *value)
{
    cgi_env_add(b, name, value, value ? strlen(value) : 0);
}

static void cgi_env_add_str(cgi_env_builder_t *b, const char *name, wasp_str_t s)
{
    cgi_env_add(b, name, s.ptr, s.ptr ? s.len : 0);
}

/* Copy a server variable the core knows. */
static void cgi_env_sv(cgi_env_builder_t *b, const char *name, const char *server_variable)
{
    cgi_env_add_str(b, name, wasp_request_server_variable(b->req, server_variable));
}

static bool cgi_env_ieq(wasp_str_t a, wasp_str_t b)
{
    return a.len == b.len && strncasecmp(a.ptr, b.ptr, a.len) == 0;
}

static bool cgi_env_is(wasp_str_t name, const char *lit)
{
    size_t n = strlen(lit);
    return name.len == n && strncasecmp(name.ptr, lit, n) == 0;
}

/* "HTTP_" + the name in upper case with '-' as '_'; NULL when the name has
 * a character that would make two different headers one variable. */
static char *cgi_env_http_name(wasp_request_t *req, wasp_str_t name)
{
    if (name.len == 0) {
        return NULL;
    }
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-')) {
            return NULL;
        }
    }
    char *p = wasp_request_alloc(req, 5 + name.len + 1);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, "HTTP_", 5);
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        p[5 + i] = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    p[5 + name.len] = '\0';
    return p;
}

/* One HTTP_ variable per distinct header name, repeated fields joined. */
static void cgi_env_headers(cgi_env_builder_t *b)
{
    wasp_request_t *req = b->req;
    size_t n = wasp_request_header_count(req);

    for (size_t i = 0; i < n && !b->oom; i++) {
        wasp_str_t name, value, other, ov;
        bool seen = false;

        if (wasp_request_header_at(req, i, &name, &value) != 0 || cgi_env_is(name, "Proxy") ||
            cgi_env_is(name, "Content-Type") || cgi_env_is(name, "Content-Length") ||
            cgi_env_is(name, "Transfer-Encoding")) {
            continue;
        }
        for (size_t k = 0; k < i && !seen; k++) {
            seen = wasp_request_header_at(req, k, &other, &ov) == 0 && cgi_env_ieq(name, other);
        }
        if (seen) {
            continue; /* joined when its first occurrence was added */
        }
        char *var = cgi_env_http_name(req, name);
        if (var == NULL) {
            continue;
        }
        const char *sep = cgi_env_is(name, "Cookie") ? "; " : ", ";
        size_t total = value.len;
        for (size_t k = i + 1; k < n; k++) {
            if (wasp_request_header_at(req, k, &other, &ov) == 0 && cgi_env_ieq(name, other)) {
                total += 2 + ov.len;
            }
        }
        if (total == value.len) {
            cgi_env_add_str(b, var, value);
            continue;
        }
        char *joined = wasp_request_alloc(req, total + 1), *w = joined;
        if (joined == NULL) {
            b->oom = true;
            return;
        }
        memcpy(w, value.ptr, value.len);
        w += value.len;
        for (size_t k = i + 1; k < n; k++) {
            if (wasp_request_header_at(req, k, &other, &ov) == 0 && cgi_env_ieq(name, other)) {
                memcpy(w, sep, 2);
                memcpy(w + 2, ov.ptr, ov.len);
                w += 2 + ov.len;
            }
        }
        cgi_env_add(b, var, joined, total);
    }
}

/* DOCUMENT_ROOT: where the site's root URL maps, without a trailing '/'. */
static void cgi_env_document_root(cgi_env_builder_t *b)
{
    char root[4096];

    if (wasp_request_map_path(b->req, "/", root, sizeof(root)) != 0) {
        cgi_env_addz(b, "DOCUMENT_ROOT", "");
        return;
    }
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/') {
        n--;
    }
    cgi_env_add(b, "DOCUMENT_ROOT", root, n);
}

/* CONTENT_LENGTH whenever the request has a body: bytes received, a
 * Content-Length field (even 0) or a Transfer-Encoding. */
static void cgi_env_content(cgi_env_builder_t *b)
{
    wasp_request_t *req = b->req;

    if (wasp_request_body_length(req) > 0 ||
        wasp_request_header(req, "Content-Length").ptr != NULL ||
        wasp_request_header(req, "Transfer-Encoding").ptr != NULL) {
        cgi_env_sv(b, "CONTENT_LENGTH", "CONTENT_LENGTH");
    }
    wasp_str_t type = wasp_request_header(req, "Content-Type");
    if (type.ptr != NULL) {
        cgi_env_add_str(b, "CONTENT_TYPE", type);
    }
}

int cgi_env_build(wasp_request_t *req, size_t script_path_len, const char *script_file,
                  cgi_env_t *out)
{
    cgi_env_builder_t b = {.req = req, .env = out};
    wasp_str_t path = wasp_request_path(req);
    const char *phys = wasp_request_physical_path(req);

    out->count = 0;
    b.cap = CGI_ENV_FIXED + wasp_request_header_count(req);
    out->vars = wasp_request_alloc(req, b.cap * sizeof(cgi_var_t));
    if (out->vars == NULL) {
        return -1;
    }
    if (path.ptr == NULL) {
        path = (wasp_str_t){"", 0};
    }
    if (script_path_len > path.len) {
        script_path_len = path.len;
    }

    /* RFC 3875 4.1, in its order. */
    cgi_env_sv(&b, "AUTH_TYPE", "AUTH_TYPE");
    cgi_env_content(&b);
    cgi_env_addz(&b, "GATEWAY_INTERFACE", "CGI/1.1");
    cgi_env_add(&b, "PATH_INFO", path.ptr + script_path_len, path.len - script_path_len);
    /* IIS: the physical path of the whole URL (php-cgi's fix_pathinfo
     * walks it back to the script); the script itself is SCRIPT_FILENAME. */
    cgi_env_addz(&b, "PATH_TRANSLATED", phys);
    cgi_env_sv(&b, "QUERY_STRING", "QUERY_STRING");
    cgi_env_sv(&b, "REMOTE_ADDR", "REMOTE_ADDR");
    cgi_env_sv(&b, "REMOTE_HOST", "REMOTE_HOST");
    cgi_env_sv(&b, "REMOTE_PORT", "REMOTE_PORT");
    /* Anonymous requests: empty, as IIS sets it and AUTH_TYPE. */
    cgi_env_sv(&b, "REMOTE_USER", "REMOTE_USER");
    cgi_env_sv(&b, "REQUEST_METHOD", "REQUEST_METHOD");
    cgi_env_add(&b, "SCRIPT_NAME", path.ptr, script_path_len);
    cgi_env_sv(&b, "SERVER_NAME", "SERVER_NAME");
    cgi_env_sv(&b, "SERVER_PORT", "SERVER_PORT");
    cgi_env_sv(&b, "SERVER_PROTOCOL", "SERVER_PROTOCOL");
    cgi_env_sv(&b, "SERVER_SOFTWARE", "SERVER_SOFTWARE");

    /* IIS' extras (iis-modules.md 2.22) and the de-facto ones. */
    cgi_env_sv(&b, "HTTPS", "HTTPS");
    cgi_env_sv(&b, "SERVER_PORT_SECURE", "SERVER_PORT_SECURE");
    cgi_env_sv(&b, "LOCAL_ADDR", "LOCAL_ADDR");
    cgi_env_sv(&b, "SERVER_ADDR", "LOCAL_ADDR");
    cgi_env_sv(&b, "URL", "URL");
    cgi_env_sv(&b, "REQUEST_URI", "REQUEST_URI");
    cgi_env_addz(&b, "SCRIPT_FILENAME", script_file ? script_file : phys);
    cgi_env_document_root(&b);
    cgi_env_sv(&b, "APPL_MD_PATH", "APPL_MD_PATH");
    cgi_env_sv(&b, "APPL_PHYSICAL_PATH", "APPL_PHYSICAL_PATH");
    cgi_env_sv(&b, "INSTANCE_ID", "INSTANCE_ID");
    cgi_env_sv(&b, "APP_POOL_ID", "APP_POOL_ID");

    cgi_env_headers(&b);
    return b.oom ? -1 : 0;
}

size_t cgi_env_script_len(wasp_request_t *req, char *file, size_t file_size)
{
    wasp_str_t path = wasp_request_path(req);
    char prefix[4096];

    if (path.ptr == NULL || path.len == 0 || path.len >= sizeof(prefix) || path.ptr[0] != '/') {
        return 0;
    }
    /* Every '/'-bounded prefix, shortest first: "/a", "/a/b.cgi", ...  Each
     * is mapped on its own (a deeper prefix may be in another virtual
     * directory) and none is skipped when a shorter one is missing, for the
     * same reason.  The path is canonical: no "." or ".." segment to climb. */
    for (size_t k = 1; k <= path.len; k++) {
        if (k < path.len && path.ptr[k] != '/') {
            continue;
        }
        memcpy(prefix, path.ptr, k);
        prefix[k] = '\0';
        struct stat st;
        if (wasp_request_map_path(req, prefix, file, file_size) == 0 && stat(file, &st) == 0 &&
            S_ISREG(st.st_mode)) {
            return k;
        }
    }
    if (file_size > 0) {
        file[0] = '\0';
    }
    return 0;
}
