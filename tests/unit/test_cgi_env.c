/*
 * The CGI environment (src/modules/cgi_env.c) against a fake request: the
 * module API functions cgi_env.c calls are defined here, so the test needs
 * no worker.  Checked: the RFC 3875 variables and IIS extras, the
 * SCRIPT_NAME / PATH_INFO split found on a real temporary directory,
 * CONTENT_LENGTH / CONTENT_TYPE only with a body, HTTP_* for every header
 * with repeated fields joined (", ", Cookie "; "), and the headers left
 * out: Proxy (httpoxy), Content-Type / Content-Length (their own
 * variables), Transfer-Encoding, names with '_' or other characters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "modules/cgi_env.h"

#define FAKE_MAX_HEADERS 16
#define FAKE_MAX_ALLOCS 1024

struct wasp_request {
    char root[256];        /* the site's physical root */
    const char *path;      /* decoded URL path */
    char phys[512];        /* root + path */
    const char *method;
    const char *body;
    size_t hcount;
    const char *hn[FAKE_MAX_HEADERS], *hv[FAKE_MAX_HEADERS];
    void *allocs[FAKE_MAX_ALLOCS];
    size_t nalloc;
};

/* ---- the module API, faked --------------------------------------------- */

void *wasp_request_alloc(wasp_request_t *req, size_t size)
{
    assert_true(req->nalloc < FAKE_MAX_ALLOCS);
    void *p = calloc(1, size ? size : 1);
    assert_non_null(p);
    req->allocs[req->nalloc++] = p;
    return p;
}

static wasp_str_t fake_str(const char *s)
{
    return (wasp_str_t){s, s ? strlen(s) : 0};
}

wasp_str_t wasp_request_path(const wasp_request_t *req)
{
    return fake_str(req->path);
}

const char *wasp_request_physical_path(const wasp_request_t *req)
{
    return req->phys;
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
    *name = fake_str(req->hn[i]);
    *value = fake_str(req->hv[i]);
    return 0;
}

wasp_str_t wasp_request_header(const wasp_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->hcount; i++) {
        if (strcasecmp(req->hn[i], name) == 0) {
            return fake_str(req->hv[i]);
        }
    }
    return (wasp_str_t){NULL, 0};
}

wasp_str_t wasp_request_body(const wasp_request_t *req)
{
    return (wasp_str_t){req->body ? req->body : "", req->body ? strlen(req->body) : 0};
}

uint64_t wasp_request_body_length(const wasp_request_t *req)
{
    return wasp_request_body(req).len;
}

int wasp_request_map_path(const wasp_request_t *req, const char *url_path, char *phys,
                          size_t phys_size)
{
    int n = snprintf(phys, phys_size, "%s%s", req->root, url_path);
    return n < 0 || (size_t)n >= phys_size ? -1 : 0;
}

wasp_str_t wasp_request_server_variable(wasp_request_t *req, const char *name)
{
    static char buf[64];
    static const char *const fixed[][2] = {
        {"QUERY_STRING", "a=1&b=%20"},     {"REMOTE_ADDR", "192.0.2.7"},
        {"REMOTE_HOST", "192.0.2.7"},      {"REMOTE_PORT", "54321"},
        {"SERVER_NAME", "www.example"},    {"SERVER_PORT", "8080"},
        {"SERVER_PROTOCOL", "HTTP/1.1"},   {"SERVER_SOFTWARE", "wasp/0.1"},
        {"HTTPS", "off"},                  {"SERVER_PORT_SECURE", "0"},
        {"LOCAL_ADDR", "192.0.2.1"},       {"REQUEST_URI", "/raw%20uri?a=1&b=%20"},
        {"APPL_MD_PATH", "/LM/W3SVC/3/ROOT"}, {"INSTANCE_ID", "3"},
        {"APP_POOL_ID", "CgiPool"},
    };

    if (strcmp(name, "REQUEST_METHOD") == 0) {
        return fake_str(req->method);
    }
    if (strcmp(name, "URL") == 0) {
        return fake_str(req->path);
    }
    if (strcmp(name, "CONTENT_LENGTH") == 0) {
        snprintf(buf, sizeof(buf), "%zu", req->body ? strlen(req->body) : 0);
        return fake_str(buf);
    }
    if (strcmp(name, "APPL_PHYSICAL_PATH") == 0) {
        snprintf(buf, sizeof(buf), "%s/", req->root);
        return fake_str(buf);
    }
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (strcmp(fixed[i][0], name) == 0) {
            return fake_str(fixed[i][1]);
        }
    }
    return (wasp_str_t){NULL, 0}; /* AUTH_TYPE, REMOTE_USER: unknown to the core */
}

/* ---- fixtures ----------------------------------------------------------- */

static void touch(const char *root, const char *rel)
{
    char p[512];
    snprintf(p, sizeof(p), "%s%s", root, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\n", f);
    fclose(f);
}

static void mkdir_in(const char *root, const char *rel)
{
    char p[512];
    snprintf(p, sizeof(p), "%s%s", root, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static int setup(void **state)
{
    wasp_request_t *req = calloc(1, sizeof(*req));

    assert_non_null(req);
    snprintf(req->root, sizeof(req->root), "/tmp/wasp-cgi-env-XXXXXX");
    assert_non_null(mkdtemp(req->root));
    mkdir_in(req->root, "/cgi-bin");
    mkdir_in(req->root, "/cgi-bin/sub");
    touch(req->root, "/cgi-bin/env.pl");
    touch(req->root, "/cgi-bin/sub/deep.cgi");
    req->method = "GET";
    *state = req;
    return 0;
}

static int teardown(void **state)
{
    wasp_request_t *req = *state;
    char cmd[600];

    for (size_t i = 0; i < req->nalloc; i++) {
        free(req->allocs[i]);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", req->root);
    assert_int_equal(system(cmd), 0);
    free(req);
    return 0;
}

static void set_path(wasp_request_t *req, const char *path)
{
    req->path = path;
    snprintf(req->phys, sizeof(req->phys), "%s%s", req->root, path);
}

static void add_header(wasp_request_t *req, const char *name, const char *value)
{
    assert_true(req->hcount < FAKE_MAX_HEADERS);
    req->hn[req->hcount] = name;
    req->hv[req->hcount] = value;
    req->hcount++;
}

/* The value of name, or NULL; fails when a name appears twice. */
static const char *env_get(const cgi_env_t *env, const char *name)
{
    const char *found = NULL;

    for (size_t i = 0; i < env->count; i++) {
        const cgi_var_t *v = &env->vars[i];

        assert_int_equal(v->name_len, strlen(v->name));
        assert_int_equal(v->value_len, strlen(v->value));
        if (strcmp(v->name, name) == 0) {
            if (found != NULL) {
                fail_msg("%s appears twice", name);
            }
            found = v->value;
        }
    }
    return found;
}

static void assert_env(const cgi_env_t *env, const char *name, const char *want)
{
    const char *got = env_get(env, name);

    if (got == NULL) {
        fail_msg("%s is missing (want \"%s\")", name, want);
    }
    if (strcmp(got, want) != 0) {
        fail_msg("%s=\"%s\", want \"%s\"", name, got, want);
    }
}

/* ---- tests --------------------------------------------------------------- */

static void test_script_len(void **state)
{
    wasp_request_t *req = *state;
    char file[512], want[512];

    set_path(req, "/cgi-bin/env.pl/extra/info");
    assert_int_equal(cgi_env_script_len(req, file, sizeof(file)), strlen("/cgi-bin/env.pl"));
    snprintf(want, sizeof(want), "%s/cgi-bin/env.pl", req->root);
    assert_string_equal(file, want);

    set_path(req, "/cgi-bin/env.pl");
    assert_int_equal(cgi_env_script_len(req, file, sizeof(file)), strlen("/cgi-bin/env.pl"));

    set_path(req, "/cgi-bin/env.pl/");
    assert_int_equal(cgi_env_script_len(req, file, sizeof(file)), strlen("/cgi-bin/env.pl"));

    set_path(req, "/cgi-bin/sub/deep.cgi/a/env.pl");
    assert_int_equal(cgi_env_script_len(req, file, sizeof(file)),
                     strlen("/cgi-bin/sub/deep.cgi"));

    /* Directories and missing files are not scripts. */
    set_path(req, "/cgi-bin/sub/");
    assert_int_equal(cgi_env_script_len(req, file, sizeof(file)), 0);
    set_path(req, "/cgi-bin/missing.pl/x");
    assert_int_equal(cgi_env_script_len(req, file, sizeof(file)), 0);
    set_path(req, "/");
    assert_int_equal(cgi_env_script_len(req, file, sizeof(file)), 0);
    /* "env.p" is not "env.pl": only whole segments. */
    set_path(req, "/cgi-bin/env.p");
    assert_int_equal(cgi_env_script_len(req, file, sizeof(file)), 0);
    /* A buffer too small for the path: not found rather than cut. */
    set_path(req, "/cgi-bin/env.pl");
    assert_int_equal(cgi_env_script_len(req, file, 8), 0);
}

static void test_variables(void **state)
{
    wasp_request_t *req = *state;
    char file[512], want[600];
    cgi_env_t env;

    set_path(req, "/cgi-bin/env.pl/extra/info");
    req->method = "POST";
    req->body = "x=1&y=2";
    add_header(req, "Host", "www.example:8080");
    add_header(req, "Content-Type", "application/x-www-form-urlencoded");
    add_header(req, "Content-Length", "7");
    size_t len = cgi_env_script_len(req, file, sizeof(file));
    assert_int_equal(cgi_env_build(req, len, file, &env), 0);

    assert_env(&env, "GATEWAY_INTERFACE", "CGI/1.1");
    assert_env(&env, "SERVER_SOFTWARE", "wasp/0.1");
    assert_env(&env, "SERVER_NAME", "www.example");
    assert_env(&env, "SERVER_PORT", "8080");
    assert_env(&env, "SERVER_PROTOCOL", "HTTP/1.1");
    assert_env(&env, "REQUEST_METHOD", "POST");
    assert_env(&env, "SCRIPT_NAME", "/cgi-bin/env.pl");
    assert_env(&env, "PATH_INFO", "/extra/info");
    snprintf(want, sizeof(want), "%s/cgi-bin/env.pl/extra/info", req->root);
    assert_env(&env, "PATH_TRANSLATED", want);
    snprintf(want, sizeof(want), "%s/cgi-bin/env.pl", req->root);
    assert_env(&env, "SCRIPT_FILENAME", want);
    assert_env(&env, "DOCUMENT_ROOT", req->root);
    snprintf(want, sizeof(want), "%s/", req->root);
    assert_env(&env, "APPL_PHYSICAL_PATH", want);
    assert_env(&env, "QUERY_STRING", "a=1&b=%20");
    assert_env(&env, "REQUEST_URI", "/raw%20uri?a=1&b=%20");
    assert_env(&env, "URL", "/cgi-bin/env.pl/extra/info");
    assert_env(&env, "REMOTE_ADDR", "192.0.2.7");
    assert_env(&env, "REMOTE_HOST", "192.0.2.7");
    assert_env(&env, "REMOTE_PORT", "54321");
    assert_env(&env, "REMOTE_USER", "");
    assert_env(&env, "AUTH_TYPE", "");
    assert_env(&env, "CONTENT_LENGTH", "7");
    assert_env(&env, "CONTENT_TYPE", "application/x-www-form-urlencoded");
    assert_env(&env, "HTTPS", "off");
    assert_env(&env, "SERVER_PORT_SECURE", "0");
    assert_env(&env, "LOCAL_ADDR", "192.0.2.1");
    assert_env(&env, "SERVER_ADDR", "192.0.2.1");
    assert_env(&env, "APPL_MD_PATH", "/LM/W3SVC/3/ROOT");
    assert_env(&env, "INSTANCE_ID", "3");
    assert_env(&env, "APP_POOL_ID", "CgiPool");
    assert_env(&env, "HTTP_HOST", "www.example:8080");
    assert_null(env_get(&env, "HTTP_CONTENT_TYPE"));
    assert_null(env_get(&env, "HTTP_CONTENT_LENGTH"));
}

static void test_no_path_info(void **state)
{
    wasp_request_t *req = *state;
    char file[512];
    cgi_env_t env;

    set_path(req, "/cgi-bin/env.pl");
    assert_int_equal(cgi_env_build(req, strlen(req->path), req->phys, &env), 0);
    assert_env(&env, "SCRIPT_NAME", "/cgi-bin/env.pl");
    assert_env(&env, "PATH_INFO", "");
    assert_env(&env, "SCRIPT_FILENAME", req->phys);
    assert_env(&env, "PATH_TRANSLATED", req->phys);
    /* GET without a body: neither content variable. */
    assert_null(env_get(&env, "CONTENT_LENGTH"));
    assert_null(env_get(&env, "CONTENT_TYPE"));
    /* An over-long script length is clamped to the path. */
    assert_int_equal(cgi_env_build(req, 999, NULL, &env), 0);
    assert_env(&env, "SCRIPT_NAME", "/cgi-bin/env.pl");
    assert_env(&env, "PATH_INFO", "");
    assert_env(&env, "SCRIPT_FILENAME", req->phys);
    (void)file;
}

static void test_empty_body_with_length(void **state)
{
    wasp_request_t *req = *state;
    cgi_env_t env;

    set_path(req, "/cgi-bin/env.pl");
    req->method = "POST";
    add_header(req, "Content-Length", "0");
    assert_int_equal(cgi_env_build(req, strlen(req->path), req->phys, &env), 0);
    assert_env(&env, "CONTENT_LENGTH", "0");
    assert_null(env_get(&env, "CONTENT_TYPE"));
}

static void test_headers(void **state)
{
    wasp_request_t *req = *state;
    cgi_env_t env;

    set_path(req, "/cgi-bin/env.pl");
    req->body = "abc";
    add_header(req, "Host", "localhost");
    add_header(req, "Cookie", "a=1");
    add_header(req, "Accept", "text/html");
    add_header(req, "Proxy", "http://evil.example:3128");
    add_header(req, "X_Forwarded_For", "6.6.6.6");
    add_header(req, "X-Forwarded-For", "192.0.2.9");
    add_header(req, "cookie", "b=2");
    add_header(req, "ACCEPT", "*/*");
    add_header(req, "Transfer-Encoding", "chunked");
    add_header(req, "X.Dotted", "no");
    add_header(req, "x-custom-thing", "v1");
    add_header(req, "Cookie", "c=3");
    assert_int_equal(cgi_env_build(req, strlen(req->path), req->phys, &env), 0);

    assert_env(&env, "HTTP_HOST", "localhost");
    assert_env(&env, "HTTP_COOKIE", "a=1; b=2; c=3");
    assert_env(&env, "HTTP_ACCEPT", "text/html, */*");
    assert_env(&env, "HTTP_X_FORWARDED_FOR", "192.0.2.9");
    assert_env(&env, "HTTP_X_CUSTOM_THING", "v1");
    assert_null(env_get(&env, "HTTP_PROXY"));
    assert_null(env_get(&env, "HTTP_TRANSFER_ENCODING"));
    assert_null(env_get(&env, "HTTP_X_DOTTED"));
    assert_null(env_get(&env, "HTTP_X.DOTTED"));
    /* Transfer-Encoding means a body: its de-chunked length. */
    assert_env(&env, "CONTENT_LENGTH", "3");

    size_t http = 0;
    for (size_t i = 0; i < env.count; i++) {
        http += strncmp(env.vars[i].name, "HTTP_", 5) == 0;
    }
    assert_int_equal(http, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_script_len, setup, teardown),
        cmocka_unit_test_setup_teardown(test_variables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_path_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_body_with_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
