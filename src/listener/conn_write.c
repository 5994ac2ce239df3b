/*
 * A connection's output (see conn_internal.h): a queue of memory and file
 * items written with sendmsg and sendfile (or gathered into TLS records),
 * shaped by maxBandwidth and watched by MinSendRate, and the responses the
 * pool's workers send, framed for HTTP/1.x or handed to the h2 session.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "listener/limits.h"
#include "listener/conn_internal.h"

/* Link a new memory item of len bytes (contents left to the caller). */
static lsn_out_t *conn_out_alloc(lsn_conn_t *c, size_t len)
{
    lsn_out_t *o = malloc(sizeof(*o) + len);

    if (o == NULL) {
        return NULL;
    }
    o->next = NULL;
    o->kind = OUT_MEM;
    o->req = NULL;
    o->len = len;
    o->off = 0;
    o->fd = -1;
    if (c->out_tail != NULL) {
        c->out_tail->next = o;
    } else {
        c->out_head = o;
    }
    c->out_tail = o;
    return o;
}

lsn_out_t *conn_out_mem(lsn_conn_t *c, const void *p, size_t len)
{
    lsn_out_t *o = conn_out_alloc(c, len);

    if (o != NULL) {
        memcpy(o->data, p, len);
    }
    return o;
}

static void conn_out_file(lsn_conn_t *c, int fd, off_t off, off_t len)
{
    lsn_out_t *o = malloc(sizeof(*o));

    if (o == NULL) {
        close(fd);
        return;
    }
    o->next = NULL;
    o->kind = OUT_FILE;
    o->req = NULL;
    o->len = o->off = 0;
    o->fd = fd;
    o->foff = off;
    o->fend = off + len;
    if (c->out_tail != NULL) {
        c->out_tail->next = o;
    } else {
        c->out_head = o;
    }
    c->out_tail = o;
}

int lsn_conn_out(lsn_conn_t *c, const void *p, size_t len)
{
    return conn_out_mem(c, p, len) != NULL ? 0 : -1;
}

size_t lsn_conn_out_pending(const lsn_conn_t *c)
{
    return (size_t)conn_queued_bytes(c);
}

/* Write consecutive memory items with one sendmsg (head and a small body
 * leave in one segment), telling the kernel more is coming when a file
 * follows (MSG_MORE), so headers and file data share packets. */
static int conn_write_mem(lsn_conn_t *c, uint64_t *budget)
{
    struct iovec iov[16];
    struct msghdr msg = {.msg_iov = iov};
    lsn_out_t *o = c->out_head;
    size_t n = 0;
    uint64_t total = 0;
    ssize_t w;
    int flags = MSG_NOSIGNAL;

    for (; o != NULL && o->kind == OUT_MEM && n < 16 && total < *budget; o = o->next) {
        iov[n].iov_base = o->data + o->off;
        iov[n].iov_len = o->len - o->off;
        if (iov[n].iov_len > *budget - total) {
            iov[n].iov_len = (size_t)(*budget - total); /* maxBandwidth */
        }
        total += iov[n].iov_len;
        n++;
    }
    if (o != NULL && o->kind == OUT_FILE) {
        flags |= MSG_MORE;
    }
    msg.msg_iovlen = n;
    do {
        w = sendmsg(c->fd, &msg, flags);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
    c->bytes_out += (uint64_t)w;
    c->sent_total += (uint64_t)w;
    *budget -= (uint64_t)w;
    /* Retire what was written. */
    while (w > 0) {
        lsn_out_t *h = c->out_head;
        size_t left = h->len - h->off;

        if ((size_t)w < left) {
            h->off += (size_t)w;
            return 0;
        }
        w -= (ssize_t)left;
        if (h->req != NULL) {
            lsn_window_ack(h->req, h->ack_len);
        }
        c->out_head = h->next;
        if (c->out_head == NULL) {
            c->out_tail = NULL;
        }
        free(h);
    }
    return 1;
}

/* 1 = item done, 0 = would block, -1 = connection failed */
static int conn_write_file(lsn_conn_t *c, uint64_t *budget)
{
    lsn_out_t *o = c->out_head;

    while (o->foff < o->fend) {
        uint64_t want = (uint64_t)(o->fend - o->foff);
        ssize_t n;

        if (*budget == 0) {
            return 0; /* maxBandwidth: the rest when the bucket refills */
        }
        n = sendfile(c->fd, o->fd, &o->foff, (size_t)(want < *budget ? want : *budget));

        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return 0;
            }
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        c->bytes_out += n > 0 ? (uint64_t)n : 0;
        c->sent_total += n > 0 ? (uint64_t)n : 0;
        *budget -= n > 0 ? (uint64_t)n : 0;
        if (n == 0) {
            /* The file shrank under us: the promised length cannot be kept,
             * so the connection must end. */
            wasp_warn("file ended early while sending to %s:%u", c->peer_ip, c->peer_port);
            return -1;
        }
    }
    close(o->fd);
    c->out_head = o->next;
    if (c->out_head == NULL) {
        c->out_tail = NULL;
    }
    free(o);
    return 1;
}

/* TLS: move up to one record's worth of output items (memory, or file
 * bytes read with pread: no sendfile through TLS) into the record buffer,
 * retiring what was taken.  0, or -1 when a file ended early. */
static int conn_tls_gather(lsn_conn_t *c)
{
    size_t len = 0;

    if (c->tls_wbuf == NULL && (c->tls_wbuf = malloc(CONN_TLS_RECORD)) == NULL) {
        return -1;
    }
    while (c->out_head != NULL && len < CONN_TLS_RECORD) {
        lsn_out_t *o = c->out_head;
        size_t room = CONN_TLS_RECORD - len;

        if (o->kind == OUT_MEM) {
            size_t n = o->len - o->off < room ? o->len - o->off : room;

            memcpy(c->tls_wbuf + len, o->data + o->off, n);
            o->off += n;
            len += n;
            if (o->off < o->len) {
                break;
            }
            if (o->req != NULL) {
                lsn_window_ack(o->req, o->ack_len);
            }
        } else {
            size_t want = (size_t)(o->fend - o->foff) < room ? (size_t)(o->fend - o->foff) : room;
            ssize_t n;

            do {
                n = pread(o->fd, c->tls_wbuf + len, want, o->foff);
            } while (n < 0 && errno == EINTR);
            if (n <= 0) {
                wasp_warn("file ended early while sending to %s:%u", c->peer_ip, c->peer_port);
                return -1;
            }
            o->foff += n;
            len += (size_t)n;
            if (o->foff < o->fend) {
                continue;
            }
            close(o->fd);
        }
        c->out_head = o->next;
        if (c->out_head == NULL) {
            c->out_tail = NULL;
        }
        free(o);
    }
    c->tls_wlen = len;
    c->tls_woff = 0;
    return 0;
}

/* 1 = everything written, 0 = would block or out of budget (maxBandwidth,
 * counted in plaintext bytes), -1 = connection failed */
static int conn_write_tls(lsn_conn_t *c, uint64_t *budget)
{
    for (;;) {
        size_t len;
        ssize_t n;

        if (c->tls_wlen == 0) {
            if (c->out_head == NULL) {
                return 1;
            }
            if (conn_tls_gather(c) != 0) {
                return -1;
            }
        }
        len = c->tls_wlen - c->tls_woff;
        if (c->tls_retry_len != 0) {
            len = c->tls_retry_len; /* OpenSSL: a retry repeats the same call */
        } else if (len > *budget) {
            if (*budget == 0) {
                return 0;
            }
            len = (size_t)*budget;
        }
        n = lsn_tls_write(c->tls, c->tls_wbuf + c->tls_woff, len);
        if (n == LSN_TLS_WANT_READ || n == LSN_TLS_WANT_WRITE) {
            c->tls_retry_len = len;
            return 0;
        }
        c->tls_retry_len = 0;
        if (n < 0) {
            return -1;
        }
        c->tls_woff += (size_t)n;
        c->sent_total += (uint64_t)n;
        *budget = (uint64_t)n < *budget ? *budget - (uint64_t)n : 0;
        if (c->tls_woff == c->tls_wlen) {
            c->tls_wlen = c->tls_woff = 0;
        }
    }
}

static void conn_on_bw_timer(wasp_loop_t *loop, void *data)
{
    lsn_conn_t *c = data;

    c->bw_timer = NULL;
    conn_flush(c);
}

bool conn_output_pending(const lsn_conn_t *c)
{
    return c->out_head != NULL || c->tls_wlen > 0;
}

void conn_flush(lsn_conn_t *c)
{
    uint64_t budget = UINT64_MAX, start;

    if (c->h2 != NULL && lsn_h2_busy(c->h2)) {
        return; /* inside nghttp2: written when it returns */
    }
    if (c->bw_timer != NULL) {
        return; /* maxBandwidth: waiting for the bucket */
    }
again:
    if (c->h2 != NULL && c->state == C_H2 && lsn_h2_send(c->h2) != 0) {
        conn_close(c);
        return;
    }
    budget = lsn_limits_bw_allow(c->site_id, c->site_bandwidth, wasp_now_ms());
    start = budget;
    if (c->tls != NULL) {
        int rc = conn_write_tls(c, &budget);

        if (rc < 0) {
            conn_close(c);
            return;
        }
    }
    while (c->tls == NULL && c->out_head != NULL) {
        int rc = c->out_head->kind == OUT_MEM ? conn_write_mem(c, &budget)
                                              : conn_write_file(c, &budget);

        if (rc < 0) {
            conn_close(c);
            return;
        }
        if (rc == 0 || budget == 0) {
            break;
        }
    }
    if (start != UINT64_MAX) {
        lsn_limits_bw_charge(c->site_id, c->site_bandwidth, start - budget);
        if (budget == 0 && conn_output_pending(c)) {
            /* Out of bandwidth: no EPOLLOUT until the bucket has refilled
             * (a few tens of milliseconds of the rate). */
            c->bw_timer = wasp_loop_timer(lsn_loop, 20, conn_on_bw_timer, c);
        }
    }
    if (c->state == C_WAIT && lsn_limits.min_send_rate != 0) {
        bool rate_armed = c->timer != NULL && c->timer_reason != NULL &&
                          strcmp(c->timer_reason, "Timer_MinBytesPerSecond") == 0;

        if (conn_output_pending(c) && !rate_armed) {
            if (conn_rate_window(c)) {
                return; /* dropped */
            }
        } else if (!conn_output_pending(c) && rate_armed) {
            conn_cancel_timer(c);
        }
    }
    if (c->h2 != NULL && c->state == C_H2 && !conn_output_pending(c)) {
        if (budget != 0 && lsn_h2_send(c->h2) == 0 && conn_output_pending(c)) {
            goto again; /* the socket took everything: more frames */
        }
        if (c->closing || lsn_h2_finished(c->h2)) {
            conn_linger(c);
            return;
        }
    }
    if (c->h2 != NULL && c->state == C_H2 && conn_h2_timers(c)) {
        return; /* dropped by MinSendRate */
    }
    if (c->out_head == NULL && c->tls_wlen == 0) {
        if (c->req != NULL && c->req->state == REQ_DONE) {
            conn_request_finished(c);
            return;
        }
        if (c->closing && c->state != C_LINGER) {
            conn_linger(c);
            return;
        }
    }
    conn_update_events(c);
}

/* ---- responses from the pool --------------------------------------------- */

/* field-value / reason-phrase bytes: HTAB, SP, VCHAR, obs-text (RFC 9110 5.5) */
bool lsn_wire_text_ok(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];

        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            return false;
        }
    }
    return true;
}

/* field-name: a token (RFC 9110 5.1) */
bool lsn_wire_token_ok(const char *p, size_t len)
{
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];

        if (ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch) != NULL) {
            return false;
        }
    }
    return true;
}

void lsn_conn_response_head(lsn_request_t *req, int status, const char *reason,
                            size_t reason_len, wasp_dec_t *headers, uint64_t content_length,
                            bool has_length)
{
    lsn_conn_t *c = req->conn;
    wasp_buf_t b = {0};
    uint32_t count;
    bool has_server = false;
    bool log_headers = lsn_log_wants_response_headers(req);

    req->state = REQ_RESPONDING;
    req->no_body = req->is_head || status < 200 || status == 204 || status == 304;
    req->resp_has_length = has_length || req->no_body;
    req->resp_length = req->no_body ? 0 : content_length;
    if (c == NULL) {
        return;
    }
    if (req->log.h2_stream != 0) {
        lsn_h2_response_head(req, status, headers, content_length, has_length);
        return;
    }
    /* Workers run application code: nothing they send reaches the wire
     * unchecked.  A reason phrase or header that would break the framing
     * (CR, LF, NUL, a name that is not a token) is dropped. */
    if (!lsn_wire_text_ok(reason, reason_len)) {
        reason = "";
        reason_len = 0;
    }
    wasp_buf_appendf(&b, "HTTP/1.1 %d %.*s\r\n", status, (int)reason_len, reason);
    count = wasp_dec_u32(headers);
    for (uint32_t i = 0; i < count && !headers->error; i++) {
        size_t nl, vl;
        const char *n = wasp_dec_str(headers, &nl);
        const char *v = wasp_dec_str(headers, &vl);

        if (!lsn_wire_token_ok(n, nl) || !lsn_wire_text_ok(v, vl)) {
            wasp_warn("pool '%s': dropped a malformed response header from the worker",
                      req->pool->name);
            continue;
        }
        /* Framing and connection management are the listener's alone. */
        if (conn_header_is(n, nl, "Connection") || conn_header_is(n, nl, "Keep-Alive") ||
            conn_header_is(n, nl, "Transfer-Encoding") || conn_header_is(n, nl, "Content-Length") ||
            conn_header_is(n, nl, "Date")) {
            continue;
        }
        if (conn_header_is(n, nl, "Server")) {
            has_server = true;
        }
        if (log_headers) {
            lsn_log_response_header(req, n, nl, v, vl);
        }
        wasp_buf_appendf(&b, "%.*s: %.*s\r\n", (int)nl, n, (int)vl, v);
    }
    if (!has_server) {
        wasp_buf_appendf(&b, "Server: wasp\r\n");
    }
    if (has_length && status != 204 && status != 304 && status >= 200) {
        wasp_buf_appendf(&b, "Content-Length: %llu\r\n", (unsigned long long)content_length);
    } else if (!req->no_body) {
        if (c->version_minor >= 1) {
            req->chunked_out = true;
            wasp_buf_appendf(&b, "Transfer-Encoding: chunked\r\n");
        } else {
            c->close_after = true; /* HTTP/1.0: the close delimits the body */
        }
    }
    if (lsn_draining) {
        c->close_after = true;
    }
    if (c->close_after || !c->keep_alive) {
        c->close_after = true;
        wasp_buf_appendf(&b, "Connection: close\r\n");
    } else if (c->version_minor == 0) {
        wasp_buf_appendf(&b, "Connection: keep-alive\r\n");
    }
    wasp_buf_appendf(&b, "Date: %s\r\n\r\n", wasp_http_date_now());
    if (b.data != NULL) {
        conn_out_mem(c, b.data, b.len);
    }
    wasp_buf_free(&b);
}

void lsn_conn_response_cached(lsn_request_t *req, const lsn_cached_response_t *r)
{
    static const char close_hdr[] = "Connection: close\r\n";
    static const char keep_hdr[] = "Connection: keep-alive\r\n";
    lsn_conn_t *c = req->conn;
    const char *conn_hdr = "", *date = wasp_http_date_now();
    size_t conn_len = 0, date_len = strlen(date), at;
    size_t head_len = r->wire_len, body_len = r->body != NULL ? r->body_len : 0;
    lsn_out_t *o;

    if (req->log.h2_stream != 0) {
        /* h2: the entry's header list goes through the stream's own
         * response path, as a worker's answer would. */
        wasp_dec_t d;

        wasp_dec_init(&d, r->headers, r->headers_len);
        req->log.from_worker = true;
        req->log.status = (uint16_t)r->status;
        req->log.substatus = 0;
        req->log.win32 = 0;
        lsn_conn_response_head(req, r->status, "", 0, &d, r->length, true);
        if (body_len > 0) {
            lsn_conn_response_data(req, r->body, body_len);
        }
        lsn_conn_response_end(req);
        return;
    }
    if (lsn_draining || !c->keep_alive) {
        c->close_after = true;
    }
    if (c->close_after) {
        conn_hdr = close_hdr;
        conn_len = sizeof(close_hdr) - 1;
    } else if (c->version_minor == 0) {
        conn_hdr = keep_hdr;
        conn_len = sizeof(keep_hdr) - 1;
    }
    /* One item, so the whole answer leaves in one send; no formatting on
     * the hit path, only copies. */
    o = conn_out_alloc(c, head_len + conn_len + 6 + date_len + 4 + body_len);
    if (o == NULL) {
        conn_close(c);
        return;
    }
    memcpy(o->data, r->wire, head_len);
    at = head_len;
    memcpy(o->data + at, conn_hdr, conn_len);
    at += conn_len;
    memcpy(o->data + at, "Date: ", 6);
    at += 6;
    memcpy(o->data + at, date, date_len);
    at += date_len;
    memcpy(o->data + at, "\r\n\r\n", 4);
    at += 4;
    if (body_len > 0) {
        memcpy(o->data + at, r->body, body_len);
    }
    req->state = REQ_DONE;
    req->log.from_worker = true; /* an access log line is due, as for a worker's answer */
    req->log.status = (uint16_t)r->status;
    req->log.substatus = 0;
    req->log.win32 = 0;
    conn_flush(c);
}

void lsn_conn_response_data(lsn_request_t *req, const char *p, size_t len)
{
    lsn_conn_t *c = req->conn;
    lsn_out_t *o;

    req->resp_queued += len;
    if (c == NULL || req->no_body || len == 0) {
        lsn_window_ack(req, len);
        return;
    }
    if (req->log.h2_stream != 0) {
        lsn_h2_response_data(req, p, len);
        return;
    }
    if (req->chunked_out) {
        char hdr[24];
        int n = snprintf(hdr, sizeof(hdr), "%zx\r\n", len);

        /* One item per chunk: size line, data and CRLF leave in one send. */
        o = conn_out_alloc(c, (size_t)n + len + 2);
        if (o != NULL) {
            memcpy(o->data, hdr, (size_t)n);
            memcpy(o->data + n, p, len);
            memcpy(o->data + n + len, "\r\n", 2);
        }
    } else {
        o = conn_out_mem(c, p, len);
    }
    if (o == NULL) {
        conn_close(c);
        return;
    }
    o->req = req;
    o->ack_len = len;
}

void lsn_conn_response_file(lsn_request_t *req, int fd, off_t off, off_t len)
{
    lsn_conn_t *c = req->conn;

    req->resp_queued += len > 0 ? (uint64_t)len : 0;
    if (c == NULL || req->no_body || len <= 0) {
        close(fd);
        return;
    }
    if (req->log.h2_stream != 0) {
        lsn_h2_response_file(req, fd, off, len);
        return;
    }
    if (req->chunked_out) {
        char hdr[24];
        int n = snprintf(hdr, sizeof(hdr), "%llx\r\n", (unsigned long long)len);

        conn_out_mem(c, hdr, (size_t)n);
        conn_out_file(c, fd, off, len);
        conn_out_mem(c, "\r\n", 2);
    } else {
        conn_out_file(c, fd, off, len);
    }
}

static void conn_on_deferred_flush(wasp_loop_t *loop, void *data)
{
    conn_flush(data);
}

/* HTTP/2: the frames of every response the worker's messages of this turn
 * of the loop completed leave together, on the next turn (EPOLLOUT), rather
 * than in one write (and TLS record) each. */
static void conn_h2_flush_soon(lsn_conn_t *c)
{
    if (c->bw_timer == NULL) {
        conn_set_events(c, c->events | EPOLLOUT);
    }
}

void lsn_conn_response_flush(lsn_request_t *req)
{
    /* A worker's record often holds a response's head, body and end as
     * separate frames (FastCGI streams them): writing at the end of the
     * loop turn sends them in one write, not three.  The response's end
     * still writes at once (lsn_conn_response_end). */
    if (req->conn != NULL && req->log.h2_stream != 0) {
        conn_h2_flush_soon(req->conn);
    } else if (req->conn != NULL) {
        wasp_loop_defer(lsn_loop, &req->conn->flush_defer, conn_on_deferred_flush, req->conn);
    }
}

void lsn_conn_response_end(lsn_request_t *req)
{
    lsn_conn_t *c = req->conn;

    req->state = REQ_DONE;
    if (c == NULL) {
        return;
    }
    if (req->log.h2_stream != 0) {
        lsn_h2_response_end(req);
        conn_h2_flush_soon(c);
        return;
    }
    if (req->chunked_out) {
        conn_out_mem(c, "0\r\n\r\n", 5);
    }
    conn_flush(c);
}

static void conn_send_page(lsn_conn_t *c, lsn_request_t *req, int status, const char *reason,
                           const char *body, bool close_conn)
{
    wasp_buf_t b = {0};
    size_t blen = strlen(body);

    if (close_conn) {
        c->close_after = true;
    }
    wasp_buf_appendf(&b,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
                     "Server: wasp\r\nContent-Length: %zu\r\n%sDate: %s\r\n\r\n",
                     status, reason, blen,
                     (c->close_after || !c->keep_alive) ? "Connection: close\r\n" : "",
                     wasp_http_date_now());
    if (!req->is_head) {
        wasp_buf_append(&b, body, blen);
    }
    if (b.data != NULL && req->log.h2_stream != 0) {
        lsn_h2_answer(req, b.data, b.len);
    } else if (b.data != NULL) {
        conn_out_mem(c, b.data, b.len);
    }
    wasp_buf_free(&b);
    req->state = REQ_DONE;
    conn_flush(c);
}

void lsn_conn_worker_lost(lsn_request_t *req)
{
    lsn_conn_t *c = req->conn;
    char body[2048];

    if (c == NULL) {
        return;
    }
    if (req->state == REQ_RESPONDING) {
        /* Part of the answer is out: the only honest signal left is to
         * close the connection before the promised end. */
        conn_httperr_req(req, req->log.status, "Connection_Abandoned_By_ReqQueue");
        if (req->log.h2_stream != 0) {
            lsn_h2_reset(req, LSN_H2_INTERNAL_ERROR); /* only this stream fails */
            conn_flush(c);
            return;
        }
        conn_close(c);
        return;
    }
    snprintf(body, sizeof(body),
             "<!DOCTYPE html>\r\n<html><head><title>502 - Bad Gateway</title></head>\r\n"
             "<body><h1>HTTP Error 502 - Bad Gateway</h1>\r\n"
             "<p>The worker process of application pool '%s' ended unexpectedly while it was "
             "processing this request.</p>\r\n"
             "<p>The pool is being restarted; other requests are not affected. The server log "
             "names the exit status or signal.</p>\r\n</body></html>\r\n",
             req->pool->name);
    conn_httperr_req(req, 502, "Connection_Abandoned_By_ReqQueue");
    conn_send_page(c, req, 502, "Bad Gateway", body, false);
}

void lsn_conn_httpsys_error(lsn_request_t *req, wasp_httpsys_error_t e, const char *reason)
{
    lsn_conn_httpsys_error_detail(req, e, reason, NULL, NULL);
}

void lsn_conn_httpsys_error_detail(lsn_request_t *req, wasp_httpsys_error_t e, const char *reason,
                                   const char *local_detail, const char *remote_detail)
{
    lsn_conn_t *c = req->conn;
    char buf[2048];
    size_t n;

    req->state = REQ_DONE;
    if (c == NULL) {
        return;
    }
    n = wasp_httpsys_render_detail(e, wasp_http_date_now(), req->is_head,
                                   c->is_local ? local_detail : remote_detail, buf,
                                   sizeof(buf));
    conn_httperr_req(req, wasp_httpsys_info(e)->status, reason);
    if (req->log.h2_stream != 0) {
        lsn_h2_answer(req, buf, n); /* the connection serves its other streams on */
        conn_flush(c);
        return;
    }
    c->close_after = true;
    if (n > 0) {
        conn_out_mem(c, buf, n);
    }
    conn_flush(c);
}

void lsn_conn_drop(lsn_request_t *req, const char *reason)
{
    lsn_conn_t *c = req->conn;

    conn_httperr_req(req, 0, reason);
    req->state = REQ_DONE; /* out of the queue, never dispatched */
    if (req->log.h2_stream != 0) {
        /* Only this stream: REFUSED_STREAM tells the client it never ran. */
        lsn_h2_reset(req, LSN_H2_REFUSED_STREAM);
        conn_flush(c);
        return;
    }
    conn_close(c);
}

void lsn_conn_queue_timeout(lsn_request_t *req)
{
    lsn_conn_drop(req, "Timer_AppPool");
}
