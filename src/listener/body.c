/*
 * Request bodies on their way in (wasp-http).
 *
 * A body is read completely by the listener before its request is queued for
 * a worker, de-chunked, and kept in memory up to LSN_BODY_MEMORY bytes;
 * beyond that it goes to an unlinked temporary file (O_TMPFILE in the
 * listener's temp directory) whose descriptor travels to the worker with the
 * request (REQ_BODY_FILE).  So:
 *   - no process holds a large upload in its memory: the listener writes it
 *     to the page cache as it arrives, the worker reads it back in pieces
 *     (FastCGI) or hands the file to the script as its stdin (CGI);
 *   - a slow client costs a connection, never a worker slot or a php-cgi
 *     instance (those have small fixed limits: maxInstances defaults to 4);
 *   - requestFiltering's maxAllowedContentLength is enforced here, before
 *     any body byte reaches a worker.
 * The file has no name from the moment it exists, so nothing is left behind
 * by a crash and no other user can open it.  Writes to it block the event
 * loop only as long as the page cache takes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "listener/listener.h"

const char *lsn_temp_dir = "/var/tmp";

static int body_spool_open(void)
{
    char path[4096];
    int fd = open(lsn_temp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) {
        return fd;
    }
    /* A file system without O_TMPFILE: a named file, unlinked at once. */
    snprintf(path, sizeof(path), "%s/wasp-body.XXXXXX", lsn_temp_dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) {
        unlink(path);
    }
    return fd;
}

/* Append de-chunked bytes to the request's body: memory first, then the
 * spool file once the body outgrows LSN_BODY_MEMORY. */
static int body_put(lsn_request_t *req, const char *p, size_t len)
{
    if (req->body_fd < 0 && wasp_buf_size(&req->body) + len > LSN_BODY_MEMORY) {
        int fd = body_spool_open();

        if (fd < 0) {
            wasp_error("cannot create a request-body file in %s: %s", lsn_temp_dir,
                       strerror(errno));
            return -1;
        }
        if (wasp_write_all(fd, wasp_buf_ptr(&req->body), wasp_buf_size(&req->body)) != 0) {
            wasp_error("cannot write a request body to %s: %s", lsn_temp_dir, strerror(errno));
            close(fd);
            return -1;
        }
        wasp_buf_free(&req->body);
        req->body_fd = fd;
    }
    if (req->body_fd >= 0) {
        if (wasp_write_all(req->body_fd, p, len) != 0) {
            wasp_error("cannot write a request body to %s: %s", lsn_temp_dir, strerror(errno));
            return -1;
        }
    } else if (wasp_buf_append(&req->body, p, len) != 0) {
        return -1;
    }
    req->body_len += len;
    return 0;
}

void lsn_body_begin(lsn_body_reader_t *r, bool chunked, uint64_t content_length, uint64_t limit)
{
    memset(r, 0, sizeof(*r));
    r->chunked = chunked;
    r->remaining = chunked ? 0 : content_length;
    r->limit = limit;
    if (chunked) {
        wasp_chunked_init(&r->chunked_state);
    }
}

lsn_body_result_t lsn_body_take(lsn_body_reader_t *r, lsn_request_t *req, wasp_buf_t *in)
{
    /* Chunked decoding writes at most as many bytes as it reads. */
    static char plain[65536];

    if (!r->chunked) {
        size_t n = wasp_buf_size(in);

        if (n > r->remaining) {
            n = (size_t)r->remaining;
        }
        if (n > 0 && body_put(req, wasp_buf_ptr(in), n) != 0) {
            return LSN_BODY_FAILED;
        }
        wasp_buf_consume(in, n);
        r->remaining -= n;
        return r->remaining == 0 ? LSN_BODY_DONE : LSN_BODY_MORE;
    }
    while (wasp_buf_size(in) > 0) {
        size_t avail = wasp_buf_size(in), consumed = 0, out_len = 0;
        int rc;

        if (avail > sizeof(plain)) {
            avail = sizeof(plain);
        }
        rc = wasp_chunked_decode(&r->chunked_state, wasp_buf_ptr(in), avail, &consumed, plain,
                                 &out_len);
        if (rc < 0) {
            return LSN_BODY_BAD;
        }
        wasp_buf_consume(in, consumed);
        if (req->body_len + out_len > r->limit) {
            return LSN_BODY_TOO_LARGE;
        }
        if (out_len > 0 && body_put(req, plain, out_len) != 0) {
            return LSN_BODY_FAILED;
        }
        if (rc == 1) {
            return LSN_BODY_DONE;
        }
        if (consumed == 0) {
            break;
        }
    }
    return LSN_BODY_MORE;
}

void lsn_body_drop(lsn_request_t *req)
{
    wasp_buf_free(&req->body);
    if (req->body_fd >= 0) {
        close(req->body_fd);
        req->body_fd = -1;
    }
    req->body_len = 0;
}
