/*
 * HTTP/2 in the listener (see h2.h).  nghttp2 does the framing, HPACK and
 * flow control; this file maps its events to wasp's request life:
 *
 *   HEADERS (complete block)  -> lsn_conn_start_request(), as an HTTP/1.1 head
 *   DATA                       -> the same body reader (memory, then a temp file)
 *   END_STREAM                 -> lsn_conn_submit_request(): the pool's queue
 *   RESP_HEAD/BODY/FILE/END    -> response HEADERS and DATA (data provider)
 *   stream closed              -> access log line, request freed or abandoned
 *
 * Output is pulled, never pushed: frames leave nghttp2 only while the
 * connection's output queue is below LSN_H2_OUT_HIGH, and a stream's data
 * provider takes the worker's bytes only then, acknowledging them to the
 * worker (lsn_window_ack) as it does.  A slow reader therefore holds at most
 * the worker window per stream in the listener.
 *
 * Nothing here writes to the socket or closes the connection from inside an
 * nghttp2 callback: conn.c calls lsn_h2_send() once lsn_h2_recv() returns.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "common/log.h"
#include "common/util.h"
#include "listener/h2.h"

#define H2_MAX_FIELDS WASP_H1_MAX_HEADERS

lsn_h2_limits_t lsn_h2_limits = {.tls = true, .cleartext = true, .max_streams = 100,
                                 .settings_per_frame = 32, .settings_per_minute = 1000,
                                 .resets_per_10s = 200};

/* A piece of a response body: the worker's bytes, or a range of its file. */
typedef struct h2_chunk {
    struct h2_chunk *next;
    int fd; /* -1: data[] */
    off_t off, end;
    size_t len, pos;
    char data[];
} h2_chunk_t;

typedef struct h2_field {
    size_t name, name_len, value, value_len; /* offsets in the stream's fields buffer */
} h2_field_t;

struct lsn_h2_stream {
    lsn_h2_stream_t *next, *prev;
    lsn_h2_t *h2;
    int32_t id;
    lsn_request_t *req;      /* NULL before the block is complete, or once detached */
    /* The request's header block as it is decoded. */
    wasp_buf_t fields;
    h2_field_t field[H2_MAX_FIELDS];
    size_t field_count;
    h2_field_t method, path, authority; /* name_len 0: absent */
    size_t list_size;                   /* RFC 7541 4.1 size of the decoded list */
    wasp_httpsys_error_t refuse;        /* the block broke a limit: HTTP.sys' answer */
    bool receiving;                     /* its request is not complete yet */
    uint64_t data_in;                   /* request DATA bytes received, wanted or not */
    bool continue_wanted;               /* expect: 100-continue, once the limits are known */
    lsn_body_reader_t body;
    /* The response. */
    h2_chunk_t *out_head, *out_tail;
    bool ended;     /* no more body will come */
    bool eof_sent;  /* the last frame of the response is out */
    bool deferred;  /* the data provider waits for body bytes */
    uint64_t sent;  /* response bytes framed (sc-bytes) */
};

struct lsn_h2 {
    lsn_conn_t *c;
    nghttp2_session *s;
    lsn_h2_stream_t *streams;
    size_t open, receiving;
    uint64_t held; /* response bytes in the streams' chunks (lsn_h2_held_bytes) */
    bool busy;   /* inside nghttp2: no sending, no closing */
    bool failed; /* a GOAWAY with an error is queued: read nothing more */
    uint64_t resets_start, control_start;
    uint32_t resets, control;
};

/* ---- streams ------------------------------------------------------------------- */

/* Bytes of a chunk not yet handed to nghttp2. */
static uint64_t h2_chunk_left(const h2_chunk_t *k)
{
    return k->fd >= 0 ? (uint64_t)(k->end - k->off) : k->len - k->pos;
}

static void h2_chunks_free(lsn_h2_stream_t *st)
{
    while (st->out_head != NULL) {
        h2_chunk_t *k = st->out_head;

        st->h2->held -= h2_chunk_left(k);
        st->out_head = k->next;
        if (k->fd >= 0) {
            close(k->fd);
        }
        free(k);
    }
    st->out_tail = NULL;
}

static void h2_chunk_link(lsn_h2_stream_t *st, h2_chunk_t *k)
{
    st->h2->held += h2_chunk_left(k);
    k->next = NULL;
    if (st->out_tail != NULL) {
        st->out_tail->next = k;
    } else {
        st->out_head = k;
    }
    st->out_tail = k;
}

static void h2_set_receiving(lsn_h2_stream_t *st, bool on)
{
    if (st->receiving != on) {
        st->receiving = on;
        if (on) {
            st->h2->receiving++;
        } else {
            st->h2->receiving--;
        }
    }
}

/* The stream's request leaves it: logged, then freed or left to its worker. */
static void h2_detach(lsn_h2_stream_t *st, bool complete)
{
    lsn_request_t *req = st->req;

    if (req == NULL) {
        return;
    }
    st->req = NULL;
    req->h2s = NULL;
    req->log.sc_bytes = st->sent;
    lsn_conn_request_detach(st->h2->c, req, complete);
}

static void h2_stream_free(lsn_h2_stream_t *st)
{
    lsn_h2_t *h = st->h2;

    h2_set_receiving(st, false);
    h2_chunks_free(st);
    wasp_buf_free(&st->fields);
    if (st->prev != NULL) {
        st->prev->next = st->next;
    } else {
        h->streams = st->next;
    }
    if (st->next != NULL) {
        st->next->prev = st->prev;
    }
    h->open--;
    free(st);
}

static lsn_h2_stream_t *h2_stream_new(lsn_h2_t *h, int32_t id)
{
    lsn_h2_stream_t *st = calloc(1, sizeof(*st));

    if (st == NULL) {
        return NULL;
    }
    st->h2 = h;
    st->id = id;
    st->next = h->streams;
    if (h->streams != NULL) {
        h->streams->prev = st;
    }
    h->streams = st;
    h->open++;
    h2_set_receiving(st, true);
    return st;
}

/* ---- floods ---------------------------------------------------------------------- */

/* Count n events in a fixed window; true when the window's budget is spent. */
static bool h2_count(uint64_t *start, uint32_t *count, uint32_t n, uint32_t max,
                     uint32_t window_ms)
{
    uint64_t now = wasp_now_ms();

    if (now - *start >= window_ms) {
        *start = now;
        *count = 0;
    }
    *count += n;
    return *count > max;
}

/* The client misbehaves: GOAWAY with code, an HTTPERR line, and nothing
 * more is read from it. */
static void h2_fail(lsn_h2_t *h, uint32_t code, const char *reason)
{
    if (h->failed) {
        return;
    }
    h->failed = true;
    lsn_conn_httperr_h2(h->c, reason);
    nghttp2_session_terminate_session(h->s, code);
}

/* ---- requests ------------------------------------------------------------------- */

static const char *h2_str(const lsn_h2_stream_t *st, size_t off)
{
    return st->fields.data + off;
}

static bool h2_name_is(const lsn_h2_stream_t *st, const h2_field_t *f, const char *lit)
{
    return f->name_len == strlen(lit) && memcmp(h2_str(st, f->name), lit, f->name_len) == 0;
}

static void h2_answer_stream(lsn_h2_stream_t *st, const char *msg, size_t len);

/* HTTP.sys' answer to a stream refused before it became a request. */
static void h2_refuse(lsn_h2_stream_t *st, wasp_httpsys_error_t e, bool head_only)
{
    char buf[1024];
    size_t n = wasp_httpsys_render(e, wasp_http_date_now(), head_only, buf, sizeof(buf));

    h2_set_receiving(st, false);
    h2_answer_stream(st, buf, n);
}

/* The request is whole (END_STREAM): to its pool. */
static void h2_request_complete(lsn_h2_stream_t *st)
{
    lsn_request_t *req = st->req;

    h2_set_receiving(st, false);
    if (req != NULL && req->state == REQ_READING_BODY) {
        lsn_conn_submit_request(req);
    }
}

/* A request-filtering verdict before the body is read (413.1 and the
 * like): the worker answers without the body; what the client still
 * sends is dropped (flow control keeps granting it, as a closed stream
 * would get RST_STREAM NO_ERROR after the answer). */
static void h2_filter_refuse(lsn_h2_stream_t *st, uint16_t status, uint16_t sub)
{
    st->req->refuse_status = status;
    st->req->refuse_sub = sub;
    lsn_body_drop(st->req);
    h2_request_complete(st);
}

/* RFC 9110 10.1.1 on h2 (RFC 9113 8.1): a 100 HEADERS frame tells a client
 * that waits before sending its body to go on.  Only when the body is
 * wanted: a refusal answers with the final status instead. */
static void h2_send_continue(lsn_h2_stream_t *st)
{
    static const nghttp2_nv cont[] = {{(uint8_t *)":status", (uint8_t *)"100", 7, 3,
                                       NGHTTP2_NV_FLAG_NONE}};

    st->continue_wanted = false;
    nghttp2_submit_headers(st->h2->s, NGHTTP2_FLAG_NONE, st->id, NULL, cont, 1, NULL);
}

static bool h2_expects_continue(const lsn_req_in_t *in)
{
    for (size_t i = 0; i < in->header_count; i++) {
        const wasp_h1_header_t *f = &in->headers[i];

        if (f->name_len == 6 && strncasecmp(f->name, "expect", 6) == 0 && f->value_len == 12 &&
            strncasecmp(f->value, "100-continue", 12) == 0) {
            return true;
        }
    }
    return false;
}

void lsn_h2_limits_known(lsn_request_t *req, uint64_t max_content_length)
{
    lsn_h2_stream_t *st = req->h2s;
    bool whole = req->limits_submit;

    req->limits_submit = false;
    if (req->refuse_status != 0) {
        st->continue_wanted = false;
        h2_filter_refuse(st, req->refuse_status, req->refuse_sub);
    } else {
        st->body.limit = max_content_length; /* DATA still to come is held to it */
        if (st->continue_wanted && !whole && st->data_in == 0) {
            h2_send_continue(st);
            lsn_conn_response_flush(req); /* outside any read: write it now */
        }
        if (whole) {
            lsn_conn_submit_request(req);
        }
    }
}

/* The header block is complete: the same path as an HTTP/1.1 head. */
static void h2_begin_request(lsn_h2_stream_t *st, const lsn_req_in_t *in, bool end_stream)
{
    lsn_h2_t *h = st->h2;
    lsn_request_t *req = NULL;
    wasp_httpsys_error_t err = WASP_HTTPSYS_NONE;
    bool head_only = false;

    switch (lsn_conn_start_request(h->c, in, &st->body, &req, &err, &head_only)) {
    case LSN_START_REFUSED:
        h2_refuse(st, err, head_only);
        return;
    case LSN_START_ASTERISK: {
        static const char opts[] = "HTTP/1.1 200 OK\r\nAllow: OPTIONS, TRACE, GET, HEAD, POST\r\n"
                                   "Server: wasp\r\nContent-Length: 0\r\n\r\n";

        h2_set_receiving(st, false);
        h2_answer_stream(st, opts, sizeof(opts) - 1);
        return;
    }
    case LSN_START_OK:
        break;
    }
    st->req = req;
    req->h2s = st;
    if (!end_stream && req->refuse_status == 0 && h2_expects_continue(in)) {
        if (req->limits_query == NULL) {
            h2_send_continue(st);
        } else {
            st->continue_wanted = true; /* lsn_h2_limits_known() decides */
        }
    }
    if (req->refuse_status != 0 || end_stream) {
        h2_request_complete(st);
    }
}

static int64_t h2_parse_length(const char *p, size_t len)
{
    int64_t v = 0;

    if (len == 0 || len > 18) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* Turn the decoded block into the parser's shape: pseudo-headers out,
 * ":authority" as Host (when no Host came), cookies joined into one field
 * (RFC 9113 8.2.3). */
static void h2_headers_done(lsn_h2_stream_t *st, bool end_stream)
{
    wasp_h1_header_t hv[H2_MAX_FIELDS + 2];
    wasp_buf_t cookie = {0};
    lsn_req_in_t in = {0};
    bool has_host = false;
    size_t n = 0;

    if (st->refuse == WASP_HTTPSYS_NONE &&
        (st->method.name_len == 0 || st->path.name_len == 0)) {
        st->refuse = WASP_HTTPSYS_BAD_REQUEST; /* CONNECT is not served */
    }
    if (st->refuse != WASP_HTTPSYS_NONE) {
        const wasp_httpsys_info_t *info = wasp_httpsys_info(st->refuse);

        lsn_conn_httperr_stream(st->h2->c, st->method.value_len ? h2_str(st, st->method.value) : NULL,
                                st->method.value_len,
                                st->path.value_len ? h2_str(st, st->path.value) : NULL,
                                st->path.value_len, info->status, info->httperr_reason,
                                (uint32_t)st->id);
        h2_refuse(st, st->refuse, false);
        return;
    }
    in.content_length = -1;
    for (size_t i = 0; i < st->field_count; i++) {
        const h2_field_t *f = &st->field[i];
        const char *v = h2_str(st, f->value);

        if (h2_name_is(st, f, "cookie")) {
            if (wasp_buf_size(&cookie) > 0) {
                wasp_buf_append(&cookie, "; ", 2);
            }
            wasp_buf_append(&cookie, v, f->value_len);
            continue;
        }
        if (h2_name_is(st, f, "host")) {
            has_host = true;
            in.host = v;
            in.host_len = f->value_len;
        } else if (h2_name_is(st, f, "content-length")) {
            in.content_length = h2_parse_length(v, f->value_len);
        }
        hv[n++] = (wasp_h1_header_t){h2_str(st, f->name), f->name_len, v, f->value_len};
    }
    if (cookie.data != NULL) {
        hv[n++] = (wasp_h1_header_t){"cookie", 6, wasp_buf_ptr(&cookie), wasp_buf_size(&cookie)};
    }
    if (!has_host && st->authority.value_len > 0) {
        in.host = h2_str(st, st->authority.value);
        in.host_len = st->authority.value_len;
        hv[n++] = (wasp_h1_header_t){"host", 4, in.host, in.host_len};
    }
    if (n > WASP_H1_MAX_HEADERS) {
        st->refuse = WASP_HTTPSYS_REQUEST_TOO_LONG;
        wasp_buf_free(&cookie);
        h2_headers_done(st, end_stream);
        return;
    }
    in.method = h2_str(st, st->method.value);
    in.method_len = st->method.value_len;
    in.target = h2_str(st, st->path.value);
    in.target_len = st->path.value_len;
    in.headers = hv;
    in.header_count = n;
    in.h2_stream = (uint32_t)st->id;
    in.head_len = st->list_size;
    if (end_stream && in.content_length < 0) {
        in.content_length = 0; /* no DATA can follow: no body */
    }
    h2_begin_request(st, &in, end_stream);
    wasp_buf_free(&cookie);
}

/* ---- nghttp2 callbacks: receiving ----------------------------------------------- */

static int h2_on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    lsn_h2_t *h = ud;
    lsn_h2_stream_t *st;

    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST || h->failed) {
        return 0;
    }
    st = h2_stream_new(h, f->hd.stream_id);
    if (st == NULL) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM INTERNAL_ERROR */
    }
    nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st);
    return 0;
}

static int h2_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                        size_t name_len, const uint8_t *value, size_t value_len, uint8_t flags,
                        void *ud)
{
    const wasp_h1_limits_t *lim = lsn_conn_limits();
    lsn_h2_stream_t *st;
    h2_field_t fl;

    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0; /* trailers: read and ignored, as HTTP/1.1 chunked trailers are */
    }
    st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (st == NULL || st->refuse != WASP_HTTPSYS_NONE) {
        return 0; /* over a limit: decoded (HPACK state) but not kept */
    }
    /* The limits an HTTP/1.1 head has: MaxFieldLength per field (as
     * "name: value"), MaxRequestBytes for the whole list.  HPACK lets a
     * few bytes stand for a large field, so the decoded size counts. */
    st->list_size += name_len + value_len + 32;
    if (name_len + value_len + 2 > lim->max_field_length) {
        st->refuse = WASP_HTTPSYS_FIELD_TOO_LONG;
        return 0;
    }
    if (st->list_size > lim->max_request_bytes) {
        st->refuse = WASP_HTTPSYS_REQUEST_TOO_LONG;
        return 0;
    }
    fl.name = wasp_buf_size(&st->fields);
    fl.name_len = name_len;
    fl.value = fl.name + name_len + 1;
    fl.value_len = value_len;
    if (wasp_buf_append(&st->fields, name, name_len) != 0 ||
        wasp_buf_append(&st->fields, "", 1) != 0 ||
        wasp_buf_append(&st->fields, value, value_len) != 0 ||
        wasp_buf_append(&st->fields, "", 1) != 0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (name_len > 0 && name[0] == ':') {
        /* nghttp2 has checked the pseudo-headers (RFC 9113 8.3). */
        if (name_len == 7 && memcmp(name, ":method", 7) == 0) {
            st->method = fl;
        } else if (name_len == 5 && memcmp(name, ":path", 5) == 0) {
            st->path = fl;
        } else if (name_len == 10 && memcmp(name, ":authority", 10) == 0) {
            st->authority = fl;
        }
        return 0;
    }
    if (st->field_count == H2_MAX_FIELDS) {
        st->refuse = WASP_HTTPSYS_REQUEST_TOO_LONG; /* as HTTP/1.1's 101st header */
        return 0;
    }
    st->field[st->field_count++] = fl;
    return 0;
}

static int h2_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                      size_t len, void *ud)
{
    lsn_h2_stream_t *st = nghttp2_session_get_stream_user_data(s, id);
    wasp_buf_t view = {(char *)data, 0, len, len};
    lsn_request_t *req;

    if (st != NULL) {
        st->data_in += len;
    }
    if (st == NULL || (req = st->req) == NULL || req->state != REQ_READING_BODY ||
        req->refuse_status != 0) {
        return 0; /* a refused or answered request: dropped */
    }
    req->log.cs_bytes += len;
    if (req->body_len + len > st->body.limit) {
        h2_filter_refuse(st, 413, 1); /* maxAllowedContentLength, no Content-Length given */
        return 0;
    }
    switch (lsn_body_take(&st->body, req, &view)) {
    case LSN_BODY_MORE:
    case LSN_BODY_DONE: /* complete at END_STREAM (nghttp2 checks Content-Length) */
        break;
    case LSN_BODY_TOO_LARGE:
        h2_filter_refuse(st, 413, 1);
        break;
    case LSN_BODY_BAD:
    case LSN_BODY_FAILED: {
        char buf[1024];
        size_t n = wasp_httpsys_render(WASP_HTTPSYS_SERVICE_UNAVAILABLE, wasp_http_date_now(),
                                       false, buf, sizeof(buf));

        lsn_log_httperr_request(req, 503, wasp_httpsys_info(WASP_HTTPSYS_SERVICE_UNAVAILABLE)->httperr_reason);
        req->log.logged = true;
        req->state = REQ_DONE;
        h2_set_receiving(st, false);
        h2_answer_stream(st, buf, n);
        break;
    }
    }
    return 0;
}

static int h2_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    lsn_h2_t *h = ud;
    lsn_h2_stream_t *st;
    bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

    if (h->failed) {
        return 0;
    }
    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
        st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
        if (st == NULL) {
            break;
        }
        if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
            h2_headers_done(st, end);
        } else if (end && st->receiving) {
            h2_request_complete(st); /* trailers end the body */
        }
        break;
    case NGHTTP2_DATA:
        st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
        if (st != NULL && end && st->receiving) {
            h2_request_complete(st);
        }
        break;
    case NGHTTP2_RST_STREAM:
        /* CVE-2023-44487: opening and cancelling streams costs the client
         * nothing and us a request each. */
        if (h2_count(&h->resets_start, &h->resets, 1, lsn_h2_limits.resets_per_10s,
                     LSN_H2_RESETS_WINDOW_MS)) {
            h2_fail(h, NGHTTP2_ENHANCE_YOUR_CALM, "Http2_ResetFlood");
        }
        break;
    case NGHTTP2_SETTINGS:
        if (!(f->hd.flags & NGHTTP2_FLAG_ACK) &&
            h2_count(&h->control_start, &h->control, (uint32_t)f->settings.niv + 1,
                     lsn_h2_limits.settings_per_minute, LSN_H2_CONTROL_WINDOW_MS)) {
            h2_fail(h, NGHTTP2_ENHANCE_YOUR_CALM, "Http2_SettingsFlood");
        }
        break;
    case NGHTTP2_PING:
    case NGHTTP2_PRIORITY:
        if (h2_count(&h->control_start, &h->control, 1, lsn_h2_limits.settings_per_minute,
                     LSN_H2_CONTROL_WINDOW_MS)) {
            h2_fail(h, NGHTTP2_ENHANCE_YOUR_CALM, "Http2_ControlFlood");
        }
        break;
    default:
        break;
    }
    return 0;
}

/* What is left of a request body too small to be worth a reset: the
 * client's initial window, which it may send without asking anyway. */
#define H2_SMALL_REST 65535u

/* The stream's request body still to come is known and small. */
static bool h2_rest_is_small(nghttp2_session *s, int32_t id)
{
    const lsn_h2_stream_t *st = nghttp2_session_get_stream_user_data(s, id);
    int64_t declared = st != NULL && st->req != NULL ? st->req->declared_length : -1;

    return declared >= 0 && (uint64_t)declared >= st->data_in &&
           (uint64_t)declared - st->data_in <= H2_SMALL_REST;
}

static int h2_on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    lsn_h2_t *h = ud;

    if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        nghttp2_session_get_stream_remote_close(s, f->hd.stream_id) == 0 &&
        !h2_rest_is_small(s, f->hd.stream_id)) {
        /* Answered before the request ended (a refusal, 413.1): the rest
         * of its body is not wanted (RFC 9113 8.1).  A small declared rest
         * is let in and dropped instead: some clients (curl 7.88) take a
         * reset during their upload for a failure, answer or not. */
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
        return 0;
    }
    if (f->hd.type == NGHTTP2_RST_STREAM && f->rst_stream.error_code == NGHTTP2_REFUSED_STREAM &&
        h2_count(&h->resets_start, &h->resets, 1, lsn_h2_limits.resets_per_10s, LSN_H2_RESETS_WINDOW_MS)) {
        /* Streams over SETTINGS_MAX_CONCURRENT_STREAMS, refused: a client
         * that keeps opening them is flooding too. */
        h2_fail(h, NGHTTP2_ENHANCE_YOUR_CALM, "Http2_ResetFlood");
    } else if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR &&
               !h->failed) {
        /* nghttp2's own verdict on a protocol violation. */
        static char reason[64];

        snprintf(reason, sizeof(reason), "Http2_%s",
                 nghttp2_http2_strerror(f->goaway.error_code));
        h->failed = true;
        lsn_conn_httperr_h2(h->c, reason);
    }
    return 0;
}

static int h2_on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    lsn_h2_stream_t *st = nghttp2_session_get_stream_user_data(s, id);

    if (st != NULL) {
        h2_detach(st, st->eof_sent && code == NGHTTP2_NO_ERROR);
        h2_stream_free(st);
    }
    return 0;
}

/* ---- responses ------------------------------------------------------------------ */

static ssize_t h2_read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    lsn_h2_stream_t *st = src->ptr;
    size_t n = 0;

    while (n < length && st->out_head != NULL) {
        h2_chunk_t *k = st->out_head;

        if (k->fd < 0) {
            size_t take = k->len - k->pos < length - n ? k->len - k->pos : length - n;

            memcpy(buf + n, k->data + k->pos, take);
            k->pos += take;
            st->h2->held -= take;
            n += take;
            if (st->req != NULL) {
                lsn_window_ack(st->req, take); /* the worker may send this much more */
            }
            if (k->pos < k->len) {
                break;
            }
        } else {
            size_t want = (size_t)(k->end - k->off) < length - n ? (size_t)(k->end - k->off)
                                                                  : length - n;
            ssize_t r;

            do {
                r = pread(k->fd, buf + n, want, k->off);
            } while (r < 0 && errno == EINTR);
            if (r <= 0) {
                /* The file shrank: the promised length cannot be kept. */
                wasp_warn("file ended early while sending HTTP/2 stream %d", (int)id);
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
            }
            k->off += r;
            st->h2->held -= (uint64_t)r;
            n += (size_t)r;
            if (k->off < k->end) {
                break;
            }
            close(k->fd);
        }
        st->out_head = k->next;
        if (st->out_head == NULL) {
            st->out_tail = NULL;
        }
        free(k);
    }
    st->sent += n;
    if (st->out_head == NULL && st->ended) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        st->eof_sent = true;
    } else if (n == 0) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

static void h2_resume(lsn_h2_stream_t *st)
{
    if (st->deferred) {
        st->deferred = false;
        nghttp2_session_resume_data(st->h2->s, st->id);
    }
}

/* Response header fields, names lower-cased (RFC 9113 8.2.1), as offsets
 * into one buffer until it stops moving. */
typedef struct h2_nvb {
    wasp_buf_t b;
    h2_field_t f[WASP_H1_MAX_HEADERS * 2 + 8];
    size_t n;
    bool failed; /* out of memory: the offsets are not to be trusted */
} h2_nvb_t;

static void h2_nv_add(h2_nvb_t *v, const char *name, size_t nl, const char *value, size_t vl)
{
    h2_field_t *f;

    if (v->n == sizeof(v->f) / sizeof(v->f[0])) {
        return;
    }
    f = &v->f[v->n++];
    f->name = wasp_buf_size(&v->b);
    f->name_len = nl;
    if (wasp_buf_append(&v->b, name, nl) != 0) {
        v->failed = true;
        return;
    }
    for (char *p = v->b.data + v->b.len - nl; p < v->b.data + v->b.len; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (char)(*p + ('a' - 'A'));
        }
    }
    f->value = wasp_buf_size(&v->b);
    f->value_len = vl;
    if (wasp_buf_append(&v->b, value, vl) != 0) {
        v->failed = true;
    }
}

/* Submit the HEADERS of a response (with the data provider unless bodyless). */
static void h2_nv_submit(lsn_h2_stream_t *st, h2_nvb_t *v, bool body)
{
    nghttp2_nv nva[sizeof(v->f) / sizeof(v->f[0])];
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = h2_read_body};

    if (v->b.data == NULL || v->failed) {
        wasp_buf_free(&v->b);
        nghttp2_submit_rst_stream(st->h2->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        nva[i] = (nghttp2_nv){(uint8_t *)v->b.data + v->f[i].name, (uint8_t *)v->b.data + v->f[i].value,
                              v->f[i].name_len, v->f[i].value_len, NGHTTP2_NV_FLAG_NONE};
    }
    if (!body) {
        st->eof_sent = true;
    }
    nghttp2_submit_response(st->h2->s, st->id, nva, v->n, body ? &prd : NULL);
    wasp_buf_free(&v->b);
}

/* Fields that describe an HTTP/1.1 connection, not a message (RFC 9113
 * 8.2.2), and those the listener writes itself. */
static bool h2_drop_field(const char *n, size_t len)
{
    static const char *const drop[] = {"connection", "keep-alive", "transfer-encoding",
                                       "upgrade",    "proxy-connection", "content-length",
                                       "date",       "te"};

    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
        if (strlen(drop[i]) == len && strncasecmp(n, drop[i], len) == 0) {
            return true;
        }
    }
    return false;
}

void lsn_h2_response_head(lsn_request_t *req, int status, wasp_dec_t *headers,
                          uint64_t content_length, bool has_length)
{
    lsn_h2_stream_t *st = req->h2s;
    static h2_nvb_t v;
    bool has_server = false, log_headers = lsn_log_wants_response_headers(req);
    char num[24];
    uint32_t count;

    if (st == NULL) {
        return;
    }
    memset(&v, 0, sizeof(v));
    snprintf(num, sizeof(num), "%d", status);
    h2_nv_add(&v, ":status", 7, num, strlen(num));
    count = wasp_dec_u32(headers);
    for (uint32_t i = 0; i < count && !headers->error; i++) {
        size_t nl, vl;
        const char *n = wasp_dec_str(headers, &nl);
        const char *val = wasp_dec_str(headers, &vl);

        /* Workers run application code: nothing unchecked reaches the wire. */
        if (!lsn_wire_token_ok(n, nl) || !lsn_wire_text_ok(val, vl)) {
            wasp_warn("pool '%s': dropped a malformed response header from the worker",
                      req->pool->name);
            continue;
        }
        if (h2_drop_field(n, nl)) {
            continue;
        }
        if (nl == 6 && strncasecmp(n, "server", 6) == 0) {
            has_server = true;
        }
        if (log_headers) {
            lsn_log_response_header(req, n, nl, val, vl);
        }
        h2_nv_add(&v, n, nl, val, vl);
    }
    if (!has_server) {
        h2_nv_add(&v, "server", 6, "wasp", 4);
    }
    if (has_length && status != 204 && status != 304 && status >= 200) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)content_length);
        h2_nv_add(&v, "content-length", 14, num, strlen(num));
    }
    h2_nv_add(&v, "date", 4, wasp_http_date_now(), 29);
    h2_nv_submit(st, &v, !req->no_body);
}

void lsn_h2_response_data(lsn_request_t *req, const char *p, size_t len)
{
    lsn_h2_stream_t *st = req->h2s;
    h2_chunk_t *k;

    if (st == NULL || req->no_body || len == 0) {
        lsn_window_ack(req, len);
        return;
    }
    k = malloc(sizeof(*k) + len);
    if (k == NULL) {
        lsn_h2_reset(req, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    k->fd = -1;
    k->len = len;
    k->pos = 0;
    memcpy(k->data, p, len);
    h2_chunk_link(st, k);
    h2_resume(st);
}

void lsn_h2_response_file(lsn_request_t *req, int fd, off_t off, off_t len)
{
    lsn_h2_stream_t *st = req->h2s;
    h2_chunk_t *k;

    if (st == NULL || req->no_body || len <= 0 || (k = malloc(sizeof(*k))) == NULL) {
        close(fd);
        return;
    }
    k->fd = fd;
    k->off = off;
    k->end = off + len;
    k->len = k->pos = 0;
    h2_chunk_link(st, k);
    h2_resume(st);
}

void lsn_h2_response_end(lsn_request_t *req)
{
    lsn_h2_stream_t *st = req->h2s;

    if (st != NULL) {
        st->ended = true;
        h2_resume(st);
    }
}

/* Send an HTTP/1.1 message rendered by the listener (HTTP.sys' pages) as
 * the stream's response: its status, its fields but the connection's, its
 * body. */
static void h2_answer_stream(lsn_h2_stream_t *st, const char *msg, size_t len)
{
    static h2_nvb_t v;
    const char *end = msg + len, *p, *body;
    h2_chunk_t *k;

    body = memmem(msg, len, "\r\n\r\n", 4);
    p = memchr(msg, ' ', len);
    if (body == NULL || p == NULL || end - p < 4) {
        nghttp2_submit_rst_stream(st->h2->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    memset(&v, 0, sizeof(v));
    h2_nv_add(&v, ":status", 7, p + 1, 3);
    p = memchr(p, '\n', (size_t)(end - p)) + 1;
    while (p < body + 2) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        const char *colon = memchr(p, ':', (size_t)(eol - p));

        if (colon != NULL && !h2_drop_field(p, (size_t)(colon - p))) {
            const char *val = colon + 1;

            while (val < eol && *val == ' ') {
                val++;
            }
            h2_nv_add(&v, p, (size_t)(colon - p), val, (size_t)(eol - val));
        }
        p = eol + 2;
    }
    body += 4;
    st->ended = true;
    if (body < end && (k = malloc(sizeof(*k) + (size_t)(end - body))) != NULL) {
        k->fd = -1;
        k->len = (size_t)(end - body);
        k->pos = 0;
        memcpy(k->data, body, k->len);
        h2_chunk_link(st, k);
    }
    h2_nv_submit(st, &v, st->out_head != NULL);
}

void lsn_h2_answer(lsn_request_t *req, const char *msg, size_t len)
{
    if (req->h2s != NULL) {
        h2_answer_stream(req->h2s, msg, len);
    }
}

void lsn_h2_reset(lsn_request_t *req, uint32_t error_code)
{
    lsn_h2_stream_t *st = req->h2s;

    if (st == NULL) {
        return;
    }
    h2_set_receiving(st, false);
    nghttp2_submit_rst_stream(st->h2->s, NGHTTP2_FLAG_NONE, st->id, error_code);
    h2_detach(st, false);
}

/* ---- the session ------------------------------------------------------------------ */

lsn_h2_t *lsn_h2_new(lsn_conn_t *c)
{
    const wasp_h1_limits_t *lim = lsn_conn_limits();
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;
    lsn_h2_t *h = calloc(1, sizeof(*h));
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, lsn_h2_limits.max_streams},
        /* Advisory (RFC 9113 6.5.2): what the header limits above enforce. */
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)lim->max_request_bytes},
        /* The HPACK table a client may make us keep: RFC 7541's default. */
        {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 4096},
    };
    int rc;

    if (h == NULL) {
        return NULL;
    }
    h->c = c;
    if (nghttp2_session_callbacks_new(&cb) != 0) {
        free(h);
        return NULL;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, h2_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, h2_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, h2_on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_on_stream_close);
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cb);
        free(h);
        return NULL;
    }
    /* Flood bounds of nghttp2 itself: queued PING/SETTINGS ACKs, entries
     * per SETTINGS frame, CONTINUATIONs per header block.  Its own reset
     * limiter is left above ours, which logs an HTTPERR line. */
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, lsn_h2_limits.settings_per_frame);
    nghttp2_option_set_max_continuations(opt, LSN_H2_MAX_CONTINUATIONS);
    nghttp2_option_set_stream_reset_rate_limit(opt, lsn_h2_limits.resets_per_10s * 4,
                                              lsn_h2_limits.resets_per_10s);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
    rc = nghttp2_session_server_new2(&h->s, cb, h, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0) {
        free(h);
        return NULL;
    }
    nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    return h;
}

/* base64url (RFC 4648 5), padding optional: HTTP2-Settings' coding. */
static ssize_t h2_b64url(const char *in, size_t len, uint8_t *out, size_t room)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        char ch = in[i];
        int v;

        if (ch >= 'A' && ch <= 'Z') {
            v = ch - 'A';
        } else if (ch >= 'a' && ch <= 'z') {
            v = ch - 'a' + 26;
        } else if (ch >= '0' && ch <= '9') {
            v = ch - '0' + 52;
        } else if (ch == '-' || ch == '+') {
            v = 62;
        } else if (ch == '_' || ch == '/') {
            v = 63;
        } else if (ch == '=') {
            break;
        } else {
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == room) {
                return -1;
            }
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return (ssize_t)n;
}

int lsn_h2_upgrade(lsn_h2_t *h, const char *settings, size_t settings_len,
                   const lsn_req_in_t *in)
{
    uint8_t buf[256];
    ssize_t n = h2_b64url(settings, settings_len, buf, sizeof(buf));
    lsn_h2_stream_t *st;
    lsn_req_in_t in1 = *in;
    bool head = in->method_len == 4 && memcmp(in->method, "HEAD", 4) == 0;

    if (n < 0 || n % 6 != 0 || (st = h2_stream_new(h, 1)) == NULL) {
        return -1;
    }
    if (nghttp2_session_upgrade2(h->s, buf, (size_t)n, head, st) != 0) {
        h2_stream_free(st);
        return -1;
    }
    in1.h2_stream = 1;
    h->busy = true;
    h2_begin_request(st, &in1, true);
    h->busy = false;
    return 0;
}

int lsn_h2_recv(lsn_h2_t *h, const char *p, size_t len)
{
    ssize_t n;

    if (h->failed) {
        return -1;
    }
    h->busy = true;
    n = nghttp2_session_mem_recv(h->s, (const uint8_t *)p, len);
    h->busy = false;
    if (n < 0) {
        /* A fatal verdict: say so in a GOAWAY if the session still can. */
        bool calm = n == NGHTTP2_ERR_FLOODED || n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;

        h2_fail(h, calm ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR,
                n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS ? "Http2_ContinuationFlood"
                : n == NGHTTP2_ERR_FLOODED             ? "Http2_Flood"
                : n == NGHTTP2_ERR_BAD_CLIENT_MAGIC    ? "Http2_BadPreface"
                                                       : "Http2_ProtocolError");
        return -1;
    }
    return h->failed ? -1 : 0;
}

int lsn_h2_send(lsn_h2_t *h)
{
    /* Small frames (HEADERS, a short DATA) are gathered into one output
     * item, so the responses of a turn leave in one write. */
    static uint8_t acc[16384];
    size_t alen = 0;
    int rc = 0;

    if (h->busy) {
        return 0;
    }
    h->busy = true;
    while (lsn_conn_out_pending(h->c) + alen < LSN_H2_OUT_HIGH) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->s, &data);

        if (n <= 0) {
            rc = n < 0 ? -1 : 0;
            break;
        }
        if (alen + (size_t)n > sizeof(acc)) {
            if (lsn_conn_out(h->c, acc, alen) != 0) {
                rc = -1;
                break;
            }
            alen = 0;
        }
        if ((size_t)n > sizeof(acc)) {
            if (lsn_conn_out(h->c, data, (size_t)n) != 0) {
                rc = -1;
                break;
            }
            continue;
        }
        memcpy(acc + alen, data, (size_t)n);
        alen += (size_t)n;
    }
    if (alen > 0 && rc == 0 && lsn_conn_out(h->c, acc, alen) != 0) {
        rc = -1;
    }
    h->busy = false;
    return rc;
}

bool lsn_h2_busy(const lsn_h2_t *h)
{
    return h->busy;
}

bool lsn_h2_finished(const lsn_h2_t *h)
{
    return !nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s);
}

size_t lsn_h2_open_streams(const lsn_h2_t *h)
{
    return h->open;
}

size_t lsn_h2_receiving_streams(const lsn_h2_t *h)
{
    return h->receiving;
}

uint64_t lsn_h2_held_bytes(const lsn_h2_t *h)
{
    return h->held;
}

void lsn_h2_shutdown(lsn_h2_t *h)
{
    nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->s),
                          NGHTTP2_NO_ERROR, NULL, 0);
}

void lsn_h2_free(lsn_h2_t *h)
{
    if (h == NULL) {
        return;
    }
    while (h->streams != NULL) {
        lsn_h2_stream_t *st = h->streams;

        h2_detach(st, false);
        h2_stream_free(st);
    }
    nghttp2_session_del(h->s);
    free(h);
}
