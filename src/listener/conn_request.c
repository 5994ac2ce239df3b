/*
 * A request's admission (see conn_internal.h): what HTTP/1.1 heads and h2
 * header blocks share from the parsed head to the pool's queue: URL
 * canonicalisation and HTTP.sys' refusals, routing, maxConnections per
 * site, request filtering's limits (req_limits.c asks waspd for them), the
 * REQ_HEAD encoding, and submission once the body is in.
 */
#include <stdlib.h>
#include <string.h>

#include "listener/cache.h"
#include "listener/counters.h"
#include "listener/limits.h"
#include "listener/conn_internal.h"

static wasp_h1_limits_t conn_limits = {.max_request_bytes = 16384, .max_field_length = 16384};
static wasp_url_limits_t url_limits;
static bool url_limits_ready;

static void conn_body_begin(lsn_conn_t *c);

void lsn_conn_set_limits(uint32_t max_field, uint32_t max_request, uint32_t seg_len,
                         uint32_t seg_count, bool restricted, bool percent_u,
                         bool non_utf8, bool favor_utf8)
{
    conn_limits.max_field_length = max_field;
    conn_limits.max_request_bytes = max_request;
    wasp_url_limits_default(&url_limits);
    url_limits.max_url_length = max_field;
    url_limits.segment_max_length = seg_len;
    url_limits.segment_max_count = seg_count;
    url_limits.allow_restricted_chars = restricted;
    url_limits.percent_u_allowed = percent_u;
    url_limits.enable_non_utf8 = non_utf8;
    url_limits.favor_utf8 = favor_utf8;
    url_limits_ready = true;
}

static bool conn_token_eq(const char *p, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(p, lit, len) == 0;
}

/* Request filtering refuses the request: it still goes to its pool (the
 * worker's pipeline answers with the site's error pages and logs it), but
 * without its body, which is never read: the connection closes after the
 * answer, lingering to drop what the client still sends. */
void conn_filter_refuse(lsn_conn_t *c, uint16_t status, uint16_t sub)
{
    c->req->refuse_status = status;
    c->req->refuse_sub = sub;
    lsn_body_drop(c->req);
    c->keep_alive = false;
    c->state = C_WAIT;
}

/* The body cannot be read (bad chunked coding, or no memory/disk for it):
 * HTTP.sys' answer, no worker involved. */
void conn_refuse_body(lsn_conn_t *c, wasp_httpsys_error_t e)
{
    lsn_request_t *req = c->req;

    conn_httperr_req(req, wasp_httpsys_info(e)->status, wasp_httpsys_info(e)->httperr_reason);
    c->req = NULL;
    lsn_request_free(req);
    conn_answer_close(c, e, false);
}

const wasp_h1_limits_t *lsn_conn_limits(void)
{
    return &conn_limits;
}

/* Request filtering's verdict on what is known of the request so far (its
 * URL, its declared length, the body read until now), in IIS' order. */
static void conn_limits_verdict(lsn_request_t *req, const lsn_req_limits_t *lim)
{
    if (req->url_path_len > lim->max_url) {
        req->refuse_status = 404, req->refuse_sub = 14;
    } else if (req->has_query && req->url_query_len > lim->max_query) {
        req->refuse_status = 404, req->refuse_sub = 15;
    } else if ((req->declared_length > 0 &&
                (uint64_t)req->declared_length > lim->max_content_length) ||
               req->body_len > lim->max_content_length) {
        req->refuse_status = 413, req->refuse_sub = 1;
    }
}

lsn_start_result_t lsn_conn_start_request(lsn_conn_t *c, const lsn_req_in_t *in,
                                          lsn_body_reader_t *body, lsn_request_t **reqp,
                                          wasp_httpsys_error_t *err, bool *head_only)
{
    static char path[65536 + 8]; /* MaxFieldLength, which bounds the URL, is < 64 KiB */
    wasp_url_t url;
    wasp_httpsys_error_t e;
    const lsn_site_t *site;
    const lsn_app_t *app;
    lsn_request_t *req;
    wasp_enc_t *enc;
    bool is_head = conn_token_eq(in->method, in->method_len, "HEAD");
    bool has_body = in->chunked || in->content_length != 0;

    /* A refusal: its HTTPERR line here, the answer by the caller. */
#define REFUSE(code, head)                                                                    \
    do {                                                                                      \
        *err = (code);                                                                        \
        *head_only = (head);                                                                  \
        lsn_conn_httperr_stream(c, in->method, in->method_len, in->target, in->target_len,    \
                                wasp_httpsys_info(code)->status,                              \
                                wasp_httpsys_info(code)->httperr_reason, in->h2_stream);      \
        return LSN_START_REFUSED;                                                             \
    } while (0)

    if (!url_limits_ready) {
        wasp_url_limits_default(&url_limits);
        url_limits.max_url_length = conn_limits.max_field_length;
        url_limits_ready = true;
    }
    *reqp = NULL;
    e = wasp_url_canon(in->target, in->target_len, &url_limits, path, sizeof(path), &url);
    if (e != WASP_HTTPSYS_NONE) {
        REFUSE(e, false);
    }
    if (url.asterisk) {
        /* OPTIONS * asks about the server, not a resource (RFC 9110 9.3.7). */
        return LSN_START_ASTERISK;
    }
    site = lsn_route_site(c->local_ip, c->local_port, in->host, in->host_len);
    if (site == NULL) {
        REFUSE(WASP_HTTPSYS_INVALID_HOSTNAME, false);
    }
    if (!site->started) {
        REFUSE(WASP_HTTPSYS_NOT_FOUND, is_head);
    }
    if (c->site_id != site->id) {
        /* Counted per site once routed (a keep-alive connection may move). */
        if (c->site_id != 0) {
            lsn_limits_site_leave(c->site_id);
            c->site_id = 0;
        }
        if (!lsn_limits_site_enter(site->id, site->max_connections)) {
            lsn_conn_httperr_stream(c, in->method, in->method_len, in->target, in->target_len,
                                    503, "ConnLimit", in->h2_stream);
            *err = WASP_HTTPSYS_SERVICE_UNAVAILABLE;
            *head_only = is_head;
            return LSN_START_REFUSED;
        }
        c->site_id = site->id;
    }
    c->site_timeout_ms = site->connection_timeout_ms;
    c->site_bandwidth = site->max_bandwidth;
    lsn_counters_conn_site(&c->counted_site, site->id);
    app = lsn_route_app(site->id, path, url.path_len);
    if (app == NULL) {
        REFUSE(WASP_HTTPSYS_NOT_FOUND, is_head);
    }
    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        REFUSE(WASP_HTTPSYS_SERVICE_UNAVAILABLE, false);
    }
    req->conn = c;
    req->body_fd = -1;
    req->pool = app->pool;
    req->log.site_id = site->id;
    req->log.start_ms = in->h2_stream ? wasp_now_ms() : c->rbuf_since_ms;
    req->log.cs_bytes = in->head_len;
    req->log.sent_base = c->bytes_out;
    req->log.h2_stream = in->h2_stream;
    req->queue_timeout_ms = site->connection_timeout_ms;
    req->is_head = is_head;
    req->state = REQ_READING_BODY;

    /* REQ_HEAD payload (decoded by the worker, worker/request.c).  The
     * version is major * 10 + minor (10, 11, 20): modules and CGI see
     * SERVER_PROTOCOL "HTTP/2" for a stream, as IIS reports it. */
    enc = &req->head;
    wasp_enc_u32(enc, site->id);
    wasp_enc_str(enc, in->method, in->method_len);
    wasp_enc_str(enc, in->target, in->target_len);
    wasp_enc_str(enc, path, url.path_len);
    wasp_enc_u8(enc, url.query != NULL);
    wasp_enc_str(enc, url.query ? url.query : "", url.query ? url.query_len : 0);
    wasp_enc_u8(enc, (uint8_t)(in->h2_stream ? 20 : 10 + in->version_minor));
    wasp_enc_u8(enc, c->is_local);
    wasp_enc_cstr(enc, c->peer_ip);
    wasp_enc_u16(enc, c->peer_port);
    wasp_enc_cstr(enc, c->local_ip);
    wasp_enc_u16(enc, c->local_port);
    /* TLS: what IIS' HTTPS_* and CERT_* server variables say. */
    wasp_enc_u8(enc, c->tls != NULL);
    if (c->tls != NULL) {
        lsn_tls_info_t ti;
        char *pem;
        size_t pem_len;

        lsn_tls_get_info(c->tls, &ti, &pem, &pem_len);
        wasp_enc_cstr(enc, ti.protocol);
        wasp_enc_cstr(enc, ti.cipher);
        wasp_enc_u16(enc, (uint16_t)ti.keysize);
        wasp_enc_cstr(enc, ti.sni);
        wasp_enc_u8(enc, pem != NULL);
        wasp_enc_u8(enc, ti.client_cert_verified);
        wasp_enc_cstr(enc, ti.cert_subject);
        wasp_enc_cstr(enc, ti.cert_issuer);
        wasp_enc_cstr(enc, ti.cert_serial);
        wasp_enc_str(enc, pem ? pem : "", pem_len);
        free(pem);
    }
    req->head_headers_at = wasp_buf_size(&enc->buf);
    wasp_enc_u32(enc, (uint32_t)in->header_count);
    for (size_t i = 0; i < in->header_count; i++) {
        wasp_enc_str(enc, in->headers[i].name, in->headers[i].name_len);
        wasp_enc_str(enc, in->headers[i].value, in->headers[i].value_len);
    }
    if (enc->buf.data == NULL || wasp_buf_size(&enc->buf) > WASP_CH_CHUNK) {
        /* Heads are bounded by MaxRequestBytes, far below one frame. */
        lsn_request_free(req);
        REFUSE(WASP_HTTPSYS_REQUEST_TOO_LONG, false);
    }
    *reqp = req;
    req->url_path_len = (uint32_t)url.path_len;
    req->has_query = url.query != NULL;
    req->url_query_len = url.query != NULL ? (uint32_t)url.query_len : 0;
    req->declared_length = in->chunked ? -1 : in->content_length;
    if (has_body) {
        /* Request filtering's limits (IIS checks them at BeginRequest,
         * before reading the body): the worker answers, without the body.
         * A request without a body is left to the worker's own check. */
        lsn_req_limits_t lim;
        int known = lsn_req_limits_lookup(site->id, path, url.path_len, &lim);

        if (known > 0) {
            conn_limits_verdict(req, &lim);
        }
        if (req->refuse_status == 0) {
            /* HTTP/2 without Content-Length: the body runs to END_STREAM. */
            lsn_body_begin(body, in->chunked,
                           in->chunked                ? 0
                           : in->content_length < 0 ? UINT64_MAX
                                                    : (uint64_t)in->content_length,
                           known > 0 ? lim.max_content_length : UINT64_MAX);
        }
        if (known == 0 && lsn_req_limits_ask(req, site->id, path, url.path_len) != 0) {
            lsn_request_free(req);
            *reqp = NULL;
            REFUSE(WASP_HTTPSYS_SERVICE_UNAVAILABLE, false);
        }
    }
    return LSN_START_OK;
#undef REFUSE
}

/* A head is parsed: canonicalise, route, and start the request. */
void conn_start_request(lsn_conn_t *c, const wasp_h1_request_t *h)
{
    lsn_req_in_t in = {
        .method = h->method,
        .method_len = h->method_len,
        .target = h->target,
        .target_len = h->target_len,
        .host = h->host,
        .host_len = h->host_len,
        .headers = h->headers,
        .header_count = h->header_count,
        .version_minor = h->version_minor,
        .head_len = h->head_len,
        .chunked = h->chunked,
        .content_length = h->content_length > 0 ? h->content_length : 0,
    };
    wasp_httpsys_error_t e = WASP_HTTPSYS_NONE;
    bool head_only = false;
    lsn_request_t *req;

    c->version_major = 1;
    c->version_minor = h->version_minor;
    c->had_request = true;
    switch (lsn_conn_start_request(c, &in, &c->body, &req, &e, &head_only)) {
    case LSN_START_REFUSED:
        conn_answer_close(c, e, head_only);
        return;
    case LSN_START_ASTERISK: {
        /* Answered here, then the connection closes (a rare request; this
         * keeps pipelining logic out of it). */
        static const char opts[] = "HTTP/1.1 200 OK\r\nAllow: OPTIONS, TRACE, GET, HEAD, POST\r\n"
                                   "Server: wasp\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

        conn_out_mem(c, opts, sizeof(opts) - 1);
        c->closing = true;
        c->state = C_WAIT;
        conn_flush(c);
        return;
    }
    case LSN_START_OK:
        break;
    }
    c->req = req;
    c->keep_alive = h->keep_alive;
    if (req->refuse_status != 0) {
        conn_filter_refuse(c, req->refuse_status, req->refuse_sub);
    } else if (h->chunked || h->content_length > 0) {
        /* RFC 9110 10.1.1: answer 100-continue only if the body is not already here. */
        c->continue_wanted = h->expect_continue && h->version_minor == 1 &&
                             wasp_buf_size(&c->rbuf) == h->head_len;
        if (req->limits_query != NULL) {
            c->state = C_LIMITS; /* lsn_conn_limits_known() goes on */
            conn_update_events(c);
        } else {
            conn_body_begin(c);
        }
    } else {
        c->state = C_WAIT;
    }
}

/* The body may come: 100 Continue if the client waits for it. */
static void conn_body_begin(lsn_conn_t *c)
{
    c->state = C_BODY;
    if (c->continue_wanted) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

        c->continue_wanted = false;
        conn_out_mem(c, cont, sizeof(cont) - 1);
    }
    conn_update_events(c); /* 100 written on the next turn of the loop */
}

void lsn_conn_limits_known(lsn_request_t *req, const lsn_req_limits_t *lim)
{
    lsn_conn_t *c = req->conn; /* set: a request whose client left is freed */

    if (lim != NULL) {
        conn_limits_verdict(req, lim);
    }
    if (req->h2s != NULL) {
        lsn_h2_limits_known(req, lim != NULL ? lim->max_content_length : UINT64_MAX);
        return;
    }
    if (req->refuse_status != 0) {
        c->continue_wanted = false;
        conn_filter_refuse(c, req->refuse_status, req->refuse_sub);
        conn_submit(c);
        return;
    }
    c->body.limit = lim != NULL ? lim->max_content_length : UINT64_MAX;
    conn_body_begin(c);
    conn_process(c); /* what came with the head (c may be gone after) */
}

void lsn_conn_submit_request(lsn_request_t *req)
{
    if (req->limits_query != NULL) {
        req->limits_submit = true; /* whole before waspd answered: then */
        return;
    }
    /* The last fields of REQ_HEAD: request filtering's verdict. */
    wasp_enc_u16(&req->head, req->refuse_status);
    wasp_enc_u16(&req->head, req->refuse_sub);
    /* The response cache may answer it alone (an HTTP/1.1 connection may
     * then be gone). */
    if (lsn_cache_serve(req)) {
        return;
    }
    lsn_pool_submit(req->pool, req);
}

void conn_submit(lsn_conn_t *c)
{
    if (wasp_buf_size(&c->rbuf) > 0) {
        c->rbuf_since_ms = wasp_now_ms(); /* a pipelined request's time starts now */
    }
    c->state = C_WAIT;
    conn_cancel_timer(c); /* the queue's own timer (Timer_AppPool) takes over */
    c->rate_start_ms = wasp_now_ms(); /* MinSendRate counts from here */
    c->rate_mark = c->sent_total + conn_pending_bytes(c);
    conn_update_events(c);
    lsn_conn_submit_request(c->req);
}
