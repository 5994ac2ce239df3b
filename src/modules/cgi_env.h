/*
 * The environment of a CGI or FastCGI application (RFC 3875 section 4.1 and
 * IIS' server variables, iis-modules.md 2.19 and 2.22), shared by CgiModule
 * (as the process environment) and FastCgiModule (as FCGI_PARAMS).
 *
 * Path split: SCRIPT_NAME is the URL of the script the handler mapped
 * (the request URL up to and including the first path segment that names an
 * existing file, when the handler allows path info), PATH_INFO the rest of
 * the URL after it ("" when none), SCRIPT_FILENAME / PATH_TRANSLATED the
 * script's physical path (IIS: PATH_TRANSLATED is the physical path of the
 * whole URL; php-cgi uses SCRIPT_FILENAME).  REQUEST_URI is the request
 * target as sent (path and query), QUERY_STRING the raw query.
 * Every request header becomes HTTP_<NAME> (upper case, '-' → '_'), except
 * Proxy (never HTTP_PROXY: httpoxy), Content-Type and Content-Length (which
 * are CONTENT_TYPE / CONTENT_LENGTH).  CONTENT_LENGTH is the de-chunked body
 * length, present whenever the request has a body.
 */
#ifndef WASP_CGI_ENV_H
#define WASP_CGI_ENV_H

#include <stddef.h>

#include "wasp/module.h"

typedef struct cgi_var {
    const char *name;   /* NUL-terminated */
    const char *value;  /* NUL-terminated */
    size_t name_len, value_len;
} cgi_var_t;

typedef struct cgi_env {
    cgi_var_t *vars;    /* request-lifetime memory (wasp_request_alloc) */
    size_t count;
} cgi_env_t;

/* Build the variables for req.  script_path_len: how many bytes of the
 * request's URL path name the script (the rest is PATH_INFO); pass the
 * whole path length when there is no path info.  script_file: the script's
 * physical path.  Returns 0, or -1 when out of memory. */
int cgi_env_build(wasp_request_t *req, size_t script_path_len, const char *script_file,
                  cgi_env_t *out);

/* Find where the script ends in the URL path: the shortest prefix, at a '/'
 * boundary, whose mapped physical path is a regular file (IIS'
 * allowPathInfo).  Returns its length, or 0 when no prefix is a file. */
size_t cgi_env_script_len(wasp_request_t *req, char *file, size_t file_size);

#endif
