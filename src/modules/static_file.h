/*
 * The file-serving core of StaticFileModule, shared with DefaultDocumentModule
 * (which serves the chosen document exactly as a direct request for it would
 * be served) and DirectoryListingModule / DefaultDocumentModule (courtesy
 * redirect).  Internal to src/modules.
 */
#ifndef WASP_MODULES_STATIC_FILE_H
#define WASP_MODULES_STATIC_FILE_H

#include <stdbool.h>
#include <sys/stat.h>

#include "wasp/module.h"

#define WASP_STATIC_FILE_SECTION "system.webServer/staticContent"

/* Open path for reading and fstat() it.  O_NONBLOCK so that a FIFO in the
 * content tree cannot block the worker (it has no effect on regular files);
 * symbolic links are followed, as IIS follows junctions and symlinks.
 * Returns the fd, or -1 with errno set. */
int wasp_static_file_open(const char *path, struct stat *st);

/* Fail the request for an errno from opening a content path:
 * ENOENT, ENOTDIR, ENAMETOOLONG, ELOOP → 404.0; EACCES, EPERM → 401.3 (IIS'
 * "denied by ACL"); anything else → 500.0.  The reason names the error and
 * starts with the matching HRESULT, e.g. "0x80070002 ..." (see README.md). */
wasp_status_t wasp_static_file_fail_errno(wasp_request_t *req, int err);

/* Serve the open regular file fd (st from fstat) with the given MIME type:
 * GET/HEAD only (else 405.0 with Allow), Last-Modified, ETag (clientCache
 * setEtag), clientCache Cache-Control/Expires, preconditions (RFC 9110
 * 13.2.2: 412 / 304), Range / If-Range (206, multipart/byteranges, 416),
 * body by wasp_response_send_file().  static_content is the effective
 * staticContent section (NULL = defaults).  Always consumes fd (closed, or
 * owned by the worker after wasp_response_send_file(), which keeps it even
 * when it fails).  Returns WASP_FINISH. */
wasp_status_t wasp_static_file_serve(wasp_request_t *req, int fd, const struct stat *st,
                                     const char *mime, const wasp_section_t *static_content);

/* True when the request's URL path ends in '/'. */
bool wasp_static_file_url_has_slash(const wasp_request_t *req);

/* The courtesy redirect for a directory requested without its trailing
 * slash: 301, Location: <path>/[?query] (path-absolute, percent-encoded),
 * and a short HTML body (none for HEAD).  Returns WASP_FINISH. */
wasp_status_t wasp_static_file_redirect_slash(wasp_request_t *req);

/* The "Allow" value of 405 answers from the static handler modules. */
#define WASP_STATIC_FILE_ALLOW "GET, HEAD, OPTIONS, TRACE"

#endif
